"""Datasets: builders that write `data/<source>/` deterministically, and one loader that puts a split on the device.

Sources: `digits` (bundled, default) and `folder` (a user's images), chosen by `data.source` in params.yaml.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_core.config import DataParams
from gan_core.data import digits, folder
from gan_core.data.image_store import ImageSet, read_split

_MAX_VALUE = {"digits": digits.MAX_VALUE, "folder": folder.MAX_VALUE}


def source_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / params.source


def build_data(params: DataParams, root: Path) -> Path:
    """Write `data/<source>/` from the bundled digits or the user's folder."""
    if params.source == "folder":
        f = params.folder
        return folder.build_folder(root / params.dir, root / f.path, f.image_size, f.channels,
                                   params.test_fraction, params.split_seed)
    return digits.build_digits(root / params.dir, params.test_fraction, params.split_seed)


def load_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> ImageSet:
    return read_split(source_dir(params, root), split, _MAX_VALUE[params.source], device)


__all__ = ["ImageSet", "build_data", "load_split", "source_dir"]
