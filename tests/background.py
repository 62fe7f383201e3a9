"""Servers and workers that tests start on localhost: a free port, readiness by polling, and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# a loaded 2-core CI machine starts a Prefect or MLflow server in 10-30 s: wait far longer before calling it broken
READY_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_env(**extra: str) -> dict[str, str]:
    """The environment of a project command: the venv's bin first on PATH (uvicorn, mlflow, prefect), as `make` does."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


@contextmanager
def background(args: list[str], log: Path, env: dict[str, str], cwd: Path | None = None,
               ready_url: str | None = None) -> Iterator[subprocess.Popen]:
    """Run `args` in its own process group (output to `log`); wait until `ready_url` answers 200; stop it all after.

    Its own process group: SIGTERM reaches every process it forked (server workers, flow-run subprocesses), and
    SIGINT is not inherited as ignored (what makes a worker started with `&` outlive a SIGTERM).
    """
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
    try:
        if ready_url:
            wait_until_ready(ready_url, process, log)
        yield process
    finally:
        stop(process)


def wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[:3]} exited {process.returncode} before it was ready:\n"
                                 f"{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {READY_TIMEOUT_SECONDS} s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL to whatever is left after STOP_TIMEOUT_SECONDS."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group even when the leader has exited
    except ProcessLookupError:
        pass
    process.wait()

