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


@register
class MLPGAN(UnconditionalGAN):
    name = "mlp"
    Config = MLPConfig
    config: MLPConfig

    def build_nets(self) -> dict[str, nn.Module]:
        c, pixels = self.config, math.prod(self.spec.image_shape)
        return {
            "G": nn.Sequential(
                nn.Linear(c.noise_dim, c.hidden), nn.ReLU(),
                nn.Linear(c.hidden, c.hidden), nn.ReLU(),
                nn.Linear(c.hidden, pixels), nn.Tanh(),
            ),
            "D": nn.Sequential(
                nn.Linear(pixels, c.hidden), nn.LeakyReLU(c.leaky_slope),
                nn.Linear(c.hidden, c.hidden), nn.LeakyReLU(c.leaky_slope),
                nn.Linear(c.hidden, 1),
            ),
        }

    def generate(self, z: Tensor) -> Tensor:
        return self.nets["G"](z).view(-1, *self.spec.image_shape)

    def discriminate(self, images: Tensor) -> Tensor:
        return self.nets["D"](images.flatten(1))
