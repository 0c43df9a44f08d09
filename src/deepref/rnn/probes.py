"""Probes of the recurrent layers used by the chapter's measurements, on any array backend.

:func:`random_cell_weights` draws float64 weights for gradient checks; :func:`scaled_orthogonal`
builds recurrent weights whose singular values and eigenvalue moduli all equal one number;
:func:`gradient_by_lag` measures how the gradient of the final hidden state reaches each input
step, and :func:`rnn_lag_curve` does so for a tanh RNN with such weights.

>>> curve = rnn_lag_curve(as_float64(np.full((2, 6, 1), 1e-3)), radius=0.5, hidden=8)
>>> curve.shape, float(curve[0])
((6,), 1.0)
"""

from __future__ import annotations

import numpy as np

from ..backend import asarray, to_numpy
from ..gradcheck import as_float64
from ..seeds import spawn_seeds
from ..validation import check_count, check_positive
from .layers import rnn_backward, rnn_forward


def random_cell_weights(gates: int, d: int, h: int, seed: int, scale: float = 0.6) -> tuple:
    """Random float64 weights of a recurrent cell: ``w_x (d, gates*h)``, ``w_h (h, gates*h)``, ``b_x``, ``b_h``.

    Parameters
    ----------
    gates : int
        Blocks of the pre-activation: 1 (tanh RNN), 3 (GRU), 4 (LSTM).
    d, h : int
        Input and hidden widths.
    seed : int
    scale : float
        Standard deviation of the weights (the biases have 0.3).

    Returns
    -------
    tuple of arrays
        On the current backend, in float64.
    """
    for name, value in (("gates", gates), ("d", d), ("h", h)):
        check_count(name, value)
    rng = np.random.default_rng(seed)
    width = gates * h
    return as_float64(scale * rng.normal(size=(d, width)), scale * rng.normal(size=(h, width)),
                      0.3 * rng.normal(size=width), 0.3 * rng.normal(size=width))


def scaled_orthogonal(size: int, radius: float, seed: int) -> np.ndarray:
    """``radius`` times a random orthogonal matrix: all singular values and eigenvalue moduli equal ``radius``.

    Parameters
    ----------
    size : int
    radius : float
        Positive.
    seed : int

    Returns
    -------
    ndarray, shape (size, size)
        On the host, float64.
    """
    check_count("size", size)
    check_positive("radius", radius)
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(size, size)))
    return radius * q * np.sign(np.diag(r))


def gradient_by_lag(forward, backward, x, state, weights, seed: int = 0) -> np.ndarray:
    """Norm of ``dL/dx_{T-k}`` for ``k = 0 .. T-1``, relative to ``k = 0``, with ``L = u . h_T`` for a random ``u``.

    No gradient reaches the output sequence or a final cell state: only the final hidden state.

    Parameters
    ----------
    forward, backward : callable
        A sequence function pair of :mod:`deepref.rnn.layers` (``rnn_forward``, ``lstm_forward``, ...),
        whose second output is the final hidden state.
    x : array, shape (N, T, D)
    state : list of arrays
        The initial states (``[h_0]``, or ``[h_0, c_0]`` for the LSTM).
    weights : list of arrays
        ``w_x, w_h, b_x, b_h``.
    seed : int
        Draws ``u``.

    Returns
    -------
    ndarray, shape (T,)
        On the host; entry ``k`` is the norm over the batch and the input width at lag ``k``.
    """
    outputs, cache = forward(x, *state, *weights)
    upstream = [asarray(np.zeros(tuple(o.shape))) for o in outputs]
    u = np.random.default_rng(seed).normal(size=tuple(outputs[1].shape))
    upstream[1] = asarray(u)  # on the final hidden state
    dx = to_numpy(backward(tuple(upstream), cache)[0])
    norms = np.linalg.norm(dx, axis=(0, 2))[::-1]
    return norms / norms[0]


def rnn_lag_curve(x, radius: float, hidden: int = 32, seed: int = 1) -> np.ndarray:
    """:func:`gradient_by_lag` of a tanh RNN whose ``W_h`` is :func:`scaled_orthogonal` with ``radius``.

    Parameters
    ----------
    x : array, shape (N, T, D)
        Float64 input sequences.
    radius : float
        Every singular value and eigenvalue modulus of ``W_h``.
    hidden : int
        Units.
    seed : int
        Spawns three independent streams (:func:`deepref.seeds.spawn_seeds`): ``W_x`` (standard
        normal), the orthogonal factor of ``W_h`` and ``u``; the biases and the initial state are zero.

    Returns
    -------
    ndarray, shape (T,)
    """
    w_x_seed, w_h_seed, u_seed = spawn_seeds(seed, 3)
    w_x = as_float64(np.random.default_rng(w_x_seed).normal(size=(x.shape[2], hidden)))
    w_h = as_float64(scaled_orthogonal(hidden, radius, w_h_seed))
    zero_bias = as_float64(np.zeros(hidden))
    h0 = as_float64(np.zeros((x.shape[0], hidden)))
    weights = [w_x, w_h, zero_bias, zero_bias]
    return gradient_by_lag(rnn_forward, rnn_backward, x, [h0], weights, seed=u_seed)
