"""The control services as tests start them, through the same starters as `make postgres` and `make dvc-remote`:
each in a fresh folder, bound to one address, stopped and removed after the block even when it fails.

`on=(net, "control")` starts a service on a host of tests/netns.py instead of the machine itself.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from ops import dvc_remote, postgres
from tests.background import background, free_port, venv_env
from tests.conftest import REPO, run_cli
from tests.netns import Hosts

START_TIMEOUT_SECONDS = 120  # pg_ctl waits 60 s itself; initdb before it on a loaded 2-core machine


def require_postgres() -> None:
    if not (shutil.which("pg_ctl") or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")):
        pytest.skip("PostgreSQL's server (pg_ctl) is not installed (`make test` installs it as root)")


def require_nginx() -> None:
    if not (shutil.which("nginx") or shutil.which("/usr/sbin/nginx")) or not dvc_remote.DAV_EXT_MODULE.exists():
        pytest.skip("nginx with its WebDAV module is not installed (`make test` installs it as root)")


def _on(on: tuple[Hosts, str] | None, args: list[str]) -> list[str]:
    return on[0].command(on[1], args) if on else args


def _folder(prefix: str) -> Path:
    # under /tmp, not pytest's tmp_path: that is 0700 to root, and the servers run as their own users
    return Path(tempfile.mkdtemp(prefix=prefix))


@contextmanager
def postgres_cluster(host: str = "127.0.0.1", on: tuple[Hosts, str] | None = None) -> Iterator[postgres.Server]:
    """A private cluster (`python -m ops.postgres start`) listening on `host` only."""
    require_postgres()
    folder = _folder("gan-pg-")
    try:
        start = [sys.executable, "-m", "ops.postgres", "start", "--dir", str(folder), "--host", host,
                 "--port", str(free_port())]
        started = subprocess.run(_on(on, start), cwd=REPO, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS)
        assert started.returncode == 0, started.stderr[-4000:]
        yield postgres.server_at(folder)
    finally:
        postgres.stop(folder)  # by its pid file: from any namespace
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def webdav_remote(host: str = "127.0.0.1", on: tuple[Hosts, str] | None = None) -> Iterator[dvc_remote.Remote]:
    """nginx serving a fresh DVC store over WebDAV on `host` only, until the block ends."""
    require_nginx()
    folder = _folder("gan-dav-")
    try:
        remote = dvc_remote.prepare(folder, host, free_port())
        with background(_on(on, remote.command()), folder / "logs" / "nginx.out", venv_env(),
                        ready_url=None if on else remote.health_url):
            if on:  # the machine itself cannot reach a host's address: ask from the server's own host
                on[0].wait_for_port(on[1], host, remote.port)
            yield remote
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def use_remote(project: Path, remote: dvc_remote.Remote) -> None:
    """What a host runs once (docs/scaling.md): the remote as the project's default, in .dvc/config.local."""
    for command in remote.dvc_config():
        run_cli(sys.executable, "-m", "dvc", *command, cwd=project)
