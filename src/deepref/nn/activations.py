"""Element-wise nonlinearities and maxout, each a forward/backward pair.

The backward of an element-wise ``y = f(x)`` is ``dx = dout * f'(x)``; each
derivative is written in terms of what the forward pass already computed:

* sigmoid: ``s' = s (1 - s)``;  tanh: ``t' = 1 - t**2``;
* ReLU: ``1[x > 0]``;  leaky ReLU: ``1`` for ``x > 0``, ``slope`` otherwise;
* maxout (max over ``k`` pieces): the gradient flows only to the winning piece.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace
from ..validation import check_count, check_ndim, check_positive, check_same_shape
from .module import Module


class OutputCache(NamedTuple):
    out: object


class InputCache(NamedTuple):
    x: object


def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))``, computed as ``(1 + tanh(x / 2)) / 2``.

    The two are equal (``tanh(u) = (1 - exp(-2u)) / (1 + exp(-2u))``); the
    second form takes one transcendental and cannot overflow for any ``x``.
    """
    return 0.5 * get_namespace(x).tanh(0.5 * x) + 0.5


def sigmoid_forward(x):
    """Logistic sigmoid. ``x`` : any shape. Returns ``(out, OutputCache)``, ``out`` shaped like ``x``."""
    out = sigmoid(x)
    return out, OutputCache(out)


def sigmoid_backward(dout, cache: OutputCache):
    """``dx = dout * s * (1 - s)``, shaped like ``dout``."""
    check_same_shape("out", cache.out, "dout", dout)
    return dout * cache.out * (1.0 - cache.out)


def tanh_forward(x):
    """Hyperbolic tangent. Returns ``(out, OutputCache)``, ``out`` shaped like ``x``."""
    out = get_namespace(x).tanh(x)
    return out, OutputCache(out)


def tanh_backward(dout, cache: OutputCache):
    """``dx = dout * (1 - tanh(x)**2)``."""
    check_same_shape("out", cache.out, "dout", dout)
    return dout * (1.0 - cache.out**2)


def relu_forward(x):
    """Rectified linear unit ``max(x, 0)``. Returns ``(out, InputCache)``.

    NaN inputs stay NaN (the comparison is written so that NaN is not zeroed),
    so a diverging run is seen by the loss, not hidden by the activation.
    """
    xp = get_namespace(x)
    return xp.where(x <= 0, xp.zeros_like(x), x), InputCache(x)


def relu_backward(dout, cache: InputCache):
    """``dx = dout * 1[x > 0]`` (the one-sided derivative 0 is taken at ``x = 0``).

    Written as a product, so a NaN in ``dout`` propagates to ``dx``, and a NaN
    input gives a NaN gradient (its derivative is undefined).
    """
    xp = get_namespace(dout)
    check_same_shape("x", cache.x, "dout", dout)
    return xp.where(xp.isnan(cache.x), cache.x, dout * xp.astype(cache.x > 0, dout.dtype))


class LeakyReLUCache(NamedTuple):
    x: object
    slope: float


def leaky_relu_forward(x, slope: float = 0.01):
    """``x`` for ``x > 0``, ``slope * x`` otherwise. Returns ``(out, LeakyReLUCache)``."""
    check_positive("slope", slope, allow_zero=True)
    xp = get_namespace(x)
    return xp.where(x > 0, x, slope * x), LeakyReLUCache(x, slope)


def leaky_relu_backward(dout, cache: LeakyReLUCache):
    """``dx = dout`` where ``x > 0``, ``slope * dout`` elsewhere (NaN where ``x`` is NaN)."""
    xp = get_namespace(dout)
    check_same_shape("x", cache.x, "dout", dout)
    return xp.where(xp.isnan(cache.x), cache.x, xp.where(cache.x > 0, dout, cache.slope * dout))


class MaxoutCache(NamedTuple):
    winner: object
    pieces: int


def maxout_forward(z, pieces: int):
    """Maxout: the maximum over groups of ``pieces`` consecutive features.

    Parameters
    ----------
    z : (N, M * pieces) array
        Pre-activations (the output of a linear layer with ``M * pieces`` units).
    pieces : int

    Returns
    -------
    out : (N, M) array
    cache : MaxoutCache
        One-hot mask (N, M, pieces) of the winning piece (the first on ties).
    """
    xp = get_namespace(z)
    check_ndim("z", z, 2, "(N, M * pieces)")
    check_count("pieces", pieces)
    if z.shape[1] % pieces:
        raise ValueError(f"maxout needs pieces >= 1 dividing the {z.shape[1]} features, got {pieces!r}")
    grouped = xp.reshape(z, (z.shape[0], z.shape[1] // pieces, pieces))
    index = xp.argmax(grouped, axis=2)
    winner = xp.astype(index[..., None] == xp.arange(pieces), z.dtype)
    return xp.max(grouped, axis=2), MaxoutCache(winner, pieces)


def maxout_backward(dout, cache: MaxoutCache):
    """Route ``dout`` (N, M) to the winning pieces: returns ``dz`` (N, M * pieces)."""
    xp = get_namespace(dout)
    n, m, k = cache.winner.shape
    if tuple(dout.shape) != (n, m):
        raise ValueError(f"dout must have shape ({n}, {m}), got {tuple(dout.shape)}")
    return xp.reshape(cache.winner * dout[..., None], (n, m * k))


class _Elementwise(Module):
    """A parameter-free layer wrapping a forward/backward pair."""

    _pair: tuple

    def forward(self, x):
        out, self._cache = type(self)._pair[0](x)
        return out

    def backward(self, dout):
        return type(self)._pair[1](dout, self.saved_cache(consume=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sigmoid(_Elementwise):
    """Logistic sigmoid layer."""

    _pair = (sigmoid_forward, sigmoid_backward)


class Tanh(_Elementwise):
    """Hyperbolic tangent layer."""

    _pair = (tanh_forward, tanh_backward)


class ReLU(_Elementwise):
    """Rectified linear unit layer."""

    _pair = (relu_forward, relu_backward)


class LeakyReLU(Module):
    """Leaky ReLU layer: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    Parameters
    ----------
    negative_slope : float
        Slope on the negative side (>= 0; PyTorch's name and default, 0.01).
    """

    def __init__(self, negative_slope: float = 0.01):
        check_positive("negative_slope", negative_slope, allow_zero=True)
        self.negative_slope = negative_slope

    @property
    def slope(self) -> float:
        """``negative_slope`` under the name :func:`leaky_relu_forward` uses."""
        return self.negative_slope

    def forward(self, x):
        out, self._cache = leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout):
        return leaky_relu_backward(dout, self.saved_cache(consume=True))

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Maxout(Module):
    """Maxout over groups of ``pieces`` features (put it after a ``Linear`` with ``M * pieces`` outputs)."""

    def __init__(self, pieces: int):
        self.pieces = check_count("pieces", pieces)

    def forward(self, z):
        out, self._cache = maxout_forward(z, self.pieces)
        return out

    def backward(self, dout):
        return maxout_backward(dout, self.saved_cache(consume=True))
