"""Voices a vocoder never heard (issue 18): melgan trained on one speech source, then asked to re-vocode the held-out
speakers of every source: the bundled eSpeak NG voices and the Free Spoken Digit Dataset's human recordings.

    .venv/bin/python -m bench.vocoder_voices --fsdd ../shared/data/fsdd/recordings [--train espeak fsdd mixed] \
        [--seed 0] [--profile full] [--threads 1] [--out rows.json]

Each training runs in a throw-away copy of the project (bench/quality.py's `project`) with `data.speech` pointing at
its source; `mixed` trains on the train voices of both at once (a recordings folder with a `speakers.csv`, so none
of the held-out voices of either is heard). Each trained vocoder is evaluated on every source's test split by the
vocoding task's own evaluation (gan_core/tasks/vocoding.py): the same judge (a digit classifier trained on that
source's train split) reads the originals and the vocoded audio, and intelligibility is the ratio of the two
accuracies. Prints a markdown table, train source x test source.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import soundfile
import torch
import yaml

from bench.quality import ROOT, project
from gan_core import stages, tracking
from gan_core.data import SpeechSet, load_speech_split
from gan_core.params import Params, load_params
from gan_core.tasks import task_of
from gan_core.variants import build_variant
from gan_core.workspace import Workspace

FSDD_NAMES = r"(?P<label>[0-9])_(?P<speaker>[a-z]+)_[0-9]+"  # <digit>_<speaker>_<take>.wav (docs/your-data.md)
METRICS = ("mel_distance", "digit_accuracy", "digit_accuracy_real_floor", "intelligibility")


def source_params(base: dict[str, Any], source: str, folder: Path, seed: int, profile: str) -> dict[str, Any]:
    """`base` with the speech of `source`: the bundled eSpeak voices, or the recordings `folder` (FSDD's names, or
    a folder with its own speakers.csv)."""
    params = copy.deepcopy(base)
    params["shared"].update(seed=seed, profile=profile)
    speech = params["data"].setdefault("speech", {})
    if source == "fsdd":
        speech.update(source="folder", path=str(folder.resolve()), name_pattern=FSDD_NAMES)
    elif source == "mixed":  # its own held-out voices go unused (evaluation is on the others'): hold out few
        speech.update(source="folder", path=str(folder.resolve()), test_fraction=0.1)
    return params


def write_train_voices(train_sets: dict[str, SpeechSet], target: Path) -> Path:
    """Labelled speech sets as one recordings folder: <source>/<n>.wav and speakers.csv (file, speaker as
    <source>-<speaker>, label), at each set's rate."""
    rows = ["file,speaker,label"]
    for source, train in train_sets.items():
        (target / source).mkdir(parents=True)
        for i, (wave, speaker, label) in enumerate(zip(train.waves, train.speakers, train.labels.tolist())):
            soundfile.write(target / source / f"{i}.wav", wave.numpy(), train.sample_rate)
            rows.append(f"{source}/{i}.wav,{source}-{speaker},{label}")
    (target / "speakers.csv").write_text("\n".join(rows) + "\n")
    return target


def prepared(directory: Path, params: dict[str, Any]) -> tuple[Params, Workspace]:
    ws = project(directory, params)
    loaded = load_params(ws.root / "params.yaml")
    tracking.configure(ws.root, loaded.tracking.experiment)
    stages.prepare_data(loaded, ws)
    return loaded, ws


def run(train_sources: list[str], fsdd: Path, seed: int, profile: str, out: Path | None = None
        ) -> list[dict[str, Any]]:
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # each copy's own store, never the user's server
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    device = torch.device("cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copies = {source: prepared(Path(tmp) / source, source_params(base, source, fsdd, seed, profile))
                  for source in ("espeak", "fsdd")}
        trainings = dict(copies)
        if "mixed" in train_sources:
            mixed = write_train_voices({source: load_speech_split(params.data, ws.root, "train")
                                        for source, (params, ws) in copies.items()}, Path(tmp) / "mixed-voices")
            trainings["mixed"] = prepared(Path(tmp) / "mixed", source_params(base, "mixed", mixed, seed, profile))
        for trained_on in train_sources:
            params, ws = trainings[trained_on]
            tracking.configure(ws.root, params.tracking.experiment)
            training = stages.train_variant(params, ws, "melgan")
            trained, steps = stages.trained_variant(ws, "melgan", training, device)
            untrained = build_variant("melgan", trained.config.model_dump(), trained.spec, device)
            for tested_on, (test_params, test_ws) in copies.items():
                task = task_of("melgan")(test_params, test_ws, device)
                metrics = task.evaluate(trained, untrained, seed).metrics
                rows.append({"trained_on": trained_on, "tested_on": tested_on, "steps": steps, "seed": seed,
                             "test_voices": sorted(set(task.split("test").speakers)),
                             **{k: metrics[k] for k in METRICS}})
                print(rows[-1], flush=True)
                if out:
                    out.write_text(json.dumps(rows, indent=1))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| trained on | re-vocodes the held-out voices of | steps | log-mel L1 | digit accuracy: vocoded / "
             "originals | intelligibility |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['trained_on']} | {r['tested_on']} ({', '.join(r['test_voices'])}) | {r['steps']} | "
                     f"{r['mel_distance']:.3f} | {r['digit_accuracy']:.3f} / {r['digit_accuracy_real_floor']:.3f} | "
                     f"**{r['intelligibility']:.2f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.vocoder_voices", description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", type=Path, default=ROOT.parent / "shared" / "data" / "fsdd" / "recordings",
                        help="FSDD's recordings folder (<digit>_<speaker>_<take>.wav)")
    parser.add_argument("--train", nargs="+", default=["espeak", "fsdd"], choices=("espeak", "fsdd", "mixed"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="full", choices=("quick", "full"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, help="write the rows here (JSON)")
    args = parser.parse_args()
    if not args.fsdd.is_dir():
        parser.error(f"--fsdd {args.fsdd} is not a directory (FSDD's recordings: <digit>_<speaker>_<take>.wav)")
    torch.set_num_threads(args.threads)
    rows = run(args.train, args.fsdd, args.seed, args.profile, args.out)
    print(f"\nprofile {args.profile}, seed {args.seed}, {args.threads} threads\n")
    print(table(rows))


if __name__ == "__main__":
    main()
