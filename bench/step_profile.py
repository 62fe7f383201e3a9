"""Where one training step's time goes: torch.profiler over the product's `train_step` of each variant.

    .venv/bin/python -m bench.step_profile --variants mlp cgan dcgan --threads 1

For each variant: the share of the step's CPU time in matmul and convolution kernels (the arithmetic), in the
optimizers' updates, and in everything else (element-wise ops, autograd's bookkeeping, Python and dispatch), with
the operators that take the most self time. Run on data/ built by `python -m gan_core data`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from gan_core.params import load_params
from gan_core.tasks import task_of
from gan_core.train import resolve_device, seed_everything
from gan_core.variants import build_variant
from gan_core.workspace import Workspace

WARMUP_STEPS = 30
# aten operators of the arithmetic: matmuls and convolutions, forward and backward
ARITHMETIC = ("aten::mm", "aten::addmm", "aten::bmm", "aten::mkldnn_convolution", "aten::convolution_backward",
              "aten::_convolution", "aten::linear_backward", "aten::mkldnn_convolution_backward")
OPTIMIZER = ("aten::_fused_adam_", "aten::_fused_adamw_", "Optimizer.step")


def profile_variant(params_path: Path, name: str, steps: int, device: torch.device) -> str:
    params = load_params(params_path)
    task = task_of(name)(params, Workspace(params_path.resolve().parent), device)
    seed_everything(params.shared.seed, device)
    variant = build_variant(name, params.variant(name).model_dump(), task.spec(), device)
    variant.set_total_steps(steps + WARMUP_STEPS)
    stream = task.batches(variant.config.batch_size, torch.Generator(device=device).manual_seed(params.shared.seed))
    for _ in range(WARMUP_STEPS):
        variant.train_step(next(stream))
    batches = [next(stream) for _ in range(steps)]
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches:
            variant.train_step(batch)
    wall = (time.perf_counter() - started) / steps
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    arithmetic = sum(e.self_cpu_time_total for e in events if e.key in ARITHMETIC)
    optimizer = sum(e.self_cpu_time_total for e in events if e.key.startswith(OPTIMIZER))
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    lines = [f"## {name}: {torch.get_num_threads()} thread(s), {wall * 1e3:.2f} ms per step under the profiler",
             "", f"- matmul and convolution kernels: {arithmetic / total:.0%} of the step's self CPU time",
             f"- optimizer updates: {optimizer / total:.0%}",
             f"- everything else (element-wise ops, autograd, dispatch, Python): "
             f"{(total - arithmetic - optimizer) / total:.0%}", "",
             "| operator | self CPU per step (us) | share | calls per step |", "|---|---|---|---|"]
    lines += [f"| `{e.key}` | {e.self_cpu_time_total / steps:.0f} | {e.self_cpu_time_total / total:.0%} | "
              f"{e.count / steps:g} |" for e in top]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.step_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path(__file__).resolve().parents[1] / "params.yaml")
    parser.add_argument("--variants", nargs="+", default=["mlp", "cgan", "dcgan"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.variants:
        print(profile_variant(args.params, name, args.steps, resolve_device(args.device)))


if __name__ == "__main__":
    main()
