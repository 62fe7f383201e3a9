"""Scheduled retraining with the real engines on localhost: a Prefect server, prefect.yaml's deployments, process
workers of the `cpu` and `gpu` pools; trainings dispatched to the gpu pool, serialised by the GPU concurrency limit,
and skipped when cached."""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.concurrency.sync import concurrency
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows import training
from gan_core.params import load_params
from tests.background import background, free_port, venv_env
from tests.conftest import REPO, run_cli, set_param, tiny_params

RUN_TIMEOUT_SECONDS = 420
# A SQLite-backed server on a loaded 2-core machine answers 503 ("database is locked") in bursts: clients retry longer
# than the default 5 times, and services this test does not use (automations, late or paused runs, worker status,
# cancellations) leave the database to the runs. A server for several machines uses Postgres (docs/scaling.md).
SQLITE_UNDER_LOAD = {"PREFECT_CLIENT_MAX_RETRIES": "8", **{f"PREFECT_SERVER_SERVICES_{service}_ENABLED": "false" for service in
                     ("TRIGGERS", "LATE_RUNS", "PAUSE_EXPIRATIONS", "FOREMAN", "CANCELLATION_CLEANUP")}}
VARIANTS = ["mlp", "cgan"]


def test_a_training_is_keyed_on_its_data_version_params_and_code_only(tmp_path: Path, monkeypatch) -> None:
    def training_key(params: dict, data_md5: str = "version.dir") -> str:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        inputs = {"params": load_params(tmp_path / "params.yaml"), "name": "mlp", "data_md5": data_md5}
        return training.TrainingInputs().compute_key(None, inputs, {})

    params = tiny_params()
    key = training_key(params)
    assert training_key(params) == key
    # values other than both params.yaml's and the code's defaults (params.yaml leaves most settings to the code)
    for path, value in [(("variants", "mlp", "lr"), 0.123), (("shared", "seed"), 7), (("data", "split_seed"), 7),
                        (("tracking", "log_every"), 7)]:
        other = copy.deepcopy(params)
        set_param(other, path, value)
        assert training_key(other) != key, path
    other = copy.deepcopy(params)
    set_param(other, ("evaluation", "kid_subsets"), 7)  # evaluation only: the trained model stays valid
    set_param(other, ("variants", "dcgan", "lr"), 0.123)  # another variant's block
    assert training_key(other) == key
    assert training_key(params, data_md5="another-version.dir") != key
    monkeypatch.setattr(training, "code_version", lambda: "edited")
    assert training_key(params) != key


