"""What every noise -> image GAN shares: its settings and the seed article's training step.

A subclass builds `nets["G"]` and `nets["D"]` and says how they read and write images (`generate`,
`discriminate`); the step below is then the article's loop, whatever the architecture:
(1) D on a batch of fakes, target 0; (2) D on a batch of reals, target 1; (3) G through D with target 1 while
D's parameters are frozen (its backward only carries the gradient on to G).
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from gan_core.config import VariantConfig
from gan_core.data import ImageBatch, ImageSpec
from gan_core.losses import GeneratorLoss, discriminator_bce, generator_bce
from gan_core.nn.modes import evaluating, frozen
from gan_core.optim import adam
from gan_core.speed import SpeedOptions, as_input, autocast, place_nets
from gan_core.variants.base import ImageGenerator, TorchVariant


class UnconditionalConfig(VariantConfig):
    noise_dim: PositiveInt = 32
    lr: PositiveFloat = 2e-4  # mlp: 1e-3 learns faster but degrades past ~5k steps (FID 38 -> 316 by 30k)
    betas: tuple[float, float] = (0.5, 0.999)
    generator_loss: GeneratorLoss = "non_saturating"
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0)
    speed: SpeedOptions = SpeedOptions()


class UnconditionalGAN(TorchVariant, ImageGenerator):
    config: UnconditionalConfig

    def __init__(self, config: UnconditionalConfig, spec: ImageSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        self.nets = place_nets(self.build_nets(), config.speed, device)
        self.optims = {k: adam(net.parameters(), config.lr, config.betas, device) for k, net in self.nets.items()}

    @abstractmethod
    def build_nets(self) -> dict[str, nn.Module]:
        """{"G": ..., "D": ...} for `self.config` and `self.spec`."""

    @abstractmethod
    def generate(self, z: Tensor) -> Tensor:
        """Noise (B, noise_dim) -> images (B, C, H, W) in [-1, 1], in the data's shape."""

    @abstractmethod
    def discriminate(self, images: Tensor) -> Tensor:
        """Images in the data's shape (B, C, H, W) -> D's logits (B, 1)."""

    def _d_update(self, images: Tensor, real: bool) -> Tensor:
        with autocast(self.config.speed, self.device):
            loss = discriminator_bce(self.discriminate(images), real=real)
        self.optims["D"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["D"].step()
        return loss.detach()

    def train_step(self, batch: ImageBatch) -> dict[str, Tensor]:
        z = torch.randn(batch.images.shape[0], self.config.noise_dim, device=self.device)

        # (1) D on a batch of fakes, target 0 (G is not trained here: no graph through G)
        with torch.no_grad(), autocast(self.config.speed, self.device):
            fakes = self.generate(z)
        d_fake = self._d_update(fakes, real=False)

        # (2) D on a batch of reals, target 1
        d_real = self._d_update(as_input(batch.images, self.config.speed), real=True)

        # (3) G through D with target "real"; D is frozen so its backward only carries the gradient to G
        with frozen(self.nets["D"]):
            with autocast(self.config.speed, self.device):
                g_loss = generator_bce(self.discriminate(self.generate(z)), self.config.generator_loss)
            self.optims["G"].zero_grad(set_to_none=True)
            g_loss.backward()
            self.optims["G"].step()
        return {"loss_d_fake": d_fake, "loss_d_real": d_real, "loss_g": g_loss.detach()}

    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        z = torch.randn(n, self.config.noise_dim, generator=generator, device=generator.device)
        with evaluating(self.nets["G"]):
            return self.generate(z.to(self.device))
