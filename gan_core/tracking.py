"""Every MLflow call of the project: the store, runs, batched metrics, the generator as a pyfunc, the registry.

Store: `MLFLOW_TRACKING_URI` when set (e.g. an `mlflow server`), else `sqlite:///<project>/mlflow/mlflow.db`
with artifacts in `<project>/mlflow/artifacts`.
Registry: each variant's generator is `gan-<variant>`; the `champion` alias points at the version with the best
(lowest) FID, and registering the same run twice finds the existing version instead of adding one.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

# Set before MLflow reads it: progress bars for local artifact copies only add noise to the pipeline's log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import numpy as np
import pandas as pd
import torch
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import Array

import gan_core
from gan_core.data.images import to_unit_range
from gan_core.pyfunc_input import requested_batch
from gan_core.variants import DataSpec, GeneratorExport, Variant, build_variant

MODEL_ARTIFACT = "generator"
CHAMPION = "champion"


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


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


@contextmanager
def training_run(experiment_id: str, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> Iterator[str]:
    """An MLflow run around a training: FINISHED when the block ends, FAILED if it raises."""
    client = MlflowClient()
    run_id = client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    try:
        yield run_id
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")


class MetricLogger:
    """One `log_batch` call per logging interval (never one synchronous call per metric per step)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.client = MlflowClient()

    def __call__(self, values: dict[str, float], step: int) -> None:
        stamp = int(1000 * time.time())
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, stamp, step) for k, v in values.items()])


def log_evaluation(run_id: str, metrics: dict[str, float], grid: Path) -> None:
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(grid), artifact_path="samples")


def log_file(run_id: str, path: Path, artifact_path: str) -> None:
    MlflowClient().log_artifact(run_id, str(path), artifact_path)


def log_report(experiment_id: str, run_name: str, files: list[Path]) -> None:
    """The comparison report (table and sample image) as the artifacts of a run of its own, tagged `report`."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags={"kind": "report"}):
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="report")


def flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else k
        flat.update(flatten(key, v) if isinstance(v, dict) else {key: v})
    return flat


# ---- the generator as an MLflow model ----------------------------------------------------------------------

def generator_signature(spec: DataSpec) -> ModelSignature:
    """`{"n": 4}` (optional, default 16) or, for conditional variants, `{"label": [3, 3, 7]}` (one image per label)
    in, params `seed`; images (n, C, H, W) float32 in [0, 1] out."""
    return ModelSignature(
        inputs=Schema([ColSpec("long", "n", required=False),
                       ColSpec(Array(DataType.long), "label", required=False)]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *spec.image_shape))]),
        params=ParamSchema([ParamSpec("seed", "long", 0)]),
    )


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: rebuilds the variant from its saved config and samples with the generator alone."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        payload = torch.load(context.artifacts[MODEL_ARTIFACT], map_location="cpu", weights_only=True)
        spec = DataSpec(tuple(payload["image_shape"]), payload["num_classes"])
        self.variant = build_variant(payload["variant"], payload["config"], spec, torch.device("cpu"))
        self.variant.load_generator_state(payload["generator"])

    # MLflow converts `{"n": 4}` to a one-row DataFrame through the signature before calling this
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        n, labels = requested_batch(model_input, self.variant.name, self.variant.conditional,
                                    self.variant.spec.num_classes)
        generator = torch.Generator().manual_seed(int((params or {}).get("seed", 0)))
        label_tensor = None if labels is None else torch.tensor(labels, dtype=torch.int64)
        return to_unit_range(self.variant.sample(n, generator, label_tensor)).numpy()


def log_generator(run_id: str, variant: Variant) -> str:
    """Log the variant's generator to the run as a pyfunc model; returns its model URI."""
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=run_id):
        export = variant.export_generator(Path(tmp)) or _torch_export(variant, Path(tmp))
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(export.model_code),
            input_example=pd.DataFrame({"n": [4]}),
            artifacts={MODEL_ARTIFACT: str(export.weights)},
            code_paths=[str(Path(gan_core.__file__).parent)],
            # explicit requirements: inferring them costs seconds per call
            pip_requirements=_requirements(*export.packages),
            signature=generator_signature(variant.spec),
        )
    return info.model_uri


def _torch_export(variant: Variant, directory: Path) -> GeneratorExport:
    """The default export: config and generator state in a torch file, sampled by `GeneratorModel`."""
    payload = {
        "variant": variant.name,
        "config": variant.config.model_dump(mode="json"),
        "image_shape": list(variant.spec.image_shape),
        "num_classes": variant.spec.num_classes,
        "generator": variant.generator_state(),
    }
    weights = directory / "generator.pt"
    torch.save(payload, weights)
    return GeneratorExport(weights=weights, model_code=Path(gan_core.__file__).parent / "pyfunc_entry.py",
                           packages=("torch", "mlflow", "numpy", "pandas", "pydantic", "pyyaml"))


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p).split('+')[0]}" for p in packages]


# ---- registry ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Registration:
    name: str
    version: int
    fid: float
    champion_version: int
    newly_registered: bool

    @property
    def is_champion(self) -> bool:
        return self.version == self.champion_version


def register_generator(run_id: str, model_uri: str, variant: str, fid: float) -> Registration:
    """Register the run's generator model (once) and move `champion` to it only if its FID beats the champion's."""
    client = MlflowClient()
    name = registered_name(variant)
    try:
        client.create_registered_model(name, description=f"Generator of the `{variant}` GAN; champion = lowest FID.")
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        version, created = existing[0], False
    else:
        version = mlflow.register_model(model_uri, name, tags={"fid": repr(fid)})
        created = True
    champion_version = int(version.version)
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    if champion is not None and int(champion.version) != int(version.version):
        if float(champion.tags.get("fid", "inf")) <= fid:
            champion_version = int(champion.version)
    if champion is None or int(champion.version) != champion_version:
        client.set_registered_model_alias(name, CHAMPION, champion_version)
    return Registration(name, int(version.version), fid, champion_version, created)
