"""An exponential moving average of a generator's weights (Yazici et al., ICLR 2019, "The Unusual Effectiveness of
Averaging in GAN Training"): G's iterates oscillate around a good generator; their running average sits nearer it.
The average samples and is what gets shipped; training never reads it.

Its decay warms up as TensorFlow's ExponentialMovingAverage does with `num_updates`: after n updates it is
min(decay, (1 + n) / (10 + n)). A plain 0.999 would still hold 0.999^2000 = 13.5% of the random initial weights
after a quick profile's 2,000 steps (dcgan's FID 48 instead of 13.5, docs/training.md); with the warm-up the
average spans about the last n / 10 steps until it reaches `decay` (from n = 8,990 on for 0.999).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan_core.nn.modes import freeze

UPDATES = "average_updates"  # the average's buffer counting its updates: saved and shipped with it, on its device


def weight_average(net: nn.Module) -> nn.Module:
    """A frozen copy of `net` to hold the average (copy it before placing the nets, so a compiled copy runs its own
    weights)."""
    average = freeze(copy.deepcopy(net))
    average.register_buffer(UPDATES, torch.zeros(()))
    return average


def warmed_up_decay(updates: torch.Tensor, decay: float) -> torch.Tensor:
    """The decay of the next update after `updates` updates (a tensor: a CUDA graph replays it as it counts)."""
    return torch.clamp((1.0 + updates) / (10.0 + updates), max=decay)


@torch.no_grad()
def update_average(average: nn.Module, net: nn.Module, decay: float) -> None:
    """average <- d * average + (1 - d) * net, parameter by parameter, with d the warmed-up `decay`; buffers (batch
    norm's running statistics) are copied: they describe the activations of the net as it is, not an average of
    nets."""
    updates = getattr(average, UPDATES)
    weight = 1.0 - warmed_up_decay(updates, decay)
    for mean, current in zip(average.parameters(), net.parameters()):
        mean.lerp_(current, weight)
    current_buffers = dict(net.named_buffers())
    for name, mean in average.named_buffers():
        if name in current_buffers:
            mean.copy_(current_buffers[name])
    updates.add_(1.0)
