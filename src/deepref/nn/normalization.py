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

The forward pass keeps the centred input ``x - mu`` and ``1 / sqrt(sigma**2 + eps)``
rather than ``x_hat`` itself, which saves a pass over the batch; batch norm's
backward pass then needs two sums over the batch and four elementwise passes.
"""

from __future__ import annotations

import operator
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..backend import get_namespace
from ..validation import check_in_range, check_ndim, check_positive, check_shape
from .init import zeros
from .module import Module, Parameter


class NormCache(NamedTuple):
    centred: object
    """``x - mean``, (N, D); the standardised input is ``x_hat = centred * inv_std``."""
    inv_std: object
    """``1 / sqrt(var + eps)``: a (1, D) row for batch norm, an (N, 1) column for layer norm."""
    gamma: object
    axis: int | None
    """Axis the statistics were taken over; ``None`` for fixed (running) statistics."""


def _sum_of_products(a, b, axis: int):
    """``sum(a * b, axis=axis, keepdims=True)`` for (N, D) arrays, without the product's temporary on NumPy."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if axis == 0:
            return np.einsum("nd,nd->d", a, b)[None, :]
        return np.einsum("nd,nd->n", a, b)[:, None]
    return get_namespace(a, b).sum(a * b, axis=axis, keepdims=True)


def _column_sum(a):
    """``sum(a, axis=0)`` of an (N, D) array, a (D,) array; one BLAS matrix-vector product on NumPy.

    NumPy's own sum adds the rows one after the other too (it sums pairwise
    only along the contiguous axis), so both round alike.
    """
    if isinstance(a, np.ndarray):
        return np.ones(a.shape[0], dtype=a.dtype) @ a
    return get_namespace(a).sum(a, axis=0)


_NEW = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul}
_IN_PLACE = {np.add: operator.iadd, np.subtract: operator.isub, np.multiply: operator.imul}


@lru_cache(maxsize=64)
def _fold(n: int, d: int, bufsize: int) -> int:
    """How many rows of ``d`` to view as one so that a row fills NumPy's ufunc buffer (1: none)."""
    need = -(-bufsize // d)
    return next((k for k in range(need, min(n, 2 * need) + 1) if n % k == 0), 1)


def _row_op(ufunc, a, row, in_place: bool = False):
    """``ufunc(a, row)`` for an (N, D) array ``a`` and a (D,) or (1, D) ``row``: a new array, or into ``a``.

    ``ufunc`` is ``np.add``, ``np.subtract`` or ``np.multiply``. NumPy 2 copies a
    broadcast row into its ufunc buffer (8192 elements) when the rows are
    shorter, which costs about half a pass more (55 against 35 us for a
    256x1024 float32 product); viewing ``a`` as (N / k, k D) against the row
    repeated ``k`` times gives the same result without the copies.
    """
    if isinstance(a, np.ndarray) and isinstance(row, np.ndarray) and a.flags.c_contiguous:
        (n, d), k = a.shape, _fold(*a.shape, np.getbufsize())
        if k > 1:
            repeated = np.empty((k, d), dtype=row.dtype)
            repeated[...] = row
            wide = a.reshape(n // k, k * d)
            result = ufunc(wide, repeated.reshape(k * d), out=wide if in_place else None)
            return a if in_place else result.reshape(n, d)
    return (_IN_PLACE if in_place else _NEW)[ufunc](a, row)


def _standardize(x, axis: int, eps: float):
    """``(centred, mean, biased var, 1/sqrt(var + eps))`` with statistics along ``axis``.

    The centred input ``x - mean`` gives the variance and is kept for the
    output and the backward pass.
    """
    xp = get_namespace(x)
    if axis == 0:
        mean = _column_sum(x)[None, :] / x.shape[0]
        centred = _row_op(np.subtract, x, mean)
    else:
        mean = xp.mean(x, axis=axis, keepdims=True)
        centred = x - mean
    var = _sum_of_products(centred, centred, axis) / x.shape[axis]
    inv_std = 1.0 / xp.sqrt(var + eps)
    return centred, mean, var, inv_std


def _affine(cache: NormCache, beta):
    """``gamma * x_hat + beta`` from the centred input, with one new array."""
    if cache.axis == 1:
        out = cache.centred * cache.inv_std
        _row_op(np.multiply, out, cache.gamma, in_place=True)
    else:
        out = _row_op(np.multiply, cache.centred, cache.gamma * cache.inv_std)
    return _row_op(np.add, out, beta, in_place=True)


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
    centred, mean, var, inv_std = _standardize(x, 0, eps)
    cache = NormCache(centred, inv_std, gamma, 0)
    return _affine(cache, beta), cache, BatchStats(mean[0, :], var[0, :])


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
    cache = NormCache(_row_op(np.subtract, x, running_mean), inv_std[None, :], gamma, None)
    return _affine(cache, beta), cache


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
    check_shape("dout", dout, tuple(cache.centred.shape))
    dbeta = _column_sum(dout)
    if cache.axis != 1:  # batch norm: inv_std is a (1, D) row
        inv_std = cache.inv_std[0, :]
        dgamma = _sum_of_products(dout, cache.centred, 0)[0, :] * inv_std
        scale = cache.gamma * inv_std
        if cache.axis is None:
            return _row_op(np.multiply, dout, scale), dgamma, dbeta
        # gamma is constant along the batch, so sum g = gamma dbeta and
        # sum g x_hat = gamma dgamma, the sums already at hand:
        # dx = scale (dout - dbeta / m - x_hat dgamma / m), x_hat = centred inv_std
        m = dout.shape[0]
        dx = _row_op(np.multiply, cache.centred, inv_std * (-dgamma / m))
        dx += dout
        _row_op(np.subtract, dx, dbeta / m, in_place=True)
        _row_op(np.multiply, dx, scale, in_place=True)
        return dx, dgamma, dbeta
    m = dout.shape[1]
    x_hat = cache.centred * cache.inv_std
    dgamma = _sum_of_products(dout, x_hat, 0)[0, :]
    g = _row_op(np.multiply, dout, cache.gamma)
    sum_g = xp.sum(g, axis=1, keepdims=True)
    sum_gx = _sum_of_products(g, x_hat, 1)
    dx = x_hat  # reused: dx = (g - sum_g / m - x_hat sum_gx / m) inv_std
    dx *= -sum_gx / m
    dx -= sum_g / m
    dx += g
    dx *= cache.inv_std
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
    centred, _, _, inv_std = _standardize(x, 1, eps)
    cache = NormCache(centred, inv_std, gamma, 1)
    return _affine(cache, beta), cache


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
