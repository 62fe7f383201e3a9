"""junyanz's aligned folders (A | B side by side in train/ and val/): halves, splits, resizing and bad folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gan_core.config import UserError
from gan_core.data.aligned import B_ARRAY, build_aligned
from gan_core.data.image_store import read_split


def _pair(path: Path, a: tuple[int, int, int], b: tuple[int, int, int], height: int = 16,
          width: int | None = None) -> None:
    """An aligned image: left half colour `a`, right half colour `b`."""
    width = width or 2 * height
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2], pixels[:, width // 2:] = a, b
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def aligned(tmp_path: Path) -> Path:
    source = tmp_path / "facades"
    for i in range(3):
        _pair(source / "train" / f"{i}.png", (10 * i, 0, 0), (0, 200, 10 * i))
    for i in range(2):
        _pair(source / "val" / f"{i}.jpg", (0, 0, 250), (255, 255, 255))
    return source


def test_halves_split_into_a_and_b_with_train_and_val_splits(aligned, tmp_path):
    folder = build_aligned(tmp_path / "data", aligned, image_size=8, channels=3)
    a, b = np.load(folder / "images.npy"), np.load(folder / f"{B_ARRAY}.npy")
    assert a.shape == b.shape == (5, 3, 8, 8) and a.dtype == np.uint8  # 16x16 halves resized to 8x8
    assert a[2, 0].max() == 20 and a[2, 1:].max() == 0 and (b[2, 1] == 200).all()
    manifest = pd.read_csv(folder / "manifest.csv")
    assert manifest.file.tolist() == ["train/0.png", "train/1.png", "train/2.png", "val/0.jpg", "val/1.jpg"]
    assert manifest.split.tolist() == ["train"] * 3 + ["test"] * 2
    test_b = read_split(folder, "test", 255, array=B_ARRAY)
    assert test_b.images.shape == (2, 3, 8, 8) and test_b.images.min() > 0.95  # white (JPEG: nearly), in [-1, 1]


def test_grey_images_are_stored_without_a_channel_axis(aligned, tmp_path):
    folder = build_aligned(tmp_path / "data", aligned, image_size=16, channels=1)
    assert np.load(folder / "images.npy").shape == (5, 16, 16)


@pytest.mark.parametrize("damage, message", [
    (lambda s: _pair(s / "train" / "odd.png", (0, 0, 0), (0, 0, 0), height=16, width=33), "33 px wide"),
    (lambda s: _pair(s / "train" / "wide.png", (0, 0, 0), (0, 0, 0), height=10, width=32), "square halves"),
    (lambda s: _pair(s / "val" / "big.png", (0, 0, 0), (0, 0, 0), height=32), "mixed sizes"),
    (lambda s: (s / "train" / "notes.png").write_text("not an image"), "notes.png' is not a readable image"),
    (lambda s: (s / "val" / "cut.png").write_bytes((s / "train" / "0.png").read_bytes()[:60]),
     "cut.png' is not a readable image"),
])
def test_bad_files_are_named(aligned, tmp_path, damage, message):
    damage(aligned)
    with pytest.raises(UserError, match=message):
        build_aligned(tmp_path / "data", aligned, image_size=8, channels=3)
    assert not (tmp_path / "data" / "aligned").exists()  # nothing half-written


def test_missing_or_empty_folders_are_errors(aligned, tmp_path):
    with pytest.raises(UserError, match="is not a directory"):
        build_aligned(tmp_path / "data", tmp_path / "nowhere", image_size=8, channels=3)
    for f in (aligned / "val").iterdir():
        f.unlink()
    with pytest.raises(UserError, match=r"val' holds no \.png/\.jpg/\.jpeg images"):
        build_aligned(tmp_path / "data", aligned, image_size=8, channels=3)
    (aligned / "val").rmdir()
    with pytest.raises(UserError, match="val' holds no"):
        build_aligned(tmp_path / "data", aligned, image_size=8, channels=3)
