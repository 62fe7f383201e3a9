"""What a run records, without training: the evaluation record's shape, the entry point, the UI's links."""

from __future__ import annotations

import pytest

from gan_core import tracking
from gan_core.stages import evaluation_record


def test_the_evaluation_record_groups_each_metric_with_its_floor_untrained_and_baseline_values():
    flat = {"steps": 100, "fid": 30.0, "fid_real_floor": 7.0, "fid_untrained": 3900.0, "l1_baseline": 0.2, "l1": 0.1,
            "real_time_factor_cpu_threads": 2}
    record = evaluation_record(flat, score="fid")
    assert record["fid"] == {"value": 30.0, "real_floor": 7.0, "untrained": 3900.0}
    assert record["score"] == record["fid"] and record["l1"] == {"value": 0.1, "baseline": 0.2}
    assert record["steps"] == {"value": 100} and record["real_time_factor_cpu_threads"] == {"value": 2}
    with pytest.raises(RuntimeError, match="without their metric's own value: psnr"):
        evaluation_record({"fid": 1.0, "psnr_baseline": 20.0}, score="fid")


@pytest.mark.parametrize("env, expected", [
    ({"GAN_ENTRY_POINT": "test", "DVC_STAGE": "train@mlp"}, "test"),  # set explicitly: wins
    ({"DVC_STAGE": "train@mlp"}, "dvc"),  # DVC sets DVC_STAGE for the command of each stage it runs
    ({}, "cli"),
])
def test_a_run_names_its_entry_point(monkeypatch, env, expected):
    for name in ("GAN_ENTRY_POINT", "DVC_STAGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracking.entry_point() == expected
    assert tracking.run_context() == {"entry_point": expected}  # no Prefect flow run here: no flow-run id


def test_the_runs_table_link_sorts_by_score_in_the_machine_learning_view():
    assert tracking.runs_table_url("3", "http://127.0.0.1:5000") == (
        "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
        "&orderByKey=metrics.%60score%60&orderByAsc=true")
