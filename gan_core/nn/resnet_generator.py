"""The ResNet image-to-image generator of CycleGAN (Zhu et al. 2017, appendix 7.2; after Johnson et al. 2016).

An image goes in and an image of the same size comes out: a 7x7 stem, stride-2 downsamplings, residual blocks at
the bottleneck, as many stride-2 upsamplings, and a 7x7 output layer with tanh. Reflection padding keeps borders free
of the zero-padding artefacts; instance norm normalises each image alone.

For 256 px the paper uses 2 downsamplings and 9 blocks (6 below 256 px). Scaled to small images here: at most 2
downsamplings and never below a 4x4 bottleneck (8 px: 1, 16 px and up: 2); see `scaled_downsamplings`.

C@HxW -> c7s1-b -> [Conv3 s2 2b, 4b, ...] -> blocks x (Conv3, IN, ReLU, Conv3, IN; + input) -> [ConvT3 s2 ...]
      -> c7s1-C, tanh                                    (b = generator_channels, IN = instance norm)
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gan_core.nn.patchgan import norm_layer


class ResidualBlock(nn.Module):
    """x + F(x) with F = pad, conv3, IN, ReLU, pad, conv3, IN: the block learns a change to its input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), norm_layer("instance", channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), norm_layer("instance", channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def scaled_downsamplings(image_size: int) -> int:
    """The paper's 2 stride-2 layers, fewer when the bottleneck would fall below 4x4 (8 px: 1)."""
    return max(0, min(2, int(math.log2(image_size)) - 2))


def paper_residual_blocks(image_size: int) -> int:
    """Zhu et al.: 9 blocks for 256 px training images, 6 for 128 px and below."""
    return 9 if image_size >= 256 else 6


def resnet_generator(channels: int, base_channels: int, downsamplings: int, blocks: int) -> nn.Sequential:
    """(B, channels, H, W) in any range -> (B, channels, H, W) in [-1, 1]; H and W divisible by 2^downsamplings."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, base_channels, 7, bias=False),
                               norm_layer("instance", base_channels), nn.ReLU()]
    width = base_channels
    for _ in range(downsamplings):
        layers += [nn.Conv2d(width, 2 * width, 3, 2, 1, bias=False), norm_layer("instance", 2 * width), nn.ReLU()]
        width *= 2
    layers += [ResidualBlock(width) for _ in range(blocks)]
    for _ in range(downsamplings):
        layers += [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=False),
                   norm_layer("instance", width // 2), nn.ReLU()]
        width //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)
