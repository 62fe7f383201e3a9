"""The slides' theory, checked by the numbers the `theory` stage computes with the NumPy GAN."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from gan_core import theory
from gan_core.params import load_params
from gan_core.stages import theory_checks
from gan_core.workspace import Workspace
from tests.conftest import REPO, tiny_params


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """The `theory` stage run once into a throw-away project with its own MLflow store."""
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    shutil.copy(REPO / "data.dvc", root / "data.dvc")  # every run is tagged with the data version it records
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        metrics = theory_checks(load_params(root / "params.yaml"), Workspace(root))
        run = MlflowClient().search_runs(MlflowClient().get_experiment_by_name("gan-pipeline").experiment_id)[0]
        artifacts = [a.path for a in MlflowClient().list_artifacts(run.info.run_id, "theory")]
        js_curve = MlflowClient().get_metric_history(run.info.run_id, "gan_1d_js")
    return {"root": root, "metrics": metrics, "run": run, "artifacts": artifacts, "js_curve": js_curve}


def test_trained_d_is_the_optimal_discriminator(stage):
    assert stage["metrics"]["optimal_d_max_abs_error"] < 0.02


def test_value_at_the_optimum_is_minus_log4_plus_twice_js(stage):
    assert stage["metrics"]["value_at_optimum_max_error"] < 1e-9
    assert abs(stage["metrics"]["value_at_p_g_equal_p_data_plus_log4"]) < 1e-12


def test_value_at_the_optimum_on_edge_cases():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    disjoint = np.array([0.0, 0.0, 0.25, 0.75])
    assert theory.js_divergence(p, disjoint) == pytest.approx(np.log(2))  # JS's maximum
    assert theory.value(p, disjoint, theory.optimal_d(p, disjoint)) == pytest.approx(0.0)  # -log 4 + 2 log 2
    assert theory.value(p, p, theory.optimal_d(p, p)) == pytest.approx(-np.log(4), abs=1e-15)
    # any other D does worse than D*, as D* maximises V
    assert theory.value(p, disjoint, np.full(4, 0.5)) < theory.value(p, disjoint, theory.optimal_d(p, disjoint))


def test_non_saturating_gradient_is_larger_by_1_minus_d_over_d(stage):
    metrics = stage["metrics"]
    assert metrics["saturation_max_d_fake"] < 0.05  # D rejects every fake confidently
    assert metrics["saturation_ratio_max_relative_deviation"] < 1e-9  # measured = (1 - D) / D, sample by sample
    assert metrics["saturation_median_ratio_measured"] > 19  # so minimax's gradient is < 5% of the other


def test_one_d_gan_moves_p_g_onto_p_data(stage):
    metrics = stage["metrics"]
    assert metrics["gan_1d_js_start"] > 0.5  # p_g starts almost disjoint from p_data (log 2 = 0.69 is the max)
    assert metrics["gan_1d_js_end"] < 0.02
    assert len(stage["js_curve"]) == 31


def test_stage_writes_metrics_figure_and_an_mlflow_run(stage):
    root = stage["root"]
    assert json.loads((root / "metrics" / "theory.json").read_text()) == stage["metrics"]
    assert (root / "reports" / "theory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stage["artifacts"] == ["theory/theory.png"]
    assert stage["run"].data.metrics["optimal_d_max_abs_error"] == stage["metrics"]["optimal_d_max_abs_error"]
