"""How the flow lays out trainings on a machine's cores (flows/training.py)."""

from __future__ import annotations

import pytest

from flows.training import layout


@pytest.mark.parametrize(("trainings", "cores", "expected"), [
    (8, 2, (2, 1)),    # the 2-core default: two trainings side by side, one thread each
    (8, 16, (8, 2)),   # every training its own process, the cores left over as threads
    (1, 2, (1, 2)),    # one training takes every core
    (3, 8, (3, 2)),
])
def test_one_training_per_core_and_the_rest_as_threads(trainings, cores, expected):
    assert layout(trainings, cores) == expected
