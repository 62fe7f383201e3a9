"""Reliability: a killed training resumes exactly, a diverging one fails alone and registers nothing, a retried
registration adds nothing, an interrupted evaluation leaves no partial file, absurd requests are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image

from gan_core import stages
from gan_core.config import UserError
from gan_core.params import load_params
from gan_core.pyfunc_input import MAX_SAMPLES_PER_REQUEST, requested_count
from gan_core.workspace import Workspace
from tests.conftest import make_project, run_cli, store_of, tiny_params

# (steps, checkpoint_every): long enough that the kill lands between two checkpoints
RESUMABLE = {"mlp": (1500, 100), "dcgan": (300, 50)}


def resumable_params(name: str) -> dict:
    params = tiny_params()
    steps, every = RESUMABLE[name]
    params["variants"] = {name: {**params["variants"][name], "steps": {"quick": steps, "full": steps}}}
    params["shared"]["checkpoint_every"] = every
    return params


def train_command(root: Path, name: str) -> tuple[list[str], dict]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_of(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return [sys.executable, "-m", "gan_core", "train", name], env


def stored_step(root: Path) -> int:
    """The step of the latest checkpoint the training in `root`'s tracking store has uploaded to its run."""
    client = MlflowClient(store_of(root))
    try:
        experiment = client.get_experiment_by_name("gan-pipeline")
    except MlflowException:  # the store's tables are still being created
        return 0
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return int(runs[0].data.tags.get("gan.checkpoint_step", 0)) if runs else 0


