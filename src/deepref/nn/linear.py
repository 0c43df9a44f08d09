"""The affine (fully connected) layer ``out = x @ w + b``.

Backward, from ``out_nm = sum_d x_nd w_dm + b_m``:

* ``dx = dout @ w.T``  (each input feeds every output through ``w``),
* ``dw = x.T @ dout``  (summed over the batch),
* ``db = dout.sum(axis=0)``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace
from ..validation import check_choice, check_count, check_ndim, check_shape
from .init import INITIALIZERS, as_generator, zeros
from .module import Module, Parameter


class LinearCache(NamedTuple):
    x: object
    w: object


def linear_forward(x, w, b):
    """Affine map.

    Parameters
    ----------
    x : (N, D) array
    w : (D, M) array
    b : (M,) array

    Returns
    -------
    out : (N, M) array
    cache : LinearCache
    """
    get_namespace(x, w, b)  # one backend for all three (a clear error otherwise)
    check_ndim("x", x, 2, "(N, D)")
    check_shape("w", w, (x.shape[1], None))
    check_shape("b", b, (w.shape[1],))
    return x @ w + b, LinearCache(x, w)


def linear_backward(dout, cache: LinearCache):
    """Gradients of :func:`linear_forward`.

    Parameters
    ----------
    dout : (N, M) array
    cache : LinearCache

    Returns
    -------
    dx : (N, D) array
    dw : (D, M) array
    db : (M,) array
    """
    xp = get_namespace(dout, cache.x)
    check_shape("dout", dout, (cache.x.shape[0], cache.w.shape[1]))
    return dout @ cache.w.T, cache.x.T @ dout, xp.sum(dout, axis=0)


class Linear(Module):
    """Fully connected layer with weight ``(in_features, out_features)`` and bias.

    Parameters
    ----------
    in_features, out_features : int
    init : str
        Weight initialiser, a key of :data:`deepref.nn.init.INITIALIZERS`
        (default ``"fan_in_uniform"``, PyTorch's default). Biases start at zero.
    seed : int or Generator, optional
        Source of the initial weights.
    """

    def __init__(self, in_features: int, out_features: int, init: str = "fan_in_uniform", seed=None, dtype=None):
        check_count("in_features", in_features)
        check_count("out_features", out_features)
        check_choice("init", init, INITIALIZERS)
        rng = as_generator(seed)
        self.weight = Parameter(INITIALIZERS[init]((in_features, out_features), rng=rng, dtype=dtype))
        self.bias = Parameter(zeros((out_features,), dtype=self.weight.data.dtype))
        self._cache = None

    def forward(self, x):
        out, self._cache = linear_forward(x, self.weight.data, self.bias.data)
        return out

    def backward(self, dout):
        dx, dw, db = linear_backward(dout, self.saved_cache())
        self.weight.accumulate(dw)
        self.bias.accumulate(db)
        return dx

    def __repr__(self) -> str:
        d, m = self.weight.shape
        return f"Linear({d}, {m})"
