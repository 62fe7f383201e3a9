"""The pieces in gan_core/nn every variant shares: the N(0, 0.02) initialisation and how a net is held still."""

from __future__ import annotations

import torch
from torch import nn

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