def checkpoint_step(path: Path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["step"]
    except (OSError, RuntimeError, EOFError):  # not written yet
        return 0


@pytest.mark.e2e  # trainings as subprocesses, killed and resumed
# a convolutional net resumed in place, the MLP from the store on another machine
@pytest.mark.parametrize(("name", "where"), [("dcgan", "here"), ("mlp", "elsewhere")])
def test_sigkilled_training_resumes_to_the_same_bits_in_the_same_run(tmp_path, bundled_data, name, where):
    """`here`: the same command in the same project; `elsewhere`: in another checkout (another machine) that shares
    only the tracking store, so the checkpoint comes from the run's artifacts."""
    straight = make_project(tmp_path / "straight", resumable_params(name), bundled_data)
    killed = make_project(tmp_path / "killed", resumable_params(name), bundled_data)
    steps, every = RESUMABLE[name]

    command, env = train_command(killed, name)
    process = subprocess.Popen(command, cwd=killed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while stored_step(killed) < every and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = checkpoint_step(killed / "models" / name / "checkpoint.pt")
    in_store = stored_step(killed)
    assert every <= in_store <= stopped_at < steps, "the kill must land mid-run, after a checkpoint reached the store"

    resumer = killed if where == "here" else make_project(tmp_path / "elsewhere", resumable_params(name), bundled_data)
    run_cli(*command, cwd=resumer, MLFLOW_TRACKING_URI=store_of(killed))  # the same command again
    run_cli(*train_command(straight, name)[0], cwd=straight, MLFLOW_TRACKING_URI=store_of(straight))

    checkpoint = resumer / "models" / name / "checkpoint.pt"
    resumed = torch.load(checkpoint, weights_only=True)
    reference = torch.load(straight / "models" / name / "checkpoint.pt", weights_only=True)
    assert resumed["step"] == reference["step"] == steps
    for net in ("G", "D"):
        for key, value in reference["state"]["nets"][net].items():
            assert torch.equal(value, resumed["state"]["nets"][net][key]), f"{net}.{key}"
    # the best generator of the in-training scores, those before the kill included, is the uninterrupted run's
    assert (resumed["best"]["step"], resumed["best"]["score"]) == (reference["best"]["step"], reference["best"]["score"])
    for key, value in reference["best"]["generator"]["G"].items():
        assert torch.equal(value, resumed["best"]["generator"]["G"][key]), f"best G.{key}"
    runs = MlflowClient(store_of(killed)).search_runs(
        [MlflowClient(store_of(killed)).get_experiment_by_name("gan-pipeline").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.tags["resumed"] == "true"
    [resumed_at] = MlflowClient(store_of(killed)).get_metric_history(runs[0].info.run_id, "resumed_from_step")
    assert resumed_at.value == resumed_at.step == (stopped_at if where == "here" else in_store)
    assert len(list((resumer / "models" / name / "history").iterdir())) == 1  # keep_checkpoints = 2


@pytest.mark.e2e  # the whole flow
def test_divergence_fails_that_variant_alone_and_a_retried_registration_adds_nothing(
        tmp_path, bundled_data, prefect_harness, monkeypatch):
    from flows.pipeline import gan_pipeline

    params = tiny_params()
    params["variants"] = {
        "mlp": {**params["variants"]["mlp"], "lr": 1e30, "steps": {"quick": 300, "full": 300}},
        "numpy": {**params["variants"]["numpy"], "steps": {"quick": 300, "full": 300}},
    }
    root = make_project(tmp_path / "project", params, bundled_data)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_of(root))

    # the registry's first alias update fails as a flaky server would; the task's retry must not add a version
    original, calls = MlflowClient.set_registered_model_alias, []

    def flaky(self, name, alias, version):
        calls.append(version)
        if len(calls) == 1:
            raise MlflowException("temporarily unavailable", error_code="TEMPORARILY_UNAVAILABLE")
        return original(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", flaky)
    state = gan_pipeline(params_path=str(root / "params.yaml"), return_state=True)
    assert state.is_failed()  # the flow run, as the Prefect server records it
    with pytest.raises(UserError) as err:
        state.result()
    message = str(err.value)
    assert message.startswith("mlp: training diverged by step") and "non-finite loss (loss_d_fake=" in message

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])  # explicit: other tests may set a global URI
    runs = {r.data.tags["variant"]: r for r in client.search_runs(
        [client.get_experiment_by_name("gan-pipeline").experiment_id], "tags.variant != 'theory'")
        if "variant" in r.data.tags}
    assert runs["mlp"].info.status == "FAILED" and runs["numpy"].info.status == "FINISHED"
    assert not client.search_registered_models("name = 'gan-mlp'")
    assert len(client.search_model_versions("name = 'gan-numpy'")) == 1
    assert calls == [1, 1] and client.get_model_version_by_alias("gan-numpy", "champion").version in (1, "1")
    assert not (root / "metrics" / "mlp.json").exists()


def test_an_interrupted_evaluation_leaves_the_previous_outputs_whole(workspace, bundled_data, monkeypatch):
    params = tiny_params()
    params["variants"] = {"mlp": {**params["variants"]["mlp"], "steps": {"quick": 200, "full": 200}}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    (workspace / "data").symlink_to(bundled_data)
    loaded, ws = load_params(workspace / "params.yaml"), Workspace(workspace)
    stages.build_classifier(loaded, ws)
    stages.train_variant(loaded, ws, "mlp")
    stages.evaluate_variant(loaded, ws, "mlp")
    before = {p: p.read_bytes() for p in [ws.metrics("mlp"), *ws.samples("mlp").iterdir()]}

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)  # the sample grid cannot be written
    with pytest.raises(OSError, match="No space left"):
        stages.evaluate_variant(loaded, ws, "mlp")
    after = {p: p.read_bytes() for p in [ws.metrics("mlp"), *ws.samples("mlp").iterdir()]}
    assert after == before
    leftovers = [p for p in (workspace / "metrics").iterdir()] + [p for p in (workspace / "samples").iterdir()]
    assert sorted(p.name for p in leftovers) == ["classifier.json", "mlp", "mlp.json"]


def test_a_request_for_a_billion_samples_is_refused():
    with pytest.raises(MlflowException, match=f"accepted: 1 to {MAX_SAMPLES_PER_REQUEST}") as err:
        requested_count({"n": 10**9})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    for bad in (0, -3):
        with pytest.raises(MlflowException):
            requested_count({"n": bad})
