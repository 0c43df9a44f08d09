"""Population coding: tuning curves, Poisson spike counts, decoders and the Cramer-Rao bound.

A population of N neurons with von Mises tuning to an angle ``s``,
``f_i(s) = r_base + r_max exp(kappa (cos(s - s_i) - 1))`` (Hz), emits Poisson
counts ``n_i`` in a window of ``window`` ms. The Fisher information of the
counts about ``s`` is ``J(s) = (window / 1000) sum_i f_i'(s)^2 / f_i(s)``, and
no unbiased decoder has a mean squared error below ``1 / J(s)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import asarray, default_rng, get_namespace
from ..seeds import spawn_seeds
from ..validation import check_count, check_ndim
from ._common import check_positive_fields, host_rng


@dataclass(frozen=True)
class Population:
    """Von Mises tuning of N neurons with evenly spaced preferred angles.

    Attributes
    ----------
    n : int
        Number of neurons.
    r_base, r_max : float
        Baseline and peak-above-baseline rates, Hz.
    kappa : float
        Tuning concentration (larger is narrower).
    window : float
        Counting window, ms.
    gain : float
        Multiplies every rate (attention modelled as a gain change).
    """

    n: int = 32
    r_base: float = 2.0
    r_max: float = 30.0
    kappa: float = 2.0
    window: float = 200.0
    gain: float = 1.0

    def __post_init__(self):
        check_count("n", self.n, 2)
        check_positive_fields(self, ("r_base", "r_max", "kappa", "window", "gain"))

    def preferred(self, like):
        """Preferred angles ``2 pi i / N`` on the backend of ``like``, ``(N,)``."""
        xp = get_namespace(like)
        return xp.astype(xp.arange(self.n), like.dtype) * (2.0 * math.pi / self.n)

    def rates(self, stimulus):
        """Mean rates ``f_i(s)``, Hz, ``(B, N)`` for stimuli ``(B,)`` in radians."""
        xp = get_namespace(stimulus)
        delta = xp.reshape(stimulus, (-1, 1)) - xp.reshape(self.preferred(stimulus), (1, -1))
        return self.gain * (self.r_base + self.r_max * xp.exp(self.kappa * (xp.cos(delta) - 1.0)))

    def rate_derivatives(self, stimulus):
        """``f_i'(s)``, Hz per radian, ``(B, N)``."""
        xp = get_namespace(stimulus)
        delta = xp.reshape(stimulus, (-1, 1)) - xp.reshape(self.preferred(stimulus), (1, -1))
        return -self.gain * self.r_max * self.kappa * xp.sin(delta) * xp.exp(self.kappa * (xp.cos(delta) - 1.0))

    def fisher_information(self, stimulus):
        """Fisher information of the counts about the stimulus, 1/rad^2, ``(B,)``."""
        xp = get_namespace(stimulus)
        return (self.window / 1000.0) * xp.sum(self.rate_derivatives(stimulus) ** 2 / self.rates(stimulus), axis=1)

    def sample(self, trials: int, seed=0, dtype=None):
        """Random stimuli and the population's Poisson counts.

        Generated on the host with NumPy's Poisson sampler (from ``seed``, an int or a generator) and
        moved to the current backend.

        Returns
        -------
        stimulus : (trials,) array, radians in [0, 2 pi)
        counts : (trials, N) array
        """
        check_count("trials", trials)
        rng = host_rng(seed)
        stimulus = rng.uniform(0.0, 2.0 * math.pi, trials)
        mean_counts = self.rates(stimulus) * (self.window / 1000.0)
        return asarray(stimulus, dtype=dtype), asarray(rng.poisson(mean_counts).astype(float), dtype=dtype)


def angle_error(estimate, stimulus):
    """Signed circular difference ``estimate - stimulus`` wrapped to ``(-pi, pi]``, radians."""
    xp = get_namespace(estimate, stimulus)
    diff = estimate - stimulus
    return xp.atan2(xp.sin(diff), xp.cos(diff))


