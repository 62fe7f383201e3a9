"""The pieces in gan_core/nn every variant shares: the N(0, 0.02) initialisation, how a net is held still, the
generator's weight average and DiffAugment."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core.nn.diffaugment import cutout, diff_augment, translation
from gan_core.nn.ema import UPDATES, update_average, warmed_up_decay, weight_average
from gan_core.nn.init import normal_init
from gan_core.nn.modes import evaluating, freeze, frozen


def test_normal_init_draws_weights_and_batch_norm_scales_around_their_means():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(8, 64, 3), nn.BatchNorm2d(64), nn.Linear(64, 512), nn.BatchNorm1d(512, affine=False))
    biases = net[0].bias.clone()
    net.apply(normal_init)
    for weights in (net[0].weight, net[2].weight):
        assert abs(weights.mean().item()) < 0.005 and abs(weights.std().item() - 0.02) < 0.002
    assert abs(net[1].weight.mean().item() - 1) < 0.01 and torch.equal(net[1].bias, torch.zeros(64))
    assert torch.equal(net[0].bias, biases)  # torch's own bias initialisation, unless asked
    net[0].apply(lambda m: normal_init(m, zero_bias=True))
    assert torch.equal(net[0].bias, torch.zeros(64))


def test_frozen_takes_no_gradient_and_restores_each_flag():
    D, G = nn.Linear(3, 1), nn.Linear(2, 3)
    D.bias.requires_grad_(False)
    with frozen(D):
        assert not any(p.requires_grad for p in D.parameters())
        D(G(torch.randn(4, 2))).sum().backward()
    assert D.weight.grad is None and G.weight.grad is not None
    assert D.weight.requires_grad and not D.bias.requires_grad
    assert D.training  # the mode is left alone


def test_evaluating_runs_without_autograd_in_eval_mode_and_restores_mixed_modes():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout(0.5))
    net[2].eval()  # a module in its own mode (pix2pix keeps dropout on at inference)
    with evaluating(net):
        assert not any(m.training for m in net.modules())
        assert not net(torch.randn(3, 2)).requires_grad
    assert [m.training for m in net.modules()] == [True, True, True, False]


def test_freeze_is_for_good():
    net = freeze(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)))
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_the_weight_average_moves_by_one_minus_its_warmed_up_decay_and_copies_buffers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = weight_average(net)
    assert not any(p.requires_grad for p in average.parameters()) and not average.training
    decay = 0.9
    for n in range(12):
        start = [p.clone() for p in average.parameters()]
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)
        net(torch.randn(8, 3))  # moves batch norm's running statistics
        update_average(average, net, decay)
        d = min(decay, (1 + n) / (10 + n))  # 0.1, 0.18, ... until 0.9 from the 72nd update on; here below it
        for mean, old, new in zip(average.parameters(), start, net.parameters()):
            torch.testing.assert_close(mean, d * old + (1 - d) * new)
        for name, current in net.named_buffers():
            assert torch.equal(average.get_buffer(name), current)
    assert float(average.get_buffer(UPDATES)) == 12


def test_the_warmed_up_decay_reaches_its_decay_and_stays():
    decays = [float(warmed_up_decay(torch.tensor(float(n)), 0.999)) for n in (0, 90, 8989, 8990, 10**6)]
    assert decays[0] == pytest.approx(0.1) and decays[1] == pytest.approx(0.91)
    assert decays[2] < 0.999 and decays[3:] == [pytest.approx(0.999)] * 2


def test_diff_augment_ops_keep_the_shape_draw_per_image_and_repeat_under_a_seed():
    images = torch.rand(16, 3, 8, 8) * 2 - 1
    for op in ("color", "translation", "cutout"):
        torch.manual_seed(1)
        first = diff_augment(images, (op,))
        torch.manual_seed(1)
        assert torch.equal(first, diff_augment(images, (op,)))
        assert first.shape == images.shape
        changes = (first - images).flatten(1).abs().sum(1)
        assert len(set(changes.round(decimals=4).tolist())) > 4, op  # each image its own draw
    assert torch.equal(diff_augment(images, ()), images)


def test_translation_shifts_the_image_and_cutout_blanks_a_square_of_half_the_side():
    dot = torch.zeros(64, 1, 16, 16)
    dot[:, :, 8, 8] = 1.0
    torch.manual_seed(0)
    moved = translation(dot)
    positions = torch.nonzero(moved[:, 0] == 1.0)[:, 1:] - 8
    assert len(positions) == 64 and positions.abs().max() <= 2 and len({tuple(p) for p in positions.tolist()}) > 5
    ones = torch.ones(64, 1, 16, 16)
    blanked = (cutout(ones) == 0).flatten(1).sum(1)
    assert blanked.max() == 8 * 8 and blanked.min() > 0  # a whole square inside, or the part left at a border


def test_diff_augment_lets_the_gradient_through_to_the_images():
    images = (torch.rand(4, 1, 8, 8) * 2 - 1).requires_grad_()
    diff_augment(images, ("color", "translation", "cutout")).square().sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
