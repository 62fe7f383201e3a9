"""The NumPy GAN is provably right: its backprop against finite differences and against torch autograd on the
`mlp` variant's own torch networks, the article's step order with D unchanged by G's step, and the adapter."""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import pytest
import torch

from gan_core import numpy_gan as ng
from gan_core.losses import discriminator_bce, generator_bce
from gan_core.variants.mlp import discriminator_net, generator_net

NOISE, HIDDEN, PIXELS, BATCH, SLOPE = 5, 8, 10, 6, 0.2
FD_TOLERANCE = 1e-6  # relative error of backprop vs central differences (float64)
AUTOGRAD_TOLERANCE = 1e-10  # relative disagreement with torch autograd on the same weights and batch


@pytest.fixture
def setup() -> dict:
    rng = np.random.default_rng(0)
    return {
        "G": ng.init_params((NOISE, HIDDEN, HIDDEN, PIXELS), rng),
        "D": ng.init_params((PIXELS, HIDDEN, HIDDEN, 1), rng),
        "z": rng.standard_normal((BATCH, NOISE)),
        "reals": rng.uniform(-1, 1, (BATCH, PIXELS)),
    }


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||): scale-free, and not blown up by single entries that are ~0 in both."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def central_differences(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dloss/darray entry by entry: (loss(x + eps) - loss(x - eps)) / 2 eps, perturbing `array` in place."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = loss()
        array[index] = saved - eps
        down = loss()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


def d_loss(D, images, t):
    logit, cache = ng.discriminator_forward(D, images, SLOPE)
    loss, dlogit = ng.bce(logit, t)
    grads, dimages = ng.discriminator_backward(D, cache, dlogit, SLOPE)
    return loss, grads, dimages


def g_loss(G, D, z, kind):
    """G's loss through D, with every gradient backprop gives: G's arrays, D's input (the fakes) and z."""
    fakes, g_cache = ng.generator_forward(G, z)
    logit, d_cache = ng.discriminator_forward(D, fakes, SLOPE)
    loss, dlogit = ng.generator_objective(logit, kind)
    _, dfakes = ng.discriminator_backward(D, d_cache, dlogit, SLOPE)
    grads, dz = ng.generator_backward(G, g_cache, dfakes)
    return loss, grads, dfakes, dz


@pytest.mark.parametrize("t", [0, 1])
def test_discriminator_gradients_match_finite_differences(setup, t):
    D, images = setup["D"], setup["reals"]
    _, grads, dimages = d_loss(D, images, t)
    errors = {name: relative_error(grads[name], central_differences(lambda: d_loss(D, images, t)[0], D[name]))
              for name in ng.PARAM_NAMES}
    errors["x"] = relative_error(dimages, central_differences(lambda: d_loss(D, images, t)[0], images))
    assert max(errors.values()) < FD_TOLERANCE, errors


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_generator_gradients_through_d_match_finite_differences(setup, kind):
    G, D, z = setup["G"], setup["D"], setup["z"]
    _, grads, dfakes, dz = g_loss(G, D, z, kind)

    def loss() -> float:
        return g_loss(G, D, z, kind)[0]

    errors = {name: relative_error(grads[name], central_differences(loss, G[name])) for name in ng.PARAM_NAMES}
    errors["z"] = relative_error(dz, central_differences(loss, z))
    # the gradient G receives: d loss / d fakes, with D's logits as a function of its input images
    fakes = ng.generator_forward(G, z)[0]

    def loss_of_fakes() -> float:
        return ng.generator_objective(ng.discriminator_forward(D, fakes, SLOPE)[0], kind)[0]

    errors["fakes"] = relative_error(dfakes, central_differences(loss_of_fakes, fakes))
    assert max(errors.values()) < FD_TOLERANCE, errors


def torch_nets(G: ng.Params, D: ng.Params) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """The `mlp` variant's torch networks, in float64, holding the same arrays (nn.Linear keeps W transposed)."""
    nets = generator_net(NOISE, HIDDEN, PIXELS).double(), discriminator_net(PIXELS, HIDDEN, SLOPE).double()
    for net, params in zip(nets, (G, D)):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for layer, linear in enumerate(linears, start=1):
                linear.weight.copy_(torch.from_numpy(params[f"W{layer}"].T))
                linear.bias.copy_(torch.from_numpy(params[f"b{layer}"]))
    return nets


def torch_grads(net: torch.nn.Sequential) -> ng.Params:
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    grads = {}
    for layer, linear in enumerate(linears, start=1):
        grads[f"W{layer}"] = linear.weight.grad.T.numpy()
        grads[f"b{layer}"] = linear.bias.grad.numpy()
    return grads


