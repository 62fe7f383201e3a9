"""Shared fixtures: tiny params, a throw-away project workspace with its own MLflow store and DVC repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import flows  # noqa: F401  (sets Prefect's embedded defaults, e.g. no telemetry, before Prefect is imported)

REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"  # real recordings beside the project (tests only)

# librosa's numba-compiled functions (the reference melspectrogram in tests) cost ~20 s to compile; cached here
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".pytest_cache" / "numba"))

# Small enough for a 2-core CI machine, large enough that training measurably beats an untrained generator.
TINY = {
    ("shared", "checkpoint_every"): 500,
    ("evaluation", "classifier", "epochs"): 8,
    ("tracking", "log_every"): 100,
    ("variants", "mlp", "steps", "quick"): 1500,
    ("variants", "mlp", "lr"): 1e-3,  # converges in few steps (it degrades over long runs, not an issue here)
    ("variants", "dcgan", "steps", "quick"): 300,
    ("variants", "dcgan", "base_channels"): 16,
    ("variants", "numpy", "steps", "quick"): 1500,
    ("variants", "numpy", "lr"): 1e-3,
    ("variants", "cgan", "steps", "quick"): 1500,
    ("variants", "cgan", "lr"): 1e-3,
    ("variants", "cgan", "generator_ema"): 0.99,  # 0.999 would still hold 22% of the initial weights at step 1500
    ("data", "speech", "segment_length"): 2048,
    ("evaluation", "speech_classifier", "epochs"): 10,
    ("variants", "melgan", "steps", "quick"): 30,
    ("variants", "melgan", "batch_size"): 4,
    ("variants", "melgan", "generator_channels"): 32,
    ("variants", "melgan", "discriminator_channels"): 4,
    ("variants", "melgan", "discriminator_max_channels"): 16,
    ("variants", "melgan", "discriminator_start"): 20,  # 20 steps of G alone, then 10 with D
}


def tiny_params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for path, value in TINY.items():
        node = params
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return params


def run_cli(*args: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """A command of the project's venv (python, dvc) in `cwd`, with the venv first on PATH as `make` does."""
    env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with tiny params.yaml, data.dvc, a DVC repo and a private MLflow store."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    run_cli(sys.executable, "-m", "dvc", "init", "--no-scm", "-q", cwd=root)
    shutil.copy(REPO / "data.dvc", root / "data.dvc")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    (root / "mlflow").mkdir()
    return root


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory):
    """The bundled digits' (train, test) splits on the CPU, built once for the session."""
    from gan_core.data.digits import build_digits
    from gan_core.data.image_store import read_split

    root = tmp_path_factory.mktemp("data")
    build_digits(root, test_fraction=0.2, split_seed=0)
    return read_split(root / "digits", "train", 16), read_split(root / "digits", "test", 16)


@pytest.fixture(scope="session")
def spoken_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled eSpeak spoken digits (default settings) built once for the session: the store's directory."""
    from gan_core.config import SpeechParams
    from gan_core.data import build_speech

    return build_speech(SpeechParams(), tmp_path_factory.mktemp("data"), REPO)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (starting one costs 10-20 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):  # 11-17 s alone; more on a loaded 2-core machine
        yield
