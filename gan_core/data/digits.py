"""scikit-learn's 8x8 handwritten digits (1,797 images, 0-16) as files a user can open, and as device tensors.

On disk (`data/digits/`):
  images.npy    uint8 (1797, 8, 8), values 0..16, row i is manifest row i
  manifest.csv  index,label,split   (split is train|test, stratified by label, fixed seed)

Written with np.save and a plain CSV (no zip timestamps) so a rebuild is byte-identical and matches data.dvc.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor

from gan_core.config import UserError

SUBDIR = "digits"
MAX_VALUE = 16
IMAGE_SHAPE = (1, 8, 8)
NUM_CLASSES = 10


def build_digits(data_dir: Path, test_fraction: float, split_seed: int) -> Path:
    """Write `data_dir/digits/` atomically: a failed build leaves the previous directory untouched."""
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    index = np.arange(len(labels))
    _, test_index = train_test_split(index, test_size=test_fraction, random_state=split_seed, stratify=labels)
    split = np.full(len(labels), "train", dtype=object)
    split[test_index] = "test"
    manifest = pd.DataFrame({"index": index, "label": labels, "split": split})

    target = data_dir / SUBDIR
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{SUBDIR}-", dir=data_dir))
    try:
        np.save(staging / "images.npy", images)
        (staging / "manifest.csv").write_text(manifest.to_csv(index=False, lineterminator="\n"))
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _replace_dir(new: Path, target: Path) -> None:
    """Swap `new` into place with renames only, so readers see the old or the new directory, never half."""
    if target.exists():
        old = target.with_name(f".{target.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old)
    else:
        os.replace(new, target)


def to_model_range(pixels: np.ndarray | Tensor) -> Tensor:
    """0..16 -> [-1, 1]: the one normalisation of image data, used by training, evaluation and sampling."""
    return torch.as_tensor(pixels, dtype=torch.float32) / (MAX_VALUE / 2) - 1.0


@dataclass(frozen=True)
class ImageSet:
    images: Tensor  # (N, 1, 8, 8) float32 in [-1, 1]
    labels: Tensor  # (N,) int64

    def __len__(self) -> int:
        return self.labels.shape[0]


def load_split(data_dir: Path, split: str, device: torch.device | str = "cpu") -> ImageSet:
    """One split, normalised once and placed on `device` (no per-step host-to-device copies)."""
    folder = data_dir / SUBDIR
    images_path, manifest_path = folder / "images.npy", folder / "manifest.csv"
    for path in (images_path, manifest_path):
        if not path.is_file():
            raise UserError(f"data file '{path}' not found; build the data with `python -m gan_core data`")
    manifest = pd.read_csv(manifest_path)
    images = np.load(images_path, allow_pickle=False)
    if split not in ("train", "test"):
        raise UserError(f"unknown split '{split}'; accepted: train, test")
    rows = manifest.index[manifest["split"] == split].to_numpy()
    x = to_model_range(images[manifest["index"].to_numpy()[rows]]).unsqueeze(1)
    y = torch.as_tensor(manifest["label"].to_numpy()[rows], dtype=torch.int64)
    return ImageSet(images=x.to(device), labels=y.to(device))