@pytest.mark.parametrize("t", [0, 1])
def test_discriminator_gradients_match_torch_autograd(setup, t):
    D, images = setup["D"], setup["reals"]
    loss, grads, dimages = d_loss(D, images, t)
    _, torch_d = torch_nets(setup["G"], D)
    x = torch.from_numpy(images.copy()).requires_grad_(True)
    torch_loss = discriminator_bce(torch_d(x)[:, 0], real=bool(t))
    torch_loss.backward()
    expected = {**torch_grads(torch_d), "x": x.grad.numpy()}
    errors = {k: relative_error(v, expected[k]) for k, v in {**grads, "x": dimages}.items()}
    assert abs(loss - torch_loss.item()) < AUTOGRAD_TOLERANCE
    assert max(errors.values()) < AUTOGRAD_TOLERANCE, errors


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_generator_gradients_through_d_match_torch_autograd(setup, kind):
    G, D, z = setup["G"], setup["D"], setup["z"]
    loss, grads, dfakes, dz = g_loss(G, D, z, kind)
    torch_g, torch_d = torch_nets(G, D)
    z_t = torch.from_numpy(z.copy()).requires_grad_(True)
    fakes = torch_g(z_t)
    fakes.retain_grad()
    torch_loss = generator_bce(torch_d(fakes)[:, 0], kind)
    torch_loss.backward()
    expected = {**torch_grads(torch_g), "fakes": fakes.grad.numpy(), "z": z_t.grad.numpy()}
    errors = {k: relative_error(v, expected[k]) for k, v in {**grads, "fakes": dfakes, "z": dz}.items()}
    assert abs(loss - torch_loss.item()) < AUTOGRAD_TOLERANCE
    assert max(errors.values()) < AUTOGRAD_TOLERANCE, errors


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_g_step_leaves_d_bit_identical_and_changes_every_array_of_g(setup, kind):
    G, D = setup["G"], setup["D"]
    d_before, g_before = copy.deepcopy(D), copy.deepcopy(G)
    ng.generator_step(G, D, ng.GradientDescent(0.1), setup["z"], kind, SLOPE)
    for name in ng.PARAM_NAMES:
        assert D[name].tobytes() == d_before[name].tobytes(), name
        assert not np.array_equal(G[name], g_before[name]), name


@pytest.mark.parametrize("optimizer", [ng.GradientDescent(0.05), ng.Adam(1e-3)])
def test_train_step_is_d_on_fakes_then_d_on_reals_then_g_through_d(setup, optimizer):
    G, D, z, reals = setup["G"], setup["D"], setup["z"], setup["reals"]
    by_hand = copy.deepcopy((G, D, {"G": optimizer, "D": copy.deepcopy(optimizer)}))
    optimizers = {"G": copy.deepcopy(optimizer), "D": copy.deepcopy(optimizer)}
    losses = ng.train_step(G, D, optimizers, reals, z, "minimax", SLOPE)

    hand_G, hand_D, hand_opt = by_hand
    fakes = ng.generator_forward(hand_G, z)[0]
    expected = {
        "loss_d_fake": ng.discriminator_step(hand_D, hand_opt["D"], fakes, t=0, slope=SLOPE),
        "loss_d_real": ng.discriminator_step(hand_D, hand_opt["D"], reals, t=1, slope=SLOPE),
        "loss_g": ng.generator_step(hand_G, hand_D, hand_opt["G"], z, "minimax", SLOPE),
    }
    assert losses == expected
    for name in ng.PARAM_NAMES:
        assert G[name].tobytes() == hand_G[name].tobytes() and D[name].tobytes() == hand_D[name].tobytes()


def test_gradient_descent_is_theta_minus_eta_grad():
    params = {name: np.full(2, 1.0) for name in ng.PARAM_NAMES}
    ng.GradientDescent(0.5).step(params, {name: np.full(2, 4.0) for name in ng.PARAM_NAMES})
    assert all(np.array_equal(v, np.full(2, -1.0)) for v in params.values())


def test_adam_matches_torch_adam(setup):
    """The hand-written Adam against torch.optim.Adam on the same gradients, three steps."""
    G = setup["G"]
    weights = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in G.items()}
    torch_adam = torch.optim.Adam(weights.values(), lr=1e-2, betas=(0.5, 0.999), eps=1e-8)
    adam = ng.Adam(1e-2, 0.5, 0.999, 1e-8)
    rng = np.random.default_rng(1)
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape) for k, v in G.items()}
        adam.step(G, grads)
        for k, w in weights.items():
            w.grad = torch.from_numpy(grads[k])
        torch_adam.step()
    assert max(relative_error(G[k], w.detach().numpy()) for k, w in weights.items()) < 1e-12


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    G = ng.init_params((NOISE, HIDDEN, HIDDEN, PIXELS), rng, np.float32)
    D = ng.init_params((PIXELS, HIDDEN, HIDDEN, 1), rng, np.float32)
    optimizers = {"G": ng.Adam(1e-3), "D": ng.Adam(1e-3)}
    reals = rng.uniform(-1, 1, (BATCH, PIXELS)).astype(np.float32)
    z = rng.standard_normal((BATCH, NOISE)).astype(np.float32)
    ng.train_step(G, D, optimizers, reals, z)
    assert {v.dtype for v in (*G.values(), *D.values())} == {np.dtype(np.float32)}
    assert ng.generate(G, 3, rng).dtype == np.float32


def test_bce_stays_finite_where_d_is_certain():
    logit = np.array([-800.0, 800.0])
    loss, dlogit = ng.bce(logit, t=1)
    assert np.isfinite(loss) and loss == pytest.approx(400.0)
    assert np.allclose(dlogit, [-0.5, 0.0])
