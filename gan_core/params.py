"""params.yaml as the pipeline reads it: gan_core/config.py's sections, every task's blocks, every variant's block.

The one place that knows all of them, so neither config.py nor a variant or task file has to: each task declares
its blocks (`Task.settings`), each variant its model (`Variant.Config`), and this module joins them.
`python -m gan_core params` prints the result with every default filled in.
"""

from __future__ import annotations

from pathlib import Path

from gan_core import config
from gan_core.tasks import all_tasks
from gan_core.variants import variant_configs


def _task_blocks() -> config.Blocks:
    blocks: dict = {}
    for task in all_tasks():
        for path, block in task.settings.items():
            if path in blocks:
                raise TypeError(f"params block '{path}' is declared by two tasks; each block has one owner")
            blocks[path] = block
    return blocks


# The models of the whole file, bound by the names `with_blocks` gives them (pickle finds them here)
Params = config.with_blocks(config.Params, _task_blocks(), __name__)
DataParams = Params.model_fields["data"].annotation
EvaluationParams = Params.model_fields["evaluation"].annotation


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> config.Params:
    """Read and validate params.yaml; `profile` overrides `shared.profile` when given."""
    return config.read_params(path, Params, variant_configs(), profile)
