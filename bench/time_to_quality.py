"""Time to quality: the training seconds each loop needs until its generator's FID is within TARGET_RATIO of the
real-data floor, the product against the honest peer, on this machine in one run.

    .venv/bin/python -m bench.time_to_quality --variants dcgan cgan mlp --threads 1 [--seeds 0 1 2] [--every 500]

Both loops of bench/loops.py train the same variant from the same seed and initial weights: the product (the
train stage's loop with its speed options and fused Adam, logging and checkpointing as it does) and the tutorial
loop (speed options off, torch's default Adam, progress printed every 100 steps, a DataLoader over the train
split). Every `--every` steps each is scored by the task's in-training score: FID of
`evaluation.in_training.samples` samples against the held-out split in the digit classifier's features. The
clock stops while scoring, so the seconds are training alone. The floor is the same measure of as many real
train images. A loop that has not reached the target by the full profile's steps says so, with its best score.
The loops draw their batches differently, so the step where each reaches the target varies widely between seeds
(hence `--seeds`, and the medians).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import TensorDataset

from bench.hardware import load_average, machine
from bench.loops import ScoreWatch, naive_optimizers, product_loop, tutorial_loop
from bench.run import scratch_root
from gan_core import tracking
from gan_core.config import Params
from gan_core.data import ImageBatch
from gan_core.params import load_params
from gan_core.tasks import task_of
from gan_core.train import resolve_device, seed_everything
from gan_core.variants import Variant, build_variant
from gan_core.workspace import Workspace, write_text_atomic

PROJECT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 2.0  # issue 21: FID at most twice the real-data floor


@dataclass
class Reached:
    """When a loop's score first reached the target (None if it never did), and its best score."""

    loop: str
    target: float
    step: int | None = None
    seconds: float | None = None  # training seconds to that step, scoring excluded
    best: float = float("inf")
    steps_trained: int = 0
    history: list[tuple[int, float]] | None = None


class RealImages:
    """The train split standing in for a generator, so the in-training score measures its own real-data floor."""

    conditional = False

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.images[torch.randperm(len(self.images), generator=generator, device=generator.device)[:n]]


def watched(scorer: Callable[[Variant], float], variant: Variant, every: int, reached: Reached) -> ScoreWatch:
    """The watch of one loop, its clock started now (call it just before the loop): it scores `variant`, keeps
    the scoring time off the clock and notes the first step at or under the target (the loop then stops)."""
    started, scoring = time.perf_counter(), [0.0]

    def score() -> float:
        began = time.perf_counter()
        value = scorer(variant)
        scoring[0] += time.perf_counter() - began
        return value

    def done(step: int, value: float) -> bool:
        reached.history.append((step, round(value, 2)))
        reached.best, reached.steps_trained = min(reached.best, value), step
        if value <= reached.target and reached.step is None:
            reached.step, reached.seconds = step, time.perf_counter() - started - scoring[0]
        return reached.step is not None
    return ScoreWatch(score, every, done)


def race(params: Params, root: Path, name: str, device: torch.device, every: int, seed: int) -> dict[str, Any]:
    """Both loops of `name` trained from `seed`, scored by the measure of params.yaml's seed (its reader trained
    with that seed: one floor and one target for every training seed)."""
    task = task_of(name)(params, Workspace(root), device)
    if task.name != "generation":
        raise SystemExit(f"time to quality measures FID against the floor: '{name}' is not an image generator")
    with torch.random.fork_rng():  # its reader trains seeded; the trainings' random streams are left alone
        scorer = task.scorer(params.shared.seed)
        floor = scorer(RealImages(task.split("train").images))
    params = params.model_copy(update={"shared": params.shared.model_copy(update={"seed": seed})})
    steps = params.variant(name).steps.full
    experiment = tracking.configure(root, "bench-loops")
    # the tutorial's dataset is the train split itself, every image once, as the product's batches draw it
    train_split = task.split("train")
    dataset = TensorDataset(train_split.images.cpu(), train_split.labels.cpu())

    def rebuild(columns: list[torch.Tensor]) -> ImageBatch:
        return ImageBatch(*columns)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for loop in ("product", "tutorial"):
            seed_everything(seed, device)
            config = params.variant(name).model_dump()
            if loop == "tutorial" and "speed" in config:
                config["speed"] = {}  # the tutorial's networks as torch builds them
            variant = build_variant(name, config, task.spec(), device)
            if loop == "tutorial":
                naive_optimizers(variant)
            reached = Reached(loop, TARGET_RATIO * floor, history=[])
            if loop == "product":
                product_loop(variant, task, params, steps, Path(workdir), experiment,
                             watch=watched(scorer, variant, every, reached))
            else:
                tutorial_loop(variant, dataset, rebuild, steps, watch=watched(scorer, variant, every, reached))
            results.append(asdict(reached))
            print(f"{name} seed {seed} {loop}: {reached.seconds and round(reached.seconds, 1)} s to step "
                  f"{reached.step} (target {reached.target:.2f}, best {reached.best:.2f})", flush=True)
    return {"variant": name, "seed": seed, "floor": floor, "target": TARGET_RATIO * floor, "max_steps": steps,
            "every": every, "loops": results}


def table(rows: list[dict[str, Any]]) -> str:
    """One line per variant and seed; with several seeds, a line of each variant's medians (a loop that missed
    the target on a seed counts as never reaching it there: infinitely slow)."""
    lines = ["| variant | seed | floor (target) | product: s to target (step) | tutorial: s to target (step) | "
             "tutorial s / product s | best FID product / tutorial |", "|---|---|---|---|---|---|---|"]
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    for variant, runs in by_variant.items():
        for row in runs:
            product, tutorial = row["loops"]
            cells = [f"{r['seconds']:.1f} ({r['step']:,})" if r["step"] else f"not reached in {r['steps_trained']:,}"
                     for r in (product, tutorial)]
            ratio = f"{tutorial['seconds'] / product['seconds']:.2f}" if product["step"] and tutorial["step"] else "n/a"
            lines.append(f"| {variant} | {row['seed']} | {row['floor']:.2f} ({row['target']:.2f}) | {cells[0]} | "
                         f"{cells[1]} | {ratio} | {product['best']:.2f} / {tutorial['best']:.2f} |")
        if len(runs) > 1:
            seconds = [statistics.median(r["loops"][i]["seconds"] or float("inf") for r in runs) for i in (0, 1)]
            lines.append(f"| **{variant}** | median | | **{seconds[0]:.1f}** | **{seconds[1]:.1f}** | "
                         f"**{seconds[1] / seconds[0]:.2f}** | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.time_to_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["dcgan", "cgan", "mlp"])
    parser.add_argument("--params", type=Path, default=PROJECT / "params.yaml")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--every", type=int, default=500, help="steps between scores (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    params, device = load_params(args.params), resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        root = scratch_root(Path(tmp), params, args.params)
        rows = [race(params, root, name, device, args.every, seed) for name in args.variants for seed in args.seeds]
    facts = machine(device)
    where = facts.get("gpu", f"CPU x{facts['cpu_count']}")
    header = (f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {where}, torch "
              f"{facts['torch']}, {args.threads} torch thread(s), load average {load_average()}, seeds "
              f"{' '.join(map(str, args.seeds))}, scored every {args.every} steps")
    report = f"{header}\n\n{table(rows)}\n"
    print("\n" + report)
    write_text_atomic(args.out / f"time_to_quality_{device.type}.md", report)
    write_text_atomic(args.out / f"time_to_quality_{device.type}.json", json.dumps(
        {"header": header, "threads": args.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
