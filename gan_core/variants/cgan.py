"""`cgan`: the slides' conditional GAN (Mirza & Osindero, 2014) on the `mlp` variant's networks.

The condition is the class label as a one-hot vector, concatenated to the input of both networks:
G: [z, one_hot(y)] -> Linear -> ReLU -> Linear -> ReLU -> Linear -> tanh -> image in [-1, 1]
D: [image, one_hot(y)] -> Linear -> LeakyReLU -> Linear -> LeakyReLU -> Linear -> logit (D = P(real and matching))

D is trained on the slides' three kinds of pairs, in one forward pass:
  (1) real image + its true label      -> real
  (2) real image + a wrong label       -> fake   (a label drawn uniformly from the other classes)
  (3) generated image + G's label      -> fake   (G is asked for the real batch's labels: the data's class mix)
D's loss is BCE(1) + (BCE(3) + w * BCE(2)) / (1 + w) with w = `wrong_label_weight`: w = 0 is the classic CGAN
(kind (2) is not even computed), w = 1 is the matching-aware D of Reed et al. (2016); params.yaml uses 0.5, the
best FID measured (README). The fake side always weighs as much as the real side, so w changes what D rejects,
not how hard it pushes against G.
G then descends the `mlp` variant's loss through D (frozen) on its images with the labels it was given.

`sample(n, generator, labels)` follows `labels`; without them it draws balanced labels 0, 1, ..., 9, 0, 1, ...
With `generator_ema` > 0 an exponential moving average of G's weights samples and is what gets registered;
`diff_augment` (gan_core/variants/unconditional.py) augments every image D sees.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from gan_core.data import ImageBatch, ImageSpec
from gan_core.losses import discriminator_bce, generator_bce
from gan_core.nn.diffaugment import diff_augment
from gan_core.nn.ema import update_average, weight_average
from gan_core.nn.modes import evaluating, frozen
from gan_core.optim import adam
from gan_core.speed import autocast, place_nets
from gan_core.variants.base import ImageGenerator, TorchVariant, balanced_labels, register
from gan_core.variants.mlp import MLPConfig, discriminator_net, generator_net


class CGANConfig(MLPConfig):
    # weight of kind (2), real image + wrong label -> fake; 0 = the classic CGAN of Mirza & Osindero
    wrong_label_weight: float = Field(0.5, ge=0.0)


class LabelConcat(nn.Module):
    """Runs `net` on [x flattened, one_hot(labels)]: the condition enters as extra input units."""

    def __init__(self, net: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.net = net
        self.num_classes = num_classes

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.net(torch.cat([x.flatten(1), F.one_hot(labels, self.num_classes).to(x.dtype)], dim=1))


@register
class CGAN(TorchVariant, ImageGenerator):
    name = "cgan"
    Config = CGANConfig
    config: CGANConfig
    conditional = True

    def __init__(self, config: CGANConfig, spec: ImageSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        pixels, classes, hidden = math.prod(spec.image_shape), spec.num_classes, config.hidden
        nets = {
            "G": LabelConcat(generator_net(config.noise_dim + classes, hidden, pixels), classes),
            "D": LabelConcat(discriminator_net(pixels + classes, hidden, config.leaky_slope), classes),
        }
        if config.generator_ema > 0:
            nets["G_ema"] = weight_average(nets["G"])
        self.nets = place_nets(nets, config.speed, device)
        self.optims = {k: adam(self.nets[k].parameters(), config.lr, config.betas, device, config.speed.cuda_graph)
                       for k in ("G", "D")}

    def _generate(self, z: Tensor, labels: Tensor, net: nn.Module | None = None) -> Tensor:
        return (net or self.nets["G"])(z, labels).view(-1, *self.spec.image_shape)

    def train_step(self, batch: ImageBatch) -> dict[str, Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        b, classes, w = batch.images.shape[0], self.spec.num_classes, self.config.wrong_label_weight
        z = torch.randn(b, self.config.noise_dim, device=self.device)
        g_labels = batch.labels

        with torch.no_grad(), autocast(self.config.speed, self.device):
            fakes = self._generate(z, g_labels)
        images, labels = [batch.images, fakes], [batch.labels, g_labels]  # kinds (1) and (3)
        if w > 0:
            # kind (2): adding 1..C-1 modulo C always gives another class, each equally likely
            wrong = (batch.labels + torch.randint(1, classes, (b,), device=self.device)) % classes
            images.append(batch.images)
            labels.append(wrong)
        with autocast(self.config.speed, self.device):
            logits = D(diff_augment(torch.cat(images), self.config.diff_augment), torch.cat(labels)).split(b)
            losses = {"loss_d_real": discriminator_bce(logits[0], real=True),
                      "loss_d_fake": discriminator_bce(logits[1], real=False)}
            fake_side = losses["loss_d_fake"]
            if w > 0:
                losses["loss_d_wrong"] = discriminator_bce(logits[2], real=False)
                fake_side = (fake_side + w * losses["loss_d_wrong"]) / (1 + w)
        self.optims["D"].zero_grad(set_to_none=True)
        (losses["loss_d_real"] + fake_side).backward()
        self.optims["D"].step()

        # G through D with target "real" for its labels; D frozen, as in the `mlp` step
        with frozen(D):
            with autocast(self.config.speed, self.device):
                fakes = diff_augment(self._generate(z, g_labels), self.config.diff_augment)
                g_loss = generator_bce(D(fakes, g_labels), self.config.generator_loss)
            self.optims["G"].zero_grad(set_to_none=True)
            g_loss.backward()
            self.optims["G"].step()
        if "G_ema" in self.nets:
            update_average(self.nets["G_ema"], G, self.config.generator_ema)
        return {**{k: v.detach() for k, v in losses.items()}, "loss_g": g_loss.detach()}

    def sample(self, n: int, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            labels = balanced_labels(n, self.spec.num_classes, self.device)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        z = torch.randn(n, self.config.noise_dim, generator=generator, device=generator.device)
        with evaluating(self.sampler):
            return self._generate(z.to(self.device), labels.to(self.device), self.sampler)
