"""One trial of a sweep as a flow run in a process of its own, the way flows/sweep.py runs trials on this machine:

    python -m flows.trial REQUEST_JSON --params params.yaml [--profile quick] [--threads 1]

A process per trial, not a pool: a trial that crashes or is killed takes no other trial with it, and the sweep marks
it failed and goes on. On a deployment the training deployment runs the trial instead (flows/training.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

from gan_core import sweep
from gan_core.params import load_params
from flows.training import cap_threads


def _run_name() -> str:
    request = flow_run.parameters["request"]
    return f"{request['study']}-trial-{request['number']}"


@flow(name="sweep-trial", flow_run_name=_run_name)
def sweep_trial_flow(request: dict, params_path: str = "params.yaml", profile: str | None = None) -> str:
    """Train the trial's settings, reporting to its study; returns how the trial ended (COMPLETE or PRUNED)."""
    params = load_params(params_path, profile=profile)
    return sweep.run_trial(params, Path(params_path).resolve().parent, sweep.TrialRequest(**request)).state.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.trial", description=__doc__.splitlines()[0])
    parser.add_argument("request", help="the trial, as gan_core.sweep.TrialRequest's JSON")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this trial (default: %(default)s)")
    args = parser.parse_args(argv)
    cap_threads(args.threads)
    print(sweep_trial_flow(json.loads(args.request), args.params, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
