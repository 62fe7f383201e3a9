"""`mlflow models serve` of a registered champion (as `make serve` runs it): images back, clear 4xx for bad requests."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from gan_core import stages
from gan_core.params import load_params
from gan_core.pyfunc_input import MAX_SAMPLES_PER_REQUEST
from gan_core.workspace import Workspace
from tests.conftest import assert_scored
from tests.background import background, free_port, venv_env

pytestmark = pytest.mark.e2e  # real servers or the whole flow: `make test` runs it, `make test-fast` does not


def test_served_champion_draws_images_and_rejects_bad_requests(workspace: Path, tmp_path: Path, mlflow_server: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["evaluation"]["classifier"]["epochs"] = 2
    params["variants"] = {"cgan": {**params["variants"]["cgan"], "steps": {"quick": 300, "full": 300}}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # registered where a team's server would hold it
    ws, params = Workspace(workspace), load_params(workspace / "params.yaml")
    stages.prepare_data(params, ws)
    stages.build_classifier(params, ws)  # its features score the training as it goes
    training = stages.train_variant(params, ws, "cgan")
    assert_scored(params, ws, "cgan", training.run_id)
    stages.evaluate_variant(params, ws, "cgan")
    registration = stages.register_variant(params, ws, "cgan")
    assert registration.is_champion
    version = MlflowClient().get_model_version(registration.name, str(registration.version))
    assert version.tags["best_step"] == str(int(MlflowClient().get_run(training.run_id).data.metrics["best_step"]))

    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", "models:/gan-cgan@champion",
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with background(command, tmp_path / "serve.log", venv_env(MLFLOW_TRACKING_URI=mlflow_server), cwd=tmp_path,
                    ready_url=f"http://127.0.0.1:{port}/ping"):
        url = f"http://127.0.0.1:{port}/invocations"
        status, body = post(url, {"inputs": {"n": 4}, "params": {"seed": 1}})
        images = np.asarray(body["predictions"], dtype=np.float32)
        assert status == 200 and images.shape == (4, 1, 8, 8) and 0 <= images.min() < images.max() <= 1
        status, body = post(url, {"inputs": {"label": [3, 3, 7]}})
        assert status == 200 and np.asarray(body["predictions"]).shape == (3, 1, 8, 8)

        for request, message in [
            ({"n": -1}, "'n' = -1 is out of range; accepted: 1 to 10000"),
            ({"n": MAX_SAMPLES_PER_REQUEST + 1}, "'n' = 10001 is out of range; accepted: 1 to 10000"),
            ({"label": [3, 12]}, "'label' values [12] are not classes of 'cgan'; accepted: 0 to 9"),
        ]:
            status, body = post(url, {"inputs": request})
            assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", (request, status, body)
            assert message in body["message"]


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
