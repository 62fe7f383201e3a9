"""A user's own images: `path/*.png|jpg`, or `path/<class>/*.png|jpg` where subfolder names become labels.

Resize policy: all images must share one size and be square (mixed or non-square sizes are an error, so nothing
is silently cropped or distorted: prepare them first); that size is resized to `image_size` with Lanczos.
Pixels are converted to grey (channels 1) or RGB (channels 3). Stored like every source, in `data/folder/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from gan_core.config import UserError
from gan_core.data.image_store import stratified_split, write_image_store

SUBDIR = "folder"
MAX_VALUE = 255
EXTENSIONS = (".png", ".jpg", ".jpeg")


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def list_images(source: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """(file, label) pairs and class names: one class per subfolder holding images, else a single class."""
    if not source.is_dir():
        raise UserError(f"data.folder.path '{source}' is not a directory")
    classes = sorted(d.name for d in source.iterdir() if d.is_dir() and images_in(d))
    if classes:
        files = [(f, label) for label, name in enumerate(classes) for f in images_in(source / name)]
    else:
        files, classes = [(f, 0) for f in images_in(source)], [source.name]
    if not files:
        raise UserError(f"data.folder.path '{source}' holds no {'/'.join(EXTENSIONS)} images, "
                        "directly or in class subfolders")
    return files, classes


def read_image(path: Path, mode: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert(mode)  # convert() reads every pixel: truncated files fail here
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise UserError(f"'{path}' is not a readable image ({' '.join(str(err).split())})") from None


def read_images(files: list[Path], source: Path, image_size: int, channels: int) -> np.ndarray:
    """uint8 pixels (N, H, W) grey or (N, C, H, W) of `files` (found under `source`), resized by the policy above."""
    mode = "L" if channels == 1 else "RGB"
    images, first_of_size = [], {}
    for path in files:
        image = read_image(path, mode)
        first_of_size.setdefault(image.size, path)
        if len(first_of_size) > 1:
            shown = ", ".join(f"{w}x{h} ('{p.relative_to(source)}')" for (w, h), p in first_of_size.items())
            raise UserError(f"images in '{source}' have mixed sizes: {shown}; accepted: one square size for all "
                            f"(they are resized to image_size = {image_size})")
        images.append(image)
    width, height = images[0].size
    if width != height:
        raise UserError(f"images in '{source}' are {width}x{height}; accepted: square images")
    if width != image_size:
        images = [image.resize((image_size, image_size), Image.Resampling.LANCZOS) for image in images]
    pixels = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
    if channels == 3:
        pixels = pixels.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    return pixels


def build_folder(data_dir: Path, source: Path, image_size: int, channels: int, test_fraction: float,
                 split_seed: int) -> Path:
    files, classes = list_images(source)
    pixels = read_images([path for path, _ in files], source, image_size, channels)
    labels = np.array([label for _, label in files], dtype=np.int64)
    manifest = pd.DataFrame({
        "index": np.arange(len(files)),
        "label": labels,
        "split": stratified_split(labels, test_fraction, split_seed),
        "class": [classes[label] for label in labels],
        "file": [str(path.relative_to(source)) for path, _ in files],
    })
    data_dir.mkdir(parents=True, exist_ok=True)
    return write_image_store(data_dir / SUBDIR, pixels, manifest)
