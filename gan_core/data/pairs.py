"""Paired images (source -> target) for paired translation: the bundled printed digits or a user's aligned folder.

`data.paired.source` picks them: `printed` pairs each 8x8 UCI-format digit (images.npy, 0-16) with the 32x32 bitmap
it was reduced from (bitmaps.npy); `aligned` pairs the A and B halves of a user's images (gan_core/data/aligned.py),
A -> B or B -> A by `data.paired.aligned.direction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import torch
from pydantic import model_validator
from torch import Tensor

from gan_core.config import DataParams, StrictModel
from gan_core.data import aligned, printed
from gan_core.data.aligned import AlignedParams
from gan_core.data.batching import shuffled_batches
from gan_core.data.image_store import read_split


class PairedDataParams(StrictModel):
    """The data of paired translation (`data.paired`): bundled printed digits (8x8 -> 32x32) or an aligned folder."""

    source: Literal["printed", "aligned"] = "printed"
    aligned: AlignedParams | None = None

    @model_validator(mode="after")
    def _aligned_given_when_used(self) -> PairedDataParams:
        if self.source == "aligned" and self.aligned is None:
            raise ValueError("data.paired.source 'aligned' needs a data.paired.aligned block with at least 'path'")
        return self


@dataclass(frozen=True)
class PairSpec:
    """What a translation variant needs to size its networks."""

    source_shape: tuple[int, int, int]  # (C, h, w)
    target_shape: tuple[int, int, int]  # (C, H, W)


@dataclass(frozen=True)
class PairBatch:
    source: Tensor  # (B, *source_shape) in [-1, 1], on the training device
    target: Tensor  # (B, *target_shape) in [-1, 1]; row i is the translation of source row i


@dataclass(frozen=True)
class ImagePairs:
    source: Tensor  # (N, *source_shape) in [-1, 1]
    target: Tensor  # (N, *target_shape) in [-1, 1]
    labels: Tensor  # (N,) int64: digit classes (printed) or 0 (aligned folders)

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def spec(self) -> PairSpec:
        return PairSpec(tuple(self.source.shape[1:]), tuple(self.target.shape[1:]))


def pair_batches(pairs: ImagePairs, batch_size: int, generator: torch.Generator) -> Iterator[PairBatch]:
    """Endless shuffled batches of `pairs` (on their device), the order drawn from `generator`."""
    for idx in shuffled_batches(len(pairs), batch_size, generator):
        yield PairBatch(source=pairs.source[idx], target=pairs.target[idx])


def paired_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / (aligned.SUBDIR if params.paired.source == "aligned" else printed.SUBDIR)


def load_pairs(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> ImagePairs:
    """One split of the paired source on `device`."""
    folder = paired_dir(params, root)
    if params.paired.source == "printed":
        digits = printed.read_printed(folder, split, device)
        return ImagePairs(digits.small.images, digits.large.images, digits.small.labels)
    a = read_split(folder, split, aligned.MAX_VALUE, device)
    b = read_split(folder, split, aligned.MAX_VALUE, device, array=aligned.B_ARRAY)
    source, target = (a, b) if params.paired.aligned.direction == "AtoB" else (b, a)
    return ImagePairs(source.images, target.images, source.labels)
