"""Noise -> image GANs (`mlp`, `dcgan`): shapes, the losses' formulas, the article's step order with D frozen."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

from gan_core.losses import discriminator_bce, generator_bce
from gan_core.data import ImageBatch, ImageSpec
from gan_core.variants import build_variant

IMAGE_SHAPE = (1, 8, 8)
SPEC = ImageSpec(IMAGE_SHAPE, num_classes=10)
CONFIG = {"noise_dim": 8, "hidden": 32, "batch_size": 16, "steps": {"quick": 10, "full": 20}}
TINY = {"mlp": CONFIG, "dcgan": {"noise_dim": 8, "base_channels": 8, "steps": {"quick": 10, "full": 20}}}


def make(generator_loss: str = "non_saturating", name: str = "mlp"):
    torch.manual_seed(0)
    return build_variant(name, {**TINY[name], "generator_loss": generator_loss}, SPEC, torch.device("cpu"))


def real_batch(n: int = 16) -> ImageBatch:
    return ImageBatch(images=torch.rand(n, *IMAGE_SHAPE) * 2 - 1, labels=torch.zeros(n, dtype=torch.int64))


def test_shapes_and_range():
    gan = make()
    images = gan.sample(5, torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 8, 8)
    assert images.min() >= -1 and images.max() <= 1
    assert gan.nets["D"](images.flatten(1)).shape == (5, 1)


def test_losses_match_their_formulas():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    d = torch.sigmoid(logits)
    assert torch.allclose(discriminator_bce(logits, real=True), -d.log().mean())
    assert torch.allclose(discriminator_bce(logits, real=False), -(1 - d).log().mean())
    assert torch.allclose(generator_bce(logits, "minimax"), (1 - d).log().mean())
    assert torch.allclose(generator_bce(logits, "non_saturating"), -d.log().mean())


@pytest.mark.parametrize("generator_loss", ["minimax", "non_saturating"])
@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_step_order_d_fake_then_d_real_then_g_with_d_frozen(name, generator_loss):
    gan = make(generator_loss, name)
    batch = real_batch()
    events: list[tuple[str, torch.Tensor]] = []
    d_after_its_updates: list[dict[str, torch.Tensor]] = []

    def on_d_input(_module, args):
        events.append(("D sees", args[0].detach().clone()))

    def on_step(name):
        def hook(_opt, _args, _kwargs):
            events.append((f"{name} step", None))
            if name == "D":
                d_after_its_updates.append({k: v.clone() for k, v in gan.nets["D"].state_dict().items()})
        return hook

    gan.nets["D"].register_forward_pre_hook(on_d_input)
    gan.optims["D"].register_step_post_hook(on_step("D"))
    gan.optims["G"].register_step_post_hook(on_step("G"))
    losses = gan.train_step(batch)

    assert [e for e, _ in events] == ["D sees", "D step", "D sees", "D step", "D sees", "G step"]
    fakes, reals, fakes_for_g = events[0][1], events[2][1], events[4][1]
    assert torch.equal(reals.reshape(batch.images.shape), batch.images)  # (2) the real batch
    assert torch.equal(fakes, fakes_for_g)  # (1) and (3) both see G's images of the same noise
    assert not torch.equal(fakes, reals)
    # (3) D's parameters are bit-identical before and after the G step
    for key, value in gan.nets["D"].state_dict().items():
        assert torch.equal(value, d_after_its_updates[-1][key])
    assert all(p.requires_grad for p in gan.nets["D"].parameters())  # unfrozen for the next step
    assert set(losses) == {"loss_d_fake", "loss_d_real", "loss_g"}
    assert all(torch.isfinite(v) for v in losses.values())


def test_minimax_and_non_saturating_pull_g_the_same_way():
    """Both G losses fall as D(G(z)) rises, but minimax's gradient vanishes where D rejects fakes confidently."""
    logits = torch.tensor([-6.0, 0.0], requires_grad=True)
    (grad_minimax,) = torch.autograd.grad(generator_bce(logits, "minimax"), logits)
    (grad_ns,) = torch.autograd.grad(generator_bce(logits, "non_saturating"), logits)
    assert (grad_minimax < 0).all() and (grad_ns < 0).all()
    assert abs(grad_minimax[0]) < 0.01 * abs(grad_ns[0])  # saturation at D(G(z)) ~ 0
    assert math.isclose(grad_minimax[1].item(), grad_ns[1].item(), rel_tol=1e-6)  # equal at D = 1/2


