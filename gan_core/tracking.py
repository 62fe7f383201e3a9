"""Every MLflow call of the project: the store, runs, batched metrics, the generator as a pyfunc, the registry.

Store: `MLFLOW_TRACKING_URI` when set (e.g. an `mlflow server`), else `sqlite:///<project>/mlflow/mlflow.db`
with artifacts in `<project>/mlflow/artifacts`.
Registry: each variant's generator is `gan-<variant>`; the `champion` alias points at the version with the best
(lowest) score of its task (FID, L1, mel distance, ...), and registering the same run twice finds the existing
version instead of adding one.

Runs: every run is named `<name>-<entry point>` and tagged `entry_point` (prefect, dvc, test or cli) and, inside a
Prefect flow run, `prefect.flow_run_id`. A training run's metrics are one value per idea (`score` on every run,
`fid` wherever there is an FID); the evaluation's floors, untrained and baseline values are in its artifact
`evaluation.json`, not metrics.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

# Set before MLflow reads it: progress bars for local artifact copies only add noise to the pipeline's log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import numpy as np
import pandas as pd
import torch
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image

import gan_core
from gan_core.tasks import Task, get_task, task_of
from gan_core.train import TrainingStopped
from gan_core.variants import GeneratorExport, Variant, build_variant

MODEL_ARTIFACT = "generator"
CHAMPION = "champion"
# a training's run carries the fingerprint of its DVC stage (gan_core/record.py) and its latest checkpoint, so any
# machine can find a finished training to reuse, or an interrupted one to resume, through the tracking server alone
FINGERPRINT_TAG = "gan.fingerprint"
CHECKPOINT_ARTIFACTS = "checkpoint"
CHECKPOINT_STEP_TAG = "gan.checkpoint_step"
MODEL_URI_TAG = "gan.model_uri"
# a sweep's trial: its study and number
SWEEP_STUDY_TAG, SWEEP_TRIAL_TAG = "sweep.study", "sweep.trial"
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own tag of a child run (a sweep's trial): the UI nests it
SCORE = "score"  # every evaluated run's metric of its task's score (lower is better): what the registry ranks by
BEST_STEP = "best_step"  # a scored training's step of its best in-training score: the generator it registers
CARD_ARTIFACT = "model_card.md"  # a registered version's model card (gan_core/model_card.py), also its description
EVALUATION_ARTIFACT = "evaluation.json"  # {metric: {"value": ..., "real_floor": ..., "untrained": ..., "baseline": ...}}
SAMPLES_KEY = "samples"  # the image key of the sample grids logged during training
# names what started a run: the tests set `test`; without it a run is `prefect`, `dvc` or `cli` (see `entry_point`)
ENTRY_POINT_ENV = "GAN_ENTRY_POINT"
# the UI of a local (sqlite) store, as `make ui` serves it; a tracking server is its own UI
LOCAL_UI = "http://127.0.0.1:5000"


def registered_name(variant: str) -> str:
    return f"gan-{variant}"


def configure(root: Path, experiment: str) -> str:
    """Point MLflow at the project's store and return the experiment id (created on first use)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    artifact_location = None
    if not uri:
        store = (root / "mlflow").resolve()
        store.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{store / 'mlflow.db'}"
    if uri.startswith("sqlite:///"):
        # without this MLflow would put artifacts in ./mlruns of whatever directory a stage runs in
        artifact_location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow.create_experiment(experiment, artifact_location=artifact_location)
    except MlflowException as err:  # a training in parallel (another worker) created it first
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return mlflow.get_experiment_by_name(experiment).experiment_id


def store_uri() -> str:
    return mlflow.get_tracking_uri()


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def entry_point() -> str:
    """What started this process's runs: $GAN_ENTRY_POINT when set, else `prefect` inside a Prefect flow run, `dvc`
    in a stage that `dvc repro` runs (DVC sets DVC_STAGE for each stage's command), else `cli`."""
    if os.environ.get(ENTRY_POINT_ENV):
        return os.environ[ENTRY_POINT_ENV]
    if flow_run_id() is not None:
        return "prefect"
    return "dvc" if "DVC_STAGE" in os.environ else "cli"


def flow_run_id() -> str | None:
    """The id of the Prefect flow run this code runs in, or None."""
    if "prefect" not in sys.modules:  # never imported: no flow run here (and importing it costs seconds)
        return None
    from prefect.runtime import flow_run

    return flow_run.id


