"""Seeded sequence tasks: the adding problem, the copy (memory) task and a noisy sum of sines.

Each generator draws on the host with NumPy's ``default_rng(seed)`` and moves
the result to the current backend, so the same seed gives the same data on
every backend. Sequences are batch-first, ``(N, T, D)``, as in
:mod:`deepref.rnn.layers`.

>>> x, y = adding_problem(4, 10, seed=0)
>>> tuple(x.shape), tuple(y.shape)
((4, 10, 2), (4, 1))
"""

from __future__ import annotations

import numpy as np

from ..backend import asarray, get_namespace
from ..validation import check_count, check_ndim, check_positive

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of always predicting 1, the mean of the sum of two ``U(0, 1)`` values: ``Var = 2 / 12``."""


def adding_problem(n: int, length: int, seed: int = 0, dtype=None):
    """The adding problem (Hochreiter and Schmidhuber, 1997), in its common modern form.

    Each sequence has ``length`` steps of two features: a value drawn from
    ``U(0, 1)`` and a marker that is 1 at exactly two steps and 0 elsewhere.
    One marked step is drawn uniformly from the first half of the sequence,
    the other from the second half, so the two values the network must add
    are on average ``length / 2`` steps apart and the first one is always at
    least ``length / 2`` steps before the end. The target is the sum of the two
    marked values. Predicting the mean, 1, gives MSE ``1/6``
    (:data:`ADDING_BASELINE_MSE`).

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int
        Steps per sequence, ``T >= 2``.
    seed : int
    dtype : optional
        Floating dtype (float64 by default).

    Returns
    -------
    x : (n, T, 2) array
        Values in channel 0, markers in channel 1.
    y : (n, 1) array
    """
    check_count("n", n, 1)
    check_count("length", length, 2)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    target = (values * markers).sum(axis=1, keepdims=True)
    return asarray(np.stack([values, markers], axis=2), dtype=dtype), asarray(target, dtype=dtype)


def copy_task(n: int, length: int = 10, delay: int = 20, num_symbols: int = 8, seed: int = 0, dtype=None):
    """The copy (memory) task: read ``length`` symbols, wait ``delay`` steps, then write them back.

    Class 0 is the blank, ``1..num_symbols`` are the symbols and
    ``num_symbols + 1`` is the "now recall" delimiter. The input is the
    symbol string, ``delay - 1`` blanks, the delimiter and ``length`` blanks
    (``T = 2 * length + delay`` steps); the target is blank for the first
    ``length + delay`` steps and then the symbol string. A network without
    memory can at best output blanks and then guess: cross-entropy
    ``length * log(num_symbols) / T`` per step.

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int
        Symbols to remember.
    delay : int
        Steps between the end of the string and the delimiter's step, plus one.
    num_symbols : int
    seed : int
    dtype : optional
        Floating dtype of the one-hot input (float64 by default).

    Returns
    -------
    x : (n, T, num_symbols + 2) array
        One-hot inputs.
    y : (n, T) int64 array
        Target classes.
    """
    check_count("n", n, 1)
    check_count("length", length, 1)
    check_count("delay", delay, 1)
    check_count("num_symbols", num_symbols, 1)
    rng = np.random.default_rng(seed)
    symbols = rng.integers(1, num_symbols + 1, (n, length))
    blanks = np.zeros((n, delay - 1), dtype=np.int64)
    delimiter = np.full((n, 1), num_symbols + 1)
    tail = np.zeros((n, length), dtype=np.int64)
    inputs = np.concatenate([symbols, blanks, delimiter, tail], axis=1)
    targets = np.concatenate([np.zeros((n, length + delay), dtype=np.int64), symbols], axis=1)
    one_hot = np.eye(num_symbols + 2)[inputs]
    return asarray(one_hot, dtype=dtype), asarray(targets.astype(np.int64))


def noisy_sines(
    n_steps: int, periods=(16.0, 37.0), amplitudes=(1.0, 0.5), noise: float = 0.1, seed: int = 0, dtype=None
):
    """A sum of sines with Gaussian noise: ``s_t = sum_k A_k sin(2 pi t / P_k + phi_k) + noise * e_t``.

    The phases ``phi_k`` and the noise ``e_t ~ N(0, 1)`` are drawn from ``seed``.

    Parameters
    ----------
    n_steps : int
    periods, amplitudes : sequences of float, same length
    noise : float
        Standard deviation of the noise (>= 0).
    seed : int
    dtype : optional

    Returns
    -------
    (n_steps,) array
    """
    check_count("n_steps", n_steps, 1)
    if len(periods) != len(amplitudes) or not periods:
        raise ValueError(f"periods and amplitudes must be non-empty and equally long, got {periods} and {amplitudes}")
    for period in periods:
        check_positive("period", float(period))
    check_positive("noise", noise, allow_zero=True)
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)
    phases = rng.uniform(0.0, 2 * np.pi, len(periods))
    clean = sum(a * np.sin(2 * np.pi * t / p + phi) for a, p, phi in zip(amplitudes, periods, phases))
    return asarray(clean + noise * rng.standard_normal(n_steps), dtype=dtype)


def sliding_windows(series, window: int, horizon: int = 1):
    """Cut a series into (input window, value ``horizon`` steps after it) pairs for forecasting.

    Parameters
    ----------
    series : (S,) array
    window : int
        Steps the model sees.
    horizon : int
        How far after the window's last step the target lies.

    Returns
    -------
    x : (M, window, 1) array, ``M = S - window - horizon + 1``
    y : (M, 1) array
    """
    check_ndim("series", series, 1, "(S,)")
    check_count("window", window, 1)
    check_count("horizon", horizon, 1)
    count = series.shape[0] - window - horizon + 1
    if count < 1:
        raise ValueError(f"a series of {series.shape[0]} steps is too short for window {window} and horizon {horizon}")
    xp = get_namespace(series)
    starts = np.arange(count)[:, None]
    index = xp.asarray((starts + np.arange(window)[None, :]).reshape(-1))
    x = xp.reshape(xp.take(series, index), (count, window, 1))
    y = xp.reshape(xp.take(series, xp.asarray(starts[:, 0] + window + horizon - 1)), (count, 1))
    return x, y
