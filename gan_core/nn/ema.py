"""An exponential moving average of a generator's weights (Yazici et al., ICLR 2019, "The Unusual Effectiveness of
Averaging in GAN Training"): G's iterates oscillate around a good generator; their running average sits nearer it.
The average samples and is what gets shipped; training never reads it."""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan_core.nn.modes import freeze


def weight_average(net: nn.Module) -> nn.Module:
    """A frozen copy of `net` to hold the average (copy it before placing the nets, so a compiled copy runs its own
    weights)."""
    return freeze(copy.deepcopy(net))


@torch.no_grad()
def update_average(average: nn.Module, net: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * net, parameter by parameter; buffers (batch norm's running
    statistics) are copied: they describe the activations of the net as it is, not an average of nets."""
    for mean, current in zip(average.parameters(), net.parameters()):
        mean.lerp_(current, 1.0 - decay)
    for mean, current in zip(average.buffers(), net.buffers()):
        mean.copy_(current)