def population_vector(counts, population: Population):
    """Population-vector estimate: the angle of ``sum_i n_i (cos s_i, sin s_i)``, ``(B,)``."""
    check_ndim("counts", counts, 2, "(B, N)")
    xp = get_namespace(counts)
    preferred = population.preferred(counts)
    return xp.atan2(counts @ xp.sin(preferred), counts @ xp.cos(preferred))


def maximum_likelihood(counts, population: Population, grid: int = 720):
    """Maximum-likelihood estimate on a grid of ``grid`` angles, ``(B,)``.

    The Poisson log-likelihood up to terms free of ``s`` is
    ``sum_i n_i log f_i(s) - (window / 1000) sum_i f_i(s)``.
    """
    check_ndim("counts", counts, 2, "(B, N)")
    check_count("grid", grid)
    xp = get_namespace(counts)
    angles = xp.astype(xp.arange(grid), counts.dtype) * (2.0 * math.pi / grid)
    rates = population.rates(angles)  # (G, N)
    loglik = counts @ xp.log(rates).T - (population.window / 1000.0) * xp.sum(rates, axis=1)
    return xp.take(angles, xp.argmax(loglik, axis=1))


def angle_features(stimulus):
    """``(cos s, sin s)``, ``(B, 2)``: a regression target without the wrap-around at 2 pi."""
    xp = get_namespace(stimulus)
    return xp.stack([xp.cos(stimulus), xp.sin(stimulus)], axis=1)


def features_to_angle(features):
    """Angle of predicted ``(cos, sin)`` pairs ``(B, 2)``, radians."""
    xp = get_namespace(features)
    return xp.atan2(features[:, 1], features[:, 0])


def fit_mlp_decoder(counts, stimulus, seed=0, hidden: int = 64, epochs: int = 30, scale: float = 10.0):
    """A ``N``-``hidden``-2 ReLU network fitted by Adam to map counts to ``(cos s, sin s)``.

    Parameters
    ----------
    counts : (B, N) array
    stimulus : (B,) array
        Radians.
    seed : int or Generator
        Spawns two independent streams: the initial weights and the batch order.
    hidden, epochs : int
    scale : float
        The counts are divided by it (inputs of order one).

    Returns
    -------
    callable
        ``decode(counts) -> (B,)`` angles.
    """
    from .. import nn
    from ..optim import Adam
    from ..train import fit

    check_ndim("counts", counts, 2, "(B, N)")
    check_count("hidden", hidden)
    check_count("epochs", epochs)
    init_seed, order_seed = spawn_seeds(seed, 2)
    init = default_rng(init_seed)
    model = nn.Sequential(nn.Linear(counts.shape[1], hidden, seed=init), nn.ReLU(), nn.Linear(hidden, 2, seed=init))
    fit(model, nn.MSELoss(), Adam(model.parameters(), lr=3e-3), counts / scale, angle_features(stimulus),
        epochs=epochs, batch_size=64, seed=order_seed)
    return lambda new_counts: features_to_angle(model.forward(new_counts / scale))


def fit_linear_decoder(counts, stimulus, ridge: float = 1e-3):
    """Least-squares map from counts (plus a constant) to ``(cos s, sin s)``.

    Returns
    -------
    (N + 1, 2) array
        Weights; apply with :func:`linear_decode`.
    """
    xp = get_namespace(counts, stimulus)
    design = xp.concat([counts, xp.ones((counts.shape[0], 1), dtype=counts.dtype)], axis=1)
    gram = design.T @ design + ridge * xp.eye(design.shape[1], dtype=counts.dtype)
    return xp.linalg.solve(gram, design.T @ angle_features(stimulus))


def linear_decode(counts, weights):
    """Angle decoded by a linear map from :func:`fit_linear_decoder`, ``(B,)``."""
    xp = get_namespace(counts, weights)
    design = xp.concat([counts, xp.ones((counts.shape[0], 1), dtype=counts.dtype)], axis=1)
    return features_to_angle(design @ weights)
