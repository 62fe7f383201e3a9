"""`numpy`: the seed article's GAN written from scratch in NumPy (gan_core/numpy_gan.py), fitted to the shared loop.

This file only translates: torch batches in, NumPy arrays to the core, losses and states back as torch tensors
(so checkpoints load with `weights_only=True`). The registered model is the generator's six arrays in an .npz
file sampled by `gan_core/numpy_pyfunc_entry.py`, with NumPy alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, PositiveFloat, PositiveInt
from threadpoolctl import ThreadpoolController
from torch import Tensor

import gan_core
from gan_core import numpy_gan
from gan_core.config import VariantConfig
from gan_core.data import ImageBatch, ImageSpec
from gan_core.variants.base import GeneratorExport, ImageGenerator, register

# One BLAS thread per step: the GAN's matrices (batch 64 x 128 hidden) are too small to split, and a second
# OpenBLAS thread made training 2.7x slower on 2 cores (2,000 steps: 31.2 s against 11.6 s). Only NumPy's BLAS is
# limited; torch's thread pool is its own.
_THREADPOOLS = ThreadpoolController()

SEED_RANGE = 2**63 - 1  # numpy seeds drawn from torch generators, so the loop's seeding covers this variant too


class NumpyConfig(VariantConfig):
    noise_dim: PositiveInt = 32
    hidden: PositiveInt = 128
    optimizer: Literal["gradient_descent", "adam"] = "adam"  # gradient_descent: the article's update; adam: hand-written
    lr: PositiveFloat = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # adam only
    dtype: Literal["float64", "float32"] = "float64"
    generator_loss: numpy_gan.GeneratorLoss = "non_saturating"
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0)


@register
class NumpyGAN(ImageGenerator):
    name = "numpy"
    Config = NumpyConfig
    config: NumpyConfig

    def __init__(self, config: NumpyConfig, spec: ImageSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        # drawn from torch's global RNG, which the loop seeds: same seed, same initial arrays and noise
        self.rng = np.random.default_rng(_numpy_seed(None))
        dtype = np.dtype(config.dtype).type
        pixels = math.prod(spec.image_shape)
        self.G = numpy_gan.init_params((config.noise_dim, config.hidden, config.hidden, pixels), self.rng, dtype)
        self.D = numpy_gan.init_params((pixels, config.hidden, config.hidden, 1), self.rng, dtype)
        self.optims = {"G": self._optimizer(), "D": self._optimizer()}

    def _optimizer(self) -> numpy_gan.Optimizer:
        if self.config.optimizer == "adam":
            return numpy_gan.Adam(self.config.lr, *self.config.betas)
        return numpy_gan.GradientDescent(self.config.lr)

    def train_step(self, batch: ImageBatch) -> dict[str, Tensor]:
        reals = batch.images.flatten(1).cpu().numpy().astype(self.config.dtype)
        z = self.rng.standard_normal((reals.shape[0], self.config.noise_dim)).astype(self.config.dtype)
        with _THREADPOOLS.limit(limits=1, user_api="blas"):
            losses = numpy_gan.train_step(self.G, self.D, self.optims, reals, z, self.config.generator_loss,
                                          self.config.leaky_slope)
        return {k: torch.tensor(v) for k, v in losses.items()}

    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        images = numpy_gan.generate(self.G, n, np.random.default_rng(_numpy_seed(generator)))
        return torch.from_numpy(images).float().view(n, *self.spec.image_shape).to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {"G": _to_torch(self.G), "D": _to_torch(self.D)},
            "optims": {k: _optimizer_state(o) for k, o in self.optims.items()},
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G, self.D = _to_numpy(state["nets"]["G"]), _to_numpy(state["nets"]["D"])
        for name, optimizer in self.optims.items():
            saved = state["optims"][name]
            if isinstance(optimizer, numpy_gan.Adam):
                optimizer.steps = int(saved["steps"])
                optimizer.m, optimizer.v = _to_numpy(saved["m"]), _to_numpy(saved["v"])
        self.rng.bit_generator.state = state["rng"]

    def generator_state(self) -> dict[str, Any]:
        return {"G": _to_torch(self.G)}

    def load_generator_state(self, state: dict[str, Any]) -> None:
        self.G = _to_numpy(state["G"])

    def export_generator(self, directory: Path) -> GeneratorExport:
        """G's six arrays and the image shape in an .npz: the registered model samples them without torch."""
        weights = directory / "generator.npz"
        np.savez(weights, image_shape=np.array(self.spec.image_shape), **self.G)
        return GeneratorExport(weights=weights, model_code=Path(gan_core.__file__).parent / "numpy_pyfunc_entry.py",
                               packages=("mlflow", "numpy", "pandas"))


def _numpy_seed(generator: torch.Generator | None) -> int:
    """A numpy seed drawn from a torch generator (None: torch's global one), so torch seeding decides it."""
    device = generator.device if generator is not None else None
    return int(torch.randint(SEED_RANGE, (1,), generator=generator, device=device).item())


def _to_torch(arrays: dict[str, np.ndarray]) -> dict[str, Tensor]:
    return {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}


def _to_numpy(tensors: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in tensors.items()}


def _optimizer_state(optimizer: numpy_gan.Optimizer) -> dict[str, Any]:
    if isinstance(optimizer, numpy_gan.Adam):
        return {"steps": optimizer.steps, "m": _to_torch(optimizer.m), "v": _to_torch(optimizer.v)}
    return {}
