"""cyclegan: the step lowers the round-trip loss, the LR decays linearly in the second half, translation is per image,
and training resumed from a saved state is bit-identical to an uninterrupted run."""

from __future__ import annotations

import io

import pytest
import torch

from gan_core.data import ImageSpec
from gan_core.data.unpaired import UnpairedBatch
from gan_core.variants import build_variant

TINY = {"generator_channels": 8, "residual_blocks": 1, "discriminator_channels": 8, "batch_size": 8, "pool_size": 4,
        "lr": 1e-3, "steps": {"quick": 10, "full": 10}}
SPEC = ImageSpec((1, 8, 8), 10)


def tiny_cyclegan(seed: int = 0, **overrides) -> object:
    torch.manual_seed(seed)
    return build_variant("cyclegan", {**TINY, **overrides}, SPEC, torch.device("cpu"))


@pytest.fixture(scope="module")
def domains(digits):
    """A: the handwritten digits; B: a stand-in second domain (ink inverted), shuffled apart from A."""
    train, test = digits
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    return (train.images, -train.images[order]), (test.images, -test.images)


def batch_stream(domains, n, batch_size=8, seed=0):
    (a, b), _ = domains
    g = torch.Generator().manual_seed(seed)
    return [UnpairedBatch(a[torch.randint(len(a), (batch_size,), generator=g)],
                          b[torch.randint(len(b), (batch_size,), generator=g)]) for _ in range(n)]


def round_trip_l1(variant, images, first, second) -> float:
    return (variant.translate(variant.translate(images, first), second) - images).abs().mean().item()


def test_training_lowers_the_round_trip_loss_on_held_out_images(domains):
    torch.use_deterministic_algorithms(True)
    variant, untrained = tiny_cyclegan(), tiny_cyclegan()
    variant.set_total_steps(150)
    losses = [variant.train_step(batch) for batch in batch_stream(domains, 150)]
    assert set(losses[0]) == {"loss_d_a", "loss_d_b", "loss_g_ab", "loss_g_ba", "loss_cycle", "loss_identity"}
    first = torch.stack([l["loss_cycle"] for l in losses[:10]]).mean()
    last = torch.stack([l["loss_cycle"] for l in losses[-10:]]).mean()
    assert last < 0.5 * first
    _, (test_a, test_b) = domains
    for images, there, back in ((test_a, "AtoB", "BtoA"), (test_b, "BtoA", "AtoB")):
        assert round_trip_l1(variant, images, there, back) < 0.5 * round_trip_l1(untrained, images, there, back)


def test_learning_rate_is_constant_then_decays_linearly_to_zero(domains):
    variant = tiny_cyclegan(decay_start_fraction=0.5)
    variant.set_total_steps(4)
    rates = []
    for batch in batch_stream(domains, 4):
        variant.train_step(batch)
        g_rate, d_rate = (variant.optims[k].param_groups[0]["lr"] / TINY["lr"] for k in ("G", "D"))
        assert g_rate == d_rate
        rates.append(g_rate)
    assert rates == pytest.approx([1, 1, 0.5, 0])  # after steps 1-4 of 4: the decay starts at step 2


def test_resumed_training_is_bit_identical_to_an_uninterrupted_run(domains):
    """Issue 10's exact resume: nets, optimizers, LR schedulers, both pools and their RNGs are in the state."""
    torch.use_deterministic_algorithms(True)
    stream, n, m = batch_stream(domains, 8), 5, 3  # the pools (4 images) are full after the first step

    straight = tiny_cyclegan(seed=0)
    straight.set_total_steps(n + m)
    straight_losses = [straight.train_step(batch) for batch in stream]

    first = tiny_cyclegan(seed=0)
    first.set_total_steps(n + m)
    for batch in stream[:n]:
        first.train_step(batch)
    checkpoint = io.BytesIO()
    torch.save(first.state_dict(), checkpoint)
    checkpoint.seek(0)
    resumed = tiny_cyclegan(seed=123)  # other initial weights and pool seeds: all must come from the state
    resumed.load_state_dict(torch.load(checkpoint, weights_only=True))
    resumed.set_total_steps(n + m)
    resumed_losses = [resumed.train_step(batch) for batch in stream[n:]]

    for expected, got in zip(straight_losses[n:], resumed_losses):
        assert all(torch.equal(expected[k], got[k]) for k in expected)
    for name, net in straight.nets.items():
        for (key, p), q in zip(net.state_dict().items(), resumed.nets[name].state_dict().values()):
            assert torch.equal(p, q), f"{name}.{key} differs after resuming"
    assert torch.equal(straight.pools["A"].images, resumed.pools["A"].images)
    assert straight.optims["G"].param_groups[0]["lr"] == resumed.optims["G"].param_groups[0]["lr"]


def test_translation_keeps_the_shape_and_does_not_depend_on_the_other_images(domains):
    variant = tiny_cyclegan()
    _, (test_a, _) = domains
    batch = test_a[:6]
    out = variant.translate(batch, "AtoB")
    assert out.shape == batch.shape and out.abs().max() <= 1
    assert torch.allclose(out[2:3], variant.translate(batch[2:3], "AtoB"), atol=1e-6)
    assert not torch.allclose(out, variant.translate(batch, "BtoA"))
    with pytest.raises(ValueError, match="'AtoB' or 'BtoA'"):
        variant.translate(batch, "AtoA")


def test_generator_state_holds_both_generators_and_loads_into_a_fresh_variant(domains):
    trained, fresh = tiny_cyclegan(seed=0), tiny_cyclegan(seed=5)
    for batch in batch_stream(domains, 2):
        trained.train_step(batch)
    fresh.load_generator_state(trained.generator_state())
    _, (test_a, test_b) = domains
    assert torch.equal(fresh.translate(test_a, "AtoB"), trained.translate(test_a, "AtoB"))
    assert torch.equal(fresh.translate(test_b, "BtoA"), trained.translate(test_b, "BtoA"))
