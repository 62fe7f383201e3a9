"""Endless shuffled mini-batches of row indices: how every task feeds its training data to the loop."""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from gan_core.config import UserError


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Index batches (batch_size,) drawn on the generator's device; a new permutation each epoch, the tail dropped."""
    if batch_size > n:
        raise UserError(f"batch_size {batch_size} is larger than the training split ({n} examples)")
    while True:
        order = torch.randperm(n, generator=generator, device=generator.device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]
