"""A hyperparameter sweep of one variant as a Prefect flow: trials side by side, pruned on their in-training score.

    python -m flows.sweep sweeps/dcgan.yaml [--trials 16] [--parallel N] [--profile quick] [--params params.yaml]
                          [--deployment train-variant/gpu]

The search space file names the variant and what to search (gan_core/sweep.py). On this machine, `parallel` trials
(default: one per core) run at once, each a flow run in a process of its own with its share of the cores
(flows/trial.py). With `--deployment`, each trial is a flow run of the training deployment instead, on a worker of
its pool: N GPU workers run N trials. Either way a trial reports each in-training score to the Optuna study, which
prunes it when it falls behind.

MLflow: the sweep is one run (tagged `kind=sweep`) and each trial a child run of it, with the variant's settings as
params under their own names (`lr`, for every variant) and `score_in_training` by step. The best trial's settings
are written as a params patch (reports/sweeps/<study>/best-params.yaml), and its generator is evaluated and
registered, through the same champion gate as the pipeline's. Running the same command again continues the study:
finished trials are kept, trials the last sweep left running are run again (from their stored checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import get_run_context
from prefect.deployments import run_deployment
from prefect.futures import PrefectFuture, as_completed

from gan_core import dvc_data, stages, sweep, tracking
from gan_core.config import Params, UserError
from gan_core.params import load_params
from gan_core.train import SCORE_IN_TRAINING
from gan_core.workspace import Workspace, write_text_atomic
from flows.pipeline import DISPATCH_POLL_SECONDS, prepare_data, register_variant, train_classifier
from flows.training import layout

LOG_TAIL_LINES = 15  # of a failed trial's log, shown in the sweep's
# the sampler's proposals in a row that repeat a trial's settings before the sweep waits for a running trial's end
# (which tells the sampler more), or stops when none is running: the space is exhausted
MAX_COPIES_IN_A_ROW = 20


@task(name="trial", task_run_name="trial-{request.number}")
def trial_here(request: sweep.TrialRequest, params_path: str, profile: str | None, threads: int, api_url: str,
               log_path: Path) -> None:
    """The trial in a process of its own on this machine (flows/trial.py), its output in `log_path`."""
    command = [sys.executable, "-m", "flows.trial", json.dumps(request.to_dict()), "--params", params_path, "--threads", str(threads),
               *(["--profile", profile] if profile else [])]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        ended = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PREFECT_API_URL": api_url})
    if ended.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-LOG_TAIL_LINES:])
        raise RuntimeError(f"trial {request.number} exited with {ended.returncode} (log: {log_path}):\n{tail}")


@task(name="trial-on-worker", task_run_name="trial-{request.number}-on-{deployment}")
def trial_on_worker(deployment: str, request: sweep.TrialRequest, params_path: str, profile: str | None,
                    version: dvc_data.DataVersion) -> None:
    """The trial as a flow run of the training deployment, on whichever worker of its pool is free."""
    run = run_deployment(deployment, as_subflow=True, poll_interval=DISPATCH_POLL_SECONDS, parameters={
        "name": request.variant, "data_md5": version.md5, "profile": profile, "params_path": params_path,
        "trial": request.to_dict(),
    })
    if not run.state.is_completed():
        raise RuntimeError(f"trial {request.number} by deployment '{deployment}' ended {run.state.name} "
                           f"({run.state.message}); see flow run {run.name} ({run.id})")


@task(name="evaluate-winner")
def evaluate_winner(params: Params, ws: Workspace, name: str, training: stages.TrainRecord) -> stages.EvaluationRecord:
    return stages.evaluate_variant(params, ws, name, training)


@flow(name="gan-sweep")
def gan_sweep(space_path: str, trials: int = 16, parallel: int | None = None, profile: str | None = None,
              params_path: str = "params.yaml", training_deployment: str | None = None) -> dict[str, Any]:
    """Run the study of `space_path` until it has `trials` finished (completed or pruned) trials, `parallel` at a
    time, then evaluate and register the best. Returns the sweep's summary."""
    logger = get_run_logger()
    params, space = validated(params_path, space_path, profile, trials)
    name = space.variant
    ws = Workspace(Path(params_path).resolve().parent)
    version = prepare_data(params, ws)
    experiment = tracking.configure(ws.root, params.tracking.experiment)
    study = sweep.open_study(space, params, ws.root)
    for trial in sweep.fail_interrupted(study):
        logger.info("trial %d was left running by an earlier sweep: failed, its settings queued again", trial.number)
    results = ws.root / "reports" / "sweeps" / study.study_name
    lanes = parallel or (layout(trials)[0] if training_deployment is None else 1)
    threads = layout(lanes)[1]  # each local trial's share of the cores
    api_url = str(get_run_context().client.api_url)

    run_params = {"variant": name, "study": study.study_name, "space": str(space.path), "profile": params.shared.profile,
                  "sampler.seed": space.sampler.seed, "pruner": space.pruner.kind}
    tags = {"kind": "sweep", tracking.SWEEP_STUDY_TAG: study.study_name, "variant": name, **stages.provenance(ws)}
    resumed = tracking.find_run(experiment, {"kind": "sweep", tracking.SWEEP_STUDY_TAG: study.study_name})
    with tracking.training_run(experiment, f"sweep-{study.study_name}", run_params, tags, resumed) as parent_run_id:
        tracking.log_file(parent_run_id, space.path)
        logger.info("study %s: %d trials to run, %d at a time (%s)", study.study_name,
                    max(0, trials - len(sweep.finished(study))), lanes,
                    training_deployment or f"torch threads each: {threads}")
        running: dict[PrefectFuture, sweep.TrialRequest] = {}
        failures = 0  # a failed trial is replaced, up to as many failures as trials (then the cause is not the trial)
        while True:
            copies = 0  # proposals in a row of settings already tried (`sweep.ask`): a small space can run out
            while (len(running) < lanes and failures < trials and copies < MAX_COPIES_IN_A_ROW
                   and len(sweep.finished(study)) + len(running) < trials):
                request = sweep.ask(study, space, parent_run_id)
                if request is None:
                    copies += 1
                    continue
                copies = 0
                future = trial_here.submit(request, params_path, profile, threads, api_url,
                                           results / f"trial-{request.number}.log") if training_deployment is None \
                    else trial_on_worker.submit(training_deployment, request, params_path, profile, version)
                running[future] = request
            if not running:
                break
            done = next(as_completed(list(running)))
            request = running.pop(done)
            trial = sweep.settle(study, request, experiment)
            logger.info("trial %d %s%s; %s", trial.number, trial.state.name.lower(),
                        f" at {trial.value:.4g}" if trial.value is not None else "", request.values)
            if trial.state.name == "FAIL":
                failures += 1
                logger.warning("trial %d failed: %s", trial.number, done.state.message)
        summary = _summary(study)
        tracking.MetricLogger(parent_run_id)({k: v for k, v in summary.items() if isinstance(v, (int, float))}, 0)
        if summary.get("best_trial") is None:
            raise UserError(f"study {study.study_name}: no trial completed; see the trials' logs in {results}")
        best = study.best_trial
        patch = results / "best-params.yaml"
        write_text_atomic(patch, sweep.params_patch(study, space, params, best))
        study.trials_dataframe().to_csv(results / "trials.csv", index=False)
        for path in (patch, results / "trials.csv"):
            tracking.log_file(parent_run_id, path)

    winner = sweep.with_settings(params, name, space.values(best.params))
    training = sweep.training_of(best)
    winner_ws = Workspace(ws.root, outputs=results)
    if tracking.run_metric(training.run_id, tracking.SCORE) is None or not winner_ws.metrics(name).is_file():
        train_classifier(params, ws)  # the evaluation's reader of generated images (reused when current)
        evaluate_winner(winner, winner_ws, name, training)
    registration = register_variant(winner, winner_ws, name, training)
    logger.info("best trial %d: %s %.4g; registered %s version %d (champion: version %d); its settings: %s",
                best.number, SCORE_IN_TRAINING, best.value, registration.name, registration.version,
                registration.champion_version, patch)
    return {**summary, "study": study.study_name, "patch": str(patch), "parent_run_id": parent_run_id,
            "registered_version": registration.version, "champion_version": registration.champion_version}


