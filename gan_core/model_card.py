"""The model card of a registered generator: what it learnt from, how well, what it answers, and where it stops.

Written once per registered version, from its training's MLflow run (params, tags, the evaluation's record) and its
task (the data's counts, the requests it serves): the version's description in the registry and `model_card.md`
in the run's artifacts.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from mlflow.entities import Run

from gan_core.tasks import Task

# an evaluation record's parts (gan_core/stages.py), in the order the card's table shows them
PARTS = {"value": "model", "real_floor": "real-data floor", "untrained": "untrained G", "baseline": "baseline"}


def model_card(registered: str, task: Task, spec: Any, run: Run, record: dict[str, dict[str, float]]) -> str:
    """The card of the generator `registered` trained in `run`, evaluated as `record` (metric -> its parts)."""
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    summary = task.data_summary()
    best = f"; its best in-training score at step {int(metrics['best_step'])}" if "best_step" in metrics else ""
    data = {key.removeprefix("data."): value for key, value in params.items() if key.startswith("data.")}
    lines = [
        f"# {registered}: the `{params.get('variant')}` GAN ({task.name})",
        "",
        "## Training",
        f"- MLflow run `{run.info.run_id}`: profile {params.get('shared.profile')}, seed {params.get('shared.seed')}, "
        f"{params.get('steps')} steps{best}",
        f"- code: commit `{tags.get('mlflow.source.git.commit', 'unknown')}`; trained on host "
        f"`{tags.get('host', 'unknown')}`",
        f"- data: version `{tags.get('data.dvc_md5', 'unknown')}` (data.dvc)"
        + (f", settings {json.dumps(data, sort_keys=True)}" if data else ", the bundled sources"),
        *[f"- {key}: {value}" for key, value in summary.items()],
        "",
        f"## Scores on held-out data (ranked by `{task.score}`, lower is better)",
        "",
        "| metric | " + " | ".join(PARTS.values()) + " |",
        "|---|" + "---|" * len(PARTS),
        *[f"| {metric} | " + " | ".join(_cell(entry.get(part)) for part in PARTS) + " |"
          for metric, entry in record.items() if metric != "score"],
        "",
        "## Requests it answers (MLflow pyfunc, `mlflow models serve`: POST /invocations)",
        f"- the data shape it was built for: {json.dumps(dataclasses.asdict(spec))}",
        f"- inputs: {json.dumps(task.signature(spec).inputs.to_dict())}",
        f"- an example: {_example(task.input_example(spec))}",
        "- a request outside these (a missing or unknown field, a value out of range, a label it lacks) gets a 4xx "
        "that names the field and what is accepted",
        "",
        "## Known limits",
        *[f"- {limit}" for limit in task.limits(summary)],
    ]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _example(example: Any, at_most: int = 200) -> str:
    """An input example as a request's JSON, cut short when long (the whole one is logged with the model)."""
    text = json.dumps(example.to_dict(orient="list") if hasattr(example, "to_dict") else example)
    if len(text) > at_most:
        return f"`{text[:at_most]}...` (in full: the model's `input_example.json`)"
    return f"`{text}`"
