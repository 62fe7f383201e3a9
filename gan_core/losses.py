"""GAN losses, written on logits (D's pre-sigmoid output) so the sigmoid and the log are fused and stable.
(The least-squares loss has no sigmoid: D's raw output is regressed onto its target.)

D(x) = sigmoid(logit) is the probability that x is real (the paper's convention; the slides' simplified part
uses the opposite labels). BCE(logit, t) = -[t log D + (1 - t) log(1 - D)].
Also: the hinge loss and feature matching of MelGAN, and Parallel WaveGAN's multi-resolution STFT loss (a loss
for G and, in the vocoding task's evaluation, a distance).
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_core.audio import stft_magnitude

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


def hinge_discriminator(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's hinge loss: mean max(0, 1 - D(x)) + mean max(0, 1 + D(G(s))) (Lim & Ye 2017; MelGAN's D)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_generator(fake_logits: Tensor) -> Tensor:
    """G's hinge loss: -mean D(G(s))."""
    return -fake_logits.mean()


def feature_matching(real_features: list[Tensor], fake_features: list[Tensor]) -> Tensor:
    """Sum over D's layers of the mean L1 distance between its features of real and generated inputs
    (Kumar et al. 2019, eq. 3); the real features are targets, no gradient flows into them."""
    return sum(F.l1_loss(fake, real.detach()) for real, fake in zip(real_features, fake_features, strict=True))


# (n_fft, hop, window) of Parallel WaveGAN's multi-resolution STFT loss (Yamamoto et al. 2020, table 1)
STFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def multi_resolution_stft(fake: Tensor, real: Tensor,
                          resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS) -> Tensor:
    """Mean over resolutions of spectral convergence + log-magnitude L1 (Yamamoto et al. 2020, eqs. 4-6).

    Waves (..., T). Spectral convergence ||S_real - S_fake||_F / ||S_real||_F weighs the loud bins,
    the log-magnitude distance the quiet ones.
    """
    total = fake.new_zeros(())
    for n_fft, hop, window in resolutions:
        s_fake = stft_magnitude(fake, n_fft, hop, window)
        s_real = stft_magnitude(real, n_fft, hop, window)
        convergence = torch.linalg.vector_norm(s_real - s_fake) / torch.linalg.vector_norm(s_real)
        total = total + convergence + F.l1_loss(torch.log(s_fake), torch.log(s_real))
    return total / len(resolutions)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, 0.5 (mu^2 + exp(logvar) - 1 - logvar) per
    dimension, averaged over batch and dimensions (as the StackGAN authors' code does): 0 only for mu = 0,
    logvar = 0, and independent of the condition's width."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()
