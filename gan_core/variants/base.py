"""The one shape every GAN has, the role of each task, and the name -> class registry.

A variant builds its networks and optimizers, does one training step, and runs its generator. How it runs its
generator is its task's business: each task has a role class here that declares exactly what the task calls on
its variants (`ImageGenerator.sample`, `PairedTranslator.translate`, `TextToImageGenerator.generate_stages`, ...),
and every variant subclasses the role of its task, which also gives it `task`. A variant never opens files, logs
or reads params.yaml: the training loop, its task (data, evaluation, serving) and tracking do that for every
variant alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

import torch
from torch import Tensor, nn

from gan_core.config import ParamsError, VariantConfig
from gan_core.speed import CapturedStep

_REGISTRY: dict[str, type[Variant]] = {}


@dataclass(frozen=True)
class GeneratorExport:
    """A generator as the registry ships it: a weights file, the models-from-code file that samples from it,
    and the pip packages that file needs."""

    weights: Path
    model_code: Path
    packages: tuple[str, ...]


class Variant(ABC):
    """One GAN. Subclasses set `name` and `Config`, subclass their task's role (which sets `task`) and are
    registered by `@register`."""

    name: ClassVar[str]
    Config: ClassVar[type[VariantConfig]]
    task: ClassVar[str]  # the gan_core.tasks module that gives its data, evaluates it and serves it
    config: VariantConfig
    spec: Any  # the task's Spec: the data's shapes the networks are sized by
    device: torch.device

    def __init__(self, config: VariantConfig, spec: Any, device: torch.device) -> None:
        self.config = config
        self.spec = spec
        self.device = device

    @abstractmethod
    def train_step(self, batch: Any) -> dict[str, Tensor]:
        """One optimisation step on a batch of the task's data; returns the losses as 0-d tensors (left on the
        device)."""

    def step_function(self) -> Callable[[Any], dict[str, Tensor]]:
        """What the training loop calls on each batch: `train_step`, or its CUDA-graph capture when the variant's
        `speed.cuda_graph` is on (gan_core/speed.py)."""
        speed = getattr(self.config, "speed", None)
        if speed is not None and speed.cuda_graph:
            return CapturedStep(self.train_step, self.device)
        return self.train_step

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
    """A variant made of torch modules (`self.nets`) and optimizers (`self.optims`); `self.sampler` samples:
    `self.nets["G"]`, or `self.nets["G_ema"]`, the average of G's weights, when the variant keeps one
    (gan_core/nn/ema.py)."""

    nets: dict[str, nn.Module]
    optims: dict[str, torch.optim.Optimizer]

    @property
    def sampler(self) -> nn.Module:
        return self.nets.get("G_ema", self.nets["G"])

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
        return {"G": self.sampler.state_dict()}

    def load_generator_state(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["G"])


# ---- roles: one per task, declaring what that task calls on its variants ------------------------------------

class ImageGenerator(Variant):
    """The role of the image-generation task (gan_core/tasks/generation.py): noise (and a label) in, image out."""

    task = "generation"
    # True when `sample` follows requested class labels (evaluation then scores class accuracy and intra-class FID)
    conditional: ClassVar[bool] = False

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        """`n` images (n, C, H, W) in [-1, 1] from the generator alone; `labels` (n,) for conditional variants."""


Direction = Literal["AtoB", "BtoA"]


class Translator(Variant):
    """What both translation roles share: one `translate`, whatever the task."""

    directions: ClassVar[tuple[Direction, ...]]  # the directions a translator of the role was trained for

    @abstractmethod
    def translate(self, images: Tensor, direction: Direction = "AtoB",
                  generator: torch.Generator | None = None) -> Tensor:
        """Images (N, C, h, w) in [-1, 1] of the source domain -> their translations (N, C', H, W) in [-1, 1].
        `generator` draws what the translator leaves to chance (pix2pix's dropout; None: torch's global stream);
        a deterministic translator ignores it. Raises ValueError for a direction not in `directions`."""

    def _check_direction(self, direction: str) -> None:
        if direction not in self.directions:
            raise ValueError(f"{self.name} translates {' and '.join(self.directions)}; got direction {direction!r}")


class PairedTranslator(Translator):
    """The role of the paired translation task (gan_core/tasks/paired_translation.py): trained on aligned pairs, it
    translates one way (`data.paired.aligned.direction` chooses which half of the pairs is A)."""

    task = "paired_translation"
    directions = ("AtoB",)


class UnpairedTranslator(Translator):
    """The role of the unpaired translation task (gan_core/tasks/unpaired_translation.py): an image of domain A in,
    the same image in domain B's style out, and back; trained without pairs."""

    task = "unpaired_translation"
    directions = ("AtoB", "BtoA")


class TextToImageGenerator(Variant):
    """The role of the text-to-image task (gan_core/tasks/text_to_image.py): sentence vectors in, images out."""

    task = "text_to_image"

    @abstractmethod
    def generate_stages(self, embeddings: Tensor, generator: torch.Generator) -> tuple[Tensor, ...]:
        """The images of every stage, coarsest first (a one-stage generator returns one), for sentence vectors
        (N, E); each (N, C, H_s, W_s) in [-1, 1] and independent of the rest of its request."""

    def generate(self, embeddings: Tensor, generator: torch.Generator) -> Tensor:
        """The answer: the last stage's images (N, C, H, W) in [-1, 1], one per sentence vector in `embeddings`."""
        return self.generate_stages(embeddings, generator)[-1]


class Vocoder(Variant):
    """The role of the vocoding task (gan_core/tasks/vocoding.py): log-mel frames in, waveform out."""

    task = "vocoding"

    @abstractmethod
    def vocode(self, mel: Tensor) -> Tensor:
        """Log-mel frames (B, n_mels, F) of `gan_core.audio.log_mel` -> waves (B, F * hop) in [-1, 1]."""


ROLES: tuple[type[Variant], ...] = (ImageGenerator, PairedTranslator, UnpairedTranslator, TextToImageGenerator,
                                    Vocoder)


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """Labels 0, 1, ..., num_classes - 1, 0, 1, ...: what a conditional variant samples when none are requested."""
    return torch.arange(n, device=device) % num_classes


def register(cls: type[Variant]) -> type[Variant]:
    """Class decorator: makes a variant known by its `name` to params.yaml, the CLI and the flow."""
    if not any(issubclass(cls, role) for role in ROLES):
        raise TypeError(f"variant {cls.__name__} subclasses no role ({', '.join(r.__name__ for r in ROLES)}): its "
                        f"task would call methods it never promised")
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


def variant_configs() -> dict[str, type[VariantConfig]]:
    """Each registered variant's params model, by name: what `variants.<name>` in params.yaml is validated against."""
    return {name: _REGISTRY[name].Config for name in variant_names()}
