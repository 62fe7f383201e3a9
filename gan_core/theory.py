"""The slides' GAN theory (Goodfellow et al., 2014) as numbers the code computes, with the NumPy GAN of numpy_gan.py.

1. Optimal discriminator: for fixed p_g, D trained to convergence is D*(x) = p_data(x) / (p_data(x) + p_g(x)).
2. Value at the optimum: V(G, D*) = -log 4 + 2 JS(p_data || p_g), and -log 4 exactly when p_g = p_data.
3. Saturation: with D(x) = sigmoid(a(x)), G's two losses differ only in dE/da:
       minimax          E = log(1 - D):  dE/da = -D
       non-saturating   E = -log D:      dE/da = -(1 - D)
   and everything backprop does after dE/da is linear in it, so for one sample the two gradients G receives are
   parallel and |grad non-saturating| / |grad minimax| = (1 - D) / D, which grows like 1/D where D rejects the
   fakes (D -> 0): minimax gives G almost nothing exactly when G is worst.
4. A 1-D GAN whose p_g moves onto p_data (JS falls), drawn as the slides draw it: p_data, p_g and D over training.

Everything is seeded: same seed, same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from scipy.special import ndtr, xlogy

from gan_core import numpy_gan as ng

LOG4 = float(np.log(4.0))
GRID = np.linspace(-1.0, 1.0, 401)  # where the 1-D densities are compared (both have mass everywhere on it)


@dataclass(frozen=True)
class Gaussians:
    """A 1-D mixture of Gaussians: a known density to sample from and to evaluate."""

    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return sum(w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))
                   for m, s, w in zip(self.means, self.stds, self.weights))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return sum(w * ndtr((x - m) / s) for m, s, w in zip(self.means, self.stds, self.weights))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        component = rng.choice(len(self.weights), size=n, p=self.weights)
        return rng.normal(np.take(self.means, component), np.take(self.stds, component))[:, None]


P_DATA = Gaussians(means=(-0.4, 0.35), stds=(0.15, 0.2), weights=(0.4, 0.6))  # p_data of the D* check
P_G = Gaussians(means=(0.0,), stds=(0.5,), weights=(1.0,))  # the fixed p_g it is compared with
GAN_DATA = Gaussians(means=(0.4,), stds=(0.12,), weights=(1.0,))  # what the 1-D GAN learns
NOISE_1D = 4  # noise size of the 1-D generators


# ---- 1. the optimal discriminator ------------------------------------------------------------------------------

@dataclass(frozen=True)
class OptimalDiscriminator:
    x: np.ndarray
    d_trained: np.ndarray
    d_star: np.ndarray

    @property
    def max_abs_error(self) -> float:
        return float(np.max(np.abs(self.d_trained - self.d_star)))


def discriminator_probability(D: ng.Params, x: np.ndarray) -> np.ndarray:
    return ng.sigmoid(ng.discriminator_forward(D, x[:, None])[0])


def optimal_discriminator(seed: int, steps: int = 3000, hidden: int = 64) -> OptimalDiscriminator:
    """Train D to maximise V(G, D) for fixed p_data and p_g, then compare it with D* between its training points.

    Both expectations of V are computed exactly, as sums over 201 points weighted by the points' probabilities,
    so D converges instead of hovering in minibatch noise: -V = sum p_data BCE(t = 1) + sum p_g BCE(t = 0), the
    GAN's D loss with exact weights, whose gradient with respect to each logit is p_g D - p_data (1 - D).
    """
    x = np.linspace(-1.0, 1.0, 201)
    p_data, p_g = P_DATA.pdf(x) / P_DATA.pdf(x).sum(), P_G.pdf(x) / P_G.pdf(x).sum()
    D = ng.init_params((1, hidden, hidden, 1), np.random.default_rng(seed))
    optimizer = ng.Adam(lr=1e-2)
    for step in range(steps):
        optimizer.lr = 1e-2 * 0.01 ** (step / steps)  # decays to 1e-4: Adam's last steps settle instead of jitter
        logit, cache = ng.discriminator_forward(D, x[:, None])
        d = ng.sigmoid(logit)
        grads, _ = ng.discriminator_backward(D, cache, p_g * d - p_data * (1 - d))
        optimizer.step(D, grads)
    d_star = P_DATA.pdf(GRID) / (P_DATA.pdf(GRID) + P_G.pdf(GRID))
    return OptimalDiscriminator(GRID, discriminator_probability(D, GRID), d_star)


# ---- 2. the value at the optimum ----------------------------------------------------------------------------

def value(p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray) -> float:
    """V(G, D) = E_p_data[log D(x)] + E_p_g[log(1 - D(x))] on a discrete space (0 log 0 = 0)."""
    return float(np.sum(xlogy(p_data, d) + xlogy(p_g, 1 - d)))


def optimal_d(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)); where neither has mass D does not matter (0 here)."""
    total = p_data + p_g
    return np.divide(p_data, total, out=np.zeros_like(total), where=total > 0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """JS(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, in nats (at most log 2)."""
    m = (p + q) / 2
    return float(0.5 * np.sum(xlogy(p, p) - xlogy(p, m)) + 0.5 * np.sum(xlogy(q, q) - xlogy(q, m)))


def value_at_optimum_error(p_data: np.ndarray, p_g: np.ndarray) -> float:
    """|V(G, D*) - (-log 4 + 2 JS(p_data || p_g))|: zero up to rounding if the slides are right."""
    return abs(value(p_data, p_g, optimal_d(p_data, p_g)) - (-LOG4 + 2 * js_divergence(p_data, p_g)))


def random_distributions(seed: int, count: int = 100, size: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of random discrete distributions, some with points where one of them has no mass."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        p, q = rng.dirichlet(np.ones(size)), rng.dirichlet(np.ones(size))
        p[rng.random(size) < 0.2] = 0.0
        pairs.append((p / p.sum(), q))
    return pairs


# ---- 3. saturation -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Saturation:
    d_fake: np.ndarray  # D(G(z)) of each sample
    measured_ratio: np.ndarray  # |grad non-saturating| / |grad minimax| over all of G's arrays, per sample

    @property
    def predicted_ratio(self) -> np.ndarray:
        return (1 - self.d_fake) / self.d_fake

    @property
    def max_relative_deviation(self) -> float:
        return float(np.max(np.abs(self.measured_ratio / self.predicted_ratio - 1)))


def generator_gradient_norm(G: ng.Params, D: ng.Params, z: np.ndarray, kind: ng.GeneratorLoss) -> float:
    fakes, g_cache = ng.generator_forward(G, z)
    logit, d_cache = ng.discriminator_forward(D, fakes)
    _, dlogit = ng.generator_objective(logit, kind)
    grads, _ = ng.generator_backward(G, g_cache, ng.discriminator_backward(D, d_cache, dlogit)[1])
    return float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))


