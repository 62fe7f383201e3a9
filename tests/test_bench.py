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
