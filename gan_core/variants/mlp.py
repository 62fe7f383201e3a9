"""`mlp`: the seed article's GAN in PyTorch, three linear layers each for G and D.

G: z -> Linear -> ReLU -> Linear -> ReLU -> Linear -> tanh -> image in [-1, 1]
D: image -> Linear -> LeakyReLU(0.2) -> Linear -> LeakyReLU(0.2) -> Linear -> logit (D = sigmoid(logit))

One step is the article's loop: (1) D on fakes, t = 0; (2) D on reals, t = 1; (3) G through D with t = 1 while
D's parameters are frozen (its backward only passes the gradient on to G).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from gan_core.config import VariantConfig
from gan_core.losses import GeneratorLoss, discriminator_bce, generator_bce
from gan_core.variants.base import Batch, DataSpec, TorchVariant, register


class MLPConfig(VariantConfig):
    noise_dim: PositiveInt = 32
    hidden: PositiveInt = 256
    lr: PositiveFloat = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    generator_loss: GeneratorLoss = "non_saturating"
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0)


def generator_net(noise_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(noise_dim, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, out_dim), nn.Tanh(),
    )


def discriminator_net(in_dim: int, hidden: int, slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.LeakyReLU(slope),
        nn.Linear(hidden, hidden), nn.LeakyReLU(slope),
        nn.Linear(hidden, 1),
    )


@register
class MLPGAN(TorchVariant):
    name = "mlp"
    Config = MLPConfig
    config: MLPConfig

    def __init__(self, config: MLPConfig, spec: DataSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        pixels = math.prod(spec.image_shape)
        self.nets = {
            "G": generator_net(config.noise_dim, config.hidden, pixels).to(device),
            "D": discriminator_net(pixels, config.hidden, config.leaky_slope).to(device),
        }
        # foreach Adam: one fused kernel launch per parameter group instead of one per tensor
        self.optims = {
            k: torch.optim.Adam(net.parameters(), lr=config.lr, betas=config.betas, foreach=True)
            for k, net in self.nets.items()
        }

    def _generate(self, z: Tensor) -> Tensor:
        return self.nets["G"](z).view(-1, *self.spec.image_shape)

    def _d_update(self, images: Tensor, real: bool) -> Tensor:
        loss = discriminator_bce(self.nets["D"](images.flatten(1)), real=real)
        self.optims["D"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["D"].step()
        return loss.detach()

    def train_step(self, batch: Batch) -> dict[str, Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        z = torch.randn(batch.images.shape[0], self.config.noise_dim, device=self.device)

        # (1) D on a batch of fakes, target 0 (G is not trained here: detach)
        with torch.no_grad():
            fakes = self._generate(z)
        d_fake = self._d_update(fakes, real=False)

        # (2) D on a batch of reals, target 1
        d_real = self._d_update(batch.images, real=True)

        # (3) G through D with target "real"; D is frozen so its backward only carries the gradient to G
        D.requires_grad_(False)
        g_loss = generator_bce(D(self._generate(z).flatten(1)), self.config.generator_loss)
        self.optims["G"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optims["G"].step()
        D.requires_grad_(True)
        return {"loss_d_fake": d_fake, "loss_d_real": d_real, "loss_g": g_loss.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        z = torch.randn(n, self.config.noise_dim, generator=generator, device=generator.device)
        return self._generate(z.to(self.device))
