"""NumPy kernels of batch and layer normalisation: fewer passes over the batch, no copies of broadcast rows.

The specifications (:mod:`deepref.nn.normalization`) write each function as
its formula. The kernels compute the same values (to rounding: sums are taken
in another order) with these changes:

* batch norm's backward pass uses the sums it has at hand: ``gamma`` is
  constant along the batch, so ``sum g = gamma dbeta`` and
  ``sum g x_hat = gamma dgamma``; it is then four elementwise passes;
* column sums of an ``(N, D)`` batch are one BLAS matrix-vector product with
  a vector of ones (NumPy's own sum adds the rows one after another too, so
  both round alike), and sums of products are ``einsum`` calls, without the
  product's temporary;
* a ``(D,)`` row broadcast against a C-ordered ``(N, D)`` batch is applied to
  the batch viewed as ``(N / k, k D)`` against the row repeated ``k`` times
  (:func:`row_op`): NumPy 2 otherwise copies the row into its ufunc buffer
  (8192 elements) whenever a row is shorter, about half a pass more.

The measured effect is in the benchmark notes (``benchmarks/results/kernel_notes.md``).
"""

from __future__ import annotations

import operator
from functools import lru_cache

import numpy as np

from ..nn.normalization import BatchStats, NormCache
from . import register

_NEW = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul}
_IN_PLACE = {np.add: operator.iadd, np.subtract: operator.isub, np.multiply: operator.imul}


def sum_of_products(a, b, axis: int):
    """``sum(a * b, axis=axis, keepdims=True)`` for (N, D) arrays, without the product's temporary."""
    if axis == 0:
        return np.einsum("nd,nd->d", a, b)[None, :]
    return np.einsum("nd,nd->n", a, b)[:, None]


def column_sum(a):
    """``sum(a, axis=0)`` of an (N, D) array, a (D,) array, by one BLAS matrix-vector product."""
    return np.ones(a.shape[0], dtype=a.dtype) @ a


@lru_cache(maxsize=64)
def fold(n: int, d: int, bufsize: int) -> int:
    """How many rows of ``d`` to view as one so that a row fills NumPy's ufunc buffer (1: none)."""
    need = -(-bufsize // d)
    return next((k for k in range(need, min(n, 2 * need) + 1) if n % k == 0), 1)


def row_op(ufunc, a, row, in_place: bool = False):
    """``ufunc(a, row)`` for an (N, D) array ``a`` and a (D,) or (1, D) ``row``: a new array, or into ``a``.

    ``ufunc`` is ``np.add``, ``np.subtract`` or ``np.multiply``; rows are
    folded (:func:`fold`) where ``a`` is C-ordered.
    """
    if a.flags.c_contiguous:
        (n, d), k = a.shape, fold(*a.shape, np.getbufsize())
        if k > 1:
            repeated = np.empty((k, d), dtype=row.dtype)
            repeated[...] = row
            wide = a.reshape(n // k, k * d)
            result = ufunc(wide, repeated.reshape(k * d), out=wide if in_place else None)
            return a if in_place else result.reshape(n, d)
    return (_IN_PLACE if in_place else _NEW)[ufunc](a, row)


def _affine(cache: NormCache, beta):
    """``gamma * x_hat + beta`` from the centred input, with one new array."""
    if cache.axis == 1:
        out = cache.centred * cache.inv_std
        row_op(np.multiply, out, cache.gamma, in_place=True)
    else:
        out = row_op(np.multiply, cache.centred, cache.gamma * cache.inv_std)
    return row_op(np.add, out, beta, in_place=True)


@register("batchnorm_forward", "numpy")
def batchnorm_forward(x, gamma, beta, eps):
    """:func:`deepref.nn.normalization.batchnorm_forward`."""
    n = x.shape[0]
    mean = column_sum(x)[None, :] / n
    centred = row_op(np.subtract, x, mean)
    var = sum_of_products(centred, centred, 0) / n
    inv_std = 1.0 / np.sqrt(var + eps)
    cache = NormCache(centred, inv_std, gamma, 0, BatchStats(mean[0, :], var[0, :]))
    return _affine(cache, beta), cache


@register("batchnorm_eval_forward", "numpy")
def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps):
    """:func:`deepref.nn.normalization.batchnorm_eval_forward`."""
    inv_std = 1.0 / np.sqrt(running_var + eps)
    cache = NormCache(row_op(np.subtract, x, running_mean), inv_std[None, :], gamma, None)
    return _affine(cache, beta), cache


@register("layernorm_forward", "numpy")
def layernorm_forward(x, gamma, beta, eps):
    """:func:`deepref.nn.normalization.layernorm_forward`."""
    centred = x - np.mean(x, axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(sum_of_products(centred, centred, 1) / x.shape[1] + eps)
    cache = NormCache(centred, inv_std, gamma, 1)
    return _affine(cache, beta), cache


@register("normalization_backward", "numpy")
def normalization_backward(dout, cache: NormCache):
    """:func:`deepref.nn.normalization.normalization_backward`."""
    dbeta = column_sum(dout)
    if cache.axis != 1:  # batch norm: inv_std is a (1, D) row
        inv_std = cache.inv_std[0, :]
        dgamma = sum_of_products(dout, cache.centred, 0)[0, :] * inv_std
        scale = cache.gamma * inv_std
        if cache.axis is None:
            return row_op(np.multiply, dout, scale), dgamma, dbeta
        # dx = scale (dout - dbeta / m - x_hat dgamma / m), x_hat = centred inv_std
        m = dout.shape[0]
        dx = row_op(np.multiply, cache.centred, inv_std * (-dgamma / m))
        dx += dout
        row_op(np.subtract, dx, dbeta / m, in_place=True)
        row_op(np.multiply, dx, scale, in_place=True)
        return dx, dgamma, dbeta
    m = dout.shape[1]
    x_hat = cache.centred * cache.inv_std
    dgamma = sum_of_products(dout, x_hat, 0)[0, :]
    g = row_op(np.multiply, dout, cache.gamma)
    sum_g = np.sum(g, axis=1, keepdims=True)
    sum_gx = sum_of_products(g, x_hat, 1)
    dx = x_hat  # reused: dx = (g - sum_g / m - x_hat sum_gx / m) inv_std
    dx *= -sum_gx / m
    dx -= sum_g / m
    dx += g
    dx *= cache.inv_std
    return dx, dgamma, dbeta
