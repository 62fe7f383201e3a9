"""Smoke test of the benchmark harness on a tiny run: its JSON and markdown, both loops, the MLflow run.
Timings are never asserted (they belong to bench/, on a quiet machine)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import pytest
import yaml

from bench.run import main
from gan_core.data.digits import build_digits
from tests.conftest import tiny_params

STEPS = 6


@pytest.mark.e2e  # the benchmark's harness, every loop
def test_harness_runs_both_loops_and_writes_its_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_digits(tmp_path / "data", test_fraction=0.2, split_seed=0)
    params = tiny_params()
    params["data"]["dir"] = str(tmp_path / "data")
    params["variants"] = {k: params["variants"][k] for k in ("mlp", "numpy")}  # a torch variant and the NumPy one
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    main(["--params", str(tmp_path / "params.yaml"), "--steps", str(STEPS), "--repeats", "1", "--threads", "1",
          "--ablations", "--out", str(tmp_path / "results")])

    results = json.loads((tmp_path / "results" / "cpu.json").read_text())
    assert {"created", "machine", "load_average_start", "load_average_end", "settings", "variants"} <= set(results)
    by_name = {r["variant"]: r for r in results["variants"]}
    assert set(by_name) == {"mlp", "numpy"}
    for r in by_name.values():
        for loop in ("product", "tutorial", "tutorial, MLflow every step"):
            (run,) = r["setups"][loop]["runs"]
            assert run["steps"] == STEPS and run["seconds"] > 0
            assert run["final_losses"] and all(math.isfinite(v) for v in run["final_losses"].values())
        assert r["ratio_product_over_tutorial"] > 0 and r["ratio_product_over_logged_tutorial"] > 0
        assert r["peak_memory"]["peak_mib"] > 0
    # the torch variant: FLOPs counted, the optimizer ablations timed; numpy: no torch FLOPs, no optimizer to vary
    assert by_name["mlp"]["flops_per_step"] > 0 and 0 < by_name["mlp"]["fraction_of_matmul_peak"]
    assert {"product, default Adam", "product, foreach Adam"} <= set(by_name["mlp"]["setups"])  # product: fused
    assert by_name["numpy"]["flops_per_step"] is None and not any("Adam" in k for k in by_name["numpy"]["setups"])

    table = (tmp_path / "results" / "cpu.md").read_text()
    assert "| mlp | 1 |" in table and "product / tutorial" in table
    runs = mlflow.search_runs(experiment_names=["bench"], output_format="list")
    assert len(runs) == 1 and runs[0].data.metrics["mlp.threads1.ratio_product_over_tutorial"] > 0


@pytest.mark.e2e  # both loops trained and scored
@pytest.mark.parametrize("ratio", [1e9, 0.0])  # any score reaches the target / none does
def test_time_to_quality_stops_each_loop_at_its_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      ratio: float) -> None:
    from bench import time_to_quality

    build_digits(tmp_path / "data", test_fraction=0.2, split_seed=0)
    params = tiny_params()
    params["data"]["dir"] = str(tmp_path / "data")
    params["variants"] = {"mlp": {**params["variants"]["mlp"], "steps": {"quick": 10, "full": 40}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setattr(time_to_quality, "TARGET_RATIO", ratio)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    time_to_quality.main(["--params", str(tmp_path / "params.yaml"), "--variants", "mlp", "--every", "10", "--seeds", "0",
                          "--out", str(tmp_path / "results")])

    (row,) = json.loads((tmp_path / "results" / "time_to_quality_cpu.json").read_text())["rows"]
    assert row["floor"] > 0 and row["target"] == ratio * row["floor"]
    for loop in row["loops"]:
        if ratio:  # stopped at the first score, its clock without the scoring
            assert loop["step"] == loop["steps_trained"] == 10 and 0 < loop["seconds"]
        else:  # trained the full profile's steps, scored every 10
            assert loop["step"] is None and loop["steps_trained"] == 40
            assert [step for step, _ in loop["history"]] == [10, 20, 30, 40]
    table = (tmp_path / "results" / "time_to_quality_cpu.md").read_text()
    assert "| mlp | 0 |" in table and (("not reached" in table) != bool(ratio))


def test_the_small_folder_is_a_class_folder_the_folder_source_reads(tmp_path: Path) -> None:
    from bench.small_folder import write_folder
    from gan_core.data import printed
    from gan_core.data.folder import list_images

    printed.build_printed(tmp_path / "data", seed=0)
    assert write_folder(tmp_path / "small", 3, tmp_path / "data") == 30
    files, classes = list_images(tmp_path / "small")
    assert classes == [str(d) for d in range(10)] and len(files) == 30
    assert {label for _, label in files} == set(range(10))


def test_the_quality_table_puts_each_seed_over_its_own_floor_and_the_curves_draw(tmp_path: Path) -> None:
    from PIL import Image

    from bench.curves import draw
    from bench.quality import table

    rows = [{"variant": "dcgan", "setting": "base", "seed": seed, "score": score, "floor": floor, "best_step": 200.0,
             "steps": 300, "curve": [[100, 90.0], [200, score], [300, score + 1]]}
            for seed, score, floor in ((0, 12.0, 6.0), (1, 9.0, 4.5))]
    assert "| dcgan | base | 10.50 +- 2.12 | 2.00x / 2.00x (2.00x) | 2 | 200, 200 of 300 |" in table(rows)
    draw(rows, tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").size[0] > 300


def test_mixed_voices_are_one_recordings_folder_naming_each_source(tmp_path: Path) -> None:
    import torch

    from bench.vocoder_voices import write_train_voices
    from gan_core.data.audio_store import SpeechSet
    from gan_core.data.recordings import list_recordings

    def speech(speakers: tuple[str, ...]) -> SpeechSet:
        waves = tuple(torch.sin(torch.arange(800) * (0.1 + 0.01 * i)) * 0.5 for i in range(len(speakers)))
        return SpeechSet(waves, torch.arange(len(speakers)) % 10, speakers, 16_000, (8000,) * len(speakers))

    folder = write_train_voices({"espeak": speech(("en+m2", "en+f3")), "fsdd": speech(("george", "george", "theo"))},
                                tmp_path / "mixed")
    found = list_recordings(folder)
    assert [(r.relative, r.speaker, r.label) for r in found] == [
        ("espeak/0.wav", "espeak-en+m2", "0"), ("espeak/1.wav", "espeak-en+f3", "1"),
        ("fsdd/0.wav", "fsdd-george", "0"), ("fsdd/1.wav", "fsdd-george", "1"), ("fsdd/2.wav", "fsdd-theo", "2")]