def saturation(seed: int, samples: int = 64, d_steps: int = 300) -> Saturation:
    """Early in training, when D has learnt to reject G's fakes confidently: the gradients of G's two losses."""
    rng = np.random.default_rng(seed)
    G = ng.init_params((NOISE_1D, 32, 32, 1), rng)
    D = ng.init_params((1, 32, 32, 1), rng)
    optimizer = ng.Adam(lr=1e-2)
    for _ in range(d_steps):  # G untrained, D trained: the situation at the start of a GAN's training
        ng.discriminator_step(D, optimizer, ng.generate(G, 256, rng), t=0, slope=0.2)
        ng.discriminator_step(D, optimizer, GAN_DATA.sample(256, rng), t=1, slope=0.2)
    z = rng.standard_normal((samples, NOISE_1D))
    d_fake = ng.sigmoid(ng.discriminator_forward(D, ng.generator_forward(G, z)[0])[0])
    ratio = np.array([generator_gradient_norm(G, D, z[i:i + 1], "non_saturating")
                      / generator_gradient_norm(G, D, z[i:i + 1], "minimax") for i in range(samples)])
    return Saturation(d_fake, ratio)


# ---- 4. a 1-D GAN: p_g moves onto p_data ------------------------------------------------------------------------

BIN_EDGES = np.linspace(-1.0, 1.0, 51)


@dataclass(frozen=True)
class Snapshot:
    step: int
    p_g: np.ndarray  # G's density, histogram over BIN_EDGES
    d: np.ndarray  # D(x) on GRID
    js: float  # JS(p_data || p_g) over the bins


def histogram_js(samples: np.ndarray, data: Gaussians) -> tuple[np.ndarray, float]:
    """G's histogram density and JS between the bin probabilities of G's samples and of p_data (exact)."""
    counts, _ = np.histogram(samples, BIN_EDGES)
    p_g = counts / len(samples)
    p_data = np.diff(data.cdf(BIN_EDGES))
    return p_g / np.diff(BIN_EDGES), js_divergence(p_data / p_data.sum(), p_g)


