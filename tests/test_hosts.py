"""The control services for several machines, with the real servers: PostgreSQL and the DVC remote on a `control`
host reached from a `cpu-1` host over their own addresses only; the Prefect and the MLflow server on PostgreSQL."""

from __future__ import annotations

import sys
import time
from contextlib import closing
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest
from mlflow.tracking import MlflowClient
from prefect import flow
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from ops.postgres import Server
from tests.background import background, free_port, venv_env
from tests.conftest import make_project
from tests.netns import hosts
from tests.services import postgres_cluster, use_remote, webdav_remote
from tests.test_dvc_data import same_tree

pytestmark = pytest.mark.e2e  # real servers or the whole flow: `make test` runs it, `make test-fast` does not

# run on cpu-1: log in with the first URL; the others (wrong password, loopback) must fail
CLIENT = """
import sys, psycopg2
with psycopg2.connect(sys.argv[1], connect_timeout=10) as connection, connection.cursor() as cursor:
    cursor.execute("SELECT current_user, inet_server_addr()")
    print(*cursor.fetchone())
for url in sys.argv[2:]:
    try:
        psycopg2.connect(url, connect_timeout=10)
        sys.exit("connected with " + url)
    except psycopg2.OperationalError as err:
        print(str(err).strip().splitlines()[0])
"""
# run on cpu-1 in a project: `push` (data/ to the remote) or `pull MD5` (the run's version into data/)
DATA = """
import sys
from pathlib import Path
from gan_core.dvc_data import pull_data, push_data
from gan_core.workspace import Workspace
ws = Workspace(Path.cwd())
print((push_data(ws) if sys.argv[1] == "push" else pull_data(ws, sys.argv[2])).md5)
"""


def test_postgres_and_the_dvc_remote_on_control_serve_cpu_1_over_its_address_only(tmp_path: Path,
                                                                                 bundled_data: Path) -> None:
    with hosts("control", "cpu-1") as net:
        control = net.address["control"]
        with postgres_cluster(control, on=(net, "control")) as db, \
                webdav_remote(control, on=(net, "control")) as remote:
            url = db.dsn("mlflow")
            wrong, loopback = url.replace(db.password, "wrong"), url.replace(f"@{control}:", "@127.0.0.1:")
            session = net.run("cpu-1", [sys.executable, "-c", CLIENT, url, wrong, loopback]).stdout
            lines = session.splitlines()
            assert lines[0] == f"gan {control}"  # logged in over control's address
            assert 'password authentication failed for user "gan"' in lines[1]
            assert "127.0.0.1" in lines[2] and "refused" in lines[2]  # nothing listens on cpu-1's loopback

            built, worker = make_project(tmp_path / "a", data=bundled_data), make_project(tmp_path / "b")
            for project in (built, worker):
                use_remote(project, remote)
            md5 = net.run("cpu-1", [sys.executable, "-c", DATA, "push"], cwd=built).stdout.split()[-1]
            assert net.run("cpu-1", [sys.executable, "-c", DATA, "pull", md5], cwd=worker).stdout.split()[-1] == md5
            assert same_tree(bundled_data, worker / "data")
            with pytest.raises(AssertionError, match="refused"):
                net.wait_for_port("cpu-1", "127.0.0.1", remote.port, timeout=1)


@pytest.fixture(scope="module")
def database() -> Iterator[Server]:
    with postgres_cluster() as server:
        yield server


def rows(server: Server, database: str, query: str) -> list[tuple]:
    with closing(psycopg2.connect(server.dsn(database))) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


@flow(name="on-postgres")
def answer() -> int:
    return 42


def test_the_prefect_server_records_flow_runs_in_postgres(tmp_path: Path, database: Server, record_property) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = venv_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_SERVER_DATABASE_CONNECTION_URL=database.url("prefect", driver="asyncpg"))
    started = time.monotonic()
    with background([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                     "--port", str(port)], tmp_path / "prefect.log", env, ready_url=f"{api}/health"), \
            temporary_settings({PREFECT_API_URL: api}):
        record_property("prefect_server_start_seconds", round(time.monotonic() - started, 1))
        assert answer() == 42
        # the flow run's logs and events are sent in the background: flushed while the server still listens
        APILogWorker.drain_all()
        EventsWorker.drain_all()
    assert rows(database, "prefect", "SELECT flow.name, flow_run.state_type FROM flow_run JOIN flow "
                                     "ON flow.id = flow_run.flow_id") == [("on-postgres", "COMPLETED")]


def test_the_mlflow_server_keeps_runs_and_registry_in_postgres_and_checks_the_host(tmp_path: Path, database: Server,
                                                                                    record_property) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    # the store's URL (with its password) by environment, not on a command line every user's `ps` shows
    env = venv_env(MLFLOW_BACKEND_STORE_URI=database.url("mlflow"), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--artifacts-destination", str(tmp_path / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--allowed-hosts", f"127.0.0.1:{port}", "--workers", "1"]
    started = time.monotonic()
    with background(command, tmp_path / "mlflow.log", env, ready_url=f"{uri}/health"):
        record_property("mlflow_server_start_seconds", round(time.monotonic() - started, 1))
        client = MlflowClient(uri)
        run = client.create_run(client.create_experiment("on-postgres"))
        client.log_metric(run.info.run_id, "fid", 12.5, step=1)
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "generator.pt").write_bytes(b"weights")
        client.log_artifacts(run.info.run_id, str(tmp_path / "model"), "model")
        client.set_terminated(run.info.run_id)
        client.create_registered_model("gan-on-postgres")
        version = client.create_model_version("gan-on-postgres", f"{run.info.artifact_uri}/model", run.info.run_id)
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: clients need no store access
        assert any((tmp_path / "artifacts").rglob("generator.pt"))
        search = f"{uri}/api/2.0/mlflow/experiments/search?max_results=1"
        urllib.request.urlopen(search, timeout=10).close()  # the host it was told about
        request = urllib.request.Request(search, headers={"Host": f"mlflow.example:{port}"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(request, timeout=10)  # a host it was not told about (DNS rebinding)
    assert rows(database, "mlflow", "SELECT name, version, run_id FROM model_versions") == [
        ("gan-on-postgres", int(version.version), run.info.run_id)]
    assert rows(database, "mlflow", "SELECT key, value FROM metrics") == [("fid", 12.5)]
