"""Quality of training choices: each variant trained and evaluated with each setting, seed by seed, in a throw-away
copy of the project (its own MLflow store), so nothing of the user's runs or registry changes.

    .venv/bin/python -m bench.quality --variants mlp dcgan cgan --settings base ema diffaugment --seeds 0 1 2 \
        [--profile quick|full] [--threads 2] [--params params.yaml] [--out rows.json]

Settings (`SETTINGS`): `base` (params.yaml as it is), `ema` (generator_ema 0.999), `no-ema` (generator_ema 0, for
a variant whose params.yaml turns it on), `diffaugment` (DiffAugment's color, translation and cutout),
`ema+diffaugment`. Prints a markdown table: the task's score (FID for the image
generators) of the registered generator, i.e. the best in-training score's step, mean +- sd over the seeds, beside
the real-data floor, with the step the best was found at. `--out` writes each training's whole evaluation record
and its in-training scores by step (the learning curve) as JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml
from mlflow.tracking import MlflowClient

from gan_core import stages, tracking
from gan_core.params import load_params
from gan_core.train import SCORE_IN_TRAINING
from gan_core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, dict[str, Any]] = {
    "base": {},
    "ema": {"generator_ema": 0.999},
    "no-ema": {"generator_ema": 0.0},
    "diffaugment": {"diff_augment": ["color", "translation", "cutout"]},
    "ema+diffaugment": {"generator_ema": 0.999, "diff_augment": ["color", "translation", "cutout"]},
}


def project(directory: Path, params: dict[str, Any]) -> Workspace:
    """A copy of the project's pipeline files and data in `directory`, with `params` as its params.yaml."""
    directory.mkdir(parents=True)
    for name in ("dvc.yaml", "data.dvc"):
        shutil.copy(ROOT / name, directory / name)
    shutil.copytree(ROOT / "gan_core", directory / "gan_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "data", directory / "data")
    (directory / "mlflow").mkdir()
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=directory, check=True)
    return Workspace(directory)


def run(variants: list[str], settings: list[str], seeds: list[int], profile: str,
        params_path: Path = ROOT / "params.yaml", out: Path | None = None) -> list[dict[str, Any]]:
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # each copy's own store, never the user's server
    base = yaml.safe_load(params_path.read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for setting in settings:
                params = yaml.safe_load(yaml.safe_dump(base))
                params["shared"].update(seed=seed, profile=profile)
                for name in variants:
                    # a copy per variant: one shared list would be dumped as a YAML alias, which params refuse
                    params["variants"][name] = {**params["variants"].get(name, {}), **copy.deepcopy(SETTINGS[setting])}
                ws = project(Path(tmp) / f"{setting}-{seed}", params)
                loaded = load_params(ws.root / "params.yaml")
                tracking.configure(ws.root, loaded.tracking.experiment)
                stages.prepare_data(loaded, ws)
                stages.build_classifier(loaded, ws)
                for name in variants:
                    training = stages.train_variant(loaded, ws, name)
                    record = stages.evaluate_variant(loaded, ws, name, training)
                    best_step = tracking.run_metric(training.run_id, tracking.BEST_STEP)
                    curve = MlflowClient().get_metric_history(training.run_id, SCORE_IN_TRAINING)
                    rows.append({"variant": name, "setting": setting, "seed": seed, "score": record["score"]["value"],
                                 "floor": record["score"].get("real_floor"), "best_step": best_step,
                                 "steps": training.steps, "evaluation": record,
                                 "curve": sorted((m.step, m.value) for m in curve)})
                    print({k: v for k, v in rows[-1].items() if k not in ("evaluation", "curve")}, flush=True)
                    if out:  # after each training: a stopped bench keeps what it measured
                        out.write_text(json.dumps(rows, indent=1))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Mean +- sd of the score per variant and setting; each seed's real floor differs (the classifier whose features
    FID reads is trained with the seed), so each seed's score is also given over its own floor."""
    lines = ["| variant | setting | score, mean +- sd | score / real floor, each seed (mean) | seeds | "
             "best step (each seed) |", "|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["setting"]), []).append(row)
    for (variant, setting), group in groups.items():
        scores = [r["score"] for r in group]
        spread = f" +- {statistics.stdev(scores):.2f}" if len(scores) > 1 else ""
        ratios = [r["score"] / r["floor"] for r in group if r["floor"]]
        over_floor = (f"{' / '.join(f'{x:.2f}x' for x in ratios)} ({statistics.mean(ratios):.2f}x)"
                      if ratios else "no floor")
        lines.append(f"| {variant} | {setting} | {statistics.mean(scores):.2f}{spread} | {over_floor} | {len(group)} | "
                     f"{', '.join(str(int(r['best_step'] or r['steps'])) for r in group)} of {group[0]['steps']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["mlp", "dcgan", "cgan"])
    parser.add_argument("--settings", nargs="+", default=["base", "ema", "diffaugment"], choices=SETTINGS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--profile", default="quick", choices=("quick", "full"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml",
                        help="the params the settings change (e.g. a user folder's, with an absolute data path)")
    parser.add_argument("--out", type=Path, help="write every training's evaluation and in-training scores here (JSON)")
    parser.add_argument("--table", nargs="+", type=Path, metavar="ROWS_JSON",
                        help="only print the table of earlier --out files (trains nothing)")
    args = parser.parse_args()
    if args.table:
        print(table([row for path in args.table for row in json.loads(path.read_text())]))
        return
    torch.set_num_threads(args.threads)
    rows = run(args.variants, args.settings, args.seeds, args.profile, args.params, args.out)
    print(f"\nprofile {args.profile}, {args.threads} threads, seeds {' '.join(map(str, args.seeds))}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
