"""Max and average pooling over 2-D windows, on the im2col of :mod:`deepref.nn.conv`.

Pooling reads the same windows as a convolution, one channel at a time: with
the windows of every channel as columns (:func:`~deepref.nn.conv.im2col`),
max pooling is a maximum and average pooling a mean over the ``kH kW`` taps
of each window. Their gradients go back through the same scatter-add
(:func:`~deepref.nn.conv.col2im`):

* max pooling sends each output gradient to the tap that won the maximum
  (the first one on a tie, as in PyTorch); the padding is ``-inf``, so it
  never wins;
* average pooling spreads it evenly, ``1 / (kH kW)`` to every tap; padded
  zeros count in the mean (PyTorch's default ``count_include_pad=True``).

The stride defaults to the kernel size (non-overlapping windows), and the
padding may be at most half the kernel, both as in ``torch.nn.functional``.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> max_pool2d(x, 2)[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
>>> avg_pool2d(x, 2)[0, 0]
array([[ 2.5,  4.5],
       [10.5, 12.5]])
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace
from ..validation import check_ndim, check_shape
from .conv import Windows, col2im, im2col, pair, windows
from .module import Module


def pooling_windows(x, kernel_size, stride=None, padding=0) -> Windows:
    """Checked :class:`~deepref.nn.conv.Windows` of a pooling of ``x``.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size : int or pair of int
    stride : int or pair of int, optional
        Default: ``kernel_size``.
    padding : int or pair of int
        Added on each side (``-inf`` for max pooling, zeros for average
        pooling), at most half the kernel.

    Returns
    -------
    Windows
    """
    check_ndim("x", x, 4, "(N, C, H, W)")
    kernel = pair("kernel_size", kernel_size, 1)
    geometry = windows(x.shape[2:], kernel, kernel if stride is None else stride, padding)
    if any(2 * p > k for p, k in zip(geometry.padding, kernel)):
        raise ValueError(f"padding must be at most half the kernel size {kernel}, got {geometry.padding}")
    return geometry


def _taps(x, geometry: Windows, fill: float):
    """Window values ``(C, kH kW, H_out W_out N)`` of every channel of ``x``."""
    xp = get_namespace(x)
    cols = im2col(x, geometry, fill)
    return xp.reshape(cols, (x.shape[1], geometry.kernel[0] * geometry.kernel[1], -1))


def _as_image(xp, pooled, geometry: Windows):
    """``(C, H_out W_out N)`` to ``(N, C, H_out, W_out)``."""
    return xp.permute_dims(xp.reshape(pooled, (pooled.shape[0], *geometry.out_hw, -1)), (3, 0, 1, 2))


def _as_rows(xp, dout, geometry: Windows, channels: int):
    """Upstream gradient ``(N, C, H_out, W_out)`` to the ``(C, 1, H_out W_out N)`` layout of the taps."""
    check_shape("dout", dout, (None, channels, *geometry.out_hw))
    return xp.reshape(xp.permute_dims(dout, (1, 2, 3, 0)), (channels, 1, -1))


class MaxPoolCache(NamedTuple):
    winner: object  # (C, H_out W_out N) index of the winning tap of each window
    geometry: Windows
    channels: int


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Maximum over each window, as ``torch.nn.functional.max_pool2d``.

    The arguments are those of :func:`pooling_windows` (padding adds ``-inf``).

    Returns
    -------
    out : (N, C, H_out, W_out) array
    cache : MaxPoolCache
    """
    geometry = pooling_windows(x, kernel_size, stride, padding)
    xp = get_namespace(x)
    taps = _taps(x, geometry, float("-inf"))
    pooled, winner = taps[:, 0, :], xp.zeros((taps.shape[0], taps.shape[2]), dtype=xp.int64)
    for tap in range(1, taps.shape[1]):  # a running maximum: the first of equal values wins
        better = taps[:, tap, :] > pooled
        pooled = xp.where(better, taps[:, tap, :], pooled)
        winner = xp.where(better, tap, winner)
    return _as_image(xp, pooled, geometry), MaxPoolCache(winner, geometry, x.shape[1])


def max_pool2d_backward(dout, cache: MaxPoolCache):
    """Gradient of :func:`max_pool2d_forward`: ``dout`` goes to each window's winner.

    Parameters
    ----------
    dout : (N, C, H_out, W_out) array
    cache : MaxPoolCache

    Returns
    -------
    dx : (N, C, H, W) array
    """
    xp = get_namespace(dout)
    geometry = cache.geometry
    rows = _as_rows(xp, dout, geometry, cache.channels)
    taps = xp.arange(geometry.kernel[0] * geometry.kernel[1], dtype=cache.winner.dtype)
    # won[c, tap, l]: 1 where the tap won its window, (C, kH kW, L N)
    won = xp.astype(cache.winner[:, None, :] == taps[None, :, None], dout.dtype)
    cols = xp.reshape(won * rows, (-1, rows.shape[2]))
    return col2im(cols, geometry, cache.channels)


class AvgPoolCache(NamedTuple):
    geometry: Windows
    channels: int


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Mean over each window (padded zeros included), as ``torch.nn.functional.avg_pool2d``.

    The arguments are those of :func:`pooling_windows` (padding adds zeros).

    Returns
    -------
    out : (N, C, H_out, W_out) array
    cache : AvgPoolCache
    """
    geometry = pooling_windows(x, kernel_size, stride, padding)
    xp = get_namespace(x)
    pooled = xp.mean(_taps(x, geometry, 0.0), axis=1)
    return _as_image(xp, pooled, geometry), AvgPoolCache(geometry, x.shape[1])


def avg_pool2d_backward(dout, cache: AvgPoolCache):
    """Gradient of :func:`avg_pool2d_forward`: ``dout / (kH kW)`` to every pixel of the window.

    Parameters
    ----------
    dout : (N, C, H_out, W_out) array
    cache : AvgPoolCache

    Returns
    -------
    dx : (N, C, H, W) array
    """
    xp = get_namespace(dout)
    rows = _as_rows(xp, dout, cache.geometry, cache.channels)
    taps = cache.geometry.kernel[0] * cache.geometry.kernel[1]
    spread = xp.broadcast_to(rows / taps, (cache.channels, taps, rows.shape[2]))
    return col2im(xp.reshape(spread, (-1, rows.shape[2])), cache.geometry, cache.channels)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """:func:`max_pool2d_forward` without the cache."""
    return max_pool2d_forward(x, kernel_size, stride, padding)[0]


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """:func:`avg_pool2d_forward` without the cache."""
    return avg_pool2d_forward(x, kernel_size, stride, padding)[0]


class _Pool2d(Module):
    """A pooling pair as a module without parameters."""

    _pair = None  # (forward, backward), set by subclasses

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else pair("stride", stride, 1)
        self.padding = pair("padding", padding, 0)
        self._cache = None

    def forward(self, x):
        out, self._cache = type(self)._pair[0](x, self.kernel_size, self.stride, self.padding)
        return out

    def backward(self, dout):
        return type(self)._pair[1](dout, self.saved_cache(consume=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"


class MaxPool2d(_Pool2d):
    """Max pooling layer (:func:`max_pool2d_forward`); ``stride`` defaults to ``kernel_size``."""

    _pair = (max_pool2d_forward, max_pool2d_backward)


class AvgPool2d(_Pool2d):
    """Average pooling layer (:func:`avg_pool2d_forward`); ``stride`` defaults to ``kernel_size``."""

    _pair = (avg_pool2d_forward, avg_pool2d_backward)