def run_context() -> dict[str, str]:
    """The tags that say how a run was started."""
    flow_run = flow_run_id()
    return {"entry_point": entry_point(), **({"prefect.flow_run_id": flow_run} if flow_run else {})}


@contextmanager
def training_run(experiment_id: str, run_name: str, params: dict[str, Any], tags: dict[str, str],
                 resume_run_id: str | None = None) -> Iterator[str]:
    """An MLflow run around a training: FINISHED when the block ends, KILLED if the training was stopped on purpose
    (`TrainingStopped`), FAILED if it raises anything else.

    A new run is named `<run_name>-<entry point>` and carries `run_context()`'s tags beside `tags`.
    `resume_run_id`: the run of an interrupted training, reopened (RUNNING again) instead of a new run.
    """
    client = MlflowClient()
    if resume_run_id is not None and _run_exists(client, resume_run_id):
        run_id = resume_run_id
        client.update_run(run_id, status="RUNNING")
        client.set_tag(run_id, "resumed", "true")
    else:
        context = run_context()
        run_id = client.create_run(experiment_id, run_name=f"{run_name}-{context['entry_point']}",
                                   tags={**tags, **context}).info.run_id
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    try:
        yield run_id
    except TrainingStopped as stop:  # its caller ended it on purpose (a pruned trial): KILLED, with the reason
        client.set_tag(run_id, "stopped", stop.reason)
        client.set_terminated(run_id, "KILLED")
        raise
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")


@dataclass(frozen=True)
class StoredTraining:
    """A training's run as the tracking store has it."""

    run_id: str
    finished: bool
    checkpoint_step: int  # of the latest checkpoint in its artifacts; 0: none stored yet


def find_training(experiment_id: str, fingerprint: str) -> StoredTraining | None:
    """The finished run of this fingerprint, else its newest unfinished one (a killed or failed training), else None."""
    runs = MlflowClient().search_runs([experiment_id], f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}'",
                                      order_by=["attributes.start_time DESC"], max_results=20)
    if not runs:
        return None
    run = next((r for r in runs if r.info.status == "FINISHED"), runs[0])
    return StoredTraining(run.info.run_id, run.info.status == "FINISHED",
                          int(run.data.tags.get(CHECKPOINT_STEP_TAG, 0)))


def find_run(experiment_id: str, tags: dict[str, str]) -> str | None:
    """The newest run of the experiment carrying all of `tags`, or None (e.g. a sweep's run, or one of its trials)."""
    query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    runs = MlflowClient().search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def fail_run(run_id: str | None) -> None:
    """Mark a run its process left RUNNING (killed before it could end it) FAILED; None: no run to mark."""
    if run_id is not None and MlflowClient().get_run(run_id).info.status == "RUNNING":
        MlflowClient().set_terminated(run_id, "FAILED")


def mark_resumed(run_id: str, step: int, host: str) -> None:
    """Show in the run where (which step, which host) a resumed training took over."""
    client = MlflowClient()
    client.set_tag(run_id, "resumed_on_host", host)
    client.log_batch(run_id, metrics=[Metric("resumed_from_step", step, int(1000 * time.time()), step)])


def get_run(run_id: str) -> mlflow.entities.Run:
    return MlflowClient().get_run(run_id)


def evaluation_of(run_id: str) -> dict[str, dict[str, float | int]]:
    """The evaluation record `log_evaluation` logged to the run."""
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{EVALUATION_ARTIFACT}")


def run_metric(run_id: str, key: str) -> float | None:
    return MlflowClient().get_run(run_id).data.metrics.get(key)


def model_uri(run_id: str) -> str:
    """The URI of the generator model `log_generator` logged to the run."""
    return MlflowClient().get_run(run_id).data.tags[MODEL_URI_TAG]


def store_checkpoint(run_id: str, path: Path, step: int) -> None:
    """Upload the checkpoint to the run's artifacts (through the server's proxy), then record its step."""
    client = MlflowClient()
    client.log_artifact(run_id, str(path), CHECKPOINT_ARTIFACTS)
    client.set_tag(run_id, CHECKPOINT_STEP_TAG, str(step))


