"""GAN losses, written on logits (D's pre-sigmoid output) so the sigmoid and the log are fused and stable.
(The least-squares loss has no sigmoid: D's raw output is regressed onto its target.)

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


def least_squares(outputs: Tensor, real: bool) -> Tensor:
    """LSGAN (Mao et al. 2017), as CycleGAN uses it: mean (D(x) - t)^2 with t = 1 for real, 0 for generated.

    D descends it with the true target of each batch; G descends it on its images with t = 1. It penalises a
    generated image by its distance from the target even on the real side of D's decision boundary, where BCE's
    gradient vanishes (Mao et al.'s motivation); Zhu et al. found it more stable than BCE.
    """
    target = torch.ones_like(outputs) if real else torch.zeros_like(outputs)
    return F.mse_loss(outputs, target)