def one_d_gan(seed: int, steps: int = 3000, snapshot_every: int = 100, batch: int = 128) -> list[Snapshot]:
    """The article's loop (D on fakes, D on reals, G through D) and its plain gradient descent, on 1-D data."""
    rng = np.random.default_rng(seed)
    G = ng.init_params((NOISE_1D, 32, 32, 1), rng)
    D = ng.init_params((1, 32, 32, 1), rng)
    optimizers = {"G": ng.GradientDescent(lr=0.05), "D": ng.GradientDescent(lr=0.05)}
    snapshots = []
    for step in range(steps + 1):
        if step % snapshot_every == 0:
            p_g, js = histogram_js(ng.generate(G, 20_000, rng), GAN_DATA)
            snapshots.append(Snapshot(step, p_g, discriminator_probability(D, GRID), js))
        if step < steps:
            z = rng.standard_normal((batch, NOISE_1D))
            ng.train_step(G, D, optimizers, GAN_DATA.sample(batch, rng), z)
    return snapshots


def figure(snapshots: list[Snapshot], optimum: OptimalDiscriminator, panels: int = 4) -> Figure:
    """p_data, p_g and D at a few moments of training (Goodfellow et al.'s figure 1), JS over training, and D*.

    A bare `Figure` (no pyplot): nothing global, no display needed; it saves through matplotlib's Agg canvas.
    """
    shown = [snapshots[round(i * (len(snapshots) - 1) / (panels - 1))] for i in range(panels)]
    fig = Figure(figsize=(4 * (panels + 2), 3.4))
    axes = fig.subplots(1, panels + 2)
    centres = (BIN_EDGES[:-1] + BIN_EDGES[1:]) / 2
    for ax, snap in zip(axes, shown):
        ax.plot(GRID, GAN_DATA.pdf(GRID), color="black", label="p_data")
        ax.step(centres, snap.p_g, where="mid", color="tab:green", label="p_g")
        ax.plot(GRID, snap.d, color="tab:blue", linestyle="--", label="D(x)")
        ax.set_title(f"step {snap.step}: JS = {snap.js:.3f}")
        ax.set_xlabel("x")
    axes[0].legend(loc="upper left")
    axes[panels].plot([s.step for s in snapshots], [s.js for s in snapshots], marker=".")
    axes[panels].set(title="JS(p_data || p_g) over training", xlabel="step", yscale="log")
    axes[panels + 1].plot(optimum.x, optimum.d_star, color="black", label="p_data / (p_data + p_g)")
    axes[panels + 1].plot(optimum.x, optimum.d_trained, color="tab:blue", linestyle="--", label="trained D")
    axes[panels + 1].set(title=f"optimal D: max |error| = {optimum.max_abs_error:.4f}", xlabel="x")
    axes[panels + 1].legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class TheoryReport:
    metrics: dict[str, float]
    js_curve: list[tuple[int, float]]  # (step, JS) of the 1-D GAN
    figure: Figure


def theory_report(seed: int) -> TheoryReport:
    """All four checks; the metrics are what the tests assert and what the MLflow report shows."""
    optimum = optimal_discriminator(seed)
    pairs = random_distributions(seed)
    same = pairs[0][0]
    sat = saturation(seed)
    snapshots = one_d_gan(seed)
    metrics = {
        "optimal_d_max_abs_error": optimum.max_abs_error,
        "value_at_optimum_max_error": max(value_at_optimum_error(p, q) for p, q in pairs),
        "value_at_p_g_equal_p_data_plus_log4": value(same, same, optimal_d(same, same)) + LOG4,
        "saturation_max_d_fake": float(np.max(sat.d_fake)),
        "saturation_median_ratio_measured": float(np.median(sat.measured_ratio)),
        "saturation_median_ratio_predicted": float(np.median(sat.predicted_ratio)),
        "saturation_ratio_max_relative_deviation": sat.max_relative_deviation,
        "gan_1d_js_start": snapshots[0].js,
        "gan_1d_js_end": snapshots[-1].js,
    }
    return TheoryReport(metrics, [(s.step, s.js) for s in snapshots], figure(snapshots, optimum))
