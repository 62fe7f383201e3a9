"""Sweeps: the search space file's checks, the study's bookkeeping, and whole sweeps through `python -m flows.sweep`
(trials side by side in processes of their own, pruned on their in-training score, a killed one failed, a re-run
continuing the study)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from gan_core import sweep, tracking
from gan_core.config import ParamsError
from gan_core.params import load_params
from tests.conftest import REPO, make_project, run_cli, store_of, tiny_params

SPACE = {
    "variant": "dcgan",
    "space": {
        "lr": {"low": 1.0e-4, "high": 2.0e-3, "log": True},
        "betas": {"choices": [[0.5, 0.999], [0.0, 0.99]]},
        "speed.channels_last": {"choices": [True, False]},
    },
}


def write_space(path: Path, space: dict) -> Path:
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


@pytest.fixture
def params():
    return load_params(REPO / "params.yaml")


@pytest.mark.parametrize("change, message", [
    ({"space": {"lr": {"low": 1e-3, "high": 1e-4}}}, "'space.lr': low 0.001 is not below high 0.0001: an empty range"),
    ({"space": {"learning_rate": {"low": 1e-4, "high": 1e-3}}}, "'space.learning_rate' is not a setting of dcgan; "
                                                                "searchable settings: "),
    ({"space": {"lr": {"low": -1e-3, "high": 1e-3, "log": True}}}, "'space.lr': a log scale needs low > 0; it is -0.001"),
    ({"space": {"steps.quick": {"low": 10, "high": 20}}}, "'space.steps.quick' is the sweep's yardstick, not searched"),
    ({"space": {"lr": {"low": 0, "high": 1e-3}}}, "'space.lr': 0.0 is not accepted by variants.dcgan.lr "
                                                  "(Input should be greater than 0)"),
    ({"space": {"diff_augment": {"choices": [["color"], ["blur"]]}}}, "'space.diff_augment': ['blur'] is not accepted"),
    ({"space": {"lr": {"low": 1e-4, "hi": 1e-3}}}, "unknown key 'space.lr.hi'; accepted keys here: low, high, log"),
    ({"space": {}}, "'space' must map settings of dcgan"),
    ({"variant": "gan"}, "'variant' = 'gan' is not a variant; known variants: "),
    ({"sampler": {"seed": -1}}, "'sampler.seed' = -1 is invalid"),
    ({"pruner": {"kind": "asha"}}, "'pruner.kind' = 'asha' is invalid"),
    ({"budget": 3}, "unknown key 'budget'; accepted keys here: variant, space, sampler, pruner"),
])
def test_a_bad_space_is_one_line_naming_the_key(tmp_path, params, change, message) -> None:
    path = write_space(tmp_path / "space.yaml", {**SPACE, **change})
    with pytest.raises(ParamsError) as raised:
        sweep.load_space(path, params)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(path) in str(raised.value)


def test_the_cli_refuses_a_bad_space_before_anything_starts(tmp_path) -> None:
    path = write_space(tmp_path / "space.yaml", {**SPACE, "space": {"lr": {"low": 1e-3, "high": 1e-4}}})
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result = run_cli(sys.executable, "-m", "flows.sweep", str(path), "--trials", "2", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {path}: 'space.lr': low 0.001 is not below high 0.0001: "
                                                  f"an empty range"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "space.yaml"]  # no study, no store, no run


def test_every_variant_has_a_search_space_that_checks(params) -> None:
    for name in params.variants:
        space = sweep.load_space(REPO / "sweeps" / f"{name}.yaml", params)
        assert space.variant == name
        assert space.sampled(sweep.current_values(params, space)) is not None, f"{name}: its settings lie outside"


def test_choices_of_any_value_go_through_optuna_and_back(tmp_path, params) -> None:
    space = sweep.load_space(write_space(tmp_path / "space.yaml", SPACE), params)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(12):
        values = space.values(study.ask(space.distributions()).params)
        trial_params = sweep.with_settings(params, "dcgan", values)
        config = trial_params.variant("dcgan")
        assert tuple(config.betas) in {(0.5, 0.999), (0.0, 0.99)} and 1e-4 <= config.lr <= 2e-3
        assert config.speed.channels_last is values["speed.channels_last"]
        assert trial_params.variant("mlp") == params.variant("mlp")  # the other variants as they were
        seen.add(tuple(config.betas))
    assert len(seen) == 2
    assert space.sampled({"lr": 3e-3, "betas": [0.5, 0.999], "speed.channels_last": True}) is None  # out of range


def test_a_new_study_starts_with_the_current_settings_and_its_name_follows_space_and_params(tmp_path, params) -> None:
    path = write_space(tmp_path / "space.yaml", SPACE)
    space = sweep.load_space(path, params)
    study = sweep.open_study(space, params, tmp_path)
    trial = study.ask(space.distributions())
    assert space.values(trial.params) == sweep.current_values(params, space) and trial.user_attrs["defaults"]
    assert sweep.open_study(space, params, tmp_path).study_name == study.study_name  # continued
    other = sweep.load_space(write_space(tmp_path / "other.yaml", {**SPACE, "sampler": {"seed": 1}}), params)
    assert sweep.study_name(other, params) != study.study_name
    quick_full = load_params(REPO / "params.yaml", profile="full")
    assert sweep.study_name(space, quick_full) != study.study_name


def test_trials_a_dead_sweep_left_running_are_failed_and_queued_again(tmp_path, params) -> None:
    space = sweep.load_space(write_space(tmp_path / "space.yaml", SPACE), params)
    study = sweep.open_study(space, params, tmp_path)
    first = sweep.ask(study, space, parent_run_id="parent")
    study.tell(first.number, 1.0)
    second = sweep.ask(study, space, parent_run_id="parent")  # its process died: it stays RUNNING

    again = sweep.open_study(space, params, tmp_path)
    assert [t.number for t in sweep.fail_interrupted(again)] == [second.number]
    assert again.trials[second.number].state == TrialState.FAIL
    retry = sweep.ask(again, space, parent_run_id="parent")
    assert retry.values == second.values and again.trials[retry.number].user_attrs["retry_of"] == second.number
    assert [t.number for t in sweep.finished(again)] == [first.number]


def test_the_params_patch_sets_the_best_trial_s_settings(tmp_path, params) -> None:
    space = sweep.load_space(write_space(tmp_path / "space.yaml", SPACE), params)
    study = sweep.open_study(space, params, tmp_path)
    for value in (5.0, 3.0, 4.0):
        study.tell(study.ask(space.distributions()), value)
    patch = sweep.params_patch(study, space, params, study.best_trial)
    assert "trial 1, score_in_training 3; the current settings' trial: 5" in patch
    merged = yaml.safe_load((REPO / "params.yaml").read_text())
    block = merged["variants"]["dcgan"]
    for key, value in yaml.safe_load(patch)["variants"]["dcgan"].items():
        if isinstance(value, dict):
            block.setdefault(key, {}).update(value)
        else:
            block[key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merged))
    patched = load_params(tmp_path / "params.yaml")
    assert sweep.current_values(patched, space) == space.values(study.best_trial.params)
    assert "dvc exp run -S 'variants.dcgan.lr=" in patch


# ---- whole sweeps -------------------------------------------------------------------------------------------------

def sweep_project(root: Path) -> Path:
    """A tiny dcgan project scored every 50 of its 300 steps, and a space where a low learning rate is far behind."""
    params = tiny_params()
    params["variants"] = {"dcgan": {**params["variants"]["dcgan"], "lr": 2e-3, "eval_every": 50}}
    make_project(root, params)
    write_space(root / "space.yaml", {
        "variant": "dcgan", "sampler": {"seed": 0, "startup_trials": 2},
        "pruner": {"kind": "median", "startup_trials": 1, "warmup_scores": 1},
        "space": {"lr": {"choices": [2e-3, 1e-5]}, "base_channels": {"low": 8, "high": 16}},
    })
    return root


def sweep_command(root: Path, trials: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flows.sweep", str(root / "space.yaml"), "--trials", str(trials),
            "--params", str(root / "params.yaml"), *extra]


def study_of(root: Path) -> optuna.Study:
    (name,) = optuna.get_all_study_names(sweep.storage(root))
    return optuna.load_study(study_name=name, storage=sweep.storage(root))


@pytest.mark.e2e
def test_a_sweep_prunes_registers_the_best_continues_its_study_and_outlives_a_killed_trial(tmp_path: Path) -> None:
    root = sweep_project(tmp_path / "project")
    store = store_of(root)
    run_cli(*sweep_command(root, 4, "--parallel", "1"), cwd=REPO, MLFLOW_TRACKING_URI=store)

    study = study_of(root)
    trials = study.get_trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) + [t.state for t in trials].count(TrialState.PRUNED) == 4
    slow = [t for t in trials if t.params["lr"] == 1e-5]
    assert slow and all(t.state == TrialState.PRUNED for t in slow)  # behind the median from its second score on
    assert trials[0].user_attrs["defaults"] and trials[0].state == TrialState.COMPLETE

    client = MlflowClient(store)
    (parent,) = client.search_runs(["1"], "tags.kind = 'sweep'")
    children = {int(r.data.tags[tracking.SWEEP_TRIAL_TAG]): r
                for r in client.search_runs(["1"], f"tags.`{tracking.PARENT_RUN_TAG}` = '{parent.info.run_id}'")}
    trained = [t for t in trials if sweep.DUPLICATE_OF not in t.user_attrs]  # a repeat is not trained again
    assert sorted(children) == [t.number for t in trained]
    for t in trials:
        if sweep.DUPLICATE_OF in t.user_attrs:
            original = trials[t.user_attrs[sweep.DUPLICATE_OF]]
            assert (t.state, t.value, t.params) == (original.state, original.value, original.params)
            continue
        run = children[t.number]
        assert run.data.params["lr"] == str(t.params["lr"])  # the setting's own name, as on every variant's runs
        assert run.info.status == ("KILLED" if t.state == TrialState.PRUNED else "FINISHED")
        assert run.data.metrics[sweep.BEST_SCORE] == min(t.intermediate_values.values())  # pruned ones too
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "score_in_training")]
        assert steps == [step for step, _ in sorted(t.intermediate_values.items())]
    best = study.best_trial
    assert parent.data.metrics["best_score_in_training"] == best.value
    versions = client.search_model_versions("name='gan-dcgan'")
    assert [v.run_id for v in versions] == [children[best.number].info.run_id]  # the winner, evaluated and registered
    patch = yaml.safe_load((root / "reports" / "sweeps" / study.study_name / "best-params.yaml").read_text())
    assert patch["variants"]["dcgan"] == best.params

    # the same command again runs nothing
    again = run_cli(*sweep_command(root, 4, "--parallel", "1"), cwd=REPO, MLFLOW_TRACKING_URI=store)
    assert "0 trials to run" in again.stdout + again.stderr
    assert len(client.search_runs(["1"], "tags.kind = 'sweep'")) == 1  # the same sweep run, continued

    # another study of the project, two trials at once, unpruned: one is killed while it trains; it is failed in
    # Optuna and MLflow, and another trial takes its place
    write_space(root / "kill.yaml", {"variant": "dcgan", "pruner": {"kind": "none"},
                                     "space": {"lr": {"low": 1e-3, "high": 3e-3, "log": True}}})
    command = [*sweep_command(root, 2), "--parallel", "2"]
    command[3] = str(root / "kill.yaml")
    log = (tmp_path / "sweep.log").open("w")
    sweeping = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "MLFLOW_TRACKING_URI": store})
    try:
        assert _wait_for(lambda: len(optuna.get_all_study_names(sweep.storage(root))) == 2)
        (other,) = set(optuna.get_all_study_names(sweep.storage(root))) - {study.study_name}
        victim = _first_trial_training(store, other)
        subprocess.run(["pkill", "-KILL", "-f", f"flows.trial .*\"study\": \"{other}\", \"number\": {victim},"],
                       check=True)
        assert sweeping.wait(timeout=300) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if sweeping.poll() is None:
            sweeping.send_signal(signal.SIGKILL)
    killed_study = optuna.load_study(study_name=other, storage=sweep.storage(root))
    assert killed_study.trials[victim].state == TrialState.FAIL
    assert len(sweep.finished(killed_study)) == 2
    (killed,) = client.search_runs(["1"], f"tags.`{tracking.SWEEP_STUDY_TAG}` = '{other}' and "
                                          f"tags.`{tracking.SWEEP_TRIAL_TAG}` = '{victim}'")
    assert killed.info.status == "FAILED"


def _wait_for(condition, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _first_trial_training(store: str, study: str, timeout: float = 180) -> int:
    """The number of the first trial of `study` whose MLflow run is training (running, a score logged)."""
    client = MlflowClient(store)
    found: list[int] = []

    def training() -> bool:
        runs = client.search_runs(["1"], f"attributes.status = 'RUNNING' and tags.`{tracking.SWEEP_STUDY_TAG}` = "
                                         f"'{study}'")
        found[:] = [int(r.data.tags[tracking.SWEEP_TRIAL_TAG]) for r in runs if "score_in_training" in r.data.metrics]
        return bool(found)

    assert _wait_for(training, timeout), f"no trial of {study} started training"
    return found[0]
