"""`stackgan`: text to image in two stages (Zhang et al., "StackGAN", ICCV 2017), scaled to 16 and 32 px digits.

The condition is a sentence vector phi (all-MiniLM-L6-v2, 384-d, see gan_core/text_encoder.py).

Conditioning augmentation (CA, section 3.1): a linear layer maps phi to the mean and log-variance of a Gaussian;
the generator takes a sample c = mu + exp(logvar / 2) * eps and its loss adds kl_weight * KL(N(mu, sigma) || N(0, I)),
so nearby sentences give overlapping conditions. Each stage has its own CA.

Stage I (16x16), noise z and c1:
  G1: [z, c1] -> Linear -> 4b@4x4 -> up 2b@8x8 -> up b@16x16 -> conv -> tanh         (up: nearest x2, conv3, BN, ReLU)
  D1: image@16 -> conv s2 d@8 -> conv s2 2d@4 -> [ , text code replicated] -> conv3 -> conv4 -> 1 logit
Stage II (32x32), no noise (its randomness comes from the stage-I image), c2:
  G2: stage-I image -> conv b@16 -> conv s2 2b@8 -> [ , c2 replicated] -> conv3 -> residual blocks
      -> up b@16 -> up b/2@32 -> conv -> tanh
  D2: image@32 -> conv s2 d@16 -> conv s2 2d@8 -> conv s2 4d@4 -> the same text head -> 1 logit
D's text code is its own linear compression of phi (N_d in the paper), replicated over D's 4x4 map.

D sees the slides' three kinds of pairs (the matching-aware D of Reed et al. 2016, which StackGAN uses):
  (1) real image + its sentence -> real; (2) real image + a mismatched sentence -> fake; (3) G's image + its
  sentence -> fake; D's loss is BCE(1) + (BCE(3) + w * BCE(2)) / (1 + w), w = `wrong_text_weight` (1 in the
  authors' code: real + (fake + wrong) / 2). Each kind is a forward pass of its own (batch norm statistics).
Stages are trained in order, as in the paper: stage I for `stage_one_fraction` of the steps, then stage II with
stage I frozen (in eval mode: its batch norm uses running statistics, as at inference).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from gan_core.config import VariantConfig
from gan_core.data.text_images import TextImageBatch, TextImageSpec
from gan_core.losses import discriminator_bce, gaussian_kl, generator_bce
from gan_core.nn.init import normal_init
from gan_core.nn.modes import evaluating, freeze, frozen
from gan_core.optim import adam
from gan_core.variants.base import TextToImageGenerator, TorchVariant, register

STAGE_ONE_SIZE = 16
STAGE_TWO_SIZE = 32


class StackGANConfig(VariantConfig):
    noise_dim: PositiveInt = 100  # N_z in the paper
    condition_dim: PositiveInt = 128  # N_g: the CA sample's width
    text_code_dim: PositiveInt = 128  # N_d: D's compression of the sentence vector
    generator_channels: PositiveInt = 32  # b above; the paper's 64/256 px nets are far wider
    discriminator_channels: PositiveInt = 32  # d above
    residual_blocks: PositiveInt = 2  # in G2 (the authors' code uses 4 at 64 -> 256 px)
    # lambda of eq. (3)/(5): 1 in the paper ("we set lambda = 1 for all our experiments"); the authors' code uses 2
    kl_weight: float = Field(1.0, ge=0.0)
    wrong_text_weight: float = Field(1.0, ge=0.0)  # w above; 0 drops kind (2)
    stage_one_fraction: float = Field(0.5, gt=0.0, lt=1.0)  # share of the steps that train stage I
    lr: PositiveFloat = 2e-4  # Adam 2e-4, beta1 0.5, batch 64 as in the paper
    betas: tuple[float, float] = (0.5, 0.999)
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0)


class ConditioningAugmentation(nn.Module):
    """phi -> (c, mu, logvar): c ~ N(mu, diag(exp(logvar))) by the reparameterisation trick."""

    def __init__(self, embedding_dim: int, condition_dim: int) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        self.fc = nn.Sequential(sentence_norm(embedding_dim), nn.Linear(embedding_dim, 2 * condition_dim))

    def forward(self, sentences: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.fc(sentences).chunk(2, dim=1)
        return mu + (0.5 * logvar).exp() * noise, mu, logvar


def sentence_norm(embedding_dim: int) -> nn.Module:
    """Standardises each dimension of the sentence vectors (running statistics at inference). MiniLM's unit
    vectors of captions that differ in one word point almost the same way (cosine 0.5-0.9): without this the
    digit and the look are a small offset on a large shared direction, and the CA's KL term erases them."""
    return nn.BatchNorm1d(embedding_dim, affine=False)


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """Nearest-neighbour x2, 3x3 conv, batch norm, ReLU: the paper's upsampling block (no checkerboard)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


class StageOneGenerator(nn.Module):
    def __init__(self, spec: TextImageSpec, c: StackGANConfig) -> None:
        super().__init__()
        b, channels = c.generator_channels, spec.image_shape[0]
        self.ca = ConditioningAugmentation(spec.embedding_dim, c.condition_dim)
        self.fc = nn.Sequential(nn.Linear(c.noise_dim + c.condition_dim, 4 * b * 4 * 4, bias=False),
                                nn.BatchNorm1d(4 * b * 4 * 4), nn.ReLU())
        self.body = nn.Sequential(up_block(4 * b, 2 * b), up_block(2 * b, b),
                                  nn.Conv2d(b, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor, sentences: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, C, 16, 16) images, and the CA's mu and logvar."""
        condition, mu, logvar = self.ca(sentences, eps)
        x = self.fc(torch.cat([z, condition], dim=1))
        return self.body(x.view(x.shape[0], -1, 4, 4)), mu, logvar


