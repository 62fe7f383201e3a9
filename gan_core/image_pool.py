"""The image history pool of CycleGAN (Zhu et al. 2017, section 4; after Shrivastava et al. 2017).

D is updated on generated images drawn partly from a history of earlier generators' outputs, not only the latest
batch, which damps the oscillation between G and D. Until the pool holds `capacity` images, every new image is
stored and passed through; after that each new image is, with probability 1/2, swapped for a random stored one
(which D then sees instead) and otherwise passed through.

Its random choices come from its own `torch.Generator`, whose state is part of `state_dict` with the stored images,
so training resumed from a checkpoint makes exactly the choices an uninterrupted run would have made.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = capacity
        self.rng = torch.Generator().manual_seed(seed)  # on the CPU: the draws steer a Python loop
        self.images: Tensor | None = None  # (count, C, H, W), created by the first query on its device and dtype
        self.count = 0

    def query(self, images: Tensor) -> Tensor:
        """Images (B, C, H, W) for D: each new image or, once the pool is full, half of the time a stored one."""
        if self.capacity == 0:
            return images
        if self.images is None:
            self.images = images.new_empty(self.capacity, *images.shape[1:])
        images = images.detach()
        out = images.clone()
        # one draw per image per call, whether the pool is full or not, so the stream does not depend on `count`
        swap = (torch.rand(len(images), generator=self.rng) < 0.5).tolist()
        slots = torch.randint(self.capacity, (len(images),), generator=self.rng).tolist()
        for i in range(len(images)):
            if self.count < self.capacity:
                self.images[self.count] = images[i]
                self.count += 1
            elif swap[i]:
                out[i] = self.images[slots[i]]
                self.images[slots[i]] = images[i]
        return out

    def state_dict(self) -> dict[str, Any]:
        stored = self.images[:self.count].clone() if self.images is not None else torch.empty(0)
        return {"images": stored, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        stored = state["images"]
        self.count = len(stored)
        self.images = None
        if self.count:
            self.images = stored.new_empty(self.capacity, *stored.shape[1:]).to(device)
            self.images[:self.count] = stored.to(device)
        self.rng.set_state(state["rng"])
