"""The training pipeline as a Prefect flow: data -> classifier -> train, evaluate, register per variant -> report.

Run it: `python -m flows.pipeline [--variants mlp ...] [--profile quick|full] [--params params.yaml]`: every stage
in this process (the single-machine default). Scheduled retraining runs this same flow as the `weekly-retrain`
deployment (prefect.yaml) on the `cpu` work pool, with `training_deployment` naming the deployment that trains one
variant on the `gpu` pool; those trainings run in parallel, one per GPU, and each variant is evaluated as soon as
its training ends.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.deployments import run_deployment
from prefect.futures import PrefectFuture, as_completed
from prefect.states import State

from gan_core import dvc_data, record, stages, tracking
from gan_core.config import PROFILES, Params, UserError
from gan_core.params import load_params
from gan_core.tracking import Registration
from gan_core.train import TrainingDiverged
from gan_core.workspace import Workspace
from flows.training import train, training_processes



@task(name="prepare-data")
def prepare_data(params: Params, ws: Workspace) -> dvc_data.DataVersion:
    """data/ built here (or found), and sent to the DVC remote when one is configured, for the GPU workers' pull."""
    stages.prepare_data(params, ws)
    return dvc_data.push_data(ws)


# registration talks to the tracking server: a transient failure there is worth retrying (it is idempotent)
register_variant = task(name="register", task_run_name="register-{name}", retries=3, retry_delay_seconds=5)(
    stages.register_variant
)


@task(name="train-classifier")
def train_classifier(params: Params, ws: Workspace) -> dict[str, float]:
    return record.run_or_reuse(params, ws, "classifier", run=lambda: stages.build_classifier(params, ws),
                               reuse=lambda: stages.read_metrics(ws, "classifier"))


@task(name="warm-scores")
def warm_scores(params: Params, ws: Workspace, names: list[str]) -> list[str]:
    return stages.warm_scores(params, ws, names)


@task(name="evaluate", task_run_name="evaluate-{name}")
def evaluate_variant(params: Params, ws: Workspace, name: str, training: stages.TrainRecord
                     ) -> stages.EvaluationRecord:
    return record.run_or_reuse(params, ws, record.stage_name("evaluate", name),
                               run=lambda: stages.evaluate_variant(params, ws, name, training),
                               reuse=lambda: stages.read_evaluation(ws, name))


@task(name="theory")
def theory(params: Params, ws: Workspace) -> dict[str, float]:
    return record.run_or_reuse(params, ws, "theory", run=lambda: stages.theory_checks(params, ws),
                               reuse=lambda: stages.read_metrics(ws, "theory"))


@task(name="report")
def write_report(params: Params, ws: Workspace, trainings: dict[str, stages.TrainRecord]) -> str:
    return record.run_or_reuse(params, ws, "report", run=lambda: stages.write_report(params, ws, list(trainings), trainings),
                               reuse=lambda: ws.report.read_text())


# seconds between two looks at a dispatched training's state (a cheap API read; the default is 5)
DISPATCH_POLL_SECONDS = 2


# a training whose machine died is dispatched again this many times (each on whichever worker is free)
CRASHED_TRAINING_RETRIES = 2


class RemoteTrainingFailed(Exception):
    """A training flow run of the training deployment did not complete (diverged, crashed, or was cancelled)."""


class RemoteTrainingCrashed(RemoteTrainingFailed):
    """The training's flow run was Crashed: its worker or machine died (flows/work_pools.py marks a flow run whose
    heartbeats stopped). Another worker can take it over: it resumes from the checkpoint stored in its MLflow run."""


def _crashed(task: object, task_run: object, state: State) -> bool:
    """Retry only a crash: a diverged or cancelled training would end the same way again."""
    return isinstance(state.result(raise_on_failure=False), RemoteTrainingCrashed)


@task(name="dispatch-training", task_run_name="train-{name}-on-{deployment}", retries=CRASHED_TRAINING_RETRIES,
      retry_condition_fn=_crashed)
def train_remotely(deployment: str, params: Params, ws: Workspace, name: str, version: dvc_data.DataVersion,
                   params_path: str) -> stages.TrainRecord:
    """Run the training deployment for one variant (a worker of its pool picks it up), wait for it, and fetch the
    training it stored in its MLflow run. A crashed training is dispatched again (a new flow run, which a live
    worker takes)."""
    run = run_deployment(deployment, as_subflow=True, poll_interval=DISPATCH_POLL_SECONDS, parameters={
        "name": name, "data_md5": version.md5, "profile": params.shared.profile, "params_path": params_path,
    })
    if not run.state.is_completed():
        failed = RemoteTrainingCrashed if run.state.is_crashed() else RemoteTrainingFailed
        raise failed(f"training by deployment '{deployment}' ended {run.state.name} "
                     f"({run.state.message}); see flow run {run.name} ({run.id})")
    return stages.stored_training(params, ws, name)


