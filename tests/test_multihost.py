"""The pipeline on several machines for real (issue 16): hosts are Linux network namespaces (tests/netns.py), each
with its own hostname, its own clone of the commit (seen at the same path on every host) and its own working
folders; nothing but the servers on `control` joins them.

    control   PostgreSQL, the Prefect server and the MLflow server on it (proxied artifacts), the DVC remote (nginx)
    cpu-1     a worker of the `cpu` pool: the pipeline (data, classifier, evaluation, registry, report)
    gpu-1/2   workers of the `gpu` pool, one GPU limit each (they train on the CPU here)
    operator  where this test stands: it triggers runs and reads the stores, like a user's laptop

The test process joins `operator`'s network; every other process runs on its host. One cluster serves the module:
the first test triggers `weekly-retrain` and kills gpu-1 while it trains, the second restarts both servers while a
run is in flight.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import torch
import yaml
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings

from ops.dvc_remote import Remote
from ops.postgres import Server
from tests.background import background, wait_until_ready
from tests.conftest import REPO, tiny_params
from tests.netns import Hosts, hosts
from tests.services import postgres_cluster, use_remote, webdav_remote
from tests.test_deployments import finished, wait_for_workers
from tests.test_hosts import rows

pytestmark = pytest.mark.e2e

GPU_LIMITS = {"gpu-1": "gpu-1-0", "gpu-2": "gpu-2-0"}  # one GPU each: `--gpu-limits` and each worker's GAN_GPU_LIMIT
WORKERS = {"cpu-1": "cpu", "gpu-1": "gpu", "gpu-2": "gpu"}
VARIANTS = ["mlp", "cgan"]  # one unconditional, one conditional
STEPS, CHECKPOINT_EVERY = 1500, 100  # 15 checkpoints a training: the kill lands between two of them
# the heartbeat comes every 30 s (flows/work_pools.py): two missed ones, where the product's default waits for three
CRASHED_AFTER_SECONDS = 60
PREFECT_PORT, MLFLOW_PORT = 4200, 5000  # the documented ports: each host has its own port space
EXPERIMENT = "gan-pipeline"
TRANSFER_EXPERIMENT = "store-transfer-check"  # the test's own uploads, apart from the pipeline's runs
RUN_TIMEOUT_SECONDS = 420
BIN = Path(sys.executable).parent


def host_params() -> dict:
    """The tiny params with the two variants alone, small checkpoints often, and the same short `full` profile
    (another fingerprint: the second test's run trains again instead of reusing the first's)."""
    params = tiny_params()
    params["shared"]["checkpoint_every"] = CHECKPOINT_EVERY
    params["evaluation"]["classifier"]["epochs"] = 2  # the machines are under test here, not the metrics
    params["variants"] = {name: {**params["variants"][name], "steps": {"quick": STEPS, "full": STEPS}}
                          for name in VARIANTS}
    return params


@dataclass
class Service:
    """A server on a host that the test stops and starts again (a restart); each start logs to a file of its own."""

    net: Hosts
    host: str
    args: list[str]
    env: dict[str, str]
    health_url: str
    logs: Path
    starts: int = 0
    running: ExitStack = field(default_factory=ExitStack)
    process: subprocess.Popen | None = None

    def launch(self) -> None:
        self.starts += 1
        self.process = self.running.enter_context(background(self.net.machine(self.host, self.args), self.log,
                                                             self.env))

    @property
    def log(self) -> Path:
        return self.logs / f"{Path(self.args[0]).name}-{self.starts}.log"

    def wait(self) -> None:
        wait_until_ready(self.health_url, self.process, self.log)

    def start(self) -> float:
        """Seconds until it answers its health check."""
        started = time.monotonic()
        self.launch()
        self.wait()
        return time.monotonic() - started

    def stop(self) -> None:
        self.running.close()


@dataclass
class Cluster:
    net: Hosts
    root: Path  # every host's folders: <root>/<host>/{checkout,home,prefect}
    mount: Path  # where each host sees its own checkout (one path for all, as the deployments record it)
    logs: Path
    db: Server
    remote: Remote
    prefect: Service
    mlflow: Service
    commit: str
    data_md5: str

    @property
    def api(self) -> str:
        return f"http://{self.net.address['control']}:{PREFECT_PORT}/api"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.net.address['control']}:{MLFLOW_PORT}"

    def checkout(self, host: str) -> Path:
        return self.root / host / "checkout"

    def env(self, host: str) -> dict[str, str]:
        """What docs/scaling.md says each host sets; nothing inherited from this test's own environment."""
        env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.root / host / "home"),
               "PREFECT_HOME": str(self.root / host / "prefect"), "PREFECT_API_URL": self.api,
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "1",
               "MLFLOW_TRACKING_URI": self.tracking_uri,
               # the host's own code first, as its own venv's editable install would give it (the venv is shared
               # here: installed software, not project state)
               "PYTHONPATH": str(self.mount),
               # one thread everywhere: a resumed training is bit-identical only at the same thread count
               "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
        if host in GPU_LIMITS:
            env["GAN_GPU_LIMIT"] = GPU_LIMITS[host]
        return env

    def on(self, host: str, args: list[str]) -> list[str]:
        """`args` on `host`, in its own checkout (seen at `mount`) when it has one."""
        files = (self.checkout(host), self.mount) if self.checkout(host).is_dir() else None
        return self.net.machine(host, args, files)

    def run(self, host: str, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(self.on(host, list(args)), env=self.env(host), capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, f"on {host}: {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
        return result.stdout

    def start_worker(self, host: str, running: ExitStack) -> None:
        args = [str(BIN / "prefect"), "worker", "start", "--pool", WORKERS[host], "--name", host]
        if WORKERS[host] == "gpu":
            args += ["--limit", "1"]  # `make worker-gpu`: one training at a time per GPU
        running.enter_context(background(self.on(host, args), self.logs / f"worker-{host}.log", self.env(host)))


def clone_per_host(root: Path, names: list[str]) -> tuple[str, dict[str, Path]]:
    """The repository's files with the tiny params, committed once; a `git clone` of it for each host (the same
    commit id everywhere, as each machine's checkout of the team's repository would have)."""
    base = root / "base"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, base / name)
    (base / "params.yaml").write_text(yaml.safe_dump(host_params(), sort_keys=False))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "the hosts' commit"]):
        subprocess.run(command, cwd=base, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=base, capture_output=True, text=True).stdout.strip()
    checkouts = {}
    for name in names:
        (root / name).mkdir()
        subprocess.run(["git", "clone", "-q", str(base), str(root / name / "checkout")], check=True)
        checkouts[name] = root / name / "checkout"
    return commit, checkouts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="gan-multihost-"))
    logs = tmp_path_factory.mktemp("multihost-logs")  # servers' and workers' output, kept after the run
    print(f"\nlogs of the hosts' servers and workers: {logs}")
    mount = Path(tempfile.mkdtemp(prefix="gan-checkout-"))  # empty here: each host binds its own checkout on it
    try:
        with ExitStack() as running:
            net = running.enter_context(hosts("control", "cpu-1", "gpu-1", "gpu-2", "operator"))
            control = net.address["control"]
            started = time.monotonic()
            commit, checkouts = clone_per_host(root, ["cpu-1", "gpu-1", "gpu-2"])
            for host in ("control", *checkouts):
                for folder in ("home", "prefect"):
                    (root / host / folder).mkdir(parents=True, exist_ok=True)
            running.enter_context(net.joined("operator"))  # this process's clients now reach the hosts
            db = running.enter_context(postgres_cluster(control, on=(net, "control")))
            remote = running.enter_context(webdav_remote(control, on=(net, "control")))
            for checkout in checkouts.values():
                use_remote(checkout, remote)  # .dvc/config.local of each host (docs/scaling.md)
            data_md5 = yaml.safe_load((checkouts["cpu-1"] / "data.dvc").read_text())["outs"][0]["md5"]
            # `make prefect-server DB=postgres` and `make mlflow-server DB=postgres`, on control's address only
            server_env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(root / "control" / "home")}
            prefect = Service(net, "control", [str(BIN / "prefect"), "server", "start", "--host", control, "--port",
                                               str(PREFECT_PORT)],
                              {**server_env, "PREFECT_HOME": str(root / "control" / "prefect"),
                               "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                               "PREFECT_SERVER_DATABASE_CONNECTION_URL": db.url("prefect", driver="asyncpg")},
                              f"http://{control}:{PREFECT_PORT}/api/health", logs)
            mlflow = Service(net, "control", [str(BIN / "mlflow"), "server", "--artifacts-destination",
                                              str(root / "control" / "mlflow-artifacts"), "--host", control,
                                              "--port", str(MLFLOW_PORT), "--allowed-hosts",
                                              f"{control}:{MLFLOW_PORT}", "--workers", "1"],
                             {**server_env, "MLFLOW_BACKEND_STORE_URI": db.url("mlflow"),
                              "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                             f"http://{control}:{MLFLOW_PORT}/health", logs)
            running.callback(prefect.stop)
            running.callback(mlflow.stop)
            prefect.launch()  # both at once: each start is mostly waiting on its database
            mlflow.launch()
            prefect.wait()
            mlflow.wait()
            cluster = Cluster(net, root, mount, logs, db, remote, prefect, mlflow, commit, data_md5)
            # `make prefect-setup GPU_LIMITS='gpu-1-0 gpu-2-0'` and `make deploy`, from cpu-1's checkout
            cluster.run("cpu-1", sys.executable, "-m", "flows.work_pools", "--gpu-limits", *GPU_LIMITS.values(),
                        "--crashed-after", str(CRASHED_AFTER_SECONDS))
            for host in WORKERS:
                cluster.start_worker(host, running)
            cluster.run("cpu-1", str(BIN / "prefect"), "--no-prompt", "deploy", "--all")
            with temporary_settings({PREFECT_API_URL: cluster.api}), get_client(sync_client=True) as client:
                wait_for_workers(client, {"cpu": 1, "gpu": 2})
            print(f"\nfive hosts up (PostgreSQL, Prefect and MLflow servers, DVC remote, 3 workers): "
                  f"{time.monotonic() - started:.1f} s")
            yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(mount, ignore_errors=True)


@dataclass(frozen=True)
class Kill:
    run_id: str  # the MLflow run of the training that was running on the dead machine
    variant: str
    stored_step: int  # of its latest checkpoint in the store when the machine died
    at: float  # time.time() of the kill
    processes: int


def test_weekly_retrain_on_four_hosts_survives_a_dead_gpu_machine(cluster: Cluster, tmp_path: Path,
                                                                  record_property) -> None:
    cpu = cluster.checkout("cpu-1")
    assert not (cpu / "models").exists(), "cpu-1 must start with no models/"
    assert not any((cluster.checkout(host) / "data").exists() for host in GPU_LIMITS)
    store = MlflowClient(cluster.tracking_uri)
    with ExitStack() as running, temporary_settings({PREFECT_API_URL: cluster.api}), \
            get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("gan-pipeline/weekly-retrain")
        started = time.monotonic()
        pipeline = client.create_flow_run_from_deployment(deployment.id, parameters={"variants": VARIANTS,
                                                                                     "profile": "quick"})
        training = training_with_checkpoint(store, client, pipeline, "tags.host = 'gpu-1'")
        processes = cluster.net.kill_all("gpu-1")  # the machine dies: its worker and the flow run it started
        killed = Kill(training.info.run_id, training.data.tags["variant"],
                      int(store.get_run(training.info.run_id).data.tags["gan.checkpoint_step"]), time.time(), processes)
        # while Prefect notices (heartbeats stop), the same training uninterrupted, for the bits
        reference = running.enter_context(straight_training(cluster, tmp_path, killed.variant))
        pipeline = finished(client, pipeline)
        trigger_to_completed = time.monotonic() - started
        assert pipeline.state.is_completed(), f"{pipeline.state.name}: {pipeline.state.message}"
        dispatched = training_flow_runs(client, pipeline)
        assert reference.wait(timeout=RUN_TIMEOUT_SECONDS) == 0, (tmp_path / "straight.log").read_text()[-4000:]
    assert rows(cluster.db, "prefect", f"SELECT state_type FROM flow_run WHERE id = '{pipeline.id}'") == [("COMPLETED",)]

    experiment = store.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = store.search_runs([experiment])
    trainings = {run.data.tags["variant"]: run for run in runs if "gan.fingerprint" in run.data.tags}
    assert sorted(trainings) == sorted(VARIANTS)
    for run in runs:  # trainings, the theory checks, the report: each says where it ran, on what code and data
        tags = run.data.tags
        assert (tags.get("data.dvc_md5"), tags.get("mlflow.source.git.commit"), run.info.status) == (
            cluster.data_md5, cluster.commit, "FINISHED"), f"run {run.info.run_name}: {tags}"
    assert {run.data.tags["host"] for run in trainings.values()} == set(GPU_LIMITS)  # each GPU machine took one
    # the theory checks and the report ran on the cpu machine
    assert {run.data.tags["host"] for run in runs if "gan.fingerprint" not in run.data.tags} == {"cpu-1"}

    # the killed training: retried, taken by gpu-2, continued from the stored step in the same run
    resumed = store.get_run(killed.run_id)
    assert (resumed.data.tags["host"], resumed.data.tags["resumed_on_host"]) == ("gpu-1", "gpu-2")
    [resumed_at] = store.get_metric_history(killed.run_id, "resumed_from_step")
    assert CHECKPOINT_EVERY <= resumed_at.value == killed.stored_step < STEPS
    states = [run.state for run in dispatched[killed.variant]]
    assert [state.type.value for state in states] == ["CRASHED", "COMPLETED"], states
    assert "heartbeat" in states[0].message
    crash_detected = states[0].timestamp.timestamp() - killed.at
    assert [run.state.type.value for run in dispatched[next(v for v in VARIANTS if v != killed.variant)]] == ["COMPLETED"]

    # a champion per variant, in MLflow's PostgreSQL database
    assert rows(cluster.db, "mlflow", "SELECT name, version, run_id FROM model_versions ORDER BY name") == [
        (f"gan-{name}", 1, trainings[name].info.run_id) for name in sorted(VARIANTS)]
    assert rows(cluster.db, "mlflow", "SELECT name, alias, version FROM registered_model_aliases ORDER BY name") == [
        (f"gan-{name}", "champion", 1) for name in sorted(VARIANTS)]

    # cpu-1 evaluated what the store holds: each final checkpoint came to it through the MLflow server
    transfers = {name: through_the_store(store, trainings[name].info.run_id, tmp_path / name) for name in VARIANTS}
    for name, (stored, _, _) in transfers.items():
        assert (cpu / "models" / name / "checkpoint.pt").read_bytes() == stored.read_bytes(), name
    # data reached the GPU machines only from the DVC remote: cpu-1 sent it, gpu-1 and gpu-2 fetched it
    requests = remote_requests(cluster.remote)
    address = {value: host for host, value in cluster.net.address.items()}
    assert {address[a] for a, method in requests if method == "PUT"} == {"cpu-1"}
    assert {address[a] for a, method in requests if method == "GET"} == set(GPU_LIMITS)
    for host in GPU_LIMITS:
        assert (cluster.checkout(host) / "data" / "digits").is_dir()

    # bit for bit the training that was never interrupted, at the same thread count
    expected = torch.load(tmp_path / "straight" / "models" / killed.variant / "checkpoint.pt", weights_only=True)
    actual = torch.load(transfers[killed.variant][0], weights_only=True)
    assert actual["step"] == expected["step"] == STEPS
    for net in ("G", "D"):
        for key, value in expected["state"]["nets"][net].items():
            assert torch.equal(value, actual["state"]["nets"][net][key]), f"{killed.variant} {net}.{key}"

    figures = {"trigger_to_completed_seconds": round(trigger_to_completed, 1),
               "killed_variant": killed.variant, "killed_processes": killed.processes,
               "resumed_from_step": killed.stored_step, "crash_detected_seconds": round(crash_detected, 1),
               **{f"checkpoint_{name}_{key}": value for name, (path, up, down) in transfers.items()
                  for key, value in (("bytes", path.stat().st_size), ("upload_seconds", round(up, 3)),
                                     ("download_seconds", round(down, 3)))}}
    for key, value in figures.items():
        record_property(key, value)
    print(f"\nweekly-retrain ({', '.join(VARIANTS)}) on control, cpu-1, gpu-1, gpu-2: "
          f"{trigger_to_completed:.1f} s from trigger to Completed; gpu-1 killed ({killed.processes} processes) "
          f"while training {killed.variant}, Crashed {crash_detected:.1f} s later, resumed on gpu-2 at step "
          f"{killed.stored_step} of {STEPS}, bit-identical to a straight run")
    for name, (path, up, down) in transfers.items():
        print(f"checkpoint of {name}: {path.stat().st_size / 1024:.0f} KiB, through the MLflow server "
              f"up {up:.3f} s, down {down:.3f} s")


def test_a_run_in_flight_outlives_restarts_of_both_servers(cluster: Cluster, record_property) -> None:
    store = MlflowClient(cluster.tracking_uri)
    with temporary_settings({PREFECT_API_URL: cluster.api}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("gan-pipeline/weekly-retrain")
        started = time.monotonic()
        # the `full` profile: a new fingerprint, so mlp trains again (on gpu-2, the one GPU machine left)
        pipeline = client.create_flow_run_from_deployment(deployment.id, parameters={"variants": ["mlp"],
                                                                                     "profile": "full"})
        training = training_with_checkpoint(store, client, pipeline, "tags.profile = 'full'")
        logged = {host: (cluster.logs / f"worker-{host}.log").stat().st_size for host in WORKERS}
        mlflow_restart = restart(cluster.mlflow)
        step_after_mlflow = int(store.get_run(training.info.run_id).data.tags["gan.checkpoint_step"])
        prefect_restart = restart(cluster.prefect)
        pipeline = finished(client, pipeline)
        seconds = time.monotonic() - started
    state = pipeline.state
    # what the clients on the hosts did meanwhile: MLflow's retried its requests, Prefect's reconnected
    worker_logs = "".join((cluster.logs / f"worker-{host}.log").read_bytes()[start:].decode(errors="replace")
                          for host, start in logged.items())
    mlflow_retries = worker_logs.count("Retrying (Retry(")
    prefect_reconnects = worker_logs.count("reconnected to the events stream")
    print(f"\nrestarts while a run was in flight: MLflow server down {mlflow_restart:.1f} s (during training at step "
          f"{step_after_mlflow}; {mlflow_retries} requests retried on the hosts), Prefect server down "
          f"{prefect_restart:.1f} s ({prefect_reconnects} event streams reconnected); the run ended {state.name} "
          f"after {seconds:.1f} s ({state.message})")
    record_property("mlflow_client_retries", mlflow_retries)
    record_property("mlflow_restart_seconds", round(mlflow_restart, 1))
    record_property("prefect_restart_seconds", round(prefect_restart, 1))
    record_property("restarted_run_state", state.name)
    assert state.is_completed() or state.message, f"the run ended {state.name} and names no failure"

    experiment = store.get_experiment_by_name(EXPERIMENT).experiment_id
    assert not store.search_runs([experiment], "attributes.status = 'RUNNING'"), "an MLflow run was left RUNNING"
    for model in store.search_registered_models():
        versions = store.search_model_versions(f"name = '{model.name}'")
        assert len({v.run_id for v in versions}) == len(versions), f"{model.name}: a run registered twice"
    if state.is_completed():
        assert store.get_run(training.info.run_id).info.status == "FINISHED"
        assert len(store.search_model_versions("name = 'gan-mlp'")) == 2  # the quick and the full training


def training_with_checkpoint(store: MlflowClient, client: SyncPrefectClient, pipeline: FlowRun, where: str) -> Run:
    """The RUNNING training (`where`: an MLflow filter) once its first checkpoint is in the store."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        experiment = store.get_experiment_by_name(EXPERIMENT)
        runs = store.search_runs([experiment.experiment_id], f"{where} and attributes.status = 'RUNNING'") \
            if experiment else []
        if runs and int(runs[0].data.tags.get("gan.checkpoint_step", 0)) >= CHECKPOINT_EVERY:
            return runs[0]
        state = client.read_flow_run(pipeline.id).state
        assert not state.is_final(), f"the pipeline ended {state.name} before a training ({where}) stored a checkpoint"
        assert time.monotonic() < deadline, f"no training ({where}) stored a checkpoint in {RUN_TIMEOUT_SECONDS} s"
        time.sleep(0.2)


def straight_training(cluster: Cluster, folder: Path, name: str) -> AbstractContextManager[subprocess.Popen]:
    """`python -m gan_core train <name>` in a scratch clone of the same commit and data with a store of its own,
    one thread, never interrupted: the bits the resumed training must end with (stopped if the test fails first)."""
    project = folder / "straight"
    subprocess.run(["git", "clone", "-q", str(cluster.root / "base"), str(project)], check=True)
    shutil.copytree(cluster.checkout("cpu-1") / "data", project / "data")
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(folder), "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": "", "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow' / 'mlflow.db'}"}
    return background([sys.executable, "-m", "gan_core", "train", name], folder / "straight.log", env, cwd=project)


def training_flow_runs(client: SyncPrefectClient, pipeline: FlowRun) -> dict[str, list[FlowRun]]:
    """variant -> the train-variant flow runs the pipeline dispatched for it, oldest first (a retry adds one)."""
    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["gpu"])))
    dispatched: dict[str, list[FlowRun]] = {}
    for run in sorted(runs, key=lambda r: r.created):
        if run.parent_task_run_id and client.read_task_run(run.parent_task_run_id).flow_run_id == pipeline.id:
            dispatched.setdefault(run.parameters["name"], []).append(run)
    return dispatched


def through_the_store(store: MlflowClient, run_id: str, folder: Path) -> tuple[Path, float, float]:
    """The run's stored checkpoint fetched from the MLflow server (as cpu-1's evaluation fetched it), and the
    seconds one upload and one download of it take through the server's proxy (the upload into a scratch run)."""
    folder.mkdir()
    started = time.monotonic()
    path = Path(store.download_artifacts(run_id, "checkpoint/checkpoint.pt", str(folder)))
    down = time.monotonic() - started
    found = store.get_experiment_by_name(TRANSFER_EXPERIMENT)
    scratch = store.create_run(found.experiment_id if found else store.create_experiment(TRANSFER_EXPERIMENT))
    started = time.monotonic()
    store.log_artifact(scratch.info.run_id, str(path), "checkpoint")
    up = time.monotonic() - started
    store.set_terminated(scratch.info.run_id)
    return path, up, down


def remote_requests(remote: Remote) -> set[tuple[str, str]]:
    """(client address, method) of every request nginx served the DVC remote's store."""
    lines = (remote.dir / "logs" / "access.log").read_text().splitlines()
    return {(m[1], m[2]) for line in lines if (m := re.match(r'(\S+) \S+ \S+ \[[^]]*\] "(\w+) ', line))}


def restart(service: Service) -> float:
    """Stop the server and start it again: the seconds it did not answer."""
    started = time.monotonic()
    service.stop()
    service.start()
    return time.monotonic() - started