def test_weekly_retrain_deployment_trains_on_gpu_workers_and_skips_unchanged_trainings(workspace: Path, tmp_path: Path,
                                                                                       record_property) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["evaluation"]["classifier"]["epochs"] = 2  # the flow's wiring is under test here, not the metrics
    for name in VARIANTS:
        params["variants"][name]["steps"]["quick"] = 300
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = venv_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_WORKER_QUERY_SECONDS="1", GAN_GPU_LIMIT="gpu", **SQLITE_UNDER_LOAD)
    prefect = str(Path(sys.executable).parent / "prefect")
    with ExitStack() as running, temporary_settings({PREFECT_API_URL: api}):
        running.enter_context(background([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                         tmp_path / "server.log", env, ready_url=f"{api}/health"))
        run_cli(sys.executable, "-m", "flows.work_pools", cwd=REPO, **env)  # `make prefect-setup`
        # `make worker-cpu`, and a gpu worker without `make worker-gpu`'s `--limit 1`: it runs both trainings at
        # once, as two workers wrongly sharing a GPU would, and only the GPU's concurrency limit keeps them apart
        for pool in ("cpu", "gpu"):
            running.enter_context(background([prefect, "worker", "start", "--pool", pool], tmp_path / f"{pool}.log",
                                             env, cwd=tmp_path))
        run_cli(prefect, "--no-prompt", "deploy", "--all", cwd=REPO, **env)  # `make deploy`, while workers start
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("gan-pipeline/weekly-retrain")
            assert [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules] == [("0 3 * * 1", "UTC")]
            wait_for_workers(client, {"cpu": 1, "gpu": 1})

            parameters = {"params_path": str(workspace / "params.yaml"), "variants": VARIANTS, "profile": "quick"}
            started = time.monotonic()
            with concurrency("gpu", occupy=1, strict=True):  # the GPU is busy: both trainings must wait for it
                pipeline = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
                held = both_running(client, pipeline)
                time.sleep(2)
                assert not any(task_runs(client, run) for run in held)  # the `train` task starts only with the slot
            pipeline = finished(client, pipeline)
            wall_seconds = time.monotonic() - started
            pickup_seconds = pickup_latency(client, pipeline)
            assert pipeline.state.is_completed(), pipeline.state
            trainings = training_runs(client, pipeline)
            assert sorted(trainings) == sorted(VARIANTS)
            # released at once to two running flow runs, the one slot still let one training at a time
            (_, a_tasks), (_, b_tasks) = trainings.values()
            assert not overlap(a_tasks[-1], b_tasks[-1])
            registered = {name: run_record(workspace, name) for name in VARIANTS}

            # the next retrain's trainings, same inputs: nothing trains again, except mlp whose checkpoint is gone
            (workspace / "models" / "mlp" / "checkpoint.pt").unlink()
            again = {name: client.create_flow_run_from_deployment(run.deployment_id, parameters=run.parameters)
                     for name, (run, _) in trainings.items()}
            states = {}
            for name, run in again.items():
                assert finished(client, run).state.is_completed()
                states[name] = [t.state.name for t in task_runs(client, run)]
            assert states == {"cgan": ["Cached"], "mlp": ["Cached", "Completed"]}
            assert run_record(workspace, "cgan") == registered["cgan"] != run_record(workspace, "mlp")

    record_property("retrain_wall_seconds", round(wall_seconds, 1))
    record_property("worker_pickup_seconds", round(pickup_seconds, 2))
    print(f"\nweekly-retrain ({', '.join(VARIANTS)}): {wall_seconds:.1f} s from trigger to Completed; "
          f"worker pickup {pickup_seconds:.2f} s")

    for name in VARIANTS:  # the pipeline registered what it trained
        [version] = MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).search_model_versions(f"name='gan-{name}'")
        assert (version.status, version.run_id) == ("READY", registered[name])


def run_record(workspace: Path, name: str) -> str:
    """The MLflow run of the training whose files are in models/<name>/."""
    return json.loads((workspace / "models" / name / "mlflow_run.json").read_text())["run_id"]


def wait_for_workers(client: SyncPrefectClient, expected: dict[str, int]) -> None:
    deadline = time.monotonic() + 120
    while any(len(client.read_workers_for_work_pool(pool)) < n for pool, n in expected.items()):
        assert time.monotonic() < deadline, "workers did not register with the server"
        time.sleep(0.5)


def both_running(client: SyncPrefectClient, pipeline: FlowRun) -> list[FlowRun]:
    """The pipeline's training flow runs, once all of them are running."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        runs = [run for run, _ in training_runs(client, pipeline).values()]
        if len(runs) == len(VARIANTS) and all(run.state.is_running() for run in runs):
            return runs
        assert time.monotonic() < deadline and not client.read_flow_run(pipeline.id).state.is_final()
        time.sleep(1)


def finished(client: SyncPrefectClient, run: FlowRun) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not (run := client.read_flow_run(run.id)).state.is_final():
        assert time.monotonic() < deadline, f"flow run {run.name} still {run.state.name}"
        time.sleep(1)
    return run


def pickup_latency(client: SyncPrefectClient, run: FlowRun) -> float:
    """Seconds from the run being due (Scheduled, now) to a worker taking it (Pending)."""
    states = {s.name: s.timestamp for s in client.read_flow_run_states(run.id)}
    return (states["Pending"] - states["Scheduled"]).total_seconds()


def training_runs(client: SyncPrefectClient, parent: FlowRun) -> dict[str, tuple[FlowRun, list[TaskRun]]]:
    """variant -> (its train-variant flow run under `parent`, that run's task runs in start order)."""
    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["gpu"])))
    mine = [r for r in runs if r.parent_task_run_id and client.read_task_run(r.parent_task_run_id).flow_run_id == parent.id]
    return {run.parameters["name"]: (run, task_runs(client, run)) for run in mine}


def task_runs(client: SyncPrefectClient, run: FlowRun) -> list[TaskRun]:
    tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    return sorted(tasks, key=lambda t: t.expected_start_time)


def overlap(a: FlowRun | TaskRun, b: FlowRun | TaskRun) -> bool:
    return a.start_time < b.end_time and b.start_time < a.end_time
