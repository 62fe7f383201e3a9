"""The Prefect flow run once, then how long each of its task runs took (from Prefect's API) and how long each
variant's training loop took (`train_seconds`, from its MLflow run): what bench/pipeline_overhead.py subtracts
from the flow's wall time. Run in the project copy it measures; writes one JSON file (`--out`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.pipeline import gan_pipeline
from gan_core import tracking
from gan_core.params import load_params
from gan_core.workspace import write_text_atomic


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    state = gan_pipeline(profile=args.profile, params_path=str(args.params), return_state=True)
    flow_run_id = state.state_details.flow_run_id
    # the temporary Prefect server this process started still runs: ask it how long each task ran
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    params = load_params(args.params, profile=args.profile)
    experiment = tracking.configure(args.params.resolve().parent, params.tracking.experiment)
    runs = MlflowClient().search_runs([experiment], filter_string="metrics.train_seconds > 0")
    result = {
        "state": state.type.value,
        "flow_run_seconds": flow_run.total_run_time.total_seconds(),
        "task_run_seconds": {t.name: t.total_run_time.total_seconds() for t in task_runs},
        "train_seconds": {r.data.tags["variant"]: r.data.metrics["train_seconds"] for r in runs},
    }
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
