"""Batch normalisation and layer normalisation, forward and backward.

Both standardise, then apply a learnt scale ``gamma`` and shift ``beta``:

.. math:: \\hat x = (x - \\mu) / \\sqrt{\\sigma^2 + \\epsilon}, \\qquad y = \\gamma \\hat x + \\beta.

Batch norm takes ``mu`` and ``sigma**2`` (the *biased* variance, divided by
``N``) per feature over the batch; layer norm takes them per example over the
features. The backward pass through the standardisation, for statistics taken
over ``M`` entries along an axis, is

.. math:: \\frac{\\partial L}{\\partial x} = \\frac{1}{M\\sqrt{\\sigma^2+\\epsilon}}
    \\Big(M\\, g - \\sum g - \\hat x \\sum g \\hat x\\Big), \\qquad g = \\gamma\\, \\partial L / \\partial y,

with the sums along that axis (derived in the Generalization chapter).
In evaluation mode batch norm uses running estimates instead, updated in
training as in PyTorch: ``running = (1 - momentum) running + momentum batch``,
with the *unbiased* batch variance (divided by ``N - 1``) for ``running_var``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import get_namespace
from ..validation import check_in_range, check_ndim, check_positive, check_shape
from .init import zeros
from .module import Module, Parameter


class NormCache(NamedTuple):
    x_hat: object
    inv_std: object
    gamma: object
    axis: int | None
    """Axis the statistics were taken over; ``None`` for fixed (running) statistics."""


def _sum_of_products(a, b, axis: int):
    """``sum(a * b, axis=axis, keepdims=True)`` for (N, D) arrays, without the product's temporary on NumPy."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        total = np.einsum("nd,nd->d" if axis == 0 else "nd,nd->n", a, b)
        return np.expand_dims(total, axis)
    return get_namespace(a, b).sum(a * b, axis=axis, keepdims=True)


def _standardize(x, axis: int, eps: float):
    """``(x_hat, mean, biased var, 1/sqrt(var + eps))`` with statistics along ``axis``.

    The centred input ``x - mean`` is computed once, gives the variance, and
    is scaled in place into ``x_hat``.
    """
    xp = get_namespace(x)
    mean = xp.mean(x, axis=axis, keepdims=True)
    x_hat = x - mean
    var = _sum_of_products(x_hat, x_hat, axis) / x.shape[axis]
    inv_std = 1.0 / xp.sqrt(var + eps)
    x_hat *= inv_std
    return x_hat, mean, var, inv_std


def _affine(x_hat, gamma, beta):
    """``gamma * x_hat + beta`` with one new array."""
    out = x_hat * gamma
    out += beta
    return out


def _check_affine(x, gamma, beta, eps: float) -> None:
    check_ndim("x", x, 2, "(N, D)")
    check_shape("gamma", gamma, (x.shape[1],))
    check_shape("beta", beta, (x.shape[1],))
    check_positive("eps", eps)


class BatchStats(NamedTuple):
    mean: object
    var: object
    """Biased batch variance (divided by N)."""


def batchnorm_forward(x, gamma, beta, eps: float = 1e-5):
    """Batch normalisation in training mode (statistics of this batch).

    Parameters
    ----------
    x : (N, D) array
        A batch of ``N >= 2`` examples.
    gamma, beta : (D,) arrays
        Scale and shift.
    eps : float
        Added to the variance inside the square root.

    Returns
    -------
    out : (N, D) array
    cache : NormCache
    stats : BatchStats
        Batch mean and biased variance, each (D,), for the running estimates.
    """
    _check_affine(x, gamma, beta, eps)
    if x.shape[0] < 2:
        raise ValueError(
            f"batch norm in training mode needs at least 2 examples per batch to estimate a variance, "
            f"got a batch of shape {tuple(x.shape)}; use eval mode for single examples"
        )
    x_hat, mean, var, inv_std = _standardize(x, 0, eps)
    return _affine(x_hat, gamma, beta), NormCache(x_hat, inv_std, gamma, 0), BatchStats(mean[0, :], var[0, :])


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps: float = 1e-5):
    """Batch normalisation in evaluation mode: a fixed affine map from the running estimates.

    Parameters
    ----------
    x : (N, D) array
    gamma, beta, running_mean, running_var : (D,) arrays
    eps : float

    Returns
    -------
    out : (N, D) array
    cache : NormCache
    """
    _check_affine(x, gamma, beta, eps)
    check_shape("running_mean", running_mean, (x.shape[1],))
    check_shape("running_var", running_var, (x.shape[1],))
    inv_std = 1.0 / get_namespace(x).sqrt(running_var + eps)
    x_hat = (x - running_mean) * inv_std
    return _affine(x_hat, gamma, beta), NormCache(x_hat, inv_std, gamma, None)


