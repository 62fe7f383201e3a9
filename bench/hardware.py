"""What the machine can do and what a run used: dense-matmul peak, FLOPs of a step, peak memory, machine facts."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

MATMUL_SIZE = {"cpu": 1024, "cuda": 8192}  # float32, square: large enough to reach each device's matmul rate


def matmul_peak_flops(device: torch.device, repeats: int = 7) -> tuple[float, float | None]:
    """FLOP per wall second and (CPU only) per CPU second of this process, of a large float32 matmul on `device`
    with the current thread settings: medians of `repeats`. CPU time counts every thread, so on a shared machine
    it measures what the cores do while this process runs, whatever else competes for them."""
    n = MATMUL_SIZE.get(device.type, 1024)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    walls, cpus = [], []
    for _ in range(repeats + 1):  # the first one warms up the kernels and is dropped
        _sync(device)
        started, cpu_started = time.perf_counter(), time.process_time()
        a @ b
        _sync(device)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    flops = 2 * n**3
    return flops / statistics.median(walls[1:]), flops / statistics.median(cpus[1:]) if device.type == "cpu" else None


def flops_of(step: Callable[[], Any]) -> int:
    """Matmul and convolution FLOPs (forward and backward) of one call, as torch's FlopCounterMode counts them;
    element-wise ops and optimizer updates are not counted."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def max_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine(device: torch.device) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
