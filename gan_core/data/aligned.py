"""A user's paired images in junyanz's aligned format (pytorch-CycleGAN-and-pix2pix, `--dataset_mode aligned`).

`path/train/*.png|jpg` and `path/val/*.png|jpg`: each file holds A | B side by side, A the left half and B the
right half, so its width is even and each half is square (width = 2 x height). All files share one size (nothing
is silently cropped or distorted); each half is resized to `image_size` with Lanczos, to grey or RGB.

`data/aligned/images.npy`  uint8 A halves, (N, S, S) grey or (N, C, S, S); `data/aligned/b.npy` the B halves
`data/aligned/manifest.csv` index,label,split,file   (train/ -> split train, val/ -> split test; label 0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image

from gan_core.config import StrictModel, UserError
from gan_core.data.folder import EXTENSIONS, read_image
from gan_core.data.image_store import write_image_store

SUBDIR = "aligned"
MAX_VALUE = 255
FOLDERS = {"train": "train", "val": "test"}  # junyanz's folder -> the image store's split
B_ARRAY = "b"
LAYOUT = "train/ and val/ of images holding A | B side by side (junyanz's aligned format)"


class AlignedParams(StrictModel):
    """A user's paired images in junyanz's aligned format (`data.paired.aligned`: the layout above)."""

    path: Path  # relative to the project root; holds train/ and val/
    image_size: Literal[16, 32, 64, 128, 256] = 64  # each half is resized to this (SSIM's window needs 11 px)
    channels: Literal[1, 3] = 3
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # A is the left half


def aligned_files(source: Path) -> list[tuple[Path, str]]:
    """(file, split) of every image in `source/train` and `source/val`, sorted within each."""
    if not source.is_dir():
        raise UserError(f"aligned data path '{source}' is not a directory; accepted: {LAYOUT}")
    files = []
    for folder, split in FOLDERS.items():
        found = sorted(p for p in (source / folder).glob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
        if not found:
            raise UserError(f"'{source / folder}' holds no {'/'.join(EXTENSIONS)} images; accepted: {LAYOUT}")
        files += [(path, split) for path in found]
    return files


def split_pair(image: Image.Image, path: Path) -> tuple[Image.Image, Image.Image]:
    """The A (left) and B (right) halves of one aligned image."""
    width, height = image.size
    if width % 2:
        raise UserError(f"'{path}' is {width} px wide; an aligned image holds A | B side by side, so its width "
                        "must be even")
    if width != 2 * height:
        raise UserError(f"'{path}' is {width}x{height}, so its halves are {width // 2}x{height}; accepted: square "
                        "halves (width = 2 x height)")
    half = width // 2
    return image.crop((0, 0, half, height)), image.crop((half, 0, width, height))


def build_aligned(data_dir: Path, source: Path, image_size: int, channels: int) -> Path:
    """Write `data_dir/aligned/` from the user's aligned folders."""
    files = aligned_files(source)
    mode = "L" if channels == 1 else "RGB"
    halves: dict[str, list[np.ndarray]] = {"a": [], "b": []}
    first_size: tuple[tuple[int, int], Path] | None = None
    for path, _ in files:
        image = read_image(path, mode)
        pair = split_pair(image, path)
        first_size = first_size or (image.size, path)
        if image.size != first_size[0]:
            (w, h), first = first_size
            raise UserError(f"images in '{source}' have mixed sizes: {w}x{h} ('{first.name}'), "
                            f"{image.size[0]}x{image.size[1]} ('{path.name}'); accepted: one size for all")
        for key, half in zip(("a", "b"), pair):
            if half.size != (image_size, image_size):
                half = half.resize((image_size, image_size), Image.Resampling.LANCZOS)
            pixels = np.asarray(half, dtype=np.uint8)
            halves[key].append(pixels.transpose(2, 0, 1) if channels == 3 else pixels)  # (H, W, C) -> (C, H, W)
    manifest = pd.DataFrame({
        "index": np.arange(len(files)),
        "label": 0,
        "split": [split for _, split in files],
        "file": [path.relative_to(source).as_posix() for path, _ in files],
    })
    data_dir.mkdir(parents=True, exist_ok=True)
    return write_image_store(data_dir / SUBDIR, np.stack(halves["a"]), manifest, {B_ARRAY: np.stack(halves["b"])})
