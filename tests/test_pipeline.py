"""End to end: the Prefect flow on the quick profile, and `dvc repro` on a copy of the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from gan_core.params import load_params
from gan_core.stages import register_variant
from gan_core.workspace import Workspace
from tests.conftest import REPO, make_project, run_cli, store_of, tiny_params

pytestmark = pytest.mark.e2e  # real servers or the whole flow: `make test` runs it, `make test-fast` does not

LOAD_AND_SAMPLE = """
import json, sys, mlflow
model = mlflow.pyfunc.load_model(f"models:/gan-{sys.argv[1]}@champion")
images = model.predict({"n": 5}, params={"seed": 1})
print(json.dumps({"shape": list(images.shape), "min": float(images.min()), "max": float(images.max())}))
"""
NO_TORCH = "import sys; sys.modules['torch'] = None  # from here on, any `import torch` fails\n"

# the conditional champion draws the requested digits (read by the evaluation's classifier); bad labels are 4xx
SAMPLE_LABELS = """
import json, mlflow, torch
from pathlib import Path
from mlflow.exceptions import MlflowException
from gan_core.evaluate.classifier import load_classifier
model = mlflow.pyfunc.load_model("models:/gan-cgan@champion")
images = torch.from_numpy(model.predict({"label": [3, 3, 7]}, params={"seed": 0}))
counted = model.predict({"n": 4})
classes = load_classifier(Path("models/classifier.pt"))(images * 2 - 1).argmax(1).tolist()
errors = []
for uri, request in [("models:/gan-cgan@champion", {"label": [3, 12]}), ("models:/gan-mlp@champion", {"label": [3]})]:
    try:
        mlflow.pyfunc.load_model(uri).predict(request)
    except MlflowException as err:
        errors.append([err.error_code, err.message])
