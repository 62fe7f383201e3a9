"""Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

On small data sets D memorises the real images and its feedback to G collapses. Augmenting only the real images would
teach G to draw the augmentations; DiffAugment applies the same kinds of random transformations to real and fake
images alike, every time D sees one (in D's step and in G's), and because each op is differentiable G's gradient
flows back through it. The ops, each with its own random draw per image (from torch's global stream, so a seeded
run repeats and a resumed one continues it):

- `color`: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5), on images in [-1, 1];
- `translation`: a shift of up to 1/8 of the side in each direction, the uncovered border zero;
- `cutout`: a square of half the side set to zero, centred anywhere in the image.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Op = Literal["color", "translation", "cutout"]
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def diff_augment(images: Tensor, ops: tuple[Op, ...]) -> Tensor:
    """`images` (B, C, H, W) with each of `ops` applied in order, a random draw per image."""
    for op in ops:
        images = _OPS[op](images)
    return images


def _per_image(images: Tensor) -> Tensor:
    """A uniform draw in [0, 1) per image, shaped to broadcast over (C, H, W)."""
    return torch.rand(images.shape[0], 1, 1, 1, dtype=images.dtype, device=images.device)


def color(images: Tensor) -> Tensor:
    images = images + (_per_image(images) - 0.5)
    channel_mean = images.mean(dim=1, keepdim=True)
    images = (images - channel_mean) * (2 * _per_image(images)) + channel_mean
    image_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - image_mean) * (_per_image(images) + 0.5) + image_mean


def translation(images: Tensor) -> Tensor:
    b, _, h, w = images.shape
    shift = max(1, round(min(h, w) * TRANSLATION_RATIO))
    dy, dx = (torch.randint(-shift, shift + 1, (b, 1, 1), device=images.device) for _ in range(2))
    padded = F.pad(images, [shift, shift, shift, shift])
    # output pixel (i, j) of image k reads padded pixel (i + shift - dy, j + shift - dx): the image moves by (dy, dx)
    rows = torch.arange(h, device=images.device).view(1, h, 1) + shift - dy
    cols = torch.arange(w, device=images.device).view(1, 1, w) + shift - dx
    batch = torch.arange(b, device=images.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(images: Tensor) -> Tensor:
    b, _, h, w = images.shape
    size_h, size_w = max(1, round(h * CUTOUT_RATIO)), max(1, round(w * CUTOUT_RATIO))
    top = torch.randint(0, h, (b, 1), device=images.device) - size_h // 2
    left = torch.randint(0, w, (b, 1), device=images.device) - size_w // 2
    rows = torch.arange(h, device=images.device).view(1, h)
    cols = torch.arange(w, device=images.device).view(1, w)
    inside_rows = (rows >= top) & (rows < top + size_h)
    inside_cols = (cols >= left) & (cols < left + size_w)
    keep = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return images * keep[:, None].to(images.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}
