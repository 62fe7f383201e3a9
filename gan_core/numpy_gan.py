"""The seed article's GAN from scratch in NumPy: every forward, backward and update written out.

Two networks of three layers, each with exactly six parameter arrays W1, b1, W2, b2, W3, b3:

    G (generator):      z -> W1,b1 -> ReLU -> W2,b2 -> ReLU -> W3,b3 -> tanh          -> x, an image in [-1, 1]
    D (discriminator):  x -> W1,b1 -> LeakyReLU -> W2,b2 -> LeakyReLU -> W3,b3 -> sigmoid -> D(x) = P(x is real)

(the same layers and activations as the PyTorch `mlp` variant). Rows are samples: a batch of B inputs is a
(B, inputs) array, and a layer computes `h @ W + b`.

Forward returns the output and a cache of what backward needs. Backward is backpropagation: it starts from the
gradient of the loss with respect to the network's output and walks the layers from last to first, each layer's
gradient computed from the gradient of the layer after it; it returns the gradient of every parameter and of
the input. The input gradient is what lets G learn through D.

The loss is binary cross-entropy with label t (t = 1: real, t = 0: generated):
    E = -mean( t log D(x) + (1 - t) log(1 - D(x)) )
and every update is gradient descent, theta <- theta - eta * dE/dtheta (or Adam, written out below).

One training step is the article's loop, in its order:
    1. D on a batch of fakes G(z), t = 0;
    2. D on a batch of real images, t = 1;
    3. G through D with t = 1: D's backward runs to pass the gradient on to G, but D's arrays do not change.
Afterwards G alone makes images (`generate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Params = dict[str, np.ndarray]  # "W1", "b1", "W2", "b2", "W3", "b3"
Cache = dict[str, np.ndarray]  # what forward keeps for backward
GeneratorLoss = Literal["minimax", "non_saturating"]
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


def init_params(sizes: tuple[int, int, int, int], rng: np.random.Generator, dtype: type = np.float64) -> Params:
    """Three layers sized in -> h1 -> h2 -> out, drawn uniformly in +-1/sqrt(fan_in) (PyTorch's Linear default)."""
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        bound = 1.0 / np.sqrt(fan_in)
        params[f"W{layer}"] = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(dtype)
        params[f"b{layer}"] = rng.uniform(-bound, bound, size=fan_out).astype(dtype)
    return params


# ---- the generator -------------------------------------------------------------------------------------------

def generator_forward(G: Params, z: np.ndarray) -> tuple[np.ndarray, Cache]:
    """z (B, noise) -> images x (B, pixels) in [-1, 1]."""
    a1 = z @ G["W1"] + G["b1"]
    h1 = np.maximum(a1, 0)  # ReLU
    a2 = h1 @ G["W2"] + G["b2"]
    h2 = np.maximum(a2, 0)
    x = np.tanh(h2 @ G["W3"] + G["b3"])
    return x, {"z": z, "a1": a1, "h1": h1, "a2": a2, "h2": h2, "x": x}


def generator_backward(G: Params, cache: Cache, dx: np.ndarray) -> tuple[Params, np.ndarray]:
    """From dE/dx (B, pixels) to dE/d(every parameter) and dE/dz."""
    da3 = dx * (1 - cache["x"] ** 2)  # tanh' = 1 - tanh^2
    grads = {"W3": cache["h2"].T @ da3, "b3": da3.sum(axis=0)}
    dh2 = da3 @ G["W3"].T
    da2 = dh2 * (cache["a2"] > 0)  # ReLU' = 1 where the unit was on, else 0
    grads |= {"W2": cache["h1"].T @ da2, "b2": da2.sum(axis=0)}
    dh1 = da2 @ G["W2"].T
    da1 = dh1 * (cache["a1"] > 0)
    grads |= {"W1": cache["z"].T @ da1, "b1": da1.sum(axis=0)}
    dz = da1 @ G["W1"].T
    return grads, dz


# ---- the discriminator ---------------------------------------------------------------------------------------

def leaky_relu(a: np.ndarray, slope: float) -> np.ndarray:
    return np.where(a > 0, a, slope * a)


def discriminator_forward(D: Params, x: np.ndarray, slope: float = 0.2) -> tuple[np.ndarray, Cache]:
    """Images x (B, pixels) -> logits (B,); D(x) = sigmoid(logit) is the probability that x is real.

    Backward starts from the logit: the sigmoid is folded into the loss, where its derivative is simplest.
    """
    a1 = x @ D["W1"] + D["b1"]
    h1 = leaky_relu(a1, slope)
    a2 = h1 @ D["W2"] + D["b2"]
    h2 = leaky_relu(a2, slope)
    logit = (h2 @ D["W3"] + D["b3"])[:, 0]
    return logit, {"x": x, "a1": a1, "h1": h1, "a2": a2, "h2": h2}


def discriminator_backward(D: Params, cache: Cache, dlogit: np.ndarray,
                           slope: float = 0.2) -> tuple[Params, np.ndarray]:
    """From dE/dlogit (B,) to dE/d(every parameter) and dE/dx, the gradient G receives through D."""
    da3 = dlogit[:, None]
    grads = {"W3": cache["h2"].T @ da3, "b3": da3.sum(axis=0)}
    dh2 = da3 @ D["W3"].T
    da2 = np.where(cache["a2"] > 0, dh2, slope * dh2)  # LeakyReLU' = 1 where the unit was positive, else slope
    grads |= {"W2": cache["h1"].T @ da2, "b2": da2.sum(axis=0)}
    dh1 = da2 @ D["W2"].T
    da1 = np.where(cache["a1"] > 0, dh1, slope * dh1)
    grads |= {"W1": cache["x"].T @ da1, "b1": da1.sum(axis=0)}
    dx = da1 @ D["W1"].T
    return grads, dx


def sigmoid(logit: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * logit))  # = 1 / (1 + e^-logit), without overflow for large |logit|


