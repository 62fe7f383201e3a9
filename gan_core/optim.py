"""The one optimizer factory of the torch variants: Adam with the fastest update kernel for the device.

torch's default Adam updates parameter by parameter on CPU (a loop of small kernels); `foreach` updates all of
them in a few multi-tensor kernels and `fused` in one vectorised kernel per step. Which is fastest is measured
by bench/ (docs/benchmarks.md): the choice below follows those numbers.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

# fused on both. CPU, steps per CPU-second, 1 thread (bench/, 2026-11-25): fused / foreach / default =
# mlp 227 / 180 / 186, cgan 212 / 190 / 200, dcgan 47.3 / 45.5 / 46.3 (foreach gains nothing on CPU).
# CUDA: fused is one kernel launch for every parameter (unmeasured here: no GPU in that session).
_KERNEL = {"cuda": {"fused": True}, "cpu": {"fused": True}}


def adam(params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float], device: torch.device,
         capturable: bool = False) -> torch.optim.Adam:
    """Adam(lr, betas) on `device`'s fastest update kernel; other devices keep torch's default. `capturable`: its
    step counts kept on the device, so that a CUDA graph can hold its updates (gan_core/speed.py; CUDA only)."""
    kernel = _KERNEL.get(device.type, {})
    if capturable and device.type == "cuda":
        kernel = {**kernel, "capturable": True}
    return torch.optim.Adam(params, lr=lr, betas=betas, **kernel)
