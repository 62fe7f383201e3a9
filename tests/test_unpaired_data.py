"""A user's unpaired domains in junyanz's layout (trainA/ trainB/ testA/ testB/): store, resize policy, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gan_core.config import UserError
from gan_core.data.image_store import read_split
from gan_core.data.unpaired import MAX_VALUE, build_unpaired, domain_of


def save(path, size=24, mode="RGB", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(np.random.default_rng(value).integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def junyanz_layout(root, counts=None, size_a=24, size_b=40):
    """trainA 5, trainB 7, testA 2, testB 3 images; B's images have another size than A's (both get resized)."""
    counts = counts or {"trainA": 5, "trainB": 7, "testA": 2, "testB": 3}
    for i, (folder, n) in enumerate(counts.items()):
        for k in range(n):
            save(root / folder / f"{k}.{'jpg' if k % 2 else 'png'}", size_a if folder.endswith("A") else size_b,
                 value=10 * i + k)
    return root


def test_domains_and_splits_are_stored_unlinked_and_resized(tmp_path):
    store = build_unpaired(tmp_path / "data", junyanz_layout(tmp_path / "horse2zebra"), image_size=16, channels=3)
    pixels, manifest = np.load(store / "images.npy"), pd.read_csv(store / "manifest.csv")
    assert pixels.shape == (17, 3, 16, 16) and pixels.dtype == np.uint8
    assert list(manifest.columns) == ["index", "label", "split", "domain", "file"]
    counts = manifest.groupby(["domain", "split"]).size().to_dict()
    assert counts == {("A", "test"): 2, ("A", "train"): 5, ("B", "test"): 3, ("B", "train"): 7}
    assert (manifest.label == manifest.domain.map({"A": 0, "B": 1})).all()
    assert set(manifest.file) >= {"trainA/0.png", "testB/1.jpg"}
    train = read_split(store, "train", MAX_VALUE)
    a, b = domain_of(train, "A"), domain_of(train, "B")
    assert (len(a), len(b)) == (5, 7) and a.images.shape[1:] == (3, 16, 16)
    assert -1 <= train.images.min() < train.images.max() <= 1


def test_grey_domains_keep_one_channel(tmp_path):
    store = build_unpaired(tmp_path / "data", junyanz_layout(tmp_path / "src"), image_size=8, channels=1)
    assert np.load(store / "images.npy").shape == (17, 8, 8)


def test_rebuild_is_byte_identical(tmp_path):
    source = junyanz_layout(tmp_path / "src")
    first = build_unpaired(tmp_path / "one", source, image_size=16, channels=3)
    second = build_unpaired(tmp_path / "two", source, image_size=16, channels=3)
    for name in ("images.npy", "manifest.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def truncated(path):
    save(path)
    path.write_bytes(path.read_bytes()[:200])


WITHOUT_TEST_B = {"trainA": 2, "trainB": 2, "testA": 1}


@pytest.mark.parametrize(("layout", "prepare", "message"), [
    (None, lambda src: None, "'.*src' is not a directory"),
    (None, lambda src: (src / "testB").mkdir(parents=True), "has no 'trainA/' subfolder; accepted layout: trainA/"),
    (WITHOUT_TEST_B, lambda src: None, "has no 'testB/' subfolder"),
    (WITHOUT_TEST_B, lambda src: (src / "testB").mkdir(), "'.*testB' holds no .png/.jpg/.jpeg images"),
    (WITHOUT_TEST_B, lambda src: ((src / "testB").mkdir(), (src / "testB" / "notes.txt").write_text("x")),
     "'.*testB' holds no .png/.jpg/.jpeg"),
    ({}, lambda src: (src / "trainB" / "7.png").write_text("not an image"),
     "'.*trainB/7.png' is not a readable image"),
    ({}, lambda src: truncated(src / "testA" / "9.png"), "'.*testA/9.png' is not a readable image"),
    ({}, lambda src: save(src / "testA" / "9.png", size=32),
     r"mixed sizes: 24x24 \('trainA/0.png'\), 32x32 \('testA/9.png'\)"),
])
def test_bad_folders_are_clear_errors_naming_the_file_and_write_nothing(tmp_path, layout, prepare, message):
    source = tmp_path / "src"
    if layout is not None:
        junyanz_layout(source, layout or None)  # {}: the full layout
    prepare(source)
    with pytest.raises(UserError, match=message):
        build_unpaired(tmp_path / "data", source, image_size=16, channels=3)
    assert not (tmp_path / "data" / "unpaired").exists()


def test_non_square_domain_is_an_error(tmp_path):
    source = junyanz_layout(tmp_path / "src")
    for path in (source / "trainB").iterdir():
        Image.new("RGB", (40, 30)).save(path)
    for path in (source / "testB").iterdir():
        Image.new("RGB", (40, 30)).save(path)
    with pytest.raises(UserError, match="are 40x30; accepted: square images"):
        build_unpaired(tmp_path / "data", source, image_size=16, channels=3)
