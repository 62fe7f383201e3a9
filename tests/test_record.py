"""One record for DVC and Prefect: a stage's fingerprint follows dvc.yaml, the committed dvc.lock is current, and
after the flow `dvc status` is clean and `dvc repro` runs nothing (and the other way round)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

from gan_core import record
from gan_core.params import load_params
from gan_core.workspace import Workspace
from tests.conftest import REPO, make_project, run_cli, set_param, store_of, tiny_params


def test_the_committed_dvc_lock_is_current() -> None:
    """Run `make run` (or `dvc repro`) and commit dvc.lock whenever this fails: it names what changed."""
    stale = record.stale_stages(Workspace(REPO))
    assert not stale, "dvc.lock is stale:\n" + "\n".join(stale)


def test_a_training_fingerprint_is_what_dvc_yaml_says_it_depends_on(tmp_path: Path, bundled_data: Path) -> None:
    root = make_project(tmp_path / "project", data=bundled_data)
    ws = Workspace(root)

    def fingerprint(params: dict) -> str:
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        return record.stage_record(load_params(root / "params.yaml"), ws, "train@mlp").fingerprint

    params = tiny_params()
    first = fingerprint(params)
    assert fingerprint(params) == first
    # values other than both params.yaml's and the code's defaults
    # the in-training score's settings too: it picks the generator a training keeps
    for path, value in [(("variants", "mlp", "lr"), 0.123), (("shared", "seed"), 7), (("tracking", "log_every"), 7),
                        (("data", "speech", "takes"), 7), (("evaluation", "in_training", "samples"), 7),
                        (("evaluation", "classifier", "epochs"), 7)]:
        other = copy.deepcopy(params)
        set_param(other, path, value)
        assert fingerprint(other) != first, path
    other = copy.deepcopy(params)
    set_param(other, ("evaluation", "kid_subsets"), 7)  # the final evaluation's alone: the trained model stays valid
    set_param(other, ("variants", "dcgan", "lr"), 0.123)  # another variant's block
    assert fingerprint(other) == first

    append(root / "gan_core" / "stages.py")  # the stages' glue: not what a training computes
    assert fingerprint(params) == first
    for edited in (root / "gan_core" / "variants" / "mlp.py", root / "gan_core" / "evaluate" / "image_metrics.py",
                   root / "data" / "digits" / "extra.txt"):
        append(edited)
        assert fingerprint(params) != first, edited
        first = fingerprint(params)


def append(path: Path) -> None:
    with path.open("a") as file:
        file.write("# a change\n")


@pytest.mark.e2e
def test_after_the_flow_dvc_status_is_clean_and_dvc_repro_runs_nothing(tmp_path, bundled_data, prefect_harness,
                                                                       monkeypatch) -> None:
    from flows.pipeline import gan_pipeline

    params = tiny_params()
    params["variants"] = {"mlp": {**params["variants"]["mlp"], "steps": {"quick": 300, "full": 300}}}
    root = make_project(tmp_path / "project", params, bundled_data)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_of(root))

    def dvc(*args: str) -> str:
        return run_cli(sys.executable, "-m", "dvc", *args, cwd=root, MLFLOW_TRACKING_URI=store_of(root)).stdout

    first = gan_pipeline(params_path=str(root / "params.yaml"))["mlp"]
    assert "up to date" in dvc("status")
    assert "Running stage" not in dvc("repro")
    again = gan_pipeline(params_path=str(root / "params.yaml"))["mlp"]  # everything reused, nothing registered twice
    assert (again.version, again.newly_registered) == (first.version, False)

    # the other way round: a change DVC reproduces is what the flow then finds already made
    params["variants"]["mlp"]["lr"] /= 2
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "Running stage 'train@mlp'" in dvc("repro")
    trained = (root / "models" / "mlp" / "checkpoint.pt").read_bytes()
    third = gan_pipeline(params_path=str(root / "params.yaml"))["mlp"]
    assert (third.version, third.newly_registered) == (2, True)  # DVC's training, registered by the flow...
    assert (root / "models" / "mlp" / "checkpoint.pt").read_bytes() == trained  # ...and not trained again
    assert "up to date" in dvc("status")