class StageTwoGenerator(nn.Module):
    def __init__(self, spec: TextImageSpec, c: StackGANConfig) -> None:
        super().__init__()
        b, channels = c.generator_channels, spec.image_shape[0]
        self.ca = ConditioningAugmentation(spec.embedding_dim, c.condition_dim)
        self.encode = nn.Sequential(nn.Conv2d(channels, b, 3, 1, 1), nn.ReLU(),
                                    nn.Conv2d(b, 2 * b, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * b), nn.ReLU())
        self.joint = nn.Sequential(nn.Conv2d(2 * b + c.condition_dim, 2 * b, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(2 * b), nn.ReLU(),
                                   *[ResidualBlock(2 * b) for _ in range(c.residual_blocks)])
        self.decode = nn.Sequential(up_block(2 * b, b), up_block(b, max(b // 2, 1)),
                                    nn.Conv2d(max(b // 2, 1), channels, 3, 1, 1), nn.Tanh())

    def forward(self, low: Tensor, sentences: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Stage-I images (B, C, 16, 16) -> (B, C, 32, 32), and the CA's mu and logvar."""
        condition, mu, logvar = self.ca(sentences, eps)
        x = self.encode(low)
        x = torch.cat([x, condition[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        return self.decode(self.joint(x)), mu, logvar


class MatchingDiscriminator(nn.Module):
    """(image, sentence) -> logit of "a real image that matches the sentence"; downsamples to 4x4."""

    def __init__(self, spec: TextImageSpec, c: StackGANConfig, size: int) -> None:
        super().__init__()
        d, slope = c.discriminator_channels, c.leaky_slope
        layers: list[nn.Module] = [nn.Conv2d(spec.image_shape[0], d, 4, 2, 1), nn.LeakyReLU(slope)]
        width = d
        while size // 2 > 4:  # stride-2 convolutions until 4x4
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width),
                       nn.LeakyReLU(slope)]
            width, size = 2 * width, size // 2
        self.image = nn.Sequential(*layers)
        self.text = nn.Sequential(sentence_norm(spec.embedding_dim), nn.Linear(spec.embedding_dim, c.text_code_dim),
                                  nn.LeakyReLU(slope))
        self.head = nn.Sequential(nn.Conv2d(width + c.text_code_dim, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.LeakyReLU(slope), nn.Conv2d(width, 1, 4, 1, 0))

    def forward(self, images: Tensor, sentences: Tensor) -> Tensor:
        x = self.image(images)  # (B, width, 4, 4)
        code = self.text(sentences)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.head(torch.cat([x, code], dim=1)).view(-1)


@register
class StackGAN(TorchVariant, TextToImageGenerator):
    name = "stackgan"
    Config = StackGANConfig
    config: StackGANConfig

    def __init__(self, config: StackGANConfig, spec: TextImageSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        if spec.image_shape[1:] != (STAGE_TWO_SIZE, STAGE_TWO_SIZE):
            raise ValueError(f"stackgan draws {STAGE_TWO_SIZE}x{STAGE_TWO_SIZE} images; the data is {spec.image_shape}")
        self.nets = {
            "G1": StageOneGenerator(spec, config), "D1": MatchingDiscriminator(spec, config, STAGE_ONE_SIZE),
            "G2": StageTwoGenerator(spec, config), "D2": MatchingDiscriminator(spec, config, STAGE_TWO_SIZE),
        }
        for k, net in self.nets.items():
            self.nets[k] = net.apply(normal_init).to(device)  # the DCGAN initialisation StackGAN's code uses
        self.optims = {k: adam(net.parameters(), config.lr, config.betas, device)
                       for k, net in self.nets.items()}
        self.step = 0
        self.stage_one_steps: int | None = None

    def set_total_steps(self, total_steps: int) -> None:
        self.stage_one_steps = round(self.config.stage_one_fraction * total_steps)

    @property
    def stage(self) -> int:
        if self.stage_one_steps is None:
            raise RuntimeError("stackgan trains its stages in order: call set_total_steps(total_steps) before training")
        return 1 if self.step < self.stage_one_steps else 2

    # ---- training -------------------------------------------------------------------------------------------

    def train_step(self, batch: TextImageBatch) -> dict[str, Tensor]:
        stage = self.stage
        b, c = batch.images.shape[0], self.config
        z = torch.randn(b, c.noise_dim, device=self.device)
        eps = torch.randn(b, c.condition_dim, device=self.device)
        G, D = self.nets[f"G{stage}"], self.nets[f"D{stage}"]
        if stage == 1:
            reals = F.avg_pool2d(batch.images, STAGE_TWO_SIZE // STAGE_ONE_SIZE)
            fakes, mu, logvar = G(z, batch.sentences, eps)
        else:
            reals = batch.images
            low = freeze(self.nets["G1"])(z, batch.sentences, eps)[0]  # stage I is trained: it draws as at inference
            fakes, mu, logvar = G(low, batch.sentences, torch.randn_like(eps))
        losses = self._discriminator_step(stage, reals, fakes.detach(), batch)

        # G through D (frozen) with target "real" for its own sentence, plus the CA's KL term
        with frozen(D):
            adversarial = generator_bce(D(fakes, batch.sentences), "non_saturating")
            kl = gaussian_kl(mu, logvar)
            self.optims[f"G{stage}"].zero_grad(set_to_none=True)
            (adversarial + c.kl_weight * kl).backward()
            self.optims[f"G{stage}"].step()
        self.step += 1
        return {**losses, f"loss_g{stage}": adversarial.detach(), f"kl{stage}": kl.detach()}

    def _discriminator_step(self, stage: int, reals: Tensor, fakes: Tensor, batch: TextImageBatch) -> dict[str, Tensor]:
        """One step of the stage's D on the three kinds of pairs. Each kind is its own forward pass: D's batch
        norm then sees fakes alone, as in G's step (one mixed batch lets G pass by batch statistics alone)."""
        D, w, prefix = self.nets[f"D{stage}"], self.config.wrong_text_weight, f"loss_d{stage}"
        losses = {f"{prefix}_real": discriminator_bce(D(reals, batch.sentences), real=True),  # kind (1)
                  f"{prefix}_fake": discriminator_bce(D(fakes, batch.sentences), real=False)}  # kind (3)
        fake_side = losses[f"{prefix}_fake"]
        if w > 0:
            losses[f"{prefix}_wrong"] = discriminator_bce(D(reals, batch.mismatched), real=False)  # kind (2)
            fake_side = (fake_side + w * losses[f"{prefix}_wrong"]) / (1 + w)
        self.optims[f"D{stage}"].zero_grad(set_to_none=True)
        (losses[f"{prefix}_real"] + fake_side).backward()
        self.optims[f"D{stage}"].step()
        return {k: v.detach() for k, v in losses.items()}

    # ---- inference --------------------------------------------------------------------------------------------

    def generate_stages(self, embeddings: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Stage-I (N, C, 16, 16) and stage-II (N, C, 32, 32) images in [-1, 1] for sentence vectors (N, E)."""
        n, c = embeddings.shape[0], self.config
        widths = (c.noise_dim, c.condition_dim, c.condition_dim)
        noise = torch.randn(n, sum(widths), generator=generator, device=generator.device).to(self.device)
        z, eps1, eps2 = noise.split(widths, dim=1)
        G1, G2 = self.nets["G1"], self.nets["G2"]
        sentences = embeddings.to(self.device, torch.float32)
        with evaluating(G1, G2):
            low = G1(z, sentences, eps1)[0]
            return low, G2(low, sentences, eps2)[0]

    # ---- states -------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "step": self.step, "stage_one_steps": self.stage_one_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.step, self.stage_one_steps = int(state["step"]), state["stage_one_steps"]

    def generator_state(self) -> dict[str, Any]:
        return {k: self.nets[k].state_dict() for k in ("G1", "G2")}

    def load_generator_state(self, state: dict[str, Any]) -> None:
        for k in ("G1", "G2"):
            self.nets[k].load_state_dict(state[k])
