"""`melgan`: Kumar et al., "MelGAN: Generative Adversarial Networks for Conditional Waveform Synthesis" (NeurIPS 2019).

A vocoder: log-mel frames in, waveform out. G is fully convolutional, so it vocodes any number of frames.

G: mel (B, n_mels, F) -> Conv7 c -> per upsampling factor r: [LReLU -> ConvT(2r, stride r) c/2 -> residual stack]
   -> LReLU -> Conv7 1 -> tanh -> wave (B, 1, F * hop)           (c = generator_channels, halved at each upsampling;
   the factors multiply to the mel hop: 8, 8, 2, 2 for hop 256 as in the paper)
   residual stack: 3 blocks x + Conv1(LReLU(Conv3 dilated 1, 3, 9 (LReLU(x)))): receptive field grows by 27 steps
D: `discriminator_scales` identical discriminators on the wave, then on it average-pooled 2x, 4x (k 4, stride 2):
   Conv15 16 -> `discriminator_downsamplings` x grouped Conv41 stride 4 (x4 channels, 4 inputs per group, at most
   discriminator_max_channels) -> Conv5 -> Conv3 1 logit per position; every layer's output feeds feature matching.
Weight norm on every convolution, weights drawn N(0, 0.02) before it (the paper's code).

One step (the paper's): D descends the hinge loss on real waves and G's waves of their mels; then G descends
-D(G(s)) + feature_matching_weight x L1 between D's features of real and generated waves, on every scale,
(+ stft_loss_weight x Parallel WaveGAN's multi-resolution STFT loss when set). Adam 1e-4, betas (0.5, 0.9).
With `warm_up_fraction` > 0, that share of the run's steps trains G alone on the MR-STFT loss (Parallel
WaveGAN's warm-up, here at `warm_up_lr` when set), then D joins: measured here, G follows its mel far sooner that
way than under D from the first step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from gan_core.audio import MelSpec
from gan_core.config import UserError, VariantConfig
from gan_core.data.segments import WaveMelBatch
from gan_core.losses import feature_matching, hinge_discriminator, hinge_generator, multi_resolution_stft
from gan_core.nn.init import normal_init
from gan_core.nn.modes import evaluating, frozen
from gan_core.optim import adam
from gan_core.variants.base import TorchVariant, Vocoder, register


class MelGANConfig(VariantConfig):
    """Defaults are the paper's (Kumar et al. 2019, section 3 and appendix)."""

    batch_size: PositiveInt = 16  # of segments (data.speech.segment_length samples each, paper: 8192)
    generator_channels: PositiveInt = 512  # after the input conv; halved at every upsampling
    upsample_factors: tuple[PositiveInt, ...] | None = None  # None: derived from the hop (256 -> 8, 8, 2, 2)
    dilations: tuple[PositiveInt, ...] = (1, 3, 9)  # of the residual stack after every upsampling
    discriminator_scales: PositiveInt = 3
    discriminator_channels: PositiveInt = 16  # of D's first layer; x4 per downsampling
    discriminator_max_channels: PositiveInt = 1024
    discriminator_downsamplings: PositiveInt = 4  # grouped stride-4 convolutions
    feature_matching_weight: NonNegativeFloat = 10.0  # lambda
    stft_loss_weight: NonNegativeFloat = 0.0  # multi-resolution STFT loss in G's (Yamamoto et al. 2020); 0: off
    # share of the run's steps that train G alone on the MR-STFT loss before D joins (Yamamoto et al. start D late;
    # MelGAN: 0, D from the first step)
    warm_up_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    lr: PositiveFloat = 1e-4
    warm_up_lr: PositiveFloat | None = None  # G's learning rate during the warm-up; None: lr
    betas: tuple[float, float] = Field((0.5, 0.9))
    leaky_slope: PositiveFloat = 0.2

    @model_validator(mode="after")
    def _warm_up_has_a_loss(self) -> MelGANConfig:
        if self.warm_up_fraction and not self.stft_loss_weight:
            raise ValueError("warm_up_fraction > 0 trains G on the MR-STFT loss alone: set stft_loss_weight > 0")
        return self