def fetch_checkpoint(run_id: str, destination: Path) -> None:
    """Download the run's latest stored checkpoint to `destination`, atomically (readers never see half a file)."""
    with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
        downloaded = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"{CHECKPOINT_ARTIFACTS}/{destination.name}", dst_path=tmp)
        os.replace(downloaded, destination)


def _run_exists(client: MlflowClient, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:  # e.g. another tracking store than the one the checkpoint was trained against
        return False


class MetricLogger:
    """One `log_batch` call per logging interval (never one synchronous call per metric per step).

    `synchronous=False` hands the batch to MLflow's background queue and returns at once; the run's end
    (`set_terminated`) waits until the queue is written.
    """

    def __init__(self, run_id: str, synchronous: bool = True) -> None:
        self.run_id = run_id
        self.synchronous = synchronous
        self.client = MlflowClient()

    def __call__(self, values: dict[str, float], step: int) -> None:
        stamp = int(1000 * time.time())
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, stamp, step) for k, v in values.items()],
                              synchronous=self.synchronous)


def log_samples(run_id: str, image: Image.Image, step: int) -> None:
    """A sample grid at a training step: the UI's chart view shows each run's by step (a slider), runs side by
    side."""
    MlflowClient().log_image(run_id, image, key=SAMPLES_KEY, step=step)


def log_evaluation(run_id: str, record: dict[str, dict[str, float | int]], files: list[Path]) -> None:
    """The evaluation: each metric's own value as a metric, the whole record (floors, untrained, baselines) as
    `evaluation.json`, and its pictures and sounds beside it at the run's root (`samples.png`, ...): MLflow's compare
    view offers the top-level files that runs share, side by side."""
    client = MlflowClient()
    stamp = int(1000 * time.time())
    client.log_batch(run_id, metrics=[Metric(k, entry["value"], stamp, 0) for k, entry in record.items()])
    client.log_dict(run_id, record, EVALUATION_ARTIFACT)
    for path in files:
        client.log_artifact(run_id, str(path))


def log_file(run_id: str, path: Path, artifact_path: str | None = None) -> None:
    MlflowClient().log_artifact(run_id, str(path), artifact_path)


def log_report(experiment_id: str, run_name: str, pictures: list[Path],
               markdown: Callable[[dict[str, str]], str], tags: dict[str, str]) -> None:
    """The comparison report as a run of its own, tagged `kind=report`: the pictures under `report/`, and
    `report/comparison.md`, the text `markdown({picture file name: its URL})` gives.

    MLflow's markdown view shows only http(s) pictures (its sanitizer drops data: URIs and relative links), so the
    pictures are linked through the UI's `get-artifact` endpoint.
    """
    with training_run(experiment_id, run_name, {}, {"kind": "report", **tags}) as run_id:
        client = MlflowClient()
        for path in pictures:
            client.log_artifact(run_id, str(path), "report")
        links = {path.name: artifact_url(run_id, f"report/{path.name}") for path in pictures}
        client.log_text(run_id, markdown(links), "report/comparison.md")


# ---- links into the MLflow UI ------------------------------------------------------------------------------------

def ui_url() -> str:
    """The MLflow UI of the current store: the tracking server itself, or `make ui`'s address for a local store."""
    uri = mlflow.get_tracking_uri()
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else LOCAL_UI


def run_url(run_id: str) -> str:
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    return f"{ui_url()}/#/experiments/{experiment_id}/runs/{run_id}"


def artifact_url(run_id: str, path: str) -> str:
    """A file of a run's artifacts as the UI serves it (what an <img> can load)."""
    return f"{ui_url()}/get-artifact?path={quote(path, safe='')}&run_uuid={run_id}"


def runs_table_url(experiment_id: str, ui: str | None = None) -> str:
    """The experiment's runs table, best `score` first. `workflowType=machine_learning`: MLflow 3 opens an
    experiment in its GenAI view otherwise."""
    return (f"{ui or ui_url()}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
            f"&orderByKey={quote('metrics.`score`', safe='.')}&orderByAsc=true")


def flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else k
        flat.update(flatten(key, v) if isinstance(v, dict) else {key: v})
    return flat


# ---- the generator as an MLflow model ----------------------------------------------------------------------

class GeneratorModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: rebuilds the variant from its saved config and answers requests as its task says."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        payload = torch.load(context.artifacts[MODEL_ARTIFACT], map_location="cpu", weights_only=True)
        self.task = task_of(payload["variant"])
        spec = self.task.spec_from_dict(payload["spec"])
        self.variant = build_variant(payload["variant"], payload["config"], spec, torch.device("cpu"))
        self.variant.load_generator_state(payload["generator"])

    # MLflow converts the request (e.g. `{"n": 4}`) to a DataFrame through the signature before calling this
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        with torch.no_grad():
            return self.task.predict(self.variant, model_input, params)


def log_generator(run_id: str, variant: Variant) -> str:
    """Log the variant's generator to the run as a pyfunc model; returns its model URI."""
    task = get_task(variant.task)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=run_id):
        export = variant.export_generator(Path(tmp)) or _torch_export(variant, task, Path(tmp))
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(export.model_code),
            input_example=task.input_example(variant.spec),
            artifacts={MODEL_ARTIFACT: str(export.weights)},
            code_paths=[str(Path(gan_core.__file__).parent)],
            # explicit requirements: inferring them costs seconds per call
            pip_requirements=_requirements(*export.packages),
            signature=task.signature(variant.spec),
        )
    MlflowClient().set_tag(run_id, MODEL_URI_TAG, info.model_uri)
    return info.model_uri


def _torch_export(variant: Variant, task: type[Task], directory: Path) -> GeneratorExport:
    """The default export: config, data spec and generator state in a torch file, served by `GeneratorModel`."""
    payload = {
        "variant": variant.name,
        "config": variant.config.model_dump(mode="json"),
        "spec": dataclasses.asdict(variant.spec),
        "generator": variant.generator_state(),
    }
    weights = directory / "generator.pt"
    torch.save(payload, weights)
    return GeneratorExport(weights=weights, model_code=Path(gan_core.__file__).parent / "pyfunc_entry.py",
                           packages=("torch", "mlflow", "numpy", "pandas", "pydantic", "pyyaml", *task.packages))


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p).split('+')[0]}" for p in packages]


# ---- registry ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Registration:
    name: str
    version: int
    metric: str  # what the task's score is (e.g. fid), lower is better
    score: float
    champion_version: int
    newly_registered: bool
    run_id: str

    @property
    def is_champion(self) -> bool:
        return self.version == self.champion_version


def register_generator(run_id: str, model_uri: str, variant: str, metric: str, score: float,
                       card: Callable[[], str] | None = None) -> Registration:
    """Register the run's generator model (once) and point `champion` at the version with the best score (`metric`,
    lower is better). The version's tags hold the score and, for a scored training, the step its generator is of;
    `card()`, the model card, becomes a new version's description and the run's `model_card.md`."""
    client = MlflowClient()
    name = registered_name(variant)
    try:
        client.create_registered_model(name, description=f"Generator of the `{variant}` GAN; champion = lowest {metric}.")
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        version, created = existing[0], False
    else:
        tags = {"score": repr(score), "score_metric": metric}
        best_step = run_metric(run_id, BEST_STEP)
        if best_step is not None:
            tags[BEST_STEP] = str(int(best_step))
        version = mlflow.register_model(model_uri, name, tags=tags)
        created = True
        if card is not None:
            text = card()
            client.update_model_version(name, version.version, description=text)
            client.log_text(run_id, text, CARD_ARTIFACT)
    # champion = the best score over all versions; re-checked after each move, so registrations racing from several
    # machines settle on the best one (a writer that moved it on a stale view sees the newer version and corrects)
    for _ in range(10):
        best = min(client.search_model_versions(f"name='{name}'"),
                   key=lambda v: (float(v.tags.get("score", "inf")), int(v.version)))
        champion_version = int(best.version)
        try:
            current = int(client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException:
            current = None
        if current == champion_version:
            break
        client.set_registered_model_alias(name, CHAMPION, champion_version)
    return Registration(name, int(version.version), metric, score, champion_version, created, run_id)


def main(argv: list[str] | None = None) -> int:
    """`python -m gan_core.tracking [UI]`: print the project's runs table sorted by score (UI: the MLflow UI's
    address, default that of the tracking server or `make ui`)."""
    from gan_core.config import load_params

    ui = argv[0] if argv else None
    experiment_id = configure(Path.cwd(), load_params("params.yaml").tracking.experiment)
    print(f"Runs, best score first: {runs_table_url(experiment_id, ui)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