# ---- the losses: binary cross-entropy and G's two objectives -----------------------------------------------

def bce(logit: np.ndarray, t: float) -> tuple[float, np.ndarray]:
    """E = -mean(t log D + (1 - t) log(1 - D)) with D = sigmoid(logit); returns E and dE/dlogit.

    log D = -log(1 + e^-logit) and log(1 - D) = -log(1 + e^logit), computed with logaddexp so that a confident
    D (D = 0 or 1 in floating point) still gives a finite loss. dE/dlogit = (D - t) / B.
    """
    log_d = -np.logaddexp(0, -logit)
    log_one_minus_d = -np.logaddexp(0, logit)
    loss = -np.mean(t * log_d + (1 - t) * log_one_minus_d)
    return float(loss), (sigmoid(logit) - t) / logit.shape[0]


def generator_objective(fake_logit: np.ndarray, kind: GeneratorLoss) -> tuple[float, np.ndarray]:
    """G's loss on D's logits for its images, and its gradient with respect to those logits.

    minimax (the paper's min-max game): G descends mean log(1 - D(G(z))) = -BCE(t = 0);
        dE/dlogit = -D / B, which vanishes where D confidently rejects the fakes (D -> 0): G stops learning.
    non_saturating (the paper's practical fix, and the article's "t = 1"): G descends -mean log D(G(z)) = BCE(t = 1);
        dE/dlogit = (D - 1) / B, largest exactly where D rejects the fakes.
    """
    if kind == "minimax":
        loss, dlogit = bce(fake_logit, t=0)
        return -loss, -dlogit
    return bce(fake_logit, t=1)


# ---- the updates -----------------------------------------------------------------------------------------------

@dataclass
class GradientDescent:
    """The article's update: theta <- theta - eta * dE/dtheta."""

    lr: float

    def step(self, params: Params, grads: Params) -> None:
        for name in PARAM_NAMES:
            params[name] -= self.lr * grads[name]


@dataclass
class Adam:
    """Adam (Kingma & Ba, 2015): gradient descent with per-parameter step sizes from running moment estimates."""

    lr: float
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-8
    steps: int = 0
    m: Params = field(default_factory=dict)  # running mean of the gradient
    v: Params = field(default_factory=dict)  # running mean of its square

    def step(self, params: Params, grads: Params) -> None:
        self.steps += 1
        for name in PARAM_NAMES:
            g = grads[name]
            self.m[name] = self.beta1 * self.m.get(name, 0) + (1 - self.beta1) * g
            self.v[name] = self.beta2 * self.v.get(name, 0) + (1 - self.beta2) * g * g
            m_hat = self.m[name] / (1 - self.beta1 ** self.steps)  # bias correction: m, v start at 0
            v_hat = self.v[name] / (1 - self.beta2 ** self.steps)
            params[name] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


Optimizer = GradientDescent | Adam


# ---- one step of the article's loop, and sampling -------------------------------------------------------------

def discriminator_step(D: Params, optimizer: Optimizer, images: np.ndarray, t: float, slope: float) -> float:
    """Forward, loss, backward, update: one learning step of D on one batch with label t."""
    logit, cache = discriminator_forward(D, images, slope)
    loss, dlogit = bce(logit, t)
    grads, _ = discriminator_backward(D, cache, dlogit, slope)
    optimizer.step(D, grads)
    return loss


def generator_step(G: Params, D: Params, optimizer: Optimizer, z: np.ndarray, kind: GeneratorLoss,
                   slope: float) -> float:
    """G learns through D: forward G then D, backward D then G; only G's arrays are updated."""
    fakes, g_cache = generator_forward(G, z)
    logit, d_cache = discriminator_forward(D, fakes, slope)
    loss, dlogit = generator_objective(logit, kind)
    _, dfakes = discriminator_backward(D, d_cache, dlogit, slope)  # D's own gradients are computed and dropped
    grads, _ = generator_backward(G, g_cache, dfakes)
    optimizer.step(G, grads)
    return loss


def train_step(G: Params, D: Params, optimizers: dict[str, Optimizer], reals: np.ndarray, z: np.ndarray,
               kind: GeneratorLoss = "non_saturating", slope: float = 0.2) -> dict[str, float]:
    """The article's step: (1) D on fakes, t = 0; (2) D on reals, t = 1; (3) G through D, t = 1."""
    fakes, _ = generator_forward(G, z)
    loss_d_fake = discriminator_step(D, optimizers["D"], fakes, t=0, slope=slope)
    loss_d_real = discriminator_step(D, optimizers["D"], reals, t=1, slope=slope)
    loss_g = generator_step(G, D, optimizers["G"], z, kind, slope)
    return {"loss_d_fake": loss_d_fake, "loss_d_real": loss_d_real, "loss_g": loss_g}


def generate(G: Params, n: int, rng: np.random.Generator) -> np.ndarray:
    """n images (n, pixels) in [-1, 1] from G alone, for noise z ~ N(0, I)."""
    z = rng.standard_normal((n, G["W1"].shape[0])).astype(G["W1"].dtype)
    return generator_forward(G, z)[0]
