"""The digits data: byte-identical rebuilds that match data.dvc, and one normalisation onto the device."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from gan_core.config import DataParams, UserError
from gan_core.params import load_params
from gan_core.data import load_split
from gan_core.data.digits import build_digits
from gan_core.data.image_store import read_split, to_model_range
from gan_core.stages import build_data, data_version
from gan_core.workspace import Workspace
from tests.conftest import REPO, run_cli


def test_rebuild_is_byte_identical(tmp_path):
    first = build_digits(tmp_path / "a", test_fraction=0.2, split_seed=0)
    second = build_digits(tmp_path / "b", test_fraction=0.2, split_seed=0)
    for name in ("images.npy", "manifest.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    build_digits(tmp_path / "a", test_fraction=0.2, split_seed=0)  # rebuilding in place swaps atomically
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["digits"]


def test_files_are_readable_and_split_is_stratified(tmp_path):
    folder = build_digits(tmp_path, test_fraction=0.2, split_seed=0)
    images = np.load(folder / "images.npy")
    manifest = pd.read_csv(folder / "manifest.csv")
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    assert list(manifest.columns) == ["index", "label", "split"]
    assert manifest["split"].value_counts().to_dict() == {"train": 1437, "test": 360}
    per_class = manifest[manifest.split == "test"].label.value_counts()
    assert per_class.min() >= 35 and per_class.max() <= 37


def test_rebuilt_data_has_the_md5_data_dvc_records(workspace):
    """A fresh clone has no DVC remote: the data command must reproduce exactly the tracked version."""
    params = load_params(workspace / "params.yaml")
    assert build_data(params, Workspace(workspace)).matches_dvc
    status = run_cli(sys.executable, "-m", "dvc", "status", "--json", "data.dvc", cwd=workspace)
    assert json.loads(status.stdout) == {}  # `dvc status` clean, as after a `dvc pull`
    (workspace / "data" / "digits" / "manifest.csv").write_text("index,label,split\n")
    assert not data_version(Workspace(workspace)).matches_dvc
    assert (workspace / "data.dvc").read_text() == (REPO / "data.dvc").read_text()  # the record is never rewritten


def test_splits_are_normalised_once_onto_the_device(tmp_path):
    build_digits(tmp_path, test_fraction=0.2, split_seed=0)
    train = load_split(DataParams(dir=tmp_path), tmp_path, "train")
    assert train.images.shape == (1437, 1, 8, 8) and train.images.dtype == torch.float32
    assert train.images.min() == -1 and train.images.max() == 1
    assert train.num_classes == 10
    assert torch.equal(to_model_range(np.array([0, 8, 16]), 16), torch.tensor([-1.0, 0.0, 1.0]))


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="python -m gan_core data"):
        read_split(tmp_path / "digits", "train", 16)
    build_digits(tmp_path, test_fraction=0.2, split_seed=0)
    shutil.rmtree(tmp_path / "digits")
    with pytest.raises(UserError, match="not found"):
        read_split(tmp_path / "digits", "test", 16)
