"""The PatchGAN discriminator of pix2pix and CycleGAN (Isola et al. 2017, Zhu et al. 2017).

It classifies every overlapping patch of its input as real or fake and outputs one logit per patch, so it
judges texture and local structure and leaves global agreement to the L1 or cycle loss.
The paper's 70x70 net (for 256 px) has 3 stride-2 convolutions; scaled to small images, `downsamplings`
sets how many, e.g. 2 for 32 px (each logit then sees a 34x34 patch) and 1 for 8 px (16x16).

C@HxW -> Conv4 s2 b -> [Conv4 s2 2b, 4b, ...] -> Conv4 s1 -> Conv4 s1 1 logit/patch   (b = base_channels)
"""

from __future__ import annotations

from typing import Literal

from torch import nn

Norm = Literal["batch", "instance"]


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    # instance norm (CycleGAN) normalises each image alone; batch norm (pix2pix) across the batch
    return nn.InstanceNorm2d(channels, affine=True) if kind == "instance" else nn.BatchNorm2d(channels)


def patch_discriminator(in_channels: int, base_channels: int = 64, downsamplings: int = 3,
                        norm: Norm = "batch") -> nn.Sequential:
    """(B, in_channels, H, W) -> (B, 1, H', W') patch logits; no norm after the first conv (as in the papers)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2)]
    channels = base_channels
    for i in range(1, downsamplings + 1):
        stride = 2 if i < downsamplings else 1  # the last widening conv keeps the size, as in the 70x70 net
        out = base_channels * min(2 ** i, 8)
        layers += [nn.Conv2d(channels, out, 4, stride, 1, bias=False), norm_layer(norm, out), nn.LeakyReLU(0.2)]
        channels = out
    layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
    return nn.Sequential(*layers)
