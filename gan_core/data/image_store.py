"""The one on-disk format of every image source, and its one normalisation onto the device.

`data/<source>/images.npy`  uint8 pixels, (N, H, W) for grey or (N, C, H, W); row i is manifest row i
`data/<source>/manifest.csv` index,label,split[, more columns a source adds]   (split is train|test)
`data/<source>/<name>.npy`   optional further image arrays of a source, row-aligned with images.npy
                             (e.g. printed digits: `bitmaps.npy`, the 32x32 bitmap each 8x8 image was reduced from)

Written with np.save and a plain CSV (no zip timestamps) so a rebuild is byte-identical and matches data.dvc,
into a staging directory that replaces the old one by renames only (readers never see half a directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from gan_core.config import UserError
from gan_core.data.batching import shuffled_batches
from gan_core.workspace import atomic_dir

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageSpec:
    """What an image variant needs to know about its data to size its networks."""

    image_shape: tuple[int, int, int]  # (channels, height, width)
    num_classes: int


@dataclass(frozen=True)
class ImageBatch:
    images: Tensor  # (B, C, H, W) in [-1, 1], on the training device
    labels: Tensor  # (B,) int64 class labels


@dataclass(frozen=True)
class ImageSet:
    images: Tensor  # (N, C, H, W) float32 in [-1, 1], on the training device
    labels: Tensor  # (N,) int64
    num_classes: int

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def spec(self) -> ImageSpec:
        return ImageSpec(tuple(self.images.shape[1:]), self.num_classes)


def image_batches(data: ImageSet, batch_size: int, generator: torch.Generator) -> Iterator[ImageBatch]:
    """Endless shuffled batches of `data` (on its device), the order drawn from `generator`."""
    for idx in shuffled_batches(len(data), batch_size, generator):
        yield ImageBatch(images=data.images[idx], labels=data.labels[idx])


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """'train'/'test' per row, stratified by label when every class can give a test image."""
    index = np.arange(len(labels))
    stratify = labels if np.bincount(labels).min() * test_fraction >= 1 else None
    _, test_index = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=stratify)
    split = np.full(len(labels), "train", dtype=object)
    split[test_index] = "test"
    return split


def write_image_store(target: Path, images: np.ndarray, manifest: pd.DataFrame,
                      more_arrays: Mapping[str, np.ndarray] | None = None) -> Path:
    with atomic_dir(target) as staging:
        for name, array in {"images": images, **(more_arrays or {})}.items():
            np.save(staging / f"{name}.npy", array)
        (staging / "manifest.csv").write_text(manifest.to_csv(index=False, lineterminator="\n"))
    return target


def to_model_range(pixels: np.ndarray | Tensor, max_value: int) -> Tensor:
    """0..max_value -> [-1, 1]: the one normalisation of image data (G ends in tanh)."""
    return torch.as_tensor(pixels, dtype=torch.float32) / (max_value / 2) - 1.0


def read_split(folder: Path, split: str, max_value: int, device: torch.device | str = "cpu",
               array: str = "images") -> ImageSet:
    """One split of `<array>.npy`, normalised once and placed on `device` (no per-step host-to-device copies)."""
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; accepted: {', '.join(SPLITS)}")
    images_path, manifest_path = folder / f"{array}.npy", folder / "manifest.csv"
    for path in (images_path, manifest_path):
        if not path.is_file():
            raise UserError(f"data file '{path}' not found; build the data with `python -m gan_core data`")
    manifest = pd.read_csv(manifest_path)
    pixels = np.load(images_path, allow_pickle=False)
    if pixels.ndim == 3:  # grey images are stored without a channel axis
        pixels = pixels[:, None]
    rows = (manifest["split"] == split).to_numpy()
    labels = manifest["label"].to_numpy()
    return ImageSet(
        images=to_model_range(pixels[manifest["index"].to_numpy()[rows]], max_value).to(device),
        labels=torch.as_tensor(labels[rows], dtype=torch.int64).to(device),
        num_classes=int(labels.max()) + 1,
    )
