"""The shape of a task, and the name -> task registry.

A variant's role names its task (`Variant.task`); the task module of that name, `gan_core/tasks/<name>.py`,
registers its class with `@register_task` when imported: one at a time by `get_task` (audio or text tasks bring
heavy libraries), all of them by `all_tasks` (gan_core/params.py, which needs every task's settings).
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from PIL import Image
from torch import Tensor

from gan_core.config import Blocks, Params
from gan_core.variants import Variant, get_variant_class
from gan_core.workspace import Workspace

_TASKS: dict[str, type[Task]] = {}


@dataclass(frozen=True)
class Evaluation:
    """What evaluating one trained generator gives: numbers, pictures and sounds, all logged to its MLflow run."""

    # must hold the task's `score`; companions `<key>_real_floor` (real data measured the same way), `<key>_untrained`
    # and `<key>_baseline` (a non-learned method) sit beside a metric in the report
    metrics: dict[str, float | int]
    images: dict[str, Image.Image]  # "samples" (required): samples/<variant>/samples.png; others <key>.png beside it
    audio: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)  # float32 waveform in [-1, 1], rate in Hz


class Task(ABC):
    """One kind of problem: its data (`spec`, `batches`), its evaluation and the requests its generators serve."""

    name: ClassVar[str]
    # the variants' role class (gan_core/variants/base.py): it declares every method the task calls on a variant
    role: ClassVar[type[Variant]]
    # the task's own blocks of params.yaml, validated by their models (gan_core/config.py, `Blocks`): e.g. its data
    # source ("data.speech") and its evaluation classifier ("evaluation.speech_classifier"), defaults included
    settings: ClassVar[Blocks] = {}
    Spec: ClassVar[type]  # frozen dataclass of ints and tuples: saved in checkpoints and registered models
    score: ClassVar[str]  # the metric (lower is better) that ranks registered versions and picks `champion`
    report_columns: ClassVar[dict[str, str]]  # metric key -> column title in reports/comparison.md
    data_params: ClassVar[tuple[str, ...]]  # the `data.<key>` settings it reads: logged as its runs' params
    packages: ClassVar[tuple[str, ...]] = ()  # pip packages its served models need beyond torch, mlflow, numpy, ...

    def __init__(self, params: Params, ws: Workspace, device: torch.device) -> None:
        self.params = params
        self.ws = ws
        self.device = device

    @abstractmethod
    def spec(self) -> Any:
        """The data's shapes (an instance of `Spec`) that the variants size their networks by."""

    @abstractmethod
    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Any]:
        """Endless shuffled training batches on `self.device`, their order drawn from `generator` alone."""

    @abstractmethod
    def evaluate(self, trained: Variant, untrained: Variant, seed: int) -> Evaluation:
        """Every metric of `trained` on held-out data, beside the same metric of `untrained` (and floors/baselines)."""

    @abstractmethod
    def scorer(self, seed: int) -> Callable[[Variant], float]:
        """The cheap form of `score` that training computes every `eval_every` steps (and keeps the best generator
        by): the same measure on at most `evaluation.in_training.samples` held-out examples, lower is better, its
        reference prepared once here."""

    @abstractmethod
    def data_summary(self) -> dict[str, Any]:
        """What its model card says of the data a generator learnt from: counts per split, classes, speakers."""

    def limits(self, summary: dict[str, Any]) -> list[str]:
        """The known limits of a generator trained on data of `summary` (its model card's last section)."""
        data = self.params.data.model_dump(mode="json", include=set(self.data_params), exclude_none=True)
        return [f"It learnt from this data only ({data}): inputs unlike it give outputs unlike anything it learnt."]

    @abstractmethod
    def preview(self, variant: Variant, seed: int) -> Tensor:
        """A row of about ten outputs (K, C, H, W) in [0, 1] for the comparison image (sounds: their mels)."""

    # ---- serving: what the registered model (an MLflow pyfunc) accepts and answers; no data needed --------------

    @classmethod
    @abstractmethod
    def signature(cls, spec: Any) -> ModelSignature: ...

    @classmethod
    @abstractmethod
    def input_example(cls, spec: Any) -> pd.DataFrame | dict[str, Any]:
        """A request logged with the model (MLflow checks it against the signature)."""

    @classmethod
    @abstractmethod
    def predict(cls, variant: Variant, model_input: pd.DataFrame | dict, params: dict[str, Any] | None) -> np.ndarray:
        """Answer one request; a bad request raises MlflowException(INVALID_PARAMETER_VALUE) (served as a 4xx)."""

    @classmethod
    def spec_from_dict(cls, values: dict[str, Any]) -> Any:
        """The Spec back from its saved form (lists become the tuples they were)."""
        return cls.Spec(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def register_task(cls: type[Task]) -> type[Task]:
    if cls.role.task != cls.name:
        raise TypeError(f"task {cls.name}: its role {cls.role.__name__} belongs to the task '{cls.role.task}'")
    _TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task]:
    if name not in _TASKS:
        importlib.import_module(f"gan_core.tasks.{name}")
    return _TASKS[name]


def all_tasks() -> list[type[Task]]:
    """Every task, by name: each module of this package imported."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "base":
            importlib.import_module(f"gan_core.tasks.{module.name}")
    return [_TASKS[name] for name in sorted(_TASKS)]


def task_of(variant: str) -> type[Task]:
    """The task class of a variant name."""
    return get_task(get_variant_class(variant).task)
