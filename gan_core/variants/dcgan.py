"""`dcgan`: Radford et al. (ICLR 2016). Transposed convolutions in G, strided convolutions in D, no pooling,
batch norm in G (and in D after its first layer), ReLU in G, LeakyReLU(0.2) in D, weights ~ N(0, 0.02).

The nets are sized from `resolution` (4 * 2^k px: k upsamplings in G, k stride-2 convolutions in D), which is
the data's size unless set higher: then D sees every image, real or generated, upsampled (bilinear) from the
data's size, and G's output is averaged down to it, so both pass the same path and only capacity changes.
Trained with the article's step (gan_core/variants/unconditional.py).

G, e.g. resolution 16: z -> ConvT(4x4) 2b@4x4 -> ConvT 1b@8x8 -> ConvT C@16x16 -> tanh   (b = base_channels)
D, e.g. resolution 16: C@16x16 -> Conv 1b@8x8 -> Conv 2b@4x4 -> Conv(4x4) -> 1 logit
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import PositiveInt
from torch import Tensor, nn

from gan_core.config import UserError
from gan_core.data import ImageSpec
from gan_core.nn.init import normal_init
from gan_core.variants.base import register
from gan_core.variants.unconditional import UnconditionalConfig, UnconditionalGAN


class DCGANConfig(UnconditionalConfig):
    noise_dim: PositiveInt = 64
    base_channels: PositiveInt = 32
    resolution: Literal[8, 16, 32, 64] | None = None  # None: the data's size


@register
class DCGAN(UnconditionalGAN):
    name = "dcgan"
    Config = DCGANConfig
    config: DCGANConfig

    def __init__(self, config: DCGANConfig, spec: ImageSpec, device: torch.device) -> None:
        _, height, width = spec.image_shape
        if height != width or height < 8 or height & (height - 1):
            raise UserError(f"dcgan needs square images of 8, 16, 32 or 64 px; the data is {height}x{width}")
        self.data_size = height
        self.resolution = config.resolution or height
        if self.resolution < height:
            raise UserError(f"variants.dcgan.resolution = {self.resolution} is below the data's size {height}; "
                            f"accepted: null or {height} and above")
        super().__init__(config, spec, device)

    def build_nets(self) -> dict[str, nn.Module]:
        c, channels = self.config, self.spec.image_shape[0]
        k = int(math.log2(self.resolution // 4))  # stride-2 layers between 4x4 and the resolution
        width = [c.base_channels * 2 ** (k - 1 - i) for i in range(k)]  # G's widths at 4x4, 8x8, ...

        g_layers = [nn.ConvTranspose2d(c.noise_dim, width[0], 4, 1, 0, bias=False), nn.BatchNorm2d(width[0]), nn.ReLU()]
        for w_in, w_out in zip(width, width[1:]):
            g_layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU()]
        g_layers += [nn.ConvTranspose2d(width[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]

        d_width = width[::-1]  # D mirrors G: widest at 4x4
        d_layers = [nn.Conv2d(channels, d_width[0], 4, 2, 1, bias=False), nn.LeakyReLU(c.leaky_slope)]
        for w_in, w_out in zip(d_width, d_width[1:]):
            d_layers += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out),
                         nn.LeakyReLU(c.leaky_slope)]
        d_layers += [nn.Conv2d(d_width[-1], 1, 4, 1, 0, bias=False)]

        nets = {"G": nn.Sequential(*g_layers), "D": nn.Sequential(*d_layers)}
        for net in nets.values():
            net.apply(normal_init)
        return nets

    def generate(self, z: Tensor, G: nn.Module) -> Tensor:
        images = G(z[:, :, None, None])  # (B, C, resolution, resolution)
        if self.resolution != self.data_size:
            images = F.adaptive_avg_pool2d(images, self.data_size)
        return images

    def discriminate(self, images: Tensor) -> Tensor:
        if self.resolution != self.data_size:
            images = F.interpolate(images, size=self.resolution, mode="bilinear", align_corners=False)
        return self.nets["D"](images).view(-1, 1)
