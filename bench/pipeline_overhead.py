"""Pipeline overhead: the share of a flow's wall time spent outside training and evaluation compute.

    overhead = (wall - sum(train_seconds) - sum(evaluate task runs) - classifier task run) / wall

`wall` is the whole `python -m bench.timed_flow` process (imports, Prefect's temporary server, data checks, MLflow
runs and model logging, registry, report), the time a user waits for the flow. `train_seconds` is the
training loop's own time (logged to MLflow by the train stage); evaluation and the evaluation classifier's
training are their Prefect task runs' durations. The flow runs in a temporary copy of the project (params.yaml,
data.dvc, data/ when present, a fresh DVC repo, its own MLflow store and Prefect home), so nothing of the project
changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLASSIFIER_TASK = "train-classifier"  # Prefect appends a short id to task runs without a name template


def measure(project: Path, params_path: Path, profile: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        root = Path(tmp)
        shutil.copy(params_path, root / "params.yaml")
        shutil.copy(project / "data.dvc", root / "data.dvc")
        if (project / "data").is_dir():
            shutil.copytree(project / "data", root / "data")
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
               "PREFECT_HOME": str(root / ".prefect"), "PYTHONPATH": str(project),
               # Prefect's default 20 s is too short for its temporary server on a busy 2-core machine
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
        env.pop("PREFECT_API_URL", None)  # the flow's own temporary server: its task runs are read back after
        (root / "mlflow").mkdir()
        subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, env=env, check=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench.timed_flow", "--params", str(root / "params.yaml"),
                               "--profile", profile, "--out", str(root / "timing.json")],
                              cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"the {profile} flow failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        timing = json.loads((root / "timing.json").read_text())
    tasks = timing["task_run_seconds"]
    train = sum(timing["train_seconds"].values())
    evaluate = sum(v for k, v in tasks.items() if k.startswith("evaluate-"))
    classifier = sum(v for k, v in tasks.items() if k.startswith(CLASSIFIER_TASK))
    return {
        "profile": profile,
        "wall_seconds": round(wall, 2),
        "flow_run_seconds": round(timing["flow_run_seconds"], 2),
        "train_seconds": {k: round(v, 2) for k, v in timing["train_seconds"].items()},
        "evaluate_seconds": round(evaluate, 2),
        "classifier_seconds": round(classifier, 2),
        "task_run_seconds": {k: round(v, 2) for k, v in sorted(tasks.items())},
        "overhead_fraction": round((wall - train - evaluate - classifier) / wall, 4),
        # the same, counting the classifier's training as overhead rather than evaluation compute
        "overhead_fraction_classifier_as_overhead": round((wall - train - evaluate) / wall, 4),
    }
