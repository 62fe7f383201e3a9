"""A user's captioned images for text to image: the folder's checks, its store, R-precision, a dropped source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from gan_core.config import UserError
from gan_core.data.captioned import build_captioned, read_captioned_folder
from gan_core.evaluate.caption_match import describing, r_precision
from tests.user_folders import captioned_shapes


def captioned_folder(tmp_path: Path, rows: str) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("L", (32, 32)).save(folder / "a.png")
    (folder / "captions.csv").write_text("file,caption\n" + rows)
    return folder


def test_a_captioned_folder_reads(tmp_path: Path) -> None:
    table = read_captioned_folder(captioned_folder(tmp_path, "a.png,a bold three\na.png,  a heavy 3 \n"))
    assert table["caption"].tolist() == ["a bold three", "a heavy 3"]


@pytest.mark.parametrize("rows, message", [
    ("b.png,a seven\n", r"row 2: file 'b.png' not found"),
    ("a.png,a seven\na.png,   \n", r"row 3: the caption of 'a.png' is empty"),
    ("a.png,\n", r"row 2: the caption of 'a.png' is empty"),
    ("../../etc/passwd,a password\n", r"row 2: file '../../etc/passwd' is outside"),
    ("/etc/passwd,a password\n", r"row 2: file '/etc/passwd' is outside"),
    ("", r"has no rows"),
])
def test_bad_captioned_folders_name_the_row(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        read_captioned_folder(captioned_folder(tmp_path, rows))


def test_missing_captions_file_or_column(tmp_path: Path) -> None:
    folder = captioned_folder(tmp_path, "a.png,x\n")
    (folder / "captions.csv").write_text("file,text\na.png,x\n")
    with pytest.raises(UserError, match="lacks the column"):
        read_captioned_folder(folder)
    (folder / "captions.csv").unlink()
    with pytest.raises(UserError, match="captions.csv' not found"):
        read_captioned_folder(folder)


def test_the_store_holds_out_whole_images_with_all_their_captions_and_rebuilds_byte_for_byte(tmp_path):
    folder = captioned_shapes(tmp_path / "shapes", offsets=2)
    (folder / "images" / "uncaptioned.png").write_bytes((folder / "images" / "circle-red-small-00.png").read_bytes())
    store = build_captioned(tmp_path / "data", folder, 32, 3, test_fraction=0.25, split_seed=0)
    manifest = pd.read_csv(store / "manifest.csv")
    captions = pd.read_csv(store / "captions.csv")
    images = np.load(store / "images.npy")
    assert images.shape == (36, 3, 32, 32) and len(manifest) == 36
    assert "images/uncaptioned.png" not in set(manifest.file)
    assert (manifest.split == "test").sum() == 9 and len(captions) == 72
    assert captions.groupby("index").size().eq(2).all()  # every image keeps both its captions, in its split
    first = {p.name: p.read_bytes() for p in store.iterdir()}
    build_captioned(tmp_path / "data", folder, 32, 3, test_fraction=0.25, split_seed=0)
    assert {p.name: p.read_bytes() for p in store.iterdir()} == first


@pytest.mark.parametrize("make_bad, message", [
    (lambda f: Image.new("RGB", (40, 40)).save(f / "images" / "circle-red-small-00.png"), "mixed sizes"),
    (lambda f: (f / "images" / "circle-red-small-00.png").write_bytes(b"not a png"), "is not a readable image"),
    (lambda f: (f / "captions.csv").write_text("file,caption\nimages/circle-red-small-00.png,a red circle\n"),
     "captions 1 image"),
])
def test_a_bad_captioned_folder_is_one_line_and_writes_nothing(tmp_path, make_bad, message):
    folder = captioned_shapes(tmp_path / "shapes", offsets=1)
    make_bad(folder)
    with pytest.raises(UserError, match=message):
        build_captioned(tmp_path / "data", folder, 32, 3, test_fraction=0.25, split_seed=0)
    assert not (tmp_path / "data" / "captioned").exists()


def test_r_precision_ranks_each_images_own_caption_among_the_others():
    class Identity(torch.nn.Module):
        def forward(self, images):
            return images.flatten(1)

    pool = torch.eye(4)
    meaning = torch.tensor([0, 1, 2, 3])
    alone = describing(meaning, torch.arange(4), torch.ones(4, dtype=torch.long), 4)
    assert r_precision(Identity(), pool.clone().view(4, 1, 2, 2), meaning, pool, alone, seed=0) == 1.0
    shifted = pool.roll(1, dims=0).view(4, 1, 2, 2)  # each image looks like the previous caption
    assert r_precision(Identity(), shifted, meaning, pool, alone, seed=0) == 0.0
    # image i also owns caption i - 1 (another phrasing): that caption is no rival, so its own ranks first
    both = describing(torch.tensor([0, 3, 1, 0, 2, 1, 3, 2]), torch.arange(0, 8, 2), torch.full((4,), 2), 4)
    assert both[0].tolist() == [True, False, False, True]
    assert r_precision(Identity(), (pool + 2 * shifted.flatten(1)).view(4, 1, 2, 2), meaning, pool, both, 0) == 1.0


def test_data_drops_a_source_params_no_longer_name(tmp_path):
    from gan_core.data import build_data
    from gan_core.params import DataParams

    captioned_shapes(tmp_path / "shapes", offsets=1)
    build_data(DataParams(captioned={"path": "shapes"}), tmp_path)
    assert (tmp_path / "data" / "captioned" / "images.npy").is_file()
    build_data(DataParams(), tmp_path)
    assert not (tmp_path / "data" / "captioned").exists() and (tmp_path / "data" / "printed").is_dir()
