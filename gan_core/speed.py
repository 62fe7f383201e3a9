"""Speed options of a torch variant (its `speed:` block in params.yaml): how its networks run, never what they
compute. All off by default; switch one on only where bench/ measured it faster on your device.

- `channels_last`: convolution nets and their image inputs in NHWC memory order (oneDNN and cuDNN prefer it)
- `compile`: `torch.compile` each network in place (state dict keys unchanged, so checkpoints stay loadable)
- `bf16_autocast`: forward passes in bfloat16 under autocast (no loss scaling needed, unlike float16)
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor, nn

from gan_core.config import StrictModel


class SpeedOptions(StrictModel):
    channels_last: bool = False
    compile: bool = False
    bf16_autocast: bool = False


def place_nets(nets: dict[str, nn.Module], options: SpeedOptions, device: torch.device) -> dict[str, nn.Module]:
    """The nets on `device`, in the memory order and compiled form the options ask for."""
    placed = {}
    for name, net in nets.items():
        net = net.to(device)
        if options.channels_last:
            net = net.to(memory_format=torch.channels_last)  # only 4-d weights change: linear layers are unaffected
        if options.compile:
            net.compile()
        placed[name] = net
    return placed


def as_input(images: Tensor, options: SpeedOptions) -> Tensor:
    """Images (B, C, H, W) in the memory order the nets were placed in."""
    return images.contiguous(memory_format=torch.channels_last) if options.channels_last else images


def autocast(options: SpeedOptions, device: torch.device) -> AbstractContextManager:
    """Wrap forward passes and losses (not backward or optimizer steps) in this."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.bf16_autocast)
