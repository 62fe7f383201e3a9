"""`cyclegan`: unpaired image-to-image translation (Zhu et al., ICCV 2017).

Two generators, G_AB: A -> B and G_BA: B -> A (ResNet generators, gan_core/nn/resnet_generator.py), and two
PatchGAN discriminators with instance norm, D_A (real A vs G_BA's images) and D_B (real B vs G_AB's images).
No pair of images is ever linked: a batch holds independent images of A and of B.

One step, as in the paper (LSGAN loss, gan_core/losses.py: least_squares):
  G (D frozen):  adversarial  LS(D_B(G_AB(a)), 1) + LS(D_A(G_BA(b)), 1)
                 + cycle      cycle_weight * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)
                 + identity   identity_weight * cycle_weight * (|G_AB(b) - b|_1 + |G_BA(a) - a|_1)
                 [+ semantic  semantic_weight * (CE(C(G_AB(a)), class of a) + CE(C(G_BA(b)), class of b))]
  D_A, D_B:      (LS(D(real), 1) + LS(D(pooled fake), 0)) / 2, the fakes drawn through an image history pool
  [C:            CE(C(real a and b), their classes)]
Adam for both generators together and both discriminators together; the learning rate is constant, then decays
linearly to 0 from `decay_start_fraction` of the run (the paper: 100 epochs constant, 100 decaying).

Sizes are scaled to the images: the generator keeps a bottleneck of at least 4x4, the PatchGAN uses
`min(3, log2(size) - 2)` stride-2 layers (8 px: 1, each of its 2x2 logits sees a 16x16 window; 256 px: the
paper's 3, 70x70 patches).

The bracketed terms are off unless `semantic_weight` > 0 (the config's default 0 is the paper's CycleGAN;
params.yaml turns them on). Cycle consistency is met just
as well by an invertible relabelling (every 1 drawn as a 2, every 2 drawn back as a 1) as by keeping the content,
and on the digits it often is. CyCADA (Hoffman et al., ICML 2018) adds a semantic-consistency loss: a classifier C
must read a translation as the class of its source. Here C learns the classes from real images of both domains,
never from translations, so G can only satisfy it by drawing digits that read as that class. This needs images with
classes in both domains (the bundled digits); a user's trainA/ trainB/ folders have none.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from gan_core.config import UserError, VariantConfig
from gan_core.data import ImageSpec
from gan_core.data.unpaired import UnpairedBatch
from gan_core.image_pool import ImagePool
from gan_core.losses import least_squares
from gan_core.nn.init import normal_init
from gan_core.nn.modes import evaluating, frozen
from gan_core.nn.patchgan import patch_discriminator
from gan_core.nn.resnet_generator import paper_residual_blocks, resnet_generator, scaled_downsamplings
from gan_core.optim import adam
from gan_core.variants.base import Direction, TorchVariant, UnpairedTranslator, register


class CycleGANConfig(VariantConfig):
    """Defaults are Zhu et al.'s (section 4 and appendix 7.1) unless noted."""

    batch_size: PositiveInt = 1
    generator_channels: PositiveInt = 64  # width after the generator's 7x7 stem
    residual_blocks: PositiveInt | None = None  # None: the paper's 6 (9 from 256 px)
    discriminator_channels: PositiveInt = 64
    lr: PositiveFloat = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    cycle_weight: float = Field(10.0, ge=0.0)  # lambda_cyc
    identity_weight: float = Field(0.5, ge=0.0)  # the identity loss weighs identity_weight * cycle_weight
    pool_size: int = Field(50, ge=0)  # images in each history pool; 0: D sees only the latest fakes
    decay_start_fraction: float = Field(0.5, ge=0.0, le=1.0)  # share of the steps before the linear LR decay
    semantic_weight: float = Field(0.0, ge=0.0)  # CyCADA's semantic-consistency loss (module docstring); 0: off