@flow(name="gan-pipeline")
def gan_pipeline(
    variants: list[str] | None = None, profile: str | None = None, params_path: str = "params.yaml",
    training_deployment: str | None = None,
) -> dict[str, Registration]:
    """Train, evaluate and register each variant (default: all in params.yaml) on the given profile.

    The trainings run side by side in processes of their own, as many as the cores allow (flows/training.py), and
    each variant is evaluated and registered here as soon as its training ends. `training_deployment`
    ("flow/deployment", e.g. "train-variant/gpu"): train through it instead, on the workers of its pool.
    """
    params, names = validated(params_path, profile, variants)
    ws = Workspace(Path(params_path).resolve().parent)
    version = prepare_data(params, ws)
    # a new store's tables created here once: training processes opening it side by side would race to migrate it
    tracking.configure(ws.root, params.tracking.experiment)
    with contextlib.ExitStack() as stack:
        if training_deployment:
            trainings_of = {name: train_remotely.submit(training_deployment, params, ws, name, version, params_path)
                            for name in names}
        else:
            runner = stack.enter_context(training_processes(len(names)))
            trainings_of = {name: runner.submit(train, parameters={"params": params, "ws": ws, "name": name})
                            for name in names}
        # while the first trainings run: the readers of the later ones' scores, then theory (the report, at the end,
        # depends on every metrics/ file, theory's included)
        train_classifier(params, ws)
        warm_scores(params, ws, names)
        theory(params, ws)
        trainings, registrations, diverged = _evaluated_and_registered(params, ws, names, trainings_of)
    if registrations:
        report = write_report(params, ws, {name: trainings[name] for name in registrations})
        create_markdown_artifact(report + "\n" + registry_table(registrations), key="gan-comparison",
                                 description="Metrics of this run's variants and their registry versions")
    if diverged:  # the flow run ends FAILED, naming each variant, its step and loss; nothing of theirs registered
        raise UserError("; ".join(f"{name}: {message}" for name, message in diverged.items()))
    return registrations


def _evaluated_and_registered(params: Params, ws: Workspace, names: list[str],
                              trainings_of: dict[str, PrefectFuture]
                              ) -> tuple[dict[str, stages.TrainRecord], dict[str, Registration], dict[str, str]]:
    """Each variant evaluated and registered when its training ends: (trainings, registrations, {diverged variant:
    why})."""
    trainings, registrations, diverged = {}, {}, {}
    name_of = {future: name for name, future in trainings_of.items()}
    for future in as_completed(list(trainings_of.values())):  # in the order they end, not the order they started
        name = name_of[future]
        try:
            trainings[name] = future.result()
        except (TrainingDiverged, RemoteTrainingFailed) as err:  # its runs are FAILED; the other variants go on
            diverged[name] = str(err)
            continue
        evaluate_variant(params, ws, name, trainings[name])
        registrations[name] = register_variant(params, ws, name, trainings[name])
        get_run_logger().info(summary_line(ws, name, registrations[name]))
    order = {name: i for i, name in enumerate(names)}  # the caller's order, for the report and the table
    return trainings, dict(sorted(registrations.items(), key=lambda item: order[item[0]])), diverged


def validated(params_path: str, profile: str | None, variants: list[str] | None) -> tuple[Params, list[str]]:
    params = load_params(params_path, profile=profile)
    names = variants or list(params.variants)
    for name in names:
        params.variant(name)
    return params, names


def summary_line(ws: Workspace, name: str, registration: Registration) -> str:
    """One variant's outcome: its score beside its floor (and untrained/baseline values), its registry version and
    its MLflow run."""
    score = stages.read_evaluation(ws, name)["score"]
    beside = ", ".join(f"{part.replace('_', ' ')} {value:.4g}" for part, value in score.items() if part != "value")
    r = registration
    return (f"{name}: {r.metric} {r.score:.4g}{f' ({beside})' if beside else ''}; {r.name} version {r.version} "
            f"(champion: version {r.champion_version}); run {tracking.run_url(r.run_id)}")


def registry_table(registrations: dict[str, Registration]) -> str:
    lines = ["| registered model | version | score (lower is better) | champion version |", "|---|---|---|---|"]
    for r in registrations.values():
        lines.append(f"| {r.name} | {r.version} | {r.metric} {r.score:.4g} | {r.champion_version} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", help="variants to train (default: every block in params.yaml)")
    parser.add_argument("--profile", choices=PROFILES, help="override shared.profile")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        validated(args.params, args.profile, args.variants)  # fail before a server or an MLflow run starts
        registrations = gan_pipeline(args.variants, args.profile, args.params)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ws = Workspace(Path(args.params).resolve().parent)
    print("\n" + ws.report.read_text() + "\n" + registry_table(registrations))
    experiment = tracking.configure(ws.root, load_params(args.params).tracking.experiment)
    print(f"Sample grids: {ws.root / 'samples'}/.  Runs, best score first (a local store: after `make ui`): "
          f"{tracking.runs_table_url(experiment)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
