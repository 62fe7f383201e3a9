"""Training as Prefect sees it: a cached task, and the flow the `gpu` work pool runs for one variant.

A training is skipped (task state `Cached`) when its inputs are unchanged: the data version recorded in
`data.dvc`, the params it reads (shared, data, tracking and the variant's own block) and the code (a hash of
every `gan_core` source file). Results persist under `PREFECT_RESULTS_LOCAL_STORAGE_PATH`; a cache hit also
needs the files the training left in `models/<variant>/` on this machine, or it trains again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import CachePolicy
from prefect.concurrency.sync import concurrency
from prefect.context import TaskRunContext

import gan_core
from gan_core import stages
from gan_core.config import Params
from gan_core.params import load_params
from gan_core.workspace import Workspace
from flows.work_pools import DEFAULT_GPU_LIMIT

# names the global concurrency limit a GPU worker's trainings hold: one limit per GPU (flows/work_pools.py)
GPU_LIMIT_ENV = "GAN_GPU_LIMIT"


def code_version() -> str:
    """A hash of every gan_core source file: any library change retrains (a git commit misses local edits)."""
    root = Path(gan_core.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def training_inputs(params: Params, name: str, data_md5: str) -> dict[str, Any]:
    """Everything a training's result depends on."""
    return {
        "variant": name,
        "data_md5": data_md5,
        "shared": params.shared.model_dump(mode="json"),
        "data": params.data.model_dump(mode="json"),
        "tracking": params.tracking.model_dump(mode="json"),
        "params": params.variant(name).model_dump(mode="json"),
        "code": code_version(),
    }


class TrainingInputs(CachePolicy):
    """Cache key of `train`: its inputs as above (not the workspace's path, which differs between machines)."""

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str:
        described = training_inputs(inputs["params"], inputs["name"], inputs["data_md5"])
        return "train-" + hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


train = task(name="train", task_run_name="train-{name}", cache_policy=TrainingInputs(), persist_result=True)(
    stages.train_variant
)


def outputs_present(ws: Workspace, name: str, record: stages.TrainRecord) -> bool:
    """Whether `models/<name>/` here holds the checkpoint of exactly this training (evaluation reads it)."""
    if not (ws.checkpoint(name).is_file() and ws.run_record(name).is_file()):
        return False
    return json.loads(ws.run_record(name).read_text())["run_id"] == record.run_id


def train_or_reuse(params: Params, ws: Workspace, name: str, version: stages.DataVersion) -> stages.TrainRecord:
    """Train `name`, or reuse the cached training of the same inputs when its files are still here."""
    # data/ that differs from data.dvc has no version to key on: always train
    record = train.with_options(refresh_cache=not version.matches_dvc)(params, ws, name, version.md5)
    if not outputs_present(ws, name, record):
        get_run_logger().warning(
            "train-%s: cached training (MLflow run %s) left no matching files in %s here; training again",
            name, record.run_id, ws.model_dir(name))
        record = train.with_options(refresh_cache=True)(params, ws, name, version.md5)
    return record


@flow(name="train-variant")
def train_variant_flow(name: str, data_md5: str, data_recorded: bool = True, profile: str | None = None,
                       params_path: str = "params.yaml") -> stages.TrainRecord:
    """One variant's training on a GPU worker, holding that GPU's concurrency slot while it trains.

    `data_md5`, `data_recorded`: the data version the calling pipeline prepared (`DataVersion`); this worker's
    checkout holds the same version (same machine, shared volume, or `dvc pull` of the same commit).
    """
    params = load_params(params_path, profile=profile)
    ws = Workspace(Path(params_path).resolve().parent)
    # strict: a missing limit is a setup error (`make prefect-setup`), not a silent licence to share the GPU
    with concurrency(os.environ.get(GPU_LIMIT_ENV, DEFAULT_GPU_LIMIT), occupy=1, strict=True):
        return train_or_reuse(params, ws, name, stages.DataVersion(data_md5, data_recorded))
