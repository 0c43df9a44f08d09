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
rather than ``x_hat`` itself. On NumPy a registered kernel
(:mod:`deepref.kernels.numpy_normalization`) computes the same functions with
fewer passes over the batch.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import kernels
from ..backend import get_namespace
from ..validation import check_in_range, check_ndim, check_positive, check_shape
from .init import zeros
from .module import Module, Parameter


class BatchStats(NamedTuple):
    mean: object
    var: object
    """Biased batch variance (divided by N)."""


class NormCache(NamedTuple):
    centred: object
    """``x - mean``, (N, D); the standardised input is ``x_hat = centred * inv_std``."""
    inv_std: object
    """``1 / sqrt(var + eps)``: a (1, D) row for batch norm, an (N, 1) column for layer norm."""
    gamma: object
    axis: int | None
    """Axis the statistics were taken over; ``None`` for fixed (running) statistics."""
    stats: BatchStats | None = None
    """Batch norm in training mode: the batch's mean and biased variance, each (D,), for the running estimates."""


def _standardize(x, axis: int, eps: float):
    """``(centred, mean, biased var, 1/sqrt(var + eps))`` with statistics along ``axis`` (kept as an axis)."""
    xp = get_namespace(x)
    mean = xp.mean(x, axis=axis, keepdims=True)
    centred = x - mean
    var = xp.mean(centred * centred, axis=axis, keepdims=True)
    return centred, mean, var, 1.0 / xp.sqrt(var + eps)


def _check_affine(x, gamma, beta, eps: float) -> None:
    check_ndim("x", x, 2, "(N, D)")
    check_shape("gamma", gamma, (x.shape[1],))
    check_shape("beta", beta, (x.shape[1],))
    check_positive("eps", eps)


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
        ``cache.stats`` holds the batch mean and biased variance, each (D,),
        for the running estimates.
    """
    _check_affine(x, gamma, beta, eps)
    if x.shape[0] < 2:
        raise ValueError(
            f"batch norm in training mode needs at least 2 examples per batch to estimate a variance, "
            f"got a batch of shape {tuple(x.shape)}; use eval mode for single examples"
        )
    kernel = kernels.lookup("batchnorm_forward", get_namespace(x, gamma, beta))
    if kernel is not None:
        return kernel(x, gamma, beta, eps)
    centred, mean, var, inv_std = _standardize(x, 0, eps)
    out = centred * inv_std * gamma + beta
    return out, NormCache(centred, inv_std, gamma, 0, BatchStats(mean[0, :], var[0, :]))


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
    xp = get_namespace(x, gamma, beta, running_mean, running_var)
    kernel = kernels.lookup("batchnorm_eval_forward", xp)
    if kernel is not None:
        return kernel(x, gamma, beta, running_mean, running_var, eps)
    centred = x - running_mean
    inv_std = 1.0 / xp.sqrt(running_var + eps)
    return centred * inv_std * gamma + beta, NormCache(centred, inv_std[None, :], gamma, None)


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
    kernel = kernels.lookup("layernorm_forward", get_namespace(x, gamma, beta))
    if kernel is not None:
        return kernel(x, gamma, beta, eps)
    centred, _, _, inv_std = _standardize(x, 1, eps)
    return centred * inv_std * gamma + beta, NormCache(centred, inv_std, gamma, 1)


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
    check_shape("dout", dout, tuple(cache.centred.shape))
    xp = get_namespace(dout, cache.centred)
    kernel = kernels.lookup("normalization_backward", xp)
    if kernel is not None:
        return kernel(dout, cache)
    x_hat = cache.centred * cache.inv_std
    dbeta = xp.sum(dout, axis=0)
    dgamma = xp.sum(dout * x_hat, axis=0)
    g = dout * cache.gamma
    if cache.axis is None:  # fixed statistics: an affine map
        return g * cache.inv_std, dgamma, dbeta
    # dx = (g - mean(g) - x_hat mean(g x_hat)) / sqrt(var + eps), means along the axis
    mean_g = xp.mean(g, axis=cache.axis, keepdims=True)
    mean_g_x_hat = xp.mean(g * x_hat, axis=cache.axis, keepdims=True)
    dx = (g - mean_g - x_hat * mean_g_x_hat) * cache.inv_std
    return dx, dgamma, dbeta


batchnorm_backward = normalization_backward
layernorm_backward = normalization_backward


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
        dx, dgamma, dbeta = normalization_backward(dout, self.saved_cache(consume=True))
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
        out, self._cache = batchnorm_forward(x, self.weight.data, self.bias.data, self.eps)
        stats, n, m = self._cache.stats, x.shape[0], self.momentum
        self.running_mean = (1.0 - m) * self.running_mean + m * stats.mean
        self.running_var = (1.0 - m) * self.running_var + m * stats.var * (n / (n - 1))
        return out

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.weight.shape[0]}, eps={self.eps}, momentum={self.momentum})"


class LayerNorm(_AffineNorm):
    """Layer normalisation over the last axis of ``(N, D)`` activations, as ``torch.nn.LayerNorm(D)``.

    The same computation in training and evaluation mode.

    Parameters
    ----------
    num_features : int
        ``D``.
    eps : float
        Added to the variance before the square root.
    dtype : str or dtype, optional
        Floating dtype of the scale and shift (the default dtype, float64 unless set); inputs must have it.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, dtype=None):
        super().__init__(num_features, eps, dtype)

    def forward(self, x):
        out, self._cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return out

    def __repr__(self) -> str:
        return f"LayerNorm({self.weight.shape[0]}, eps={self.eps})"
