"""`dcgan`: nets sized from the resolution, Radford's layers and init, training at a higher resolution than the data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core.config import UserError
from gan_core.data import ImageBatch, ImageSpec
from gan_core.variants import build_variant

STEPS = {"steps": {"quick": 10, "full": 20}}


def make(image_shape=(1, 8, 8), **config):
    torch.manual_seed(0)
    spec = ImageSpec(image_shape, num_classes=10)
    return build_variant("dcgan", {"base_channels": 8, **STEPS, **config}, spec, torch.device("cpu"))


@pytest.mark.parametrize(("image_shape", "resolution", "stride2_layers"), [
    ((1, 8, 8), None, 1), ((1, 8, 8), 16, 2), ((1, 8, 8), 32, 3), ((3, 32, 32), None, 3), ((3, 64, 64), None, 4),
])
def test_nets_are_sized_from_the_resolution(image_shape, resolution, stride2_layers):
    gan = make(image_shape, resolution=resolution)
    images = gan.sample(3, torch.Generator().manual_seed(0))
    assert images.shape == (3, *image_shape)  # always the data's size, whatever the training resolution
    assert images.abs().max() <= 1
    assert gan.discriminate(images).shape == (3, 1)
    strided = [m for m in gan.nets["D"] if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == stride2_layers
    g_size = gan.nets["G"](torch.zeros(1, gan.config.noise_dim, 1, 1)).shape[-1]
    assert g_size == (resolution or image_shape[-1])


def test_radford_layers_and_init():
    gan = make(resolution=32)
    g_modules, d_modules = list(gan.nets["G"].modules()), list(gan.nets["D"].modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for m in g_modules + d_modules)
    assert any(isinstance(m, nn.BatchNorm2d) for m in g_modules)
    assert isinstance(gan.nets["G"][-1], nn.Tanh)
    assert all(m.negative_slope == 0.2 for m in d_modules if isinstance(m, nn.LeakyReLU))
    assert not isinstance(gan.nets["D"][1], nn.BatchNorm2d)  # no batch norm on D's input layer
    weights = torch.cat([m.weight.flatten() for m in g_modules + d_modules if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002


def test_sampling_does_not_depend_on_the_batch():
    gan = make()
    for _ in range(3):  # move the batch-norm running statistics away from their initial values
        gan.train_step(ImageBatch(images=torch.rand(16, 1, 8, 8) * 2 - 1, labels=torch.zeros(16, dtype=torch.int64)))
    one = gan.sample(1, torch.Generator().manual_seed(5))
    many = gan.sample(8, torch.Generator().manual_seed(5))
    assert torch.allclose(one[0], many[0], atol=1e-6)
    assert gan.nets["G"].training  # sampling restores training mode


@pytest.mark.parametrize(("image_shape", "config", "message"), [
    ((1, 16, 16), {"resolution": 8}, "resolution = 8 is below the data's size 16"),
    ((1, 24, 24), {}, "8, 16, 32 or 64 px; the data is 24x24"),
])
def test_unsupported_sizes_are_clear_errors(image_shape, config, message):
    with pytest.raises(UserError, match=message):
        make(image_shape, **config)
