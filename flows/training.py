"""Training as Prefect runs it: a task of the pipeline's process, and the flow the `gpu` work pool runs for one variant.

Neither keeps a record of its own. A training is reused when `dvc.lock` records `train@<variant>` as current here,
or when the tracking store holds a finished run of the stage's fingerprint (gan_core/record.py); an interrupted
training resumes from the checkpoint stored in its run. Both work from any machine that reaches the MLflow server.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from prefect import flow, task
from prefect.concurrency.sync import concurrency
from prefect.context import get_run_context
from prefect.task_runners import ProcessPoolTaskRunner

from gan_core import dvc_data, record, stages, sweep
from gan_core.config import Params
from gan_core.params import load_params
from gan_core.workspace import Workspace
from flows.work_pools import DEFAULT_GPU_LIMIT

# names the global concurrency limit a GPU worker's trainings hold: one limit per GPU (flows/work_pools.py)
GPU_LIMIT_ENV = "GAN_GPU_LIMIT"


@task(name="train", task_run_name="train-{name}")
def train(params: Params, ws: Workspace, name: str) -> stages.TrainRecord:
    return record.run_or_reuse(params, ws, record.stage_name("train", name),
                               run=lambda: stages.train_variant(params, ws, name),
                               reuse=lambda: stages.training_of(ws, name))


def cap_threads(threads: int) -> None:
    """A training process's torch threads: trainings side by side share the cores instead of fighting for them."""
    import torch

    torch.set_num_threads(threads)


def layout(trainings: int, cores: int | None = None) -> tuple[int, int]:
    """(processes, torch threads each) for `trainings` on this machine's cores: one training per core until every
    training has its own process, the cores left over shared out as threads. The small nets gain little from a
    second thread (bench/results), so side by side beats one after another."""
    cores = cores or os.cpu_count() or 1
    processes = max(1, min(trainings, cores))
    return processes, max(1, cores // processes)


@contextlib.contextmanager
def training_processes(trainings: int) -> Iterator[ProcessPoolTaskRunner]:
    """A pool of training processes, each with its share of the cores, whose task runs report to this flow's Prefect
    server (a temporary server's address is known only here: the processes get it through their environment).

    While the pool is open, this process's own work beside it (the classifier, each evaluation) runs on one torch
    thread: with every core already training, more threads only spin against the trainings (seen on 2 cores: the
    pix2pix evaluation took 44 s beside two trainings, 5 s alone)."""
    import torch

    processes, threads = layout(trainings)
    api_url = str(get_run_context().client.api_url)
    previous_url, previous_threads = os.environ.get("PREFECT_API_URL"), torch.get_num_threads()
    os.environ["PREFECT_API_URL"] = api_url
    cap_threads(1)
    try:
        with ProcessPoolTaskRunner(max_workers=processes, initializer=cap_threads, initargs=(threads,)) as runner:
            yield runner
    finally:
        cap_threads(previous_threads)
        if previous_url is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous_url


@flow(name="train-variant")
def train_variant_flow(name: str, data_md5: str, profile: str | None = None,
                       params_path: str = "params.yaml", trial: dict[str, Any] | None = None) -> None:
    """One variant's training on a GPU worker, holding that GPU's concurrency slot while it trains.

    `data_md5`: the data version the calling pipeline recorded; this worker fetches exactly that one (`dvc pull`)
    or refuses. The training's outputs go to its MLflow run, where the pipeline finds them. `trial`: a sweep's
    trial instead (`gan_core.sweep.TrialRequest`, flows/sweep.py): the variant trained with the trial's settings,
    reporting to its study (`$GAN_SWEEP_STORAGE` on this worker).
    """
    params = load_params(params_path, profile=profile)
    ws = Workspace(Path(params_path).resolve().parent)
    dvc_data.pull_data(ws, data_md5)
    # strict: a missing limit is a setup error (`make prefect-setup`), not a silent licence to share the GPU
    with concurrency(os.environ.get(GPU_LIMIT_ENV, DEFAULT_GPU_LIMIT), occupy=1, strict=True):
        if trial is None:
            train(params, ws, name)
        else:
            sweep.run_trial(params, ws.root, sweep.TrialRequest(**trial))
