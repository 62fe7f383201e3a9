"""Datasets: builders that write `data/<source>/` deterministically, and loaders that put a split on the device.

Image source of the generation task: `digits` (bundled, default) or `folder` (a user's images), chosen by
`data.source` in params.yaml. Bundled for the other tasks: `printed` (digits rendered from fonts). Every source is rebuilt byte for byte, so data.dvc records one version of `data/`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_core.config import DataParams
from gan_core.data import digits, folder, printed
from gan_core.data.batching import shuffled_batches
from gan_core.data.image_store import ImageBatch, ImageSet, ImageSpec, image_batches, read_split

_MAX_VALUE = {"digits": digits.MAX_VALUE, "folder": folder.MAX_VALUE}


def source_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / params.source


def source_names(params: DataParams) -> list[str]:
    """The folders under `data/` that the pipeline reads: the image source, then every bundled source."""
    return [params.source, printed.SUBDIR]


def missing_sources(params: DataParams, root: Path) -> list[str]:
    return [name for name in source_names(params) if not (root / params.dir / name / "manifest.csv").is_file()]


def build_data(params: DataParams, root: Path) -> Path:
    """Write every source under `data/`: the bundled digits or the user's folder, and the bundled sources."""
    data_dir = root / params.dir
    if params.source == "folder":
        f = params.folder
        folder.build_folder(data_dir, root / f.path, f.image_size, f.channels, params.test_fraction, params.split_seed)
    else:
        digits.build_digits(data_dir, params.test_fraction, params.split_seed)
    printed.build_printed(data_dir, seed=params.split_seed, test_fraction=params.test_fraction)
    return data_dir


def load_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> ImageSet:
    return read_split(source_dir(params, root), split, _MAX_VALUE[params.source], device)


__all__ = [
    "ImageBatch", "ImageSet", "ImageSpec", "build_data", "image_batches", "load_split", "missing_sources",
    "shuffled_batches", "source_dir",
]
