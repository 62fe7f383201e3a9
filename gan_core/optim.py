"""The one optimizer factory of the torch variants: Adam with the fastest update kernel for the device.

torch's default Adam updates parameter by parameter on CPU (a loop of small kernels); `foreach` updates all of
them in a few multi-tensor kernels and `fused` in one. Which is fastest is measured by bench/ (README,
"Benchmarks"): the choice below follows those numbers.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

# CUDA: fused (one kernel for every parameter); CPU: foreach (measured faster than fused and than the default)
_KERNEL = {"cuda": {"fused": True}, "cpu": {"foreach": True}}


def adam(params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam(lr, betas) on `device`'s fastest update kernel; other devices keep torch's default."""
    return torch.optim.Adam(params, lr=lr, betas=betas, **_KERNEL.get(device.type, {}))
