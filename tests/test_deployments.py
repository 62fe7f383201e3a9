"""Scheduled retraining with the real engines on localhost: a Prefect server, prefect.yaml's deployments, process
workers of the `cpu` and `gpu` pools; trainings dispatched to the gpu pool, serialised by the GPU concurrency limit,
and not trained again when the tracking store holds a finished training of the same DVC stage."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import ExitStack, closing
from pathlib import Path

import psycopg2
import pytest
import yaml
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.concurrency.sync import concurrency
from prefect.settings import PREFECT_API_URL, temporary_settings

from ops.postgres import Server
from tests.background import background, free_port, venv_env
from tests.conftest import REPO, run_cli
from tests.services import postgres_cluster

pytestmark = pytest.mark.e2e  # real servers or the whole flow: `make test` runs it, `make test-fast` does not

RUN_TIMEOUT_SECONDS = 420
# A SQLite-backed server on a loaded 2-core machine answers 503 ("database is locked") in bursts: clients retry longer
# than the default 5 times, and services this test does not use (automations, late or paused runs, worker status,
# cancellations) leave the database to the runs. A server for several machines uses Postgres (docs/scaling.md).
SQLITE_UNDER_LOAD = {"PREFECT_CLIENT_MAX_RETRIES": "8", **{f"PREFECT_SERVER_SERVICES_{service}_ENABLED": "false" for service in
                     ("TRIGGERS", "LATE_RUNS", "PAUSE_EXPIRATIONS", "FOREMAN", "CANCELLATION_CLEANUP")}}
VARIANTS = ["mlp", "cgan"]


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

            # the next retrain's trainings, same inputs: nothing trains again; mlp, whose files are gone from this
            # worker's disk, gets its checkpoint back from its run in the tracking store
            (workspace / "models" / "mlp" / "checkpoint.pt").unlink()
            again = [client.create_flow_run_from_deployment(run.deployment_id, parameters=run.parameters)
                     for run, _ in trainings.values()]
            for run in again:
                assert finished(client, run).state.is_completed()
            assert {name: run_record(workspace, name) for name in VARIANTS} == registered
            assert (workspace / "models" / "mlp" / "checkpoint.pt").is_file()

    record_property("retrain_wall_seconds", round(wall_seconds, 1))
    record_property("worker_pickup_seconds", round(pickup_seconds, 2))
    print(f"\nweekly-retrain ({', '.join(VARIANTS)}): {wall_seconds:.1f} s from trigger to Completed; "
          f"worker pickup {pickup_seconds:.2f} s")

    store = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    for name in VARIANTS:  # the pipeline registered what it trained, and each variant trained once
        [version] = store.search_model_versions(f"name='gan-{name}'")
        assert (version.status, version.run_id) == ("READY", registered[name])
        [training] = store.search_runs([store.get_experiment_by_name("gan-pipeline").experiment_id],
                                       f"tags.variant = '{name}'")
        assert training.info.run_id == registered[name]


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


def test_a_sweep_runs_its_trials_on_two_gpu_workers_with_its_study_in_postgres(workspace: Path, tmp_path: Path) -> None:
    """`python -m flows.sweep --deployment train-variant/gpu`: each trial a flow run of the training deployment, two
    workers (one GPU each, `make worker-gpu`) running two trials at once, the study in PostgreSQL's `optuna`."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["variants"] = {"mlp": {**params["variants"]["mlp"], "eval_every": 100}}
    params["variants"]["mlp"]["steps"]["quick"] = 300
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    space = tmp_path / "mlp.yaml"
    space.write_text(yaml.safe_dump({"variant": "mlp", "pruner": {"kind": "none"},
                                     "space": {"lr": {"low": 1e-4, "high": 2e-3, "log": True}}}))

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    prefect = str(Path(sys.executable).parent / "prefect")
    with ExitStack() as running, temporary_settings({PREFECT_API_URL: api}):
        database = running.enter_context(postgres_cluster())
        env = venv_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api,
                       PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="1",
                       GAN_SWEEP_STORAGE=database.url("optuna"), **SQLITE_UNDER_LOAD)
        running.enter_context(background([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                         tmp_path / "server.log", env, ready_url=f"{api}/health"))
        run_cli(sys.executable, "-m", "flows.work_pools", "--gpu-limits", "gpu0", "gpu1", cwd=REPO, **env)
        for gpu in ("gpu0", "gpu1"):  # `make worker-gpu GAN_GPU_LIMIT=...` on a machine with two GPUs
            running.enter_context(background([prefect, "worker", "start", "--pool", "gpu", "--limit", "1"],
                                             tmp_path / f"{gpu}.log", {**env, "GAN_GPU_LIMIT": gpu}, cwd=tmp_path))
        run_cli(prefect, "--no-prompt", "deploy", "--all", cwd=REPO, **env)
        with get_client(sync_client=True) as client:
            wait_for_workers(client, {"gpu": 2})
            run_cli(sys.executable, "-m", "flows.sweep", str(space), "--trials", "2", "--parallel", "2",
                    "--deployment", "train-variant/gpu", "--params", str(workspace / "params.yaml"), cwd=REPO, **env)
            trials = [run for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["gpu"]))) if run.parameters.get("trial")]
        studies = rows(database, "SELECT s.study_name, t.number, t.state FROM trials t JOIN studies s USING (study_id)")
    assert sorted(run.parameters["trial"]["number"] for run in trials) == [0, 1]
    assert all(run.state.is_completed() for run in trials)
    assert any(overlap(a, b) for i, a in enumerate(trials) for b in trials[i + 1:])  # two workers, two at once
    assert sorted((number, state) for _, number, state in studies) == [(0, "COMPLETE"), (1, "COMPLETE")]
    store = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    [version] = store.search_model_versions("name='gan-mlp'")  # the best trial, through the champion gate
    assert version.tags["score_metric"] == "fid"


def rows(server: Server, query: str) -> list[tuple]:
    with closing(psycopg2.connect(server.dsn("optuna"))) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()
