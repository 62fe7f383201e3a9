"""`mlp`: the seed article's GAN in PyTorch, three linear layers each for G and D.

G: z -> Linear -> ReLU -> Linear -> ReLU -> Linear -> tanh -> image in [-1, 1]
D: image -> Linear -> LeakyReLU(0.2) -> Linear -> LeakyReLU(0.2) -> Linear -> logit (D = sigmoid(logit))
Trained with the article's step (gan_core/variants/unconditional.py).
"""

from __future__ import annotations

import math

from pydantic import PositiveInt
from torch import Tensor, nn

from gan_core.variants.base import register
from gan_core.variants.unconditional import UnconditionalConfig, UnconditionalGAN


class MLPConfig(UnconditionalConfig):
    hidden: PositiveInt = 256


def generator_net(noise_dim: int, hidden: int, pixels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(noise_dim, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, pixels), nn.Tanh(),
    )


def discriminator_net(pixels: int, hidden: int, leaky_slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(pixels, hidden), nn.LeakyReLU(leaky_slope),
        nn.Linear(hidden, hidden), nn.LeakyReLU(leaky_slope),
        nn.Linear(hidden, 1),
    )


@register
class MLPGAN(UnconditionalGAN):
    name = "mlp"
    Config = MLPConfig
    config: MLPConfig

    def build_nets(self) -> dict[str, nn.Module]:
        c, pixels = self.config, math.prod(self.spec.image_shape)
        return {"G": generator_net(c.noise_dim, c.hidden, pixels), "D": discriminator_net(pixels, c.hidden, c.leaky_slope)}

    def generate(self, z: Tensor, G: nn.Module) -> Tensor:
        return G(z).view(-1, *self.spec.image_shape)

    def discriminate(self, images: Tensor) -> Tensor:
        return self.nets["D"](images.flatten(1))
