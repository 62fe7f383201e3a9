"""One variant's training speed in a fresh process: the product loop against the tutorial loop, printing and
logging every step (and, with
`--ablations`, the product with one speed choice undone at a time), interleaved and repeated; its FLOPs per step
against the machine's matmul peak; its peak memory; a vocoder's real-time factor.

A fresh process per variant and thread count, so peak memory (ru_maxrss is a high-water mark) and thread pools
belong to this variant alone. Run by bench/run.py; writes one JSON file (`--out`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.hardware import flops_of, matmul_peak_flops, max_rss_mib
from bench.loops import (
    SYNCHRONOUS_LOGGING, LoopRun, naive_optimizers, product_loop, set_optimizer_kernel, tensor_dataset, tutorial_loop,
)
from bench.vocoder_speed import real_time_factor
from gan_core import tracking
from gan_core.config import Params
from gan_core.params import load_params
from gan_core.tasks import task_of
from gan_core.train import resolve_device, seed_everything
from gan_core.variants import Variant, build_variant
from gan_core.workspace import Workspace, write_text_atomic

WARMUP_STEPS = 20  # untimed, before each setup's first timed run: allocator, kernel choice, lazy data loading


@dataclass(frozen=True)
class Setup:
    """One way to train the variant: a tutorial loop, the product, or the product with one choice undone."""

    name: str
    tutorial: bool = False
    logs_every_step: bool = False  # the tutorial loop logging every loss every step to MLflow
    speed: dict[str, bool] | None = None  # replaces the config's `speed` block; None: as in params.yaml
    kernel: tuple[bool | None, bool | None] | None = None  # optimizers' (foreach, fused); None: as the variant built them
    synchronous_logging: bool = SYNCHRONOUS_LOGGING  # the product loop's MLflow logging mode


ADAM_KERNELS = {"default": (None, None), "foreach": (True, False), "fused": (False, True)}  # (foreach, fused)
PRODUCT = Setup("product")
TUTORIAL = Setup("tutorial", tutorial=True, speed={}, kernel=(None, None))  # the honest peer
LOGGED = Setup("tutorial, MLflow every step", tutorial=True, logs_every_step=True, speed={}, kernel=(None, None))
PEERS = [PRODUCT, TUTORIAL, LOGGED]


def setups(variant: Variant, device: torch.device, ablations: bool) -> list[Setup]:
    """Product and the two tutorial loops; with `ablations`, the product with each choice changed: MLflow logging mode, the Adam
    kernels it does not use (torch optimizers only), and its `speed` options (memory format for conv nets,
    compile; bf16 autocast and CUDA graphs on CUDA)."""
    if not ablations:
        return PEERS
    mode = "asynchronous" if SYNCHRONOUS_LOGGING else "synchronous"
    found = [*PEERS, Setup(f"product, {mode} MLflow logging", synchronous_logging=not SYNCHRONOUS_LOGGING)]
    optimizers = [o for o in getattr(variant, "optims", {}).values() if isinstance(o, torch.optim.Optimizer)]
    if optimizers:
        group = optimizers[0].param_groups[0]
        used = (group["foreach"] or None, group["fused"] or None)  # False and None both mean "not this kernel"
        found += [Setup(f"product, {name} Adam", kernel=kernel) for name, kernel in ADAM_KERNELS.items()
                  if (kernel[0] or None, kernel[1] or None) != used]
    if not hasattr(variant.config, "speed"):
        return found
    speed = variant.config.speed.model_dump()
    if has_convolutions(variant):
        flipped = not speed["channels_last"]
        found.append(Setup(f"product, channels_last {'on' if flipped else 'off'}", speed={**speed, "channels_last": flipped}))
    on_device = ("compile", "bf16_autocast", "cuda_graph") if device.type == "cuda" else ("compile",)
    found += [Setup(f"product, {option} on", speed={**speed, option: True}) for option in on_device
              if not speed[option]]
    return found


def has_convolutions(variant: Variant) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for net in getattr(variant, "nets", {}).values()
               for m in net.modules())


def measure(params: Params, root: Path, name: str, device: torch.device, steps: int, repeats: int,
            ablations: bool) -> dict[str, Any]:
    task = task_of(name)(params, Workspace(root), device)
    experiment = tracking.configure(root, "bench-loops")

    def build(setup: Setup) -> Variant:
        seed_everything(params.shared.seed, device)
        config = params.variant(name).model_dump()
        if setup.speed is not None and "speed" in config:
            config["speed"] = setup.speed
        variant = build_variant(name, config, task.spec(), device)
        if setup.tutorial:
            naive_optimizers(variant)
        elif setup.kernel is not None:
            for optimizer in variant.optims.values():
                set_optimizer_kernel(optimizer, *setup.kernel)
        return variant

    dataset, rebuild = tensor_dataset(task, params.variant(name).batch_size, params.shared.seed)
    with tempfile.TemporaryDirectory() as workdir:
        def run(setup: Setup, n: int) -> LoopRun:
            variant = build(setup)
            if setup.tutorial:
                return tutorial_loop(variant, dataset, rebuild, n, experiment if setup.logs_every_step else None)
            return product_loop(variant, task, params, n, Path(workdir), experiment, setup.synchronous_logging)

        plan = setups(build(PRODUCT), device, ablations)
        runs: dict[str, list[LoopRun]] = {s.name: [] for s in plan}
        rss_before = max_rss_mib()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        memory: dict[str, Any] = {}
        for rep in range(repeats):
            for setup in plan if rep % 2 == 0 else plan[::-1]:  # ABBA order: drifting load hits every setup alike
                if rep == 0:
                    run(setup, min(WARMUP_STEPS, steps))
                runs[setup.name].append(run(setup, steps))
                if rep == 0 and setup is PRODUCT:
                    memory = peak_memory(device, rss_before)

    product = build(PRODUCT)
    product.set_total_steps(steps)
    stream = task.batches(product.config.batch_size, torch.Generator(device=device).manual_seed(params.shared.seed))
    for _ in range(2):
        product.train_step(next(stream))
    flops = flops_of(lambda: product.train_step(next(stream))) or None  # None: no torch matmul/conv (numpy)
    peak, cpu_peak = matmul_peak_flops(device)
    medians = {k: statistics.median(r.steps_per_second for r in v) for k, v in runs.items()}
    cpu_medians = {k: statistics.median(r.steps / r.cpu_seconds for r in v) for k, v in runs.items()}
    return {
        "variant": name,
        "task": task.name,
        "nets": "convolutional" if has_convolutions(product) else ("linear" if getattr(product, "nets", None) else "none (numpy)"),
        "threads": torch.get_num_threads(),
        "batch_size": product.config.batch_size,
        "steps": steps,
        "repeats": repeats,
        "setups": {k: {"steps_per_second_median": round(medians[k], 2),
                       "steps_per_cpu_second_median": round(cpu_medians[k], 2),
                       "runs": [{"steps": r.steps, "seconds": round(r.seconds, 4), "cpu_seconds": round(r.cpu_seconds, 4),
                                 "steps_per_second": round(r.steps_per_second, 2), "final_losses": r.final_losses}
                                for r in v]}
                   for k, v in runs.items()},
        "ratio_product_over_tutorial": round(medians[PRODUCT.name] / medians[TUTORIAL.name], 3),
        "ratio_product_over_tutorial_cpu_time": round(cpu_medians[PRODUCT.name] / cpu_medians[TUTORIAL.name], 3),
        "ratio_product_over_logged_tutorial": round(medians[PRODUCT.name] / medians[LOGGED.name], 3),
        "flops_per_step": flops,
        "achieved_flops_per_second": None if flops is None else flops * medians[PRODUCT.name],
        "matmul_peak_flops_per_second": peak,
        "fraction_of_matmul_peak": None if flops is None else flops * medians[PRODUCT.name] / peak,
        # the same per CPU second (CPU only): steadier than wall time while other processes share the cores
        "matmul_peak_flops_per_cpu_second": cpu_peak,
        "fraction_of_matmul_peak_cpu_time": None if flops is None or cpu_peak is None
        else flops * cpu_medians[PRODUCT.name] / cpu_peak,
        "peak_memory": memory,
        "real_time_factor": real_time_factor(product, task) if hasattr(product, "vocode") else None,
    }


def peak_memory(device: torch.device, rss_before: float) -> dict[str, Any]:
    if device.type == "cuda":
        return {"kind": "torch.cuda.max_memory_allocated", "peak_mib": torch.cuda.max_memory_allocated(device) / 2**20}
    peak = max_rss_mib()
    return {"kind": "ru_maxrss", "peak_mib": round(peak, 1), "growth_mib": round(peak - rss_before, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True, help="workspace root holding data/")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(load_params(args.params), args.root, args.variant, resolve_device(args.device), args.steps,
                     args.repeats, args.ablations)
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
