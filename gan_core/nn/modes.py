"""How a variant holds a network still: for another network's step, for good, or to run it for inference."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

Net = TypeVar("Net", bound=nn.Module)


@contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """The nets' parameters take no gradient inside (D during G's step: its backward only carries the gradient on
    to G, and D's own gradients stay as they were); each parameter's flag is restored after. Their mode is left
    alone: D still normalises by the batch as in its own step."""
    parameters = [p for net in nets for p in net.parameters()]
    flags = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad_(flag)


def freeze(net: Net) -> Net:
    """`net` for good as it is: no gradients, eval mode (batch norm on its running statistics, no dropout)."""
    return net.requires_grad_(False).eval()


@contextmanager
def evaluating(*nets: nn.Module) -> Iterator[None]:
    """Inference inside: the nets in eval mode (batch norm on its running statistics, so an output does not depend
    on the rest of its batch; dropout off) and no autograd. Every module's mode is restored after, so sampling in
    the middle of training changes nothing."""
    modes = [(module, module.training) for net in nets for module in net.modules()]
    try:
        with torch.no_grad():
            for net in nets:
                net.eval()
            yield
    finally:
        for module, training in modes:
            module.training = training  # what `train(mode)` sets, module by module: mixed modes come back mixed