def normalization_backward(dout, cache: NormCache):
    """Gradients of :func:`batchnorm_forward`, :func:`batchnorm_eval_forward` and :func:`layernorm_forward`.

    Parameters
    ----------
    dout : (N, D) array
    cache : NormCache

    Returns
    -------
    dx : (N, D) array
    dgamma, dbeta : (D,) arrays
    """
    xp = get_namespace(dout)
    check_shape("dout", dout, tuple(cache.x_hat.shape))
    dgamma = _sum_of_products(dout, cache.x_hat, 0)[0, :]
    dbeta = xp.sum(dout, axis=0)
    if cache.axis is None:
        return dout * (cache.gamma * cache.inv_std), dgamma, dbeta
    if cache.axis == 0:
        # batch norm: gamma is constant along the batch, so sum g = gamma dbeta and
        # sum g x_hat = gamma dgamma, the sums already at hand
        m = cache.x_hat.shape[0]
        dx = cache.x_hat * (-dgamma / m)
        dx += dout
        dx -= dbeta / m
        dx *= cache.gamma * cache.inv_std
        return dx, dgamma, dbeta
    m = cache.x_hat.shape[1]
    g = dout * cache.gamma
    sum_g = xp.sum(g, axis=1, keepdims=True)
    sum_gx = _sum_of_products(g, cache.x_hat, 1)
    dx = cache.x_hat * (-sum_gx)
    dx += m * g - sum_g
    dx *= cache.inv_std / m
    return dx, dgamma, dbeta


batchnorm_backward = normalization_backward
layernorm_backward = normalization_backward


def layernorm_forward(x, gamma, beta, eps: float = 1e-5):
    """Layer normalisation: standardise each example over its ``D`` features.

    Parameters
    ----------
    x : (N, D) array
    gamma, beta : (D,) arrays
    eps : float

    Returns
    -------
    out : (N, D) array
    cache : NormCache
    """
    _check_affine(x, gamma, beta, eps)
    x_hat, _, _, inv_std = _standardize(x, 1, eps)
    return _affine(x_hat, gamma, beta), NormCache(x_hat, inv_std, gamma, 1)


class _AffineNorm(Module):
    """Shared parameters of the normalisation layers: ``weight`` (gamma, ones) and ``bias`` (beta, zeros)."""

    def __init__(self, num_features: int, eps: float, dtype):
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        check_positive("eps", eps)
        self.eps = eps
        self.weight = Parameter(zeros((num_features,), dtype=dtype) + 1.0)
        self.bias = Parameter(zeros((num_features,), dtype=dtype))
        self._cache = None

    def backward(self, dout):
        dx, dgamma, dbeta = normalization_backward(dout, self._cache)
        self.weight.accumulate(dgamma)
        self.bias.accumulate(dbeta)
        return dx


class BatchNorm1d(_AffineNorm):
    """Batch normalisation of ``(N, D)`` activations, as ``torch.nn.BatchNorm1d``.

    Training mode normalises with the batch statistics and updates the buffers
    ``running_mean`` (zeros at first) and ``running_var`` (ones) with
    ``momentum``; evaluation mode uses the buffers.

    Parameters
    ----------
    num_features : int
        ``D``.
    eps : float
    momentum : float
        Weight of the newest batch in the running estimates, in ``(0, 1]``.
    dtype : dtype, optional
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=None):
        super().__init__(num_features, eps, dtype)
        check_in_range("momentum", momentum, 0.0, 1.0, closed="right")
        self.momentum = momentum
        self.register_buffer("running_mean", zeros((num_features,), dtype=dtype))
        self.register_buffer("running_var", zeros((num_features,), dtype=dtype) + 1.0)

    def forward(self, x):
        if not self.training:
            out, self._cache = batchnorm_eval_forward(
                x, self.weight.data, self.bias.data, self.running_mean, self.running_var, self.eps
            )
            return out
        out, self._cache, stats = batchnorm_forward(x, self.weight.data, self.bias.data, self.eps)
        n, m = x.shape[0], self.momentum
        self.running_mean = (1.0 - m) * self.running_mean + m * stats.mean
        self.running_var = (1.0 - m) * self.running_var + m * stats.var * (n / (n - 1))
        return out

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.weight.shape[0]}, eps={self.eps}, momentum={self.momentum})"


class LayerNorm(_AffineNorm):
    """Layer normalisation over the last axis of ``(N, D)`` activations, as ``torch.nn.LayerNorm(D)``.

    The same computation in training and evaluation mode.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, dtype=None):
        super().__init__(num_features, eps, dtype)

    def forward(self, x):
        out, self._cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return out

    def __repr__(self) -> str:
        return f"LayerNorm({self.weight.shape[0]}, eps={self.eps})"
