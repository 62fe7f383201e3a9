"""Datasets: builders that write `data/<source>/` deterministically, and loaders that put a split on the device.

Image source of the generation task: `digits` (bundled, default) or `folder` (a user's images), chosen by
`data.source` in params.yaml. Bundled for the other tasks: `digits` and `printed` (digits rendered from fonts).
A user's paired images: `aligned` (`data.paired.source`); a user's unpaired ones: `unpaired` (trainA/ trainB/ testA/
testB/) when `data.unpaired` is set. Every source is rebuilt byte for byte, so data.dvc records one version of
`data/`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_core.config import DataParams
from gan_core.data import aligned, digits, folder, printed, unpaired
from gan_core.data.batching import shuffled_batches
from gan_core.data.image_store import ImageBatch, ImageSet, ImageSpec, image_batches, read_split

_MAX_VALUE = {"digits": digits.MAX_VALUE, "folder": folder.MAX_VALUE}


def source_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / params.source


def source_names(params: DataParams) -> list[str]:
    """The folders under `data/` that the pipeline reads: the image source, every bundled source, the user's others."""
    names = list(dict.fromkeys([params.source, digits.SUBDIR, printed.SUBDIR]))
    names += [aligned.SUBDIR] if params.paired.source == "aligned" else []
    return names + ([unpaired.SUBDIR] if params.unpaired else [])


def missing_sources(params: DataParams, root: Path) -> list[str]:
    return [name for name in source_names(params) if not (root / params.dir / name / "manifest.csv").is_file()]


def build_data(params: DataParams, root: Path) -> Path:
    """Write every source under `data/`: the bundled ones, and the user's folders that params.yaml names."""
    data_dir = root / params.dir
    if params.source == "folder":
        f = params.folder
        folder.build_folder(data_dir, root / f.path, f.image_size, f.channels, params.test_fraction, params.split_seed)
    digits.build_digits(data_dir, params.test_fraction, params.split_seed)  # also domain A of unpaired translation
    printed.build_printed(data_dir, seed=params.split_seed, test_fraction=params.test_fraction)
    if params.paired.source == "aligned":
        a = params.paired.aligned
        aligned.build_aligned(data_dir, root / a.path, a.image_size, a.channels)
    if params.unpaired:
        u = params.unpaired
        unpaired.build_unpaired(data_dir, root / u.path, u.image_size, u.channels)
    return data_dir


def load_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> ImageSet:
    return read_split(source_dir(params, root), split, _MAX_VALUE[params.source], device)


__all__ = [
    "ImageBatch", "ImageSet", "ImageSpec", "build_data", "image_batches", "load_split", "missing_sources",
    "shuffled_batches", "source_dir",
]
