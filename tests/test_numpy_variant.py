"""The `numpy` variant in the shared loop: deterministic seeds, checkpoints that load with weights_only, float32."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from gan_core.data import ImageBatch, image_batches
from gan_core.numpy_gan import PARAM_NAMES
from gan_core.train import load_checkpoint, seed_everything, train
from gan_core.variants import build_variant
from tests.test_unconditional import CONFIG, SPEC


def run(digits, tmp_path, steps=60, **config):
    seed_everything(0, torch.device("cpu"))
    gan = build_variant("numpy", {**CONFIG, **config}, SPEC, torch.device("cpu"))
    result = train(gan, partial(image_batches, digits[0]), steps=steps, seed=0, log_every=20, checkpoint_path=tmp_path / "ckpt.pt",
                   checkpoint_every=50, log_metrics=lambda values, step: None)
    return gan, result


def test_same_seed_same_arrays_and_losses(digits, tmp_path):
    first, first_result = run(digits, tmp_path / "a")
    second, second_result = run(digits, tmp_path / "b")
    assert first_result.final_losses == second_result.final_losses
    for name in PARAM_NAMES:
        assert first.G[name].tobytes() == second.G[name].tobytes()
        assert first.D[name].tobytes() == second.D[name].tobytes()


def test_checkpoint_loads_with_weights_only_and_restores_everything(digits, tmp_path):
    gan, _ = run(digits, tmp_path)
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")  # torch.load(weights_only=True)
    assert checkpoint["variant"] == "numpy" and checkpoint["step"] == 60
    restored = build_variant("numpy", checkpoint["config"], SPEC, torch.device("cpu"))
    restored.load_state_dict(checkpoint["state"])
    for name in PARAM_NAMES:
        assert np.array_equal(gan.G[name], restored.G[name]) and np.array_equal(gan.D[name], restored.D[name])
        assert np.array_equal(gan.optims["D"].m[name], restored.optims["D"].m[name])
    assert restored.optims["G"].steps == gan.optims["G"].steps == 60
    # the noise stream goes on where it was: the next step is the same in both
    reals = ImageBatch(images=digits[0].images[:16], labels=digits[0].labels[:16])
    losses = [{k: v.item() for k, v in g.train_step(reals).items()} for g in (gan, restored)]
    assert losses[0] == losses[1]

    samples = [g.sample(8, torch.Generator().manual_seed(3)) for g in (gan, restored)]
    assert torch.equal(*samples)
    assert samples[0].shape == (8, 1, 8, 8) and samples[0].dtype == torch.float32
    assert -1 <= samples[0].min() and samples[0].max() <= 1


def test_float32_and_plain_gradient_descent_train(digits, tmp_path):
    gan, result = run(digits, tmp_path, steps=20, dtype="float32", optimizer="gradient_descent", lr=0.05)
    assert {a.dtype for a in (*gan.G.values(), *gan.D.values())} == {np.dtype(np.float32)}
    assert all(np.isfinite(v) for v in result.final_losses.values())
