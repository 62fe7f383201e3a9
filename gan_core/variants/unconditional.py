"""What every noise -> image GAN shares: its settings and the seed article's training step.

A subclass builds `nets["G"]` and `nets["D"]` and says how they read and write images (`generate`,
`discriminate`); the step below is then the article's loop, whatever the architecture:
(1) D on a batch of fakes, target 0; (2) D on a batch of reals, target 1; (3) G through D with target 1 while
D's parameters are frozen (its backward only carries the gradient on to G). With `diff_augment`, every image D
sees, real or fake, in D's steps and in G's, is first augmented by the same kinds of ops (gan_core/nn/diffaugment.py).
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from gan_core.config import VariantConfig
from gan_core.data import ImageBatch, ImageSpec
from gan_core.losses import GeneratorLoss, discriminator_bce, generator_bce
from gan_core.nn.diffaugment import Op, diff_augment
from gan_core.nn.ema import update_average, weight_average
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
    # decay of an exponential moving average of G's weights that samples and is registered (gan_core/nn/ema.py);
    # 0: G itself
    generator_ema: float = Field(0.0, ge=0.0, lt=1.0)
    # DiffAugment's ops on every image D sees, e.g. [color, translation, cutout] (Zhao et al. 2020); []: none
    diff_augment: tuple[Op, ...] = ()


class UnconditionalGAN(TorchVariant, ImageGenerator):
    config: UnconditionalConfig

    def __init__(self, config: UnconditionalConfig, spec: ImageSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        nets = self.build_nets()
        if config.generator_ema > 0:
            nets["G_ema"] = weight_average(nets["G"])
        self.nets = place_nets(nets, config.speed, device)
        self.optims = {k: adam(self.nets[k].parameters(), config.lr, config.betas, device, config.speed.cuda_graph)
                       for k in ("G", "D")}

    @abstractmethod
    def build_nets(self) -> dict[str, nn.Module]:
        """{"G": ..., "D": ...} for `self.config` and `self.spec`."""

    @abstractmethod
    def generate(self, z: Tensor, G: nn.Module) -> Tensor:
        """Noise (B, noise_dim) -> images (B, C, H, W) in [-1, 1], in the data's shape, drawn by `G` (the trained G
        or its weight average)."""

    @abstractmethod
    def discriminate(self, images: Tensor) -> Tensor:
        """Images in the data's shape (B, C, H, W) -> D's logits (B, 1)."""

    def _d_update(self, images: Tensor, real: bool) -> Tensor:
        with autocast(self.config.speed, self.device):
            loss = discriminator_bce(self.discriminate(diff_augment(images, self.config.diff_augment)), real=real)
        self.optims["D"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["D"].step()
        return loss.detach()

    def train_step(self, batch: ImageBatch) -> dict[str, Tensor]:
        z = torch.randn(batch.images.shape[0], self.config.noise_dim, device=self.device)

        # (1) D on a batch of fakes, target 0 (G is not trained here: no graph through G)
        with torch.no_grad(), autocast(self.config.speed, self.device):
            fakes = self.generate(z, self.nets["G"])
        d_fake = self._d_update(fakes, real=False)

        # (2) D on a batch of reals, target 1
        d_real = self._d_update(as_input(batch.images, self.config.speed), real=True)

        # (3) G through D with target "real"; D is frozen so its backward only carries the gradient to G
        with frozen(self.nets["D"]):
            with autocast(self.config.speed, self.device):
                fakes = diff_augment(self.generate(z, self.nets["G"]), self.config.diff_augment)
                g_loss = generator_bce(self.discriminate(fakes), self.config.generator_loss)
            self.optims["G"].zero_grad(set_to_none=True)
            g_loss.backward()
            self.optims["G"].step()
        if "G_ema" in self.nets:
            update_average(self.nets["G_ema"], self.nets["G"], self.config.generator_ema)
        return {"loss_d_fake": d_fake, "loss_d_real": d_real, "loss_g": g_loss.detach()}

    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        z = torch.randn(n, self.config.noise_dim, generator=generator, device=generator.device)
        with evaluating(self.sampler):
            return self.generate(z.to(self.device), self.sampler)