def upsample_factors(hop: int) -> tuple[int, ...]:
    """G's upsampling factors for a hop: two large ones (<= 8) at the cheap low rates, then the remaining prime
    factors smallest first, each with its own residual stack. 256 -> (8, 8, 2, 2), 200 -> (8, 5, 5),
    160 -> (8, 5, 2, 2)."""
    factors, rest = [], hop
    for _ in range(2):
        factor = max(d for d in range(1, 9) if rest % d == 0)
        if factor > 1:
            factors.append(factor)
            rest //= factor
    prime = 2
    while rest > 1:
        while rest % prime:
            prime += 1
        factors.append(prime)
        rest //= prime
    return tuple(factors)


def _conv(*args, **kwargs) -> nn.Module:
    conv = (nn.ConvTranspose1d if kwargs.pop("transposed", False) else nn.Conv1d)(*args, **kwargs)
    normal_init(conv)
    return weight_norm(conv)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int, slope: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(slope), nn.ReflectionPad1d(dilation), _conv(channels, channels, 3, dilation=dilation),
            nn.LeakyReLU(slope), _conv(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def generator(n_mels: int, factors: tuple[int, ...], channels: int, dilations: tuple[int, ...],
              slope: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad1d(3), _conv(n_mels, channels, 7)]
    for r in factors:
        out = max(channels // 2, 1)
        # kernel 2r, stride r: every output sample sees two input frames; the padding keeps length x r exactly
        layers += [nn.LeakyReLU(slope),
                   _conv(channels, out, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2,
                         transposed=True)]
        layers += [ResidualBlock(out, d, slope) for d in dilations]
        channels = out
    layers += [nn.LeakyReLU(slope), nn.ReflectionPad1d(3), _conv(channels, 1, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class ScaleDiscriminator(nn.Module):
    """One of the multi-scale D's: returns the output of every layer, the last being the logits."""

    def __init__(self, channels: int, max_channels: int, downsamplings: int, slope: float) -> None:
        super().__init__()
        layers = [nn.Sequential(nn.ReflectionPad1d(7), _conv(1, channels, 15), nn.LeakyReLU(slope))]
        for _ in range(downsamplings):
            out = min(channels * 4, max_channels)
            layers.append(nn.Sequential(_conv(channels, out, 41, stride=4, padding=20, groups=max(channels // 4, 1)),
                                        nn.LeakyReLU(slope)))
            channels = out
        layers.append(nn.Sequential(_conv(channels, channels, 5, padding=2), nn.LeakyReLU(slope)))
        layers.append(_conv(channels, 1, 3, padding=1))
        self.layers = nn.ModuleList(layers)

    def forward(self, wave: Tensor) -> list[Tensor]:
        outputs = []
        for layer in self.layers:
            wave = layer(wave)
            outputs.append(wave)
        return outputs


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, scales: int, channels: int, max_channels: int, downsamplings: int, slope: float) -> None:
        super().__init__()
        self.scales = nn.ModuleList(ScaleDiscriminator(channels, max_channels, downsamplings, slope)
                                    for _ in range(scales))

    def forward(self, wave: Tensor) -> list[list[Tensor]]:
        """Per scale, the outputs of every layer of that scale's D (the last: logits)."""
        outputs = []
        for i, scale in enumerate(self.scales):
            if i:
                wave = F.avg_pool1d(wave, 4, stride=2, padding=1, count_include_pad=False)
            outputs.append(scale(wave))
        return outputs


@register
class MelGAN(TorchVariant, Vocoder):
    name = "melgan"
    Config = MelGANConfig
    config: MelGANConfig
    spec: MelSpec

    def __init__(self, config: MelGANConfig, spec: MelSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        self.factors = config.upsample_factors or upsample_factors(spec.hop_length)
        if math.prod(self.factors) != spec.hop_length:
            raise UserError(f"variants.melgan.upsample_factors {list(self.factors)} multiply to "
                            f"{math.prod(self.factors)}, not the mel hop {spec.hop_length}; accepted: factors whose "
                            f"product is the hop, or null to derive them")
        c = config
        self.nets = {
            "G": generator(spec.n_mels, self.factors, c.generator_channels, c.dilations, c.leaky_slope).to(device),
            "D": MultiScaleDiscriminator(c.discriminator_scales, c.discriminator_channels, c.discriminator_max_channels,
                                         c.discriminator_downsamplings, c.leaky_slope).to(device),
        }
        self.optims = {k: adam(net.parameters(), c.lr, c.betas, device) for k, net in self.nets.items()}
        if c.warm_up_fraction and c.warm_up_lr:
            self._set_g_lr(c.warm_up_lr)
        self.steps_done = 0
        self.warm_up_steps: int | None = None if c.warm_up_fraction else 0  # known once the run's length is

    def set_total_steps(self, steps: int) -> None:
        self.warm_up_steps = round(self.config.warm_up_fraction * steps)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps_done": self.steps_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps_done = state["steps_done"]

    def train_step(self, batch: WaveMelBatch) -> dict[str, Tensor]:
        if self.warm_up_steps is None:
            raise RuntimeError("melgan's warm-up is a share of the run: call set_total_steps(steps) before training")
        self.steps_done += 1
        if self.steps_done <= self.warm_up_steps:
            return self._warm_up_step(batch)
        if self.steps_done == self.warm_up_steps + 1:
            self._set_g_lr(self.config.lr)  # the warm-up's rate ends when D joins
        G, D = self.nets["G"], self.nets["D"]
        fake = G(batch.mel)

        # ---- D: hinge loss, real waves vs G's waves of the same mels ----
        real_outputs = D(batch.wave)
        fake_outputs = D(fake.detach())
        loss_d = sum(hinge_discriminator(r[-1], f[-1]) for r, f in zip(real_outputs, fake_outputs))
        self.optims["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optims["D"].step()

        # ---- G: fool D on every scale, match D's features of the real wave (taken before D's update) ----
        with frozen(D):  # G's step leaves D's gradients alone
            fake_outputs = D(fake)
            loss_adv = sum(hinge_generator(f[-1]) for f in fake_outputs)
            loss_fm = sum(feature_matching(r[:-1], f[:-1]) for r, f in zip(real_outputs, fake_outputs))
            loss_g = loss_adv + self.config.feature_matching_weight * loss_fm
            losses = {"loss_d": loss_d.detach(), "loss_g": loss_adv.detach(),
                      "loss_feature_matching": loss_fm.detach()}
            if self.config.stft_loss_weight > 0:
                loss_stft = multi_resolution_stft(fake.squeeze(1), batch.wave.squeeze(1))
                loss_g = loss_g + self.config.stft_loss_weight * loss_stft
                losses["loss_stft"] = loss_stft.detach()
            self.optims["G"].zero_grad(set_to_none=True)
            loss_g.backward()
            self.optims["G"].step()
        return losses

    def _set_g_lr(self, lr: float) -> None:
        for group in self.optims["G"].param_groups:
            group["lr"] = lr

    def _warm_up_step(self, batch: WaveMelBatch) -> dict[str, Tensor]:
        """G alone on the MR-STFT loss; D's losses read 0 until it starts."""
        loss_stft = multi_resolution_stft(self.nets["G"](batch.mel).squeeze(1), batch.wave.squeeze(1))
        self.optims["G"].zero_grad(set_to_none=True)
        loss_stft.backward()
        self.optims["G"].step()
        zero = loss_stft.new_zeros(())
        return {"loss_d": zero, "loss_g": zero, "loss_feature_matching": zero, "loss_stft": loss_stft.detach()}

    def vocode(self, mel: Tensor) -> Tensor:
        """Log-mel frames (B, n_mels, F) -> waves (B, F * hop) in [-1, 1], from G alone."""
        with evaluating(self.nets["G"]):
            return self.nets["G"](mel.to(self.device)).squeeze(1)
