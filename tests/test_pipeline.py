"""End to end: the Prefect flow on the quick profile, and `dvc repro` on a copy of the repository."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from gan_core.config import load_params
from gan_core.stages import register_variant
from gan_core.workspace import Workspace
from tests.conftest import REPO, run_cli, tiny_params

LOAD_AND_SAMPLE = """
import json, sys, mlflow
model = mlflow.pyfunc.load_model(f"models:/gan-{sys.argv[1]}@champion")
images = model.predict({"n": 5}, params={"seed": 1})
print(json.dumps({"shape": list(images.shape), "min": float(images.min()), "max": float(images.max())}))
"""
NO_TORCH = "import sys; sys.modules['torch'] = None  # from here on, any `import torch` fails\n"


def test_quick_flow_trains_evaluates_and_registers_a_champion(workspace, prefect_harness):
    from flows.pipeline import gan_pipeline

    registrations = gan_pipeline(params_path=str(workspace / "params.yaml"))
    first = registrations["mlp"]
    assert (first.name, first.version, first.is_champion) == ("gan-mlp", 1, True)

    for name in ("mlp", "numpy"):
        metrics = json.loads((workspace / "metrics" / f"{name}.json").read_text())
        assert metrics["fid"] * 3 < metrics["fid_untrained"], name  # training clearly beats an untrained G
        assert metrics["fid_real_floor"] < metrics["fid"]
        assert metrics["classes_covered"] >= 8
    for output in ("samples/mlp.png", "reports/comparison.md", "models/mlp/checkpoint.pt", "metrics/classifier.json"):
        assert (workspace / output).is_file(), output
    report = (workspace / "reports" / "comparison.md").read_text()
    assert "| mlp |" in report and "| numpy |" in report
    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["gan-comparison"])))
    assert "| mlp |" in artifacts[0].data and "| gan-mlp | 1 |" in artifacts[0].data
    assert "| gan-numpy | 1 |" in artifacts[0].data

    # the champions load in a fresh process and sample 8x8 images in [0, 1]; numpy's needs no torch at all
    for name, prelude in (("mlp", ""), ("numpy", NO_TORCH)):
        sampled = json.loads(run_cli(sys.executable, "-c", prelude + LOAD_AND_SAMPLE, name, cwd=workspace).stdout)
        assert sampled["shape"] == [5, 1, 8, 8]
        assert 0.0 <= sampled["min"] < sampled["max"] <= 1.0

    # registering the same run again adds no version and leaves the alias where it is
    params = load_params(workspace / "params.yaml")
    again = register_variant(params, Workspace(workspace), "mlp")
    assert (again.version, again.newly_registered, again.champion_version) == (1, False, 1)

    # a retrain (another seed) adds version 2; the champion is whichever has the lower FID
    retrain = tiny_params()
    retrain["shared"]["seed"] = 1
    (workspace / "params.yaml").write_text(yaml.safe_dump(retrain))
    second = gan_pipeline(["mlp"], params_path=str(workspace / "params.yaml"))["mlp"]
    assert second.version == 2
    assert second.champion_version == (2 if second.fid < first.fid else 1)
    client = MlflowClient()
    assert len(client.search_model_versions("name='gan-mlp'")) == 2
    assert int(client.get_model_version_by_alias("gan-mlp", "champion").version) == second.champion_version

    # the run carries its params, loss curve, data version, commit, metrics and sample grid
    run = client.get_run(client.get_model_version("gan-mlp", "2").run_id)
    assert run.data.params["mlp.lr"] and run.data.tags["data.dvc_md5"].endswith(".dir")
    assert "mlflow.source.git.commit" in run.data.tags and run.data.metrics["fid"] == second.fid
    assert len(client.get_metric_history(run.info.run_id, "loss_g")) == 15  # 1500 steps / log_every 100
    assert [a.path for a in client.list_artifacts(run.info.run_id, "samples")] == ["samples/mlp.png"]


def test_dvc_repro_runs_then_is_a_noop_and_reproduces_metrics_bytes(tmp_path):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    repo = tmp_path / "repo"
    for name in files:
        if (REPO / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes((REPO / name).read_bytes())
    params = tiny_params()
    # every variant's train/evaluate stages are the same foreach as mlp's and the flow test runs them all end to
    # end: mlp alone here saves minutes of CPU (each DVC stage is a fresh process importing torch and MLflow)
    params["variants"] = {"mlp": params["variants"]["mlp"]}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=repo, check=True)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def cli(*args: str) -> str:
        return run_cli(*args, cwd=repo, MLFLOW_TRACKING_URI=store).stdout

    cli(sys.executable, "-m", "gan_core", "data")
    first = cli(sys.executable, "-m", "dvc", "repro")
    assert "Running stage 'train@mlp'" in first and "Running stage 'theory'" in first
    metrics = {p.name: p.read_bytes() for p in (repo / "metrics").iterdir()}
    assert set(metrics) == {"classifier.json", "mlp.json", "theory.json"}

    second = cli(sys.executable, "-m", "dvc", "repro")
    assert "Running stage" not in second

    cli(sys.executable, "-m", "dvc", "repro", "--force")
    assert {p.name: p.read_bytes() for p in (repo / "metrics").iterdir()} == metrics
