"""The one shape every GAN has, and the name -> class registry.

A variant builds its networks and optimizers, does one training step, and runs its generator (how depends on
its task: `sample` for image generation, `translate`, `vocode`, ...). It never opens files, logs or reads
params.yaml: the training loop, its task (data, evaluation, serving) and tracking do that for every variant alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from gan_core.config import ParamsError, VariantConfig

_REGISTRY: dict[str, type[Variant]] = {}


@dataclass(frozen=True)
class GeneratorExport:
    """A generator as the registry ships it: a weights file, the models-from-code file that samples from it,
    and the pip packages that file needs."""

    weights: Path
    model_code: Path
    packages: tuple[str, ...]


class Variant(ABC):
    """One GAN. Subclasses set `name`, `Config` and `task` and are registered by `@register`."""

    name: ClassVar[str]
    Config: ClassVar[type[VariantConfig]]
    task: ClassVar[str]  # the gan_core.tasks module that gives its data, evaluates it and serves it

    def __init__(self, config: VariantConfig, spec: Any, device: torch.device) -> None:
        self.config = config
        self.spec = spec  # the task's Spec: the data's shapes the networks are sized by
        self.device = device

    @abstractmethod
    def train_step(self, batch: Any) -> dict[str, Tensor]:
        """One optimisation step on a batch of the task's data; returns the losses as 0-d tensors (left on the
        device)."""

    def set_total_steps(self, steps: int) -> None:
        """Called by the train loop before the first step (and again on resume) with the run's total step count,
        for schedules that depend on it (cyclegan's linear learning-rate decay); most variants ignore it."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything training needs to continue: networks and optimizers."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    @abstractmethod
    def generator_state(self) -> dict[str, Any]:
        """What sampling needs (the generator's weights): the part that is shipped to the registry."""

    @abstractmethod
    def load_generator_state(self, state: dict[str, Any]) -> None: ...

    def export_generator(self, directory: Path) -> GeneratorExport | None:
        """Write the generator for the registry into `directory`; None: the torch pyfunc of gan_core.tracking."""
        return None


class TorchVariant(Variant):
    """A variant made of torch modules (`self.nets`) and optimizers (`self.optims`); `self.nets["G"]` samples."""

    nets: dict[str, nn.Module]
    optims: dict[str, torch.optim.Optimizer]

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {k: m.state_dict() for k, m in self.nets.items()},
            "optims": {k: o.state_dict() for k, o in self.optims.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.nets.items():
            m.load_state_dict(state["nets"][k])
        for k, o in self.optims.items():
            o.load_state_dict(state["optims"][k])

    def generator_state(self) -> dict[str, Any]:
        return {"G": self.nets["G"].state_dict()}

    def load_generator_state(self, state: dict[str, Any]) -> None:
        self.nets["G"].load_state_dict(state["G"])


class ImageGenerator(Variant):
    """A variant of the image-generation task (gan_core/tasks/generation.py): noise (and a label) in, image out."""

    task = "generation"
    # True when `sample` follows requested class labels (evaluation then scores class accuracy and intra-class FID)
    conditional: ClassVar[bool] = False

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        """`n` images (n, C, H, W) in [-1, 1] from the generator alone; `labels` (n,) for conditional variants."""


Direction = Literal["AtoB", "BtoA"]


class UnpairedTranslator(Variant):
    """A variant of the unpaired translation task (gan_core/tasks/unpaired_translation.py): an image of domain A in,
    the same image in domain B's style out, and back; trained without pairs."""

    task = "unpaired_translation"

    @abstractmethod
    def translate(self, images: Tensor, direction: Direction) -> Tensor:
        """Images (N, C, H, W) in [-1, 1] of the source domain -> their translations, same shape, in [-1, 1]."""


class Vocoder(Variant):
    """A variant of the vocoding task (gan_core/tasks/vocoding.py): log-mel frames in, waveform out."""

    task = "vocoding"

    @abstractmethod
    def vocode(self, mel: Tensor) -> Tensor:
        """Log-mel frames (B, n_mels, F) of `gan_core.audio.log_mel` -> waves (B, F * hop) in [-1, 1]."""


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """Labels 0, 1, ..., num_classes - 1, 0, 1, ...: what a conditional variant samples when none are requested."""
    return torch.arange(n, device=device) % num_classes


def register(cls: type[Variant]) -> type[Variant]:
    """Class decorator: makes a variant known by its `name` to params.yaml, the CLI and the flow."""
    _REGISTRY[cls.name] = cls
    return cls


def get_variant_class(name: str) -> type[Variant]:
    if name not in _REGISTRY:
        raise ParamsError(f"unknown variant '{name}'; known variants: {', '.join(variant_names())}")
    return _REGISTRY[name]


def build_variant(name: str, config: dict[str, Any], spec: Any, device: torch.device) -> Variant:
    """A variant rebuilt from a saved config (checkpoint or registered model), untrained until states are loaded."""
    cls = get_variant_class(name)
    return cls(cls.Config.model_validate(config), spec, device)


def variant_names() -> list[str]:
    return sorted(_REGISTRY)