def _summary(study: Any) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    defaults = next((t for t in complete if t.user_attrs.get("defaults")), None)
    best = min(complete, key=lambda t: t.value) if complete else None
    return {
        "trials_complete": states.count("COMPLETE"), "trials_pruned": states.count("PRUNED"),
        "trials_failed": sum(t.state.name == "FAIL" and sweep.DUPLICATE_OF not in t.user_attrs for t in trials),
        "trials_repeated": sum(sweep.DUPLICATE_OF in t.user_attrs for t in trials),
        "best_trial": best.number if best else None,
        sweep.BEST_SCORE: best.value if best else None,
        "defaults_score_in_training": defaults.value if defaults else None,
    }


def validated(params_path: str, space_path: str, profile: str | None, trials: int) -> tuple[Params, sweep.SweepSpace]:
    if trials < 1:
        raise UserError(f"--trials must be at least 1; it is {trials}")
    params = load_params(params_path, profile=profile)
    return params, sweep.load_space(space_path, params)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("space", help="the search space file, e.g. sweeps/dcgan.yaml")
    parser.add_argument("--trials", type=int, default=16, help="finished trials the study should have (default: 16)")
    parser.add_argument("--parallel", type=int, help="trials at once (default: one per core here; 1 on a deployment)")
    parser.add_argument("--profile", choices=("quick", "full"), help="override shared.profile")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--deployment", help="run trials through this training deployment, e.g. train-variant/gpu")
    args = parser.parse_args(argv)
    try:
        validated(args.params, args.space, args.profile, args.trials)  # fail before a server or a run starts
        summary = gan_sweep(args.space, args.trials, args.parallel, args.profile, args.params, args.deployment)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"\nstudy {summary['study']}: {summary['trials_complete']} complete, {summary['trials_pruned']} pruned, "
          f"{summary['trials_failed']} failed, {summary['trials_repeated']} repeating earlier settings; best trial {summary['best_trial']}: {sweep.BEST_SCORE} "
          f"{summary[sweep.BEST_SCORE]:.4g} (the current settings' trial: {_maybe(summary['defaults_score_in_training'])})"
          f"\nits settings: {summary['patch']}\nregistered version {summary['registered_version']} "
          f"(champion: version {summary['champion_version']}); the sweep's run: {tracking.run_url(summary['parent_run_id'])}")
    return 0


def _maybe(value: float | None) -> str:
    return "not run" if value is None else f"{value:.4g}"


if __name__ == "__main__":
    sys.exit(main())
