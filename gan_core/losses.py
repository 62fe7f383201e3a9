"""GAN losses, written on logits (D's pre-sigmoid output) so the sigmoid and the log are fused and stable.

D(x) = sigmoid(logit) is the probability that x is real (the paper's convention; the slides' simplified part
uses the opposite labels). BCE(logit, t) = -[t log D + (1 - t) log(1 - D)].
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GeneratorLoss = Literal["minimax", "non_saturating"]


def discriminator_bce(logits: Tensor, real: bool) -> Tensor:
    """D's loss on one batch: target t = 1 for real images, t = 0 for generated ones."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def generator_bce(fake_logits: Tensor, kind: GeneratorLoss) -> Tensor:
    """G's loss on D's logits for generated images.

    minimax:        G descends mean log(1 - D(G(z))) = -BCE(logit, 0)  (saturates while D wins easily)
    non_saturating: G descends mean -log D(G(z))     =  BCE(logit, 1)  (Goodfellow et al.'s practical choice)
    """
    if kind == "minimax":
        return -discriminator_bce(fake_logits, real=False)
    return discriminator_bce(fake_logits, real=True)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, 0.5 (mu^2 + exp(logvar) - 1 - logvar) per
    dimension, averaged over batch and dimensions (as the StackGAN authors' code does): 0 only for mu = 0,
    logvar = 0, and independent of the condition's width."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()
