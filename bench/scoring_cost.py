"""What the in-training score costs (gan_core/tasks/*.py `scorer`, called by the training loop every `eval_every`
steps): per variant, the scorer's setup (its held-out data, and the readers it trains) and one call, against the
variant's training time on a profile, as measured here by its steps per second.

    .venv/bin/python -m bench.scoring_cost [--profile full] [--threads 2] [--steps 50]

The share assumes the default `eval_every` (a tenth of the run: ten scores). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from gan_core.params import load_params
from gan_core.tasks import task_of
from gan_core.train import resolve_device, seed_everything
from gan_core.variants import build_variant
from gan_core.workspace import Workspace

REPEATS = 3


def measure(params_path: Path, profile: str, steps: int) -> list[dict[str, float | str]]:
    params = load_params(params_path, profile=profile)
    ws = Workspace(params_path.resolve().parent)
    device = resolve_device(params.shared.device)
    rows = []
    for name in params.variants:
        seed_everything(params.shared.seed, device)
        task = task_of(name)(params, ws, device)
        variant = build_variant(name, params.variant(name).model_dump(), task.spec(), device)
        variant.set_total_steps(params.steps(name))
        stream = task.batches(variant.config.batch_size, torch.Generator(device=device).manual_seed(0))
        for _ in range(5):  # warm-up
            variant.train_step(next(stream))
        started = time.perf_counter()
        for _ in range(steps):
            variant.train_step(next(stream))
        seconds_per_step = (time.perf_counter() - started) / steps

        started = time.perf_counter()
        scorer = task.scorer(params.shared.seed)
        setup = time.perf_counter() - started
        calls = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            scorer(variant)
            calls.append(time.perf_counter() - started)
        call = statistics.median(calls)
        evaluations = params.steps(name) // params.eval_every(name)
        training = params.steps(name) * seconds_per_step
        rows.append({"variant": name, "steps": params.steps(name), "training_s": training, "setup_s": setup,
                     "call_s": call, "evaluations": evaluations,
                     "share": (setup + evaluations * call) / training})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default="full", choices=("quick", "full"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = measure(args.params, args.profile, args.steps)
    print(f"profile {args.profile}, {args.threads} threads, {args.steps} timed steps per variant\n")
    print("| variant | steps | training (s, est.) | scorer setup (s) | one score (s) | scores | share of training |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['steps']} | {r['training_s']:.0f} | {r['setup_s']:.2f} | {r['call_s']:.3f} | "
              f"{r['evaluations']} | {100 * r['share']:.1f}% |")


if __name__ == "__main__":
    main()