@pytest.mark.parametrize("name", ["mlp", "dcgan", "cgan"])
def test_diff_augment_augments_every_image_d_sees_real_and_fake_alike(name, monkeypatch):
    module = "gan_core.variants.cgan" if name == "cgan" else "gan_core.variants.unconditional"
    seen = []
    real_augment = importlib.import_module(module).diff_augment

    def spy(images, ops):
        seen.append((images.requires_grad, ops))
        return real_augment(images, ops)
    monkeypatch.setattr(f"{module}.diff_augment", spy)
    torch.manual_seed(0)
    gan = build_variant(name, {**TINY.get(name, CONFIG), "diff_augment": ["color", "translation", "cutout"]}, SPEC,
                        torch.device("cpu"))
    losses = gan.train_step(real_batch())
    ops = ("color", "translation", "cutout")
    # D's step(s) on reals and fakes without a graph to G, then G's step on fakes with one
    assert [s for s in seen if s[0]] == [(True, ops)] and all(o == ops for _, o in seen)
    assert len(seen) == (2 if name == "cgan" else 3)  # cgan's D sees reals and fakes in one batch
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_generator_ema_samples_and_ships_the_average(name):
    torch.manual_seed(0)
    config = {**TINY[name], "generator_ema": 0.9}
    gan = build_variant(name, config, SPEC, torch.device("cpu"))
    gan.train_step(real_batch())
    assert gan.sampler is gan.nets["G_ema"]
    shipped = build_variant(name, config, SPEC, torch.device("cpu"))
    shipped.load_generator_state(gan.generator_state())
    assert torch.equal(shipped.sample(4, torch.Generator().manual_seed(1)), gan.sample(4, torch.Generator().manual_seed(1)))
    z = torch.randn(4, CONFIG["noise_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.equal(gan.sample(4, torch.Generator().manual_seed(1)), gan.generate(z, gan.nets["G"]))


@pytest.mark.parametrize("name", ["mlp", "dcgan", "cgan"])
def test_the_cuda_graph_step_on_cpu_trains_as_the_plain_step(name):
    """`speed.cuda_graph` on CPU: the captured step's static buffers (batches copied in, the same step) give the
    plain step's losses and weights, step for step; on a GPU it would capture and replay that same step."""
    from gan_core.speed import CapturedStep

    trained = {}
    for captured in (False, True):
        torch.manual_seed(0)
        config = {**TINY.get(name, CONFIG), "speed": {"cuda_graph": captured}}
        gan = build_variant(name, config, SPEC, torch.device("cpu"))
        step = gan.step_function()
        assert isinstance(step, CapturedStep) == captured
        data = torch.Generator().manual_seed(1)
        losses = [step(ImageBatch(torch.rand(16, *IMAGE_SHAPE, generator=data) * 2 - 1,
                                  torch.randint(0, 10, (16,), generator=data))) for _ in range(5)]
        trained[captured] = losses, gan.state_dict()["nets"]
    (plain, plain_nets), (graph, graph_nets) = trained[False], trained[True]
    assert all(torch.equal(a[k], b[k]) for a, b in zip(plain, graph) for k in a)
    assert all(torch.equal(plain_nets[net][k], graph_nets[net][k]) for net in plain_nets for k in plain_nets[net])
    with pytest.raises(ValueError, match="batches of one shape"):
        step(real_batch(8))
