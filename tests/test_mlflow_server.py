"""Parallel trainings log to a real `mlflow server` (no SQLite file shared by writers): both runs and versions complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.background import venv_env

pytestmark = pytest.mark.e2e  # real servers or the whole flow: `make test` runs it, `make test-fast` does not

# what one GPU worker does for a variant, in one process: data, classifier, train, evaluate, register
TRAIN_AND_REGISTER = """
import json
from pathlib import Path
from gan_core import stages
from gan_core.params import load_params
from gan_core.workspace import Workspace
ws, params = Workspace(Path.cwd()), load_params("params.yaml")
version = stages.prepare_data(params, ws)
stages.build_classifier(params, ws)
record = stages.train_variant(params, ws, "mlp")
stages.evaluate_variant(params, ws, "mlp")
registration = stages.register_variant(params, ws, "mlp")
print(json.dumps({"run_id": record.run_id, "version": registration.version}))
"""


def test_two_trainings_at_once_log_and_register_through_the_server(workspace: Path, tmp_path: Path,
                                                                  mlflow_server: str) -> None:
    projects = [workspace, tmp_path / "second"]
    shutil.copytree(workspace, projects[1])
    for seed, project in enumerate(projects):
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["shared"]["seed"] = seed
        params["evaluation"]["classifier"]["epochs"] = 2
        params["variants"]["mlp"]["steps"]["quick"] = 600
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    env = venv_env(MLFLOW_TRACKING_URI=mlflow_server)
    workers = [subprocess.Popen([sys.executable, "-c", TRAIN_AND_REGISTER], cwd=project, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for project in projects]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-4000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    client = MlflowClient(mlflow_server)
    for result in results:
        run = client.get_run(result["run_id"])
        assert run.info.status == "FINISHED"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # artifacts went through the server
        assert "fid" in run.data.metrics and len(client.get_metric_history(run.info.run_id, "loss_g")) == 6
        assert "samples.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
        version = client.get_model_version("gan-mlp", str(result["version"]))
        assert (version.status, version.run_id) == ("READY", result["run_id"])
    assert {r["version"] for r in results} == {1, 2}
    fids = {r["version"]: client.get_run(r["run_id"]).data.metrics["fid"] for r in results}
    assert int(client.get_model_version_by_alias("gan-mlp", "champion").version) == min(fids, key=fids.get)
