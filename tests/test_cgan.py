"""The `cgan` variant: D's three kinds of pairs and their weights, and sampling that follows the requested labels."""

from __future__ import annotations

import copy

import pytest
import torch

from gan_core.losses import discriminator_bce
from gan_core.data import ImageBatch, ImageSpec
from gan_core.variants import build_variant

IMAGE_SHAPE, NUM_CLASSES = (1, 8, 8), 10  # the bundled digits
SPEC = ImageSpec(IMAGE_SHAPE, NUM_CLASSES)
CONFIG = {"noise_dim": 8, "hidden": 32, "batch_size": 16, "steps": {"quick": 10, "full": 20}}


def make(wrong_label_weight: float):
    torch.manual_seed(0)
    return build_variant("cgan", {**CONFIG, "wrong_label_weight": wrong_label_weight}, SPEC, torch.device("cpu"))


def real_batch(n: int = 16) -> ImageBatch:
    return ImageBatch(images=torch.rand(n, *IMAGE_SHAPE) * 2 - 1, labels=torch.arange(n) % NUM_CLASSES)


def observe_one_step(gan, batch: ImageBatch) -> dict:
    """Runs one train step and records what G was asked for, what D was trained on and D's gradients."""
    seen: dict = {"G": [], "D": []}
    d_before = copy.deepcopy(gan.nets["D"])
    gan.nets["G"].register_forward_hook(lambda _m, args, out: seen["G"].append((args[1].clone(), out.detach().clone())))
    gan.nets["D"].register_forward_pre_hook(lambda _m, args: seen["D"].append((args[0].clone(), args[1].clone())))

    def record_d_grads(_opt, _args, _kwargs) -> None:
        seen["d_grads"] = [p.grad.clone() for p in gan.nets["D"].parameters()]

    gan.optims["D"].register_step_pre_hook(record_d_grads)
    seen["losses"] = gan.train_step(batch)
    seen["d_before"] = d_before
    return seen


@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_d_is_trained_on_the_three_kinds_of_pairs_with_kind_2_weighted(weight):
    gan, batch = make(weight), real_batch()
    b = len(batch.labels)
    seen = observe_one_step(gan, batch)
    g_labels, g_images = seen["G"][0]  # G's first call makes the fakes D trains on
    d_images, d_labels = seen["D"][0]  # D's first call is its training step; the second is G's step
    assert d_images.shape[0] == 3 * b
    kinds = [(d_images[i * b:(i + 1) * b], d_labels[i * b:(i + 1) * b]) for i in range(3)]

    # (1) real image + its true label
    assert torch.equal(kinds[0][0], batch.images) and torch.equal(kinds[0][1], batch.labels)
    # (3) generated image + the label G was given
    assert torch.equal(kinds[1][0], g_images.view(-1, *IMAGE_SHAPE)) and torch.equal(kinds[1][1], g_labels)
    # (2) real image + a wrong label, every one a valid class
    assert torch.equal(kinds[2][0], batch.images)
    assert (kinds[2][1] != batch.labels).all() and kinds[2][1].min() >= 0 and kinds[2][1].max() < NUM_CLASSES

    # D's update is the gradient of BCE(1) -> 1 plus (BCE(3) -> 0 + w * BCE(2) -> 0) / (1 + w), nothing else
    d = seen["d_before"]
    real, fake, wrong = (d(images, labels) for images, labels in kinds)
    expected = discriminator_bce(real, True) + (
        discriminator_bce(fake, False) + weight * discriminator_bce(wrong, False)) / (1 + weight)
    expected_grads = torch.autograd.grad(expected, list(d.parameters()))
    for got, want in zip(seen["d_grads"], expected_grads):
        torch.testing.assert_close(got, want)
    assert set(seen["losses"]) == {"loss_d_real", "loss_d_fake", "loss_d_wrong", "loss_g"}
    torch.testing.assert_close(seen["losses"]["loss_d_wrong"], discriminator_bce(wrong, False).detach())


def test_weight_zero_is_the_classic_cgan_without_wrong_label_pairs():
    gan, batch = make(0.0), real_batch()
    seen = observe_one_step(gan, batch)
    d_images, d_labels = seen["D"][0]
    g_labels, _ = seen["G"][0]
    assert torch.equal(d_images[:16], batch.images) and torch.equal(d_labels, torch.cat([batch.labels, g_labels]))
    assert set(seen["losses"]) == {"loss_d_real", "loss_d_fake", "loss_g"}


def test_g_step_leaves_d_unchanged_and_asks_d_about_g_labels():
    gan, batch = make(1.0), real_batch()
    d_after_update = []

    def record_d(_opt, _args, _kwargs) -> None:
        d_after_update.append({k: v.clone() for k, v in gan.nets["D"].state_dict().items()})

    gan.optims["D"].register_step_post_hook(record_d)
    seen = observe_one_step(gan, batch)
    g_labels, _ = seen["G"][1]  # G's second call is its own step
    assert torch.equal(seen["D"][1][1], g_labels)
    for key, value in gan.nets["D"].state_dict().items():
        assert torch.equal(value, d_after_update[-1][key])
    assert all(p.requires_grad for p in gan.nets["D"].parameters())


def test_sampling_follows_the_requested_labels():
    gan = make(1.0)
    asked = []
    gan.nets["G"].register_forward_pre_hook(lambda _m, args: asked.append(args[1].clone()))
    labels = torch.tensor([3, 3, 7])
    images = gan.sample(3, torch.Generator().manual_seed(0), labels)
    assert images.shape == (3, *IMAGE_SHAPE) and images.abs().max() <= 1
    assert torch.equal(asked[-1], labels)

    # without labels: balanced 0..9, 0..9, ...
    gan.sample(25, torch.Generator().manual_seed(0))
    assert torch.equal(asked[-1], torch.arange(25) % NUM_CLASSES)

    # same noise, another label: another image (the label reaches G's output)
    same_noise = [gan.sample(2, torch.Generator().manual_seed(5), torch.tensor([c, c])) for c in (1, 8)]
    assert not torch.equal(same_noise[0], same_noise[1])

    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        gan.sample(3, torch.Generator(), torch.tensor([1, 2]))


def test_generator_ema_samples_and_ships_the_running_average_of_g():
    torch.manual_seed(0)
    config = {**CONFIG, "generator_ema": 0.9}
    gan = build_variant("cgan", config, SPEC, torch.device("cpu"))
    before = [p.clone() for p in gan.nets["G"].parameters()]
    gan.train_step(real_batch())
    for average, old, new in zip(gan.nets["G_ema"].parameters(), before, gan.nets["G"].parameters()):
        torch.testing.assert_close(average, 0.1 * old + 0.9 * new)  # the first update's warmed-up decay: 1 / 10

    labels = torch.tensor([0, 5, 9])
    shipped = build_variant("cgan", config, SPEC, torch.device("cpu"))
    shipped.load_generator_state(gan.generator_state())
    expected = gan.nets["G_ema"](torch.randn(3, 8, generator=torch.Generator().manual_seed(1)), labels)
    assert torch.equal(shipped.sample(3, torch.Generator().manual_seed(1), labels), expected.view(3, *IMAGE_SHAPE))
