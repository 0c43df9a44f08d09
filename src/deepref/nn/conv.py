"""Two-dimensional convolution as im2col plus one matrix product.

Images are ``(N, C, H, W)`` and weights ``(C_out, C_in, kH, kW)``, as in
``torch.nn.functional.conv2d`` (which, like every deep-learning library,
computes a cross-correlation and calls it a convolution):

.. math::

    y_{n o p q} = b_o + \\sum_{c, i, j} w_{o c i j}\\,
    \\tilde x_{n c,\\; s_h p + d_h i,\\; s_w q + d_w j},

where ``x~`` is the input padded with ``padding`` zeros on each side, ``s``
the stride and ``d`` the dilation. The output has
``H_out = (H + 2 p_h - d_h (kH - 1) - 1) // s_h + 1`` rows (and likewise
columns).

*im2col* gathers, for every output position ``(p, q)`` of every image ``n``,
the ``K = C kH kW`` input values its window covers into one column of a
matrix ``cols`` of shape ``(K, H_out W_out N)``; the whole convolution is
then one matrix product, ``y = w.reshape(C_out, K) @ cols``, of shape
``(C_out, H_out W_out N)``. The backward pass follows from the rules of a
matrix product and from the gather being linear:

* ``dw = dy @ cols.T`` and ``db = dy.sum(axis=1)``, with ``dy`` the upstream
  gradient laid out like ``y``;
* ``dcols = w.T @ dy`` and ``dx = col2im(dcols)``: every column entry is
  sent back to the input pixel it was read from, and since overlapping
  windows read the same pixel several times, the contributions *add up*
  (a scatter-add, the adjoint of the gather).

The image index varies fastest along the columns, so the product's result
is the output in the memory order ``(C_out, H_out, W_out, N)``; it is
returned as a transposed ``(N, C_out, H_out, W_out)`` view, and the next
convolution or pooling reads that order again without a copy.

:func:`im2col` gathers with ``take`` on the flattened image and
:func:`col2im` scatters with :func:`deepref.backend.scatter_add`, so they run
on any array-API backend. On NumPy registered kernels
(:mod:`deepref.kernels.numpy_conv`) build the same ``cols`` from a strided
view and add the columns back one kernel offset at a time.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> w = np.ones((1, 1, 2, 2))
>>> conv2d(x, w, stride=2)[0, 0]
array([[10., 18.],
       [42., 50.]])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from ..backend import get_namespace, scatter_add
from ..validation import check_choice, check_count, check_ndim, check_shape
from .init import INITIALIZERS, as_generator
from .module import Module, Parameter


def pair(name: str, value, minimum: int) -> tuple[int, int]:
    """``(value, value)`` for an integer, or a checked pair of integers ``>= minimum``.

    >>> pair("stride", 2, 1), pair("padding", (0, 1), 0)
    ((2, 2), (0, 1))
    """
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2:
        raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
    return tuple(check_count(name, v, minimum) for v in values)


class Windows(NamedTuple):
    """Where the sliding windows of a convolution or pooling lie on an ``(H, W)`` input (all pairs of int)."""

    in_hw: tuple
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple

    @property
    def padded_hw(self) -> tuple[int, int]:
        return tuple(n + 2 * p for n, p in zip(self.in_hw, self.padding))

    @property
    def span(self) -> tuple[int, int]:
        """Extent of one window on the input, ``d (k - 1) + 1`` pixels along each axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple((n - e) // s + 1 for n, e, s in zip(self.padded_hw, self.span, self.stride))


def windows(in_hw, kernel_size, stride=1, padding=0, dilation=1) -> Windows:
    """The :class:`Windows` of a ``kernel_size`` kernel on an ``in_hw`` input; checks every argument.

    Raises
    ------
    ValueError
        If an argument is not a positive integer (padding: non-negative) or a
        pair of them, or if the (dilated) kernel is larger than the padded input.
    """
    geometry = Windows(
        tuple(int(n) for n in in_hw),
        pair("kernel_size", kernel_size, 1),
        pair("stride", stride, 1),
        pair("padding", padding, 0),
        pair("dilation", dilation, 1),
    )
    if any(e > n for e, n in zip(geometry.span, geometry.padded_hw)):
        raise ValueError(
            f"the kernel spans {geometry.span} pixels (kernel_size {geometry.kernel}, dilation "
            f"{geometry.dilation}) but the padded input is only {geometry.padded_hw} "
            f"(input {geometry.in_hw}, padding {geometry.padding}): the kernel must fit the padded input"
        )
    return geometry


def pad2d(x, padding: tuple[int, int], fill: float = 0.0):
    """``x`` ``(N, C, H, W)`` with ``padding = (p_h, p_w)`` rows and columns of ``fill`` added on each side."""
    xp = get_namespace(x)
    ph, pw = padding
    n, c, h, w = x.shape
    if ph:
        rows = xp.full((n, c, ph, w), fill, dtype=x.dtype)
        x = xp.concat([rows, x, rows], axis=2)
    if pw:
        columns = xp.full((n, c, h + 2 * ph, pw), fill, dtype=x.dtype)
        x = xp.concat([columns, x, columns], axis=3)
    return x


def window_index(xp, geometry: Windows, channels: int):
    """Flat positions ``(K, L)`` in a padded ``(C, H_pad, W_pad)`` image read by im2col.

    Entry ``[(c, i, j), (p, q)]`` is the position of ``x~[c, s_h p + d_h i, s_w q + d_w j]``.
    """
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    (hp, wp), (ho, wo) = geometry.padded_hw, geometry.out_hw
    row = dh * xp.arange(kh, dtype=xp.int64)[:, None] + sh * xp.arange(ho, dtype=xp.int64)[None, :]
    col = dw * xp.arange(kw, dtype=xp.int64)[:, None] + sw * xp.arange(wo, dtype=xp.int64)[None, :]
    channel = xp.arange(channels, dtype=xp.int64)[:, None, None, None, None]
    index = (channel * hp + row[None, :, None, :, None]) * wp + col[None, None, :, None, :]
    return xp.reshape(index, (channels * kh * kw, ho * wo))


def im2col(x, geometry: Windows, fill: float = 0.0):
    """The windows of every image of ``x`` as the columns of one matrix.

    ``cols[(c, i, j), (p, q, n)] = x~[n, c, s_h p + d_h i, s_w q + d_w j]``: one
    row per kernel tap, one column per output position of every image, with the
    image index varying fastest (so that a convolution is a single matrix
    product and its result is laid out as ``(C_out, H_out, W_out, N)``).

    Parameters
    ----------
    x : (N, C, H, W) array
    geometry : Windows
        From :func:`windows`, for ``(H, W)``.
    fill : float
        Value of the padding (0 for convolution and average pooling, ``-inf`` for max pooling).

    Returns
    -------
    cols : (C kH kW, H_out W_out N) array
    """
    xp = get_namespace(x)
    kernel = kernels.lookup("im2col", xp)
    if kernel is not None:
        return kernel(x, geometry, fill)
    n, c = x.shape[:2]
    (hp, wp) = geometry.padded_hw
    padded = xp.permute_dims(pad2d(x, geometry.padding, fill), (1, 2, 3, 0))
    pixels = xp.reshape(padded, (c * hp * wp, n))
    index = window_index(xp, geometry, c)
    cols = xp.take(pixels, xp.reshape(index, (-1,)), axis=0)  # (K L, N)
    return xp.reshape(cols, (index.shape[0], index.shape[1] * n))


def col2im(cols, geometry: Windows, channels: int):
    """Adjoint of :func:`im2col`: add every column entry back onto the pixel it was read from.

    Parameters
    ----------
    cols : (C kH kW, H_out W_out N) array
    geometry : Windows
    channels : int
        ``C``.

    Returns
    -------
    (N, C, H, W) array
        Padding positions are dropped.
    """
    xp = get_namespace(cols)
    kernel = kernels.lookup("col2im", xp)
    if kernel is not None:
        return kernel(cols, geometry, channels)
    (hp, wp), (ph, pw), (h, w) = geometry.padded_hw, geometry.padding, geometry.in_hw
    n = cols.shape[1] // (geometry.out_hw[0] * geometry.out_hw[1])
    index = xp.reshape(window_index(xp, geometry, channels), (-1,))
    pixels = xp.zeros((channels * hp * wp, n), dtype=cols.dtype)
    pixels = scatter_add(pixels, index, xp.reshape(cols, (index.shape[0], n)))
    padded = xp.permute_dims(xp.reshape(pixels, (channels, hp, wp, n)), (3, 0, 1, 2))
    return padded[:, :, ph : ph + h, pw : pw + w]


class ConvCache(NamedTuple):
    cols: object  # (K, L N) im2col of the input, K = C_in kH kW, L = H_out W_out
    w: object  # (C_out, C_in, kH, kW)
    geometry: Windows
    has_bias: bool


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation) with zero padding, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : (N, C_in, H, W) array
    w : (C_out, C_in, kH, kW) array
    b : (C_out,) array or None
    stride, padding, dilation : int or pair of int
        Step between windows, zeros added on each side, spacing of the kernel taps.

    Returns
    -------
    out : (N, C_out, H_out, W_out) array
    cache : ConvCache
    """
    check_ndim("x", x, 4, "(N, C, H, W)")
    check_ndim("w", w, 4, "(C_out, C_in, kH, kW)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w expects {w.shape[1]} input channels (w.shape[1]) "
                         f"but x has {x.shape[1]} (x.shape[1])")
    if b is not None:
        check_shape("b", b, (w.shape[0],))
    xp = get_namespace(x, w, b)
    geometry = windows(x.shape[2:], w.shape[2:], stride, padding, dilation)
    cols = im2col(x, geometry)
    out = xp.reshape(w, (w.shape[0], -1)) @ cols  # (C_out, L N)
    if b is not None:
        out = out + b[:, None]
    out = xp.reshape(out, (w.shape[0], *geometry.out_hw, x.shape[0]))
    out = xp.permute_dims(out, (3, 0, 1, 2))
    return out, ConvCache(cols, w, geometry, b is not None)


def conv2d_backward(dout, cache: ConvCache):
    """Gradients of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : (N, C_out, H_out, W_out) array
    cache : ConvCache

    Returns
    -------
    dx : (N, C_in, H, W) array
    dw : (C_out, C_in, kH, kW) array
    db : (C_out,) array, or None without a bias
    """
    c_out = cache.w.shape[0]
    n = cache.cols.shape[1] // (cache.geometry.out_hw[0] * cache.geometry.out_hw[1])
    check_shape("dout", dout, (n, c_out, *cache.geometry.out_hw))
    xp = get_namespace(dout)
    # laid out like the forward product
    dy = xp.reshape(xp.permute_dims(dout, (1, 2, 3, 0)), (c_out, -1))
    dw = xp.reshape(dy @ cache.cols.T, cache.w.shape)
    dcols = xp.reshape(cache.w, (c_out, -1)).T @ dy
    dx = col2im(dcols, cache.geometry, cache.w.shape[1])
    db = xp.sum(dy, axis=1) if cache.has_bias else None
    return dx, dw, db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """:func:`conv2d_forward` without the cache: ``(N, C_out, H_out, W_out)``."""
    return conv2d_forward(x, w, b, stride, padding, dilation)[0]


class Conv2d(Module):
    """2-D convolution layer with weight ``(out_channels, in_channels, kH, kW)`` and bias.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, dilation : int or pair of int
        As in :func:`conv2d_forward`.
    bias : bool
        Add a learned bias per output channel (zero at the start).
    init : str
        Weight initialiser, a key of :data:`deepref.nn.init.INITIALIZERS`;
        fans count the kernel (``fan_in = in_channels kH kW``).
    seed : int or Generator, optional
    dtype : optional
        Floating dtype of the parameters (the default dtype unless given).

    Examples
    --------
    >>> from deepref.backend import asarray
    >>> layer = Conv2d(3, 8, 5, padding=2, seed=0)
    >>> layer(asarray(np.zeros((2, 3, 16, 16)))).shape
    (2, 8, 16, 16)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, init: str = "fan_in_uniform", seed=None, dtype=None):
        check_choice("init", init, INITIALIZERS)
        shape = (check_count("out_channels", out_channels), check_count("in_channels", in_channels),
                 *pair("kernel_size", kernel_size, 1))
        self.stride, self.padding = pair("stride", stride, 1), pair("padding", padding, 0)
        self.dilation = pair("dilation", dilation, 1)
        self.weight = Parameter(INITIALIZERS[init](shape, rng=as_generator(seed), dtype=dtype))
        if bias:
            xp = get_namespace(self.weight.data)
            self.bias = Parameter(xp.zeros((out_channels,), dtype=self.weight.data.dtype))
        else:
            self.bias = None
        self._cache = None

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = conv2d_forward(x, self.weight.data, b, self.stride, self.padding, self.dilation)
        return out

    def backward(self, dout):
        dx, dw, db = conv2d_backward(dout, self.saved_cache(consume=True))
        self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def __repr__(self) -> str:
        c_out, c_in, kh, kw = self.weight.shape
        return (f"Conv2d({c_in}, {c_out}, kernel_size=({kh}, {kw}), stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation})")
