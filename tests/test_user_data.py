"""A user's own data end to end, every task on a folder of its own (images, aligned pairs, unpaired domains,
captioned images, recordings): through the Prefect flow (scored, registered, each with a model card naming its
folder, served) and `dvc repro` (the same record: nothing to redo; a forced evaluation runs from the folders)."""

from __future__ import annotations

import json
import sys

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.conftest import make_project, run_cli, store_of, tiny_params
from tests.user_folders import aligned_pairs, captioned_shapes, shape_classes, spoken_tones, unpaired_domains

pytestmark = pytest.mark.e2e

# variant -> the folder it learns from (made by tests/user_folders.py)
FOLDERS = {"dcgan": "my_images", "pix2pix": "my_pairs", "cyclegan": "my_domains", "stackgan": "my_captioned",
           "melgan": "my_recordings"}


@pytest.fixture(scope="module")
def user_project(tmp_path_factory, prefect_harness):
    """A project whose params.yaml points every task at a folder of the user's, after one run of the flow."""
    from flows.pipeline import gan_pipeline

    params = tiny_params()
    params["data"].update(source="folder", folder={"path": "my_images", "image_size": 16, "channels": 3},
                          paired={"source": "aligned", "aligned": {"path": "my_pairs", "image_size": 16}},
                          unpaired={"path": "my_domains", "image_size": 16}, captioned={"path": "my_captioned"})
    params["evaluation"]["classifier"]["batch_size"] = 16  # 43 training images
    params["data"]["speech"].update(source="folder", path="my_recordings", sample_rate=8000,
                                    mel={"f_max": 4000.0})
    params["variants"] = {name: params["variants"][name] for name in FOLDERS}
    for name in ("dcgan", "stackgan"):
        params["variants"][name]["batch_size"] = 16  # folders of 54 images: 43 to train on
    params["variants"]["cyclegan"]["semantic_weight"] = 0.0  # the digits' label loss: user domains have no labels
    root = make_project(tmp_path_factory.mktemp("user") / "project", params)
    for make, folder in zip((shape_classes, aligned_pairs, unpaired_domains, captioned_shapes, spoken_tones),
                            FOLDERS.values()):
        make(root / folder)
    for command in (("-m", "gan_core", "data"), ("-m", "dvc", "add", "-q", "data")):  # docs/your-data.md's steps
        run_cli(sys.executable, *command, cwd=root, MLFLOW_TRACKING_URI=store_of(root))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store_of(root))
        yield root, gan_pipeline(params_path=str(root / "params.yaml"))


def test_the_flow_trains_scores_and_registers_every_task_from_the_users_folders(user_project):
    root, registrations = user_project
    assert set(registrations) == set(FOLDERS)
    client = MlflowClient()
    for name, folder in FOLDERS.items():
        metrics = json.loads((root / "metrics" / f"{name}.json").read_text())
        assert metrics["score"]["value"] < metrics["score"]["untrained"], name
        card = client.get_model_version_by_alias(f"gan-{name}", "champion").description
        assert folder in card, (name, folder)
    stackgan = json.loads((root / "metrics" / "stackgan.json").read_text())
    assert stackgan["n_samples"]["value"] == 11  # the 54 shapes' held-out 20%
    assert stackgan["r_precision"]["real_floor"] > 2 * stackgan["r_precision_chance"]["value"]  # the encoder reads
    melgan = json.loads((root / "metrics" / "melgan.json").read_text())
    assert melgan["intelligibility_measured"]["value"] == 0 and "intelligibility" not in melgan  # no labels given
    report = (root / "reports" / "comparison.md").read_text()
    assert "R-precision" in report and "n/a" in report

    for name, facts in (("stackgan", ["source: captioned folder my_captioned", "test images: 11", "| r_precision |",
                                      '{"text": ["a small red circle", ']),
                        ("melgan", ["voices heard (train speakers): ann, bob, dan", "classes: unlabelled",
                                    "recorded at (Hz): 8000, 22050", "intelligibility was not measured"])):
        version = client.get_model_version_by_alias(f"gan-{name}", "champion")
        for fact in facts:
            assert fact in version.description, (name, fact)

    # the served models answer in the user's terms, and refuse what lies outside their data with a 4xx
    images = mlflow.pyfunc.load_model("models:/gan-stackgan@champion").predict({"text": ["a large blue square"]})
    assert images.shape == (1, 3, 32, 32)
    vocoder = mlflow.pyfunc.load_model("models:/gan-melgan@champion")
    recorded = np.sin(np.arange(11025) / 22050 * 2 * np.pi * 440) * 0.3
    assert vocoder.predict({"wave": recorded.tolist(), "sample_rate": 22050}).shape == (4000,)
    with pytest.raises(MlflowException, match="'sample_rate' = 4000 is not accepted") as refused:
        vocoder.predict({"wave": recorded.tolist(), "sample_rate": 4000})
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_dvc_sees_the_flows_record_and_reproduces_an_evaluation_from_the_folders(user_project):
    root, _ = user_project
    status = run_cli(sys.executable, "-m", "dvc", "status", cwd=root, MLFLOW_TRACKING_URI=store_of(root)).stdout
    assert "up to date" in status, status
    before = (root / "metrics" / "stackgan.json").read_text()
    run_cli(sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "evaluate@stackgan", cwd=root,
            MLFLOW_TRACKING_URI=store_of(root))
    after = json.loads((root / "metrics" / "stackgan.json").read_text())
    assert after.keys() == json.loads(before).keys() and after["r_precision"]["value"] >= 0
