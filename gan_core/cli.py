"""`python -m gan_core <stage>`: the stage commands `dvc.yaml` runs, one per pipeline stage.

`python -m gan_core params` prints every setting with the value a run uses (params.yaml over the code's defaults).

User mistakes (bad params, missing files) print one line per problem and exit with code 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from gan_core.config import UserError
from gan_core.params import load_params
from gan_core.workspace import Workspace

STAGES = ("data", "classifier", "train", "evaluate", "register", "report", "theory")
COMMANDS = (*STAGES, "params")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=COMMANDS)
    parser.add_argument("variants", nargs="*", help="variant names (train, evaluate, register, report); "
                                                     "default for report: every variant in params.yaml")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--profile", choices=("quick", "full"), help="override shared.profile")
    parser.add_argument("--if-missing", action="store_true", help="data: build only when a source is absent")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        run_stage(args.stage, args.variants, Path(args.params), args.profile, args.if_missing)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def run_stage(stage: str, variants: list[str], params_path: Path, profile: str | None, if_missing: bool = False) -> None:
    params = load_params(params_path, profile=profile)
    if stage == "params":
        print(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False), end="")
        return
    from gan_core import stages  # only once the params are valid, so a bad params file fails fast
    ws = Workspace(params_path.resolve().parent)
    names = variants or list(params.variants)
    for name in names:
        params.variant(name)  # unknown names fail here, before any stage runs
    if stage == "data":
        version = stages.prepare_data(params, ws) if if_missing else stages.build_data(params, ws)
        print(f"data/ is the version data.dvc records ({version.md5})" if version.matches_dvc else
              f"data/ is not the version data.dvc records ({version.md5}): `dvc add data` records it")
    elif stage == "classifier":
        print(json.dumps(stages.build_classifier(params, ws)))
    elif stage == "report":
        stages.write_report(params, ws, names)
        print(ws.report.read_text())  # the file's text: its pictures are links, not the returned data: URIs
    elif stage == "theory":
        print(json.dumps(stages.theory_checks(params, ws), indent=2))
    else:
        if not variants:
            raise UserError(f"'{stage}' needs variant names; configured: {', '.join(params.variants)}")
        for name in names:
            result = {"train": stages.train_variant, "evaluate": stages.evaluate_variant,
                      "register": stages.register_variant}[stage](params, ws, name)
            print(f"{stage} {name}: {result}")
