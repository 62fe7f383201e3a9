"""`pix2pix`: paired image-to-image translation (Isola et al., CVPR 2017), the slides' "the condition is an image".

G: U-Net (gan_core/nn/unet.py) from the source image to the target image; no noise input: its randomness is
dropout, which stays on at inference as in the paper (`dropout_at_inference`; false gives one fixed output).
Batch norm uses its running statistics at inference (the paper uses the test batch's): a translated image then
does not depend on the other images of its request.
D: conditional PatchGAN (gan_core/nn/patchgan.py) on [source, target] stacked as channels: one logit per patch.
A source smaller than the target (8x8 UCI digits -> 32x32 bitmaps) is upsampled by pixel repetition (nearest),
which keeps its values exactly and invents nothing, before it enters G or D.

Objective (paper, eq. 4): G* = arg min_G max_D L_cGAN(G, D) + lambda * L1(y, G(x)), lambda = 100;
D's loss is halved (the paper's "divide the objective by 2 while optimizing D"); G uses the non-saturating
form -log D(x, G(x)). Adam lr 2e-4, betas (0.5, 0.999); weights ~ N(0, 0.02).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from gan_core.config import UserError, VariantConfig
from gan_core.data.pairs import PairBatch, PairSpec
from gan_core.losses import discriminator_bce, generator_bce
from gan_core.nn.init import normal_init
from gan_core.nn.modes import evaluating, frozen
from gan_core.nn.patchgan import patch_discriminator
from gan_core.nn.unet import UNet
from gan_core.optim import adam
from gan_core.variants.base import Direction, PairedTranslator, TorchVariant, register


class Pix2PixConfig(VariantConfig):
    base_channels: PositiveInt = 64      # G's first encoder layer (the paper's C64); capped at 8x deeper down
    d_base_channels: PositiveInt = 64    # D's first layer (C64)
    # D's stride-2 convolutions; None: log2(size) - 5, at least 1: 3 at 256 px (the paper's 70x70 patches),
    # 1 at 32 or 64 px (16x16 patches)
    d_downsamplings: PositiveInt | None = None
    l1_weight: float = Field(100.0, ge=0.0)  # lambda of the paper
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    dropout_layers: int = Field(3, ge=0)     # the innermost decoder layers that drop (3 in the paper)
    dropout_at_inference: bool = True
    lr: PositiveFloat = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


@register
class Pix2Pix(TorchVariant, PairedTranslator):
    name = "pix2pix"
    Config = Pix2PixConfig
    config: Pix2PixConfig
    spec: PairSpec

    def __init__(self, config: Pix2PixConfig, spec: PairSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        (c_in, h, w), (c_out, size, size_w) = spec.source_shape, spec.target_shape
        if size != size_w or size < 4 or size & (size - 1) or h != w or size % h:
            raise UserError(f"pix2pix needs square power-of-two targets (at least 4 px) whose size is a multiple "
                            f"of the source's; got source {h}x{w}, target {size}x{size_w}")
        depth = int(math.log2(size))  # down to 1x1, as the paper's 256 px net
        d_downsamplings = config.d_downsamplings or max(1, depth - 5)
        self.nets = {
            "G": UNet(c_in, c_out, depth, config.base_channels, config.dropout, config.dropout_layers),
            "D": patch_discriminator(c_in + c_out, config.d_base_channels, d_downsamplings),
        }
        for net in self.nets.values():
            net.apply(normal_init).to(device)
        self.optims = {k: adam(net.parameters(), config.lr, config.betas, device)
                       for k, net in self.nets.items()}

    def _upsampled(self, source: Tensor) -> Tensor:
        size = self.spec.target_shape[1]
        return source if source.shape[-1] == size else F.interpolate(source, size=size, mode="nearest")

    def train_step(self, batch: PairBatch) -> dict[str, Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        source = self._upsampled(batch.source)
        fake = G(source)

        # D: real pairs -> 1, generated pairs -> 0 (no graph into G), the sum halved
        d_real = discriminator_bce(D(torch.cat([source, batch.target], dim=1)), real=True)
        d_fake = discriminator_bce(D(torch.cat([source, fake.detach()], dim=1)), real=False)
        self.optims["D"].zero_grad(set_to_none=True)
        ((d_real + d_fake) / 2).backward()
        self.optims["D"].step()

        # G: fool the updated D (frozen here) and stay near the target in L1
        with frozen(D):
            g_adversarial = generator_bce(D(torch.cat([source, fake], dim=1)), "non_saturating")
            g_l1 = F.l1_loss(fake, batch.target)
            self.optims["G"].zero_grad(set_to_none=True)
            (g_adversarial + self.config.l1_weight * g_l1).backward()
            self.optims["G"].step()
        return {"loss_d_real": d_real.detach(), "loss_d_fake": d_fake.detach(),
                "loss_g": g_adversarial.detach(), "loss_l1": g_l1.detach()}

    def translate(self, images: Tensor, direction: Direction = "AtoB",
                  generator: torch.Generator | None = None) -> Tensor:
        """Sources (n, *source_shape) in [-1, 1] -> translations (n, *target_shape) in [-1, 1].

        Dropout draws from `generator` (a seed taken from it) when `dropout_at_inference`, else it is off.
        """
        self._check_direction(direction)
        G = self.nets["G"]
        seed = (int(torch.randint(2 ** 62, (1,), generator=generator, device=generator.device))
                if generator is not None else None)
        devices = [self.device] if self.device.type == "cuda" else []
        with evaluating(G), torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if self.config.dropout_at_inference:  # the paper's noise: dropout stays on, batch norm does not
                for module in G.modules():
                    if isinstance(module, nn.Dropout):
                        module.train()
            if seed is not None:
                torch.manual_seed(seed)
            return G(self._upsampled(images.to(self.device)))
