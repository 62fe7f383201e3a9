"""The training pipeline as a Prefect flow: data -> classifier -> train, evaluate, register per variant -> report.

Run it: `python -m flows.pipeline [--variants mlp ...] [--profile quick|full] [--params params.yaml]`.
Scheduled retraining runs this same flow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from gan_core import stages
from gan_core.config import PROFILES, Params, UserError, load_params
from gan_core.tracking import Registration
from gan_core.workspace import Workspace

prepare_data = task(name="prepare-data")(stages.prepare_data)
train_classifier = task(name="train-classifier")(stages.build_classifier)
train_variant = task(name="train", task_run_name="train-{name}")(stages.train_variant)
evaluate_variant = task(name="evaluate", task_run_name="evaluate-{name}")(stages.evaluate_variant)
# registration talks to the tracking server: a transient failure there is worth retrying (it is idempotent)
register_variant = task(name="register", task_run_name="register-{name}", retries=3, retry_delay_seconds=5)(
    stages.register_variant
)
write_report = task(name="report")(stages.write_report)


@flow(name="gan-pipeline")
def gan_pipeline(
    variants: list[str] | None = None, profile: str | None = None, params_path: str = "params.yaml"
) -> dict[str, Registration]:
    """Train, evaluate and register each variant (default: all in params.yaml) on the given profile."""
    params, names = validated(params_path, profile, variants)
    ws = Workspace(Path(params_path).resolve().parent)
    version = prepare_data(params, ws)
    train_classifier(params, ws)
    registrations = {}
    for name in names:
        train_variant(params, ws, name, version.md5)
        evaluate_variant(params, ws, name)
        registrations[name] = register_variant(params, ws, name)
    report = write_report(params, ws, names)
    create_markdown_artifact(report + "\n" + registry_table(registrations), key="gan-comparison",
                             description="Metrics of this run's variants and their registry versions")
    return registrations


def validated(params_path: str, profile: str | None, variants: list[str] | None) -> tuple[Params, list[str]]:
    params = load_params(params_path, profile=profile)
    names = variants or list(params.variants)
    for name in names:
        params.variant(name)
    return params, names


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
    print(f"Sample grids: {ws.root / 'samples'}/.  Browse runs: see README, 'Compare runs in MLflow'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