def class_reader(channels: int, num_classes: int) -> nn.Sequential:
    """C of the semantic-consistency loss: a small CNN, image -> class logits (any image size)."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64 * 2 * 2, num_classes),
    )


@register
class CycleGAN(TorchVariant, UnpairedTranslator):
    name = "cyclegan"
    Config = CycleGANConfig
    config: CycleGANConfig

    def __init__(self, config: CycleGANConfig, spec: ImageSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        channels, height, width = spec.image_shape
        if height != width or height < 8 or height & (height - 1):
            raise UserError(f"cyclegan needs square images of 8, 16, 32, 64, ... px; the data is {height}x{width}")
        blocks = config.residual_blocks or paper_residual_blocks(height)
        d_downsamplings = min(3, int(math.log2(height)) - 2)

        def generator() -> nn.Module:
            return resnet_generator(channels, config.generator_channels, scaled_downsamplings(height), blocks)

        def discriminator() -> nn.Module:
            return patch_discriminator(channels, config.discriminator_channels, d_downsamplings, norm="instance")

        self.nets = {"G_AB": generator(), "G_BA": generator(), "D_A": discriminator(), "D_B": discriminator()}
        for net in self.nets.values():
            net.apply(partial(normal_init, zero_bias=True)).to(device)  # Zhu et al., appendix 7.1

        def optimizer_of(*names: str) -> torch.optim.Adam:
            return adam([p for name in names for p in self.nets[name].parameters()], config.lr, config.betas, device)

        self.optims = {"G": optimizer_of("G_AB", "G_BA"), "D": optimizer_of("D_A", "D_B")}
        self.total_steps: int | None = None  # set by the train loop; until then the learning rate stays constant
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lambda step: self._lr_factor(step))
                           for k, o in self.optims.items()}
        if config.semantic_weight > 0:
            if spec.num_classes < 2:
                raise UserError("variants.cyclegan.semantic_weight > 0 needs images with classes in both domains "
                                "(the bundled digits); a user's trainA/ trainB/ folders have none: set it to 0")
            self.nets["C"] = class_reader(channels, spec.num_classes).to(device)
            self.optims["C"] = optimizer_of("C")  # constant learning rate: C only has to keep up with the data
        # the pools' seeds come from torch's seeded global stream, so one run seed fixes them too
        self.pools = {k: ImagePool(config.pool_size, int(torch.randint(2**62, ()).item())) for k in ("A", "B")}

    def set_total_steps(self, steps: int) -> None:
        self.total_steps = steps

    def _lr_factor(self, step: int) -> float:
        """1 before the decay starts, then linearly down to 0 at the last step."""
        if self.total_steps is None:
            return 1.0
        start = round(self.config.decay_start_fraction * self.total_steps)
        if step < start:
            return 1.0
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - start))

    def train_step(self, batch: UnpairedBatch) -> dict[str, Tensor]:
        G_AB, G_BA, D_A, D_B = (self.nets[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
        c = self.config
        real_a, real_b = batch.a, batch.b

        # ---- generators, discriminators (and C) frozen: their backward only carries the gradient on ----
        losses = {}
        with frozen(D_A, D_B, *[self.nets[k] for k in ("C",) if k in self.nets]):
            fake_b, fake_a = G_AB(real_a), G_BA(real_b)
            cycle = (F.l1_loss(G_BA(fake_b), real_a), F.l1_loss(G_AB(fake_a), real_b))
            identity = (F.l1_loss(G_AB(real_b), real_b), F.l1_loss(G_BA(real_a), real_a)) if c.identity_weight > 0 \
                else (torch.zeros((), device=self.device),) * 2
            g_ab, g_ba = least_squares(D_B(fake_b), real=True), least_squares(D_A(fake_a), real=True)
            g_loss = g_ab + g_ba + c.cycle_weight * (sum(cycle) + c.identity_weight * sum(identity))
            if "C" in self.nets:
                semantic = (F.cross_entropy(self.nets["C"](fake_b), batch.labels_a)
                            + F.cross_entropy(self.nets["C"](fake_a), batch.labels_b))
                g_loss = g_loss + c.semantic_weight * semantic
                losses["loss_semantic"] = (semantic / 2).detach()
            self.optims["G"].zero_grad(set_to_none=True)
            g_loss.backward()
            self.optims["G"].step()

        # ---- discriminators on real images and on fakes from the history pools; halved as in the paper ----
        pooled_a, pooled_b = self.pools["A"].query(fake_a), self.pools["B"].query(fake_b)
        d_a = (least_squares(D_A(real_a), real=True) + least_squares(D_A(pooled_a), real=False)) / 2
        d_b = (least_squares(D_B(real_b), real=True) + least_squares(D_B(pooled_b), real=False)) / 2
        self.optims["D"].zero_grad(set_to_none=True)
        (d_a + d_b).backward()
        self.optims["D"].step()

        if "C" in self.nets:  # C learns the classes from real images only
            logits = self.nets["C"](torch.cat([real_a, real_b]))
            loss_c = F.cross_entropy(logits, torch.cat([batch.labels_a, batch.labels_b]))
            self.optims["C"].zero_grad(set_to_none=True)
            loss_c.backward()
            self.optims["C"].step()
            losses["loss_classifier"] = loss_c.detach()

        for scheduler in self.schedulers.values():
            scheduler.step()
        return {**losses,
            "loss_d_a": d_a.detach(), "loss_d_b": d_b.detach(),
            "loss_g_ab": g_ab.detach(), "loss_g_ba": g_ba.detach(),
            "loss_cycle": (sum(cycle) / 2).detach(),  # mean L1 of the two round trips, unweighted
            "loss_identity": (sum(identity) / 2).detach(),
        }

    def translate(self, images: Tensor, direction: Direction = "AtoB",
                  generator: torch.Generator | None = None) -> Tensor:
        # no randomness (`generator` unused), and instance norm keeps no running statistics: an image's translation
        # does not depend on the others
        self._check_direction(direction)
        G = self.nets["G_AB" if direction == "AtoB" else "G_BA"]
        with evaluating(G):
            return G(images.to(self.device))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "pools": {k: p.state_dict() for k, p in self.pools.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k], self.device)

    def generator_state(self) -> dict[str, Any]:
        return {k: self.nets[k].state_dict() for k in ("G_AB", "G_BA")}

    def load_generator_state(self, state: dict[str, Any]) -> None:
        for k in ("G_AB", "G_BA"):
            self.nets[k].load_state_dict(state[k])
