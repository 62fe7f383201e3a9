"""Shared fixtures: tiny params, a throw-away project workspace with its own MLflow store and DVC repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

import flows  # noqa: F401  (sets Prefect's embedded defaults, e.g. no telemetry, before Prefect is imported)

REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"  # real recordings beside the project (tests only)

# the tests' MLflow runs say so (name and `entry_point` tag), also those of the `dvc repro` and flows they start
os.environ["GAN_ENTRY_POINT"] = "test"

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
    ("variants", "cgan", "generator_ema"): 0.99,  # averages about the last 100 of the 1,500 steps
    ("evaluation", "printed_classifier", "epochs"): 1,
    ("evaluation", "paired_classifier", "epochs"): 1,
    ("variants", "pix2pix", "steps", "quick"): 100,
    ("variants", "pix2pix", "base_channels"): 8,
    ("variants", "pix2pix", "d_base_channels"): 8,
    ("variants", "pix2pix", "batch_size"): 16,
    ("variants", "cyclegan", "steps", "quick"): 60,
    ("variants", "cyclegan", "generator_channels"): 8,
    ("variants", "cyclegan", "residual_blocks"): 1,
    ("variants", "cyclegan", "discriminator_channels"): 8,
    ("variants", "cyclegan", "batch_size"): 8,
    ("variants", "cyclegan", "lr"): 1e-3,
    ("data", "speech", "segment_length"): 2048,
    ("evaluation", "speech_classifier", "epochs"): 10,
    ("variants", "melgan", "steps", "quick"): 30,
    ("variants", "melgan", "batch_size"): 4,
    ("variants", "melgan", "generator_channels"): 32,
    ("variants", "melgan", "discriminator_channels"): 4,
    ("variants", "melgan", "discriminator_max_channels"): 16,
    ("variants", "melgan", "warm_up_fraction"): 0.67,  # 20 steps of G alone, then 10 with D
    ("variants", "stackgan", "steps", "quick"): 300,
    ("variants", "stackgan", "lr"): 1e-3,  # digit accuracy after 300 tiny steps: 0.71 (0.23 at 2e-4)
    ("variants", "stackgan", "generator_channels"): 8,
    ("variants", "stackgan", "discriminator_channels"): 8,
    ("variants", "stackgan", "residual_blocks"): 1,
}


def tiny_params() -> dict:
    """params.yaml with TINY's values set; a block params.yaml leaves to the code's defaults is created."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for path, value in TINY.items():
        set_param(params, path, value)
    return params


def set_param(params: dict, path: tuple[str, ...], value: object) -> None:
    """Set the value at `path` in a parsed params file, creating the blocks on the way that it lacks."""
    node = params
    for key in path[:-1]:
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def assert_scored(params, ws, name: str, run_id: str) -> None:
    """The training of `name` in MLflow run `run_id` logged its in-training score every `eval_every` steps and at
    the last; its `best_step` is the step of the lowest score, which beats an untrained generator's."""
    import torch
    from mlflow import MlflowClient

    from gan_core.tasks import task_of
    from gan_core.train import SCORE_IN_TRAINING
    from gan_core.variants import build_variant

    client = MlflowClient()
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, SCORE_IN_TRAINING))
    every, steps = params.eval_every(name), params.steps(name)
    assert [step for step, _ in history] == sorted({*range(every, steps + 1, every), steps})
    best_step, best = min(history, key=lambda entry: (entry[1], entry[0]))
    assert client.get_run(run_id).data.metrics["best_step"] == best_step
    task = task_of(name)(params, ws, torch.device("cpu"))
    untrained = build_variant(name, params.variant(name).model_dump(), task.spec(), torch.device("cpu"))
    assert best < task.scorer(params.shared.seed)(untrained)


def run_cli(*args: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """A command of the project's venv (python, dvc) in `cwd`, with the venv first on PATH as `make` does."""
    env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def make_project(root: Path, params: dict | None = None, data: Path | None = None) -> Path:
    """A project directory: params.yaml (tiny by default), the pipeline's dvc.yaml and the gan_core sources its
    stages depend on, data.dvc, a DVC repo, an `mlflow/` store folder, and a copy of `data` (a built data/ folder)
    when given."""
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    run_cli(sys.executable, "-m", "dvc", "init", "--no-scm", "-q", cwd=root)
    for name in ("data.dvc", "dvc.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "gan_core", root / "gan_core", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "mlflow").mkdir()
    if data is not None:
        shutil.copytree(data, root / "data")
    return root


def store_of(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with tiny params.yaml, data.dvc, a DVC repo and a private MLflow store."""
    root = make_project(tmp_path / "project")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_of(root))
    return root


@pytest.fixture(scope="session")
def bundled_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ as `python -m gan_core data` builds it with the default params, built once for the session."""
    from gan_core.params import DataParams
    from gan_core.data import build_data

    root = tmp_path_factory.mktemp("bundled")
    return build_data(DataParams(), root)


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
    from gan_core.data.audio_store import SpeechParams
    from gan_core.data import build_speech

    return build_speech(SpeechParams(), tmp_path_factory.mktemp("data"), REPO)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory):
    """One temporary Prefect server for the whole session (starting one costs 10-20 s)."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # persisted task results (the training cache) of tests: not in the project's .prefect/, which the harness keeps
    results = tmp_path_factory.mktemp("prefect-results")
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: results}), prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 as `make mlflow-server` starts it (SQLite store, proxied artifacts): its URI."""
    from tests.background import background, free_port, venv_env

    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "2"]
    env = venv_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with background(command, root / "server.log", env, ready_url=f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"
