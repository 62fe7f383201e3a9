"""stackgan: the CA's KL term, D's three kinds of pairs, stages trained in order, inference, states."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from gan_core.losses import gaussian_kl
from gan_core.data.text_images import TextImageBatch, TextImageSpec
from gan_core.variants.stackgan import StackGAN, StackGANConfig

SPEC = TextImageSpec((1, 32, 32), 384)


def tiny(**overrides) -> StackGAN:
    torch.manual_seed(0)
    config = StackGANConfig(steps={"quick": 4, "full": 4}, generator_channels=8, discriminator_channels=8,
                            condition_dim=16, text_code_dim=16, noise_dim=8, residual_blocks=1, **overrides)
    return StackGAN(config, SPEC, torch.device("cpu"))


def batch(b: int = 8) -> TextImageBatch:
    g = torch.Generator().manual_seed(1)
    return TextImageBatch(torch.rand(b, 1, 32, 32, generator=g) * 2 - 1, torch.randn(b, 384, generator=g),
                          torch.randn(b, 384, generator=g))


def test_kl_is_zero_at_the_standard_normal_and_matches_the_closed_form() -> None:
    zeros = torch.zeros(4, 16)
    assert gaussian_kl(zeros, zeros).item() == 0.0
    mu, logvar = torch.randn(4, 16, dtype=torch.float64), torch.randn(4, 16, dtype=torch.float64)
    kl = gaussian_kl(mu, logvar)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean()
    assert kl.item() > 0 and kl.item() == pytest.approx(reference.item(), rel=1e-12)
    assert gaussian_kl(torch.full((1, 1), 0.5), torch.zeros(1, 1)).item() == pytest.approx(0.125)


def test_conditioning_augmentation_samples_around_its_mean() -> None:
    ca = tiny().nets["G1"].ca
    sentences = torch.randn(2, 384)
    c0, mu, logvar = ca(sentences, torch.zeros(2, 16))
    assert torch.equal(c0, mu)
    c1, _, _ = ca(sentences, torch.ones(2, 16))
    assert torch.allclose(c1 - mu, (0.5 * logvar).exp())


def test_stages_train_in_order_and_stage_two_leaves_stage_one_frozen() -> None:
    variant = tiny()
    with pytest.raises(RuntimeError, match="set_total_steps"):
        variant.train_step(batch())
    variant.set_total_steps(4)  # stage_one_fraction 0.5: steps 1-2 stage I, 3-4 stage II
    untouched = {k: [p.clone() for p in variant.nets[k].parameters()] for k in ("G2", "D2")}
    losses = variant.train_step(batch())
    assert set(losses) == {"loss_d1_real", "loss_d1_fake", "loss_d1_wrong", "loss_g1", "kl1"}
    variant.train_step(batch())
    assert all(torch.equal(a, b) for k in untouched for a, b in zip(untouched[k], variant.nets[k].parameters()))
    stage_one = {k: {n: t.clone() for n, t in variant.nets[k].state_dict().items()} for k in ("G1", "D1")}
    losses = variant.train_step(batch())
    assert set(losses) == {"loss_d2_real", "loss_d2_fake", "loss_d2_wrong", "loss_g2", "kl2"}
    variant.train_step(batch())
    for k in ("G1", "D1"):  # weights and batch-norm statistics alike
        assert all(torch.equal(t, variant.nets[k].state_dict()[n]) for n, t in stage_one[k].items()), k


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_discriminator_gradient_comes_from_the_three_kinds_of_pairs(weight: float) -> None:
    """D's gradient equals that of BCE(real, its text) + (BCE(fake, its text) + w BCE(real, mismatched)) / (1 + w)
    recomputed on a copy of D from what D saw: dropping kind (2) or weighing it otherwise fails."""
    variant = tiny(wrong_text_weight=weight)
    variant.set_total_steps(4)
    D = variant.nets["D1"]
    before = copy.deepcopy(D)
    seen, grads = [], []
    hook = D.register_forward_hook(lambda module, args, out: seen.append(args))
    step = variant.optims["D1"].step
    variant.optims["D1"].step = lambda: (grads.append([p.grad.clone() for p in D.parameters()]), step())[1]
    variant.train_step(batch())
    hook.remove()
    data = batch()
    kinds = seen[:3 if weight > 0 else 2]  # D's step; G's step follows
    (reals, real_text), (fakes, fake_text) = kinds[:2]
    assert torch.equal(reals, F.avg_pool2d(data.images, 2))  # stage I's D sees the reals at 16x16
    assert torch.equal(real_text, data.sentences) and torch.equal(fake_text, data.sentences)
    if weight > 0:
        assert torch.equal(kinds[2][0], reals) and torch.equal(kinds[2][1], data.mismatched)
    bce = F.binary_cross_entropy_with_logits
    fake_side = bce(before(fakes, fake_text), torch.zeros(8))
    if weight > 0:
        fake_side = (fake_side + weight * bce(before(*kinds[2]), torch.zeros(8))) / (1 + weight)
    (bce(before(reals, real_text), torch.ones(8)) + fake_side).backward()
    for expected, got in zip(before.parameters(), grads[0]):
        assert torch.allclose(expected.grad, got, atol=1e-6)


def test_generate_is_deterministic_per_image_and_gives_both_stages() -> None:
    variant = tiny()
    sentences = torch.randn(3, 384)
    low, high = variant.generate_stages(sentences, torch.Generator().manual_seed(0))
    assert low.shape == (3, 1, 16, 16) and high.shape == (3, 1, 32, 32)
    assert low.abs().max() <= 1 and high.abs().max() <= 1
    again = variant.generate(sentences, torch.Generator().manual_seed(0))
    assert torch.equal(again, high)
    swapped = variant.generate(sentences[[0, 2, 1]], torch.Generator().manual_seed(0))
    assert torch.allclose(swapped[0], high[0], atol=1e-6)  # batch norm in eval mode: no dependence on the others


def test_states_round_trip_with_the_stage_schedule() -> None:
    variant = tiny()
    variant.set_total_steps(4)
    for _ in range(3):
        variant.train_step(batch())
    copy = tiny()
    copy.load_state_dict(variant.state_dict())
    assert copy.step == 3 and copy.stage == 2
    generator_only = tiny()
    generator_only.load_generator_state(variant.generator_state())
    sentences = torch.randn(2, 384)
    assert torch.equal(generator_only.generate(sentences, torch.Generator().manual_seed(3)),
                       variant.generate(sentences, torch.Generator().manual_seed(3)))
