"""A user's image folder: layout, labels from subfolders, the resize policy, clear errors, and dcgan trained on it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from gan_core.config import FolderParams, UserError
from gan_core.data import build_data, load_split
from gan_core.data.folder import build_folder
from gan_core.params import DataParams, load_params
from gan_core import stages
from gan_core.workspace import Workspace


def save(path, size=(40, 40), mode="RGB", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def class_folder(root, per_class=6):
    for label, name in enumerate(["cats", "dogs"]):
        for i in range(per_class):
            save(root / name / f"{i}.png" if i % 2 else root / name / f"{i}.jpg", value=10 * label + i)
    return root


def test_class_subfolders_become_labels_and_images_are_resized(tmp_path):
    source = class_folder(tmp_path / "pets")
    params = DataParams(source="folder", dir=tmp_path / "data", folder=FolderParams(path=source, image_size=32))
    folder = build_data(params, tmp_path) / "folder"
    pixels = np.load(folder / "images.npy")
    manifest = pd.read_csv(folder / "manifest.csv")
    assert pixels.shape == (12, 3, 32, 32) and pixels.dtype == np.uint8
    assert list(manifest.columns) == ["index", "label", "split", "class", "file"]
    assert manifest.groupby("class").label.first().to_dict() == {"cats": 0, "dogs": 1}
    assert set(manifest.file) >= {"cats/0.jpg", "dogs/1.png"}
    train = load_split(params, tmp_path, "train")
    assert train.images.shape[1:] == (3, 32, 32) and train.num_classes == 2
    assert -1 <= train.images.min() < train.images.max() <= 1


def test_flat_grey_folder_is_one_class(tmp_path):
    for i in range(5):
        save(tmp_path / "src" / f"{i}.png", size=(16, 16), mode="L", value=i)
    folder = build_folder(tmp_path / "data", tmp_path / "src", image_size=16, channels=1, test_fraction=0.2,
                          split_seed=0)
    assert np.load(folder / "images.npy").shape == (5, 16, 16)  # grey: stored without a channel axis
    assert set(pd.read_csv(folder / "manifest.csv").label) == {0}


@pytest.mark.parametrize(("prepare", "message"), [
    (lambda src: src.mkdir(), "holds no .png/.jpg/.jpeg images"),
    (lambda src: None, "is not a directory"),
    (lambda src: (save(src / "a.png"), (src / "b.png").write_text("not an image")), "'.*b.png' is not a readable image"),
    (lambda src: (save(src / "a.png"), (src / "b.png").write_bytes((src / "a.png").read_bytes()[:200])),
     "'.*b.png' is not a readable image"),
    (lambda src: (save(src / "a.png"), save(src / "b.png", size=(48, 48))), "mixed sizes: 40x40 .*48x48"),
    (lambda src: save(src / "a.png", size=(40, 30)), "are 40x30; accepted: square images"),
])
def test_bad_folders_are_clear_errors_and_write_nothing(tmp_path, prepare, message):
    source = tmp_path / "src"
    prepare(source)
    with pytest.raises(UserError, match=message):
        build_folder(tmp_path / "data", source, image_size=32, channels=3, test_fraction=0.2, split_seed=0)
    assert not (tmp_path / "data" / "folder").exists()


def test_dcgan_trains_and_evaluates_on_a_user_folder(workspace):
    class_folder(workspace / "pets", per_class=12)
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["data"].update(source="folder", folder={"path": "pets", "image_size": 32, "channels": 3})
    params["evaluation"]["classifier"]["epochs"] = 2
    params["variants"] = {"dcgan": {"base_channels": 8, "batch_size": 8, "steps": {"quick": 20, "full": 40}}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    loaded, ws = load_params(workspace / "params.yaml"), Workspace(workspace)

    stages.build_data(loaded, ws)
    stages.build_classifier(loaded, ws)
    stages.train_variant(loaded, ws, "dcgan")
    metrics = stages.evaluate_variant(loaded, ws, "dcgan")
    assert metrics["steps"]["value"] == 20 and metrics["n_samples"]["value"] == 5  # the test split of 24 images
    assert json.loads(ws.metrics("dcgan").read_text()) == metrics
    grid = Image.open(ws.sample_grid("dcgan"))
    assert grid.mode == "RGB"
