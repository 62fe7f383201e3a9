"""cyclegan: the step lowers the round-trip loss, the LR decays linearly in the second half, translation is per image,
training resumed from a saved state is bit-identical to an uninterrupted run, and the optional semantic-consistency
loss trains its class reader and pushes translations towards their source's class."""

from __future__ import annotations

import io

import pytest
import torch

from gan_core.config import UserError
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
    """A: the handwritten digits; B: a stand-in second domain (ink inverted), shuffled apart from A.
    Each domain is (images, labels)."""
    train, test = digits
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    return (((train.images, train.labels), (-train.images[order], train.labels[order])),
            ((test.images, test.labels), (-test.images, test.labels)))


def batch_stream(domains, n, batch_size=8, seed=0):
    ((a, labels_a), (b, labels_b)), _ = domains
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        i, j = torch.randint(len(a), (batch_size,), generator=g), torch.randint(len(b), (batch_size,), generator=g)
        batches.append(UnpairedBatch(a[i], b[j], labels_a[i], labels_b[j]))
    return batches


def held_out_images(domains):
    _, ((test_a, _), (test_b, _)) = domains
    return test_a, test_b


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
    test_a, test_b = held_out_images(domains)
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


@pytest.mark.parametrize("semantic_weight", [0.0, 1.0])
def test_resumed_training_is_bit_identical_to_an_uninterrupted_run(domains, semantic_weight):
    """Issue 10's exact resume: nets (C too), optimizers, LR schedulers, both pools and their RNGs are in the state."""
    torch.use_deterministic_algorithms(True)
    stream, n, m = batch_stream(domains, 8), 5, 3  # the pools (4 images) are full after the first step

    straight = tiny_cyclegan(seed=0, semantic_weight=semantic_weight)
    straight.set_total_steps(n + m)
    straight_losses = [straight.train_step(batch) for batch in stream]

    first = tiny_cyclegan(seed=0, semantic_weight=semantic_weight)
    first.set_total_steps(n + m)
    for batch in stream[:n]:
        first.train_step(batch)
    checkpoint = io.BytesIO()
    torch.save(first.state_dict(), checkpoint)
    checkpoint.seek(0)
    # other initial weights and pool seeds: all must come from the state
    resumed = tiny_cyclegan(seed=123, semantic_weight=semantic_weight)
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
    test_a, _ = held_out_images(domains)
    batch = test_a[:6]
    out = variant.translate(batch, "AtoB")
    assert out.shape == batch.shape and out.abs().max() <= 1
    assert torch.allclose(out[2:3], variant.translate(batch[2:3], "AtoB"), atol=1e-6)
    assert not torch.allclose(out, variant.translate(batch, "BtoA"))
    with pytest.raises(ValueError, match="translates AtoB and BtoA"):
        variant.translate(batch, "AtoA")


def test_generator_state_holds_both_generators_and_loads_into_a_fresh_variant(domains):
    trained, fresh = tiny_cyclegan(seed=0), tiny_cyclegan(seed=5)
    for batch in batch_stream(domains, 2):
        trained.train_step(batch)
    fresh.load_generator_state(trained.generator_state())
    test_a, test_b = held_out_images(domains)
    assert torch.equal(fresh.translate(test_a, "AtoB"), trained.translate(test_a, "AtoB"))
    assert torch.equal(fresh.translate(test_b, "BtoA"), trained.translate(test_b, "BtoA"))


def test_semantic_loss_trains_its_reader_and_pulls_translations_to_the_source_class(domains):
    """C learns the digits from real images of both domains; G, asked to keep the class C reads, does: both losses
    halve, and C reads held-out A->B translations as their source digit far more often than those of the same
    cyclegan trained without the loss."""
    torch.use_deterministic_algorithms(True)
    stream = batch_stream(domains, 150, batch_size=16)
    with_loss, without = tiny_cyclegan(semantic_weight=1.0), tiny_cyclegan()
    losses = [with_loss.train_step(batch) for batch in stream]
    for batch in stream:
        without.train_step(batch)
    assert {"loss_semantic", "loss_classifier"} <= set(losses[0])
    for key in ("loss_classifier", "loss_semantic"):
        first = torch.stack([l[key] for l in losses[:10]]).mean()
        last = torch.stack([l[key] for l in losses[-10:]]).mean()
        assert last < 0.5 * first, key

    _, ((test_a, test_labels), _) = domains
    reader = with_loss.nets["C"]
    with torch.no_grad():
        kept = {name: (reader(v.translate(test_a, "AtoB")).argmax(1) == test_labels).double().mean().item()
                for name, v in (("with", with_loss), ("without", without))}
    assert kept["with"] > kept["without"] + 0.1, kept


def test_semantic_loss_needs_classes_in_both_domains():
    torch.manual_seed(0)
    with pytest.raises(UserError, match="variants.cyclegan.semantic_weight"):
        build_variant("cyclegan", {**TINY, "semantic_weight": 1.0}, ImageSpec((1, 8, 8), 0), torch.device("cpu"))