print(json.dumps({"shape": list(images.shape), "classes": classes, "n_shape": list(counted.shape), "errors": errors}))
"""


@pytest.fixture(scope="module")
def quick_flow(tmp_path_factory, prefect_harness):
    """The flow run once on the tiny quick profile (every variant) for the tests below: (project, registrations).
    The tests read what it left; the last one retrains."""
    from flows.pipeline import gan_pipeline

    root = make_project(tmp_path_factory.mktemp("flow") / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store_of(root))
        yield root, gan_pipeline(params_path=str(root / "params.yaml"))


def test_every_trained_generator_beats_an_untrained_one(quick_flow):
    workspace, registrations = quick_flow
    first = registrations["mlp"]
    assert (first.name, first.version, first.is_champion) == ("gan-mlp", 1, True)
    for name in ("mlp", "numpy", "cgan"):
        metrics = metrics_of(workspace, name)
        fid, precision = metrics["fid"], metrics["precision"]
        assert fid["value"] * 3 < fid["untrained"], name  # training clearly beats an untrained G
        assert fid["real_floor"] < fid["value"] and metrics["score"] == fid
        assert metrics["classes_covered"]["value"] >= 8
        assert precision["value"] > precision["untrained"] and metrics["coverage"]["real_floor"] > 0
        kid = metrics["kid_x1000"]  # x10^3: the real floor is sampling noise around 0, within its spread
        assert abs(kid["real_floor"]) < 3 * metrics["kid_std_x1000"]["real_floor"] and kid["value"] < kid["untrained"]
    dcgan = metrics_of(workspace, "dcgan")  # 300 steps of a conv net: better than untrained, not yet good
    assert dcgan["fid"]["value"] < dcgan["fid"]["untrained"]
    cgan = metrics_of(workspace, "cgan")
    assert cgan["class_accuracy"]["value"] > 0.8 and cgan["class_accuracy"]["untrained"] < 0.3
    intra = cgan["intra_class_fid"]
    assert intra["real_floor"] < intra["value"] < intra["untrained"]
    assert "class_accuracy" not in metrics_of(workspace, "mlp")  # conditional metrics only for conditional variants
    pix2pix = metrics_of(workspace, "pix2pix")  # 100 tiny steps: far from bicubic yet, clearly past untrained
    assert pix2pix["l1"]["value"] < 0.7 * pix2pix["l1"]["untrained"] and registrations["pix2pix"].metric == "l1"
    assert metrics_of(workspace, "cyclegan")["score"] == metrics_of(workspace, "cyclegan")["fid"]


def test_the_report_ranks_each_task_best_score_first_in_the_file_and_in_prefect(quick_flow):
    workspace, _ = quick_flow
    for output in ("samples/mlp/samples.png", "samples/cgan/samples.png", "reports/comparison.md",
                   "reports/comparison/generation.png",
                   "models/mlp/checkpoint.pt", "metrics/classifier.json"):
        assert (workspace / output).is_file(), output
    report = (workspace / "reports" / "comparison.md").read_text()
    assert all(f"| {name} |" in report for name in ("mlp", "numpy", "dcgan", "cgan"))
    assert "![one row per variant, same seed](comparison/generation.png)" in report
    for section in report.split("\n## ")[1:]:
        rows = re.findall(r"^\| (\w+) \|", section, flags=re.MULTILINE)[1:]  # [0] is the header's "variant"
        scores = [metrics_of(workspace, name)["score"]["value"] for name in rows]
        assert rows and scores == sorted(scores), section.splitlines()[0]
    with get_client(sync_client=True) as prefect:
        # the newest: other tests' flows share the session's Prefect server
        latest = prefect.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["gan-comparison"])),
                                        sort=ArtifactSort.CREATED_DESC, limit=1)[0]
    for name in ("mlp", "numpy", "dcgan", "cgan"):
        assert f"| {name} |" in latest.data and f"| gan-{name} | 1 |" in latest.data
    assert "](data:image/png;base64," in latest.data  # the Prefect UI shows inline pictures (it cannot reach files)


def test_champions_load_and_sample_in_a_fresh_process(quick_flow):
    workspace, _ = quick_flow
    # 8x8 images in [0, 1]; numpy's champion needs no torch at all
    for name, prelude in (("mlp", ""), ("numpy", NO_TORCH), ("dcgan", "")):
        sampled = json.loads(run_cli(sys.executable, "-c", prelude + LOAD_AND_SAMPLE, name, cwd=workspace).stdout)
        assert sampled["shape"] == [5, 1, 8, 8]
        assert 0.0 <= sampled["min"] < sampled["max"] <= 1.0


def test_the_conditional_champion_draws_the_asked_digits_and_refuses_bad_labels(quick_flow):
    workspace, _ = quick_flow
    labelled = json.loads(run_cli(sys.executable, "-c", SAMPLE_LABELS, cwd=workspace).stdout)
    assert labelled["shape"] == [3, 1, 8, 8] and labelled["classes"] == [3, 3, 7]
    assert labelled["n_shape"] == [4, 1, 8, 8]  # `{"n": N}` still works for a conditional generator
    (range_code, range_message), (conditional_code, conditional_message) = labelled["errors"]
    assert range_code == conditional_code == "INVALID_PARAMETER_VALUE"
    assert "'label' values [12]" in range_message and "not a conditional generator" in conditional_message


def test_every_registered_version_carries_its_model_card(quick_flow):
    _, registrations = quick_flow
    client = MlflowClient()
    for name, registration in registrations.items():
        version = client.get_model_version(registration.name, str(registration.version))
        card = version.description
        assert card.startswith(f"# gan-{name}: the `{name}` GAN")
        for section in ("## Training", "## Scores on held-out data", "## Requests it answers", "## Known limits"):
            assert section in card, (name, section)
        assert f"MLflow run `{registration.run_id}`" in card and "data: version `" in card
        assert mlflow.artifacts.load_text(f"runs:/{registration.run_id}/model_card.md") == card
    melgan = client.get_model_version("gan-melgan", str(registrations["melgan"].version)).description
    assert "voices heard (train speakers): " in melgan and "It has heard only the voices above (espeak" in melgan


def test_registering_the_same_run_again_adds_no_version(quick_flow):
    workspace, _ = quick_flow
    again = register_variant(load_params(workspace / "params.yaml"), Workspace(workspace), "mlp")
    assert (again.version, again.newly_registered, again.champion_version) == (1, False, 1)


def test_a_retrain_adds_a_version_and_its_run_compares_with_the_others(quick_flow):
    """Last in the module: it changes the project's params."""
    from flows.pipeline import gan_pipeline

    workspace, registrations = quick_flow
    first = registrations["mlp"]
    # a retrain (another seed) adds version 2; the champion is whichever has the lower FID
    retrain = tiny_params()
    retrain["shared"]["seed"] = 1
    (workspace / "params.yaml").write_text(yaml.safe_dump(retrain))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store_of(workspace))
        second = gan_pipeline(["mlp"], params_path=str(workspace / "params.yaml"))["mlp"]
        client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])  # explicit: other tests may set a global URI
    assert second.version == 2
    assert second.metric == "fid"
    assert second.champion_version == (2 if second.score < first.score else 1)
    assert len(client.search_model_versions("name='gan-mlp'")) == 2
    assert int(client.get_model_version_by_alias("gan-mlp", "champion").version) == second.champion_version

    # the run carries its params, loss curve, data version, commit, metrics and sample grid
    run = client.get_run(client.get_model_version("gan-mlp", "2").run_id)
    params = run.data.params
    assert params["lr"] == "0.001" and params["variant"] == "mlp" and params["data.source"] == "digits"
    # no variant prefix, and none of the other tasks' data settings
    assert not any(key.startswith(("mlp.", "data.speech", "data.captions", "data.paired")) for key in params)
    assert run.data.tags["data.dvc_md5"].endswith(".dir") and "mlflow.source.git.commit" in run.data.tags
    assert (run.info.run_name, run.data.tags["entry_point"]) == ("mlp-quick-test", "test")
    assert run.data.tags["prefect.flow_run_id"] and run.data.tags["score_metric"] == "fid"
    # one value per idea: `score` (the registry's), `fid`; floors, untrained and baselines only in evaluation.json
    assert run.data.metrics["score"] == run.data.metrics["fid"] == second.score
    assert not any(key.endswith(("_real_floor", "_untrained", "_baseline")) for key in run.data.metrics)
    assert mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/evaluation.json") == metrics_of(workspace, "mlp")
    assert len(client.get_metric_history(run.info.run_id, "loss_g")) == 15  # 1500 steps / log_every 100
    assert {"evaluation.json", "samples.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    # a sample grid at each checkpoint (every 500 steps), as images by step (MLflow names them <key>+step+<step>+...)
    grids = [a.path for a in client.list_artifacts(run.info.run_id, "images") if a.path.endswith(".png")]
    assert sorted(int(re.search(r"samples\+step\+(\d+)\+", path)[1]) for path in grids) == [500, 1000, 1500]
    reports = client.search_runs([run.info.experiment_id], "tags.kind = 'report'", order_by=["attributes.start_time"])
    assert {a.path for a in client.list_artifacts(reports[0].info.run_id, "report")} == {"report/comparison.md"} | {
        f"report/{task}.png" for task in ("generation", "paired_translation", "unpaired_translation", "vocoding",
                                          "text_to_image")}
    # MLflow's markdown view shows http(s) pictures only: the report's come from the tracking server
    mlflow_report = mlflow.artifacts.load_text(f"{reports[0].info.artifact_uri}/report/comparison.md")
    assert f"/get-artifact?path=report%2Fgeneration.png&run_uuid={reports[0].info.run_id})" in mlflow_report


def metrics_of(workspace, name: str) -> dict:
    return json.loads((workspace / "metrics" / f"{name}.json").read_text())


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
    assert (repo / "reports" / "comparison" / "generation.png").is_file()

    second = cli(sys.executable, "-m", "dvc", "repro")
    assert "Running stage" not in second

    # an evaluation that fails leaves no metrics; once fixed, `dvc repro` brings them back (re-run, or restored
    # from DVC's run cache) without training again
    broken = {**params, "evaluation": {**params["evaluation"], "kid_subsets": 0}}
    (repo / "params.yaml").write_text(yaml.safe_dump(broken, sort_keys=False))
    failed = run_cli(sys.executable, "-m", "dvc", "repro", cwd=repo, check=False, MLFLOW_TRACKING_URI=store)
    assert failed.returncode != 0 and "'evaluation.kid_subsets' = 0" in failed.stdout + failed.stderr
    assert not (repo / "metrics" / "mlp.json").exists()
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    fixed = cli(sys.executable, "-m", "dvc", "repro")
    assert "Running stage 'train@mlp'" not in fixed and "evaluate@mlp" in fixed
    assert (repo / "metrics" / "mlp.json").read_bytes() == metrics["mlp.json"]

    # the evaluation run again in a new process gives the same bytes (a training's bits across processes:
    # tests/test_reliability.py, a resumed run against the uninterrupted one)
    cli(sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "evaluate@mlp")
    assert {p.name: p.read_bytes() for p in (repo / "metrics").iterdir()} == metrics
