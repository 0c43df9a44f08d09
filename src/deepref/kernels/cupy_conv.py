"""CUDA kernels of the convolution's window gathering on CuPy: :func:`~deepref.nn.conv.im2col` and ``col2im``.

The specifications pad the image by concatenation, transpose it, build the
window index with a handful of ``arange`` products and gather with ``take``
(``col2im``: zeros, a scatter-add with atomics, a transpose and a slice): about
ten launches each, which for the small images of the spatial-transformer
chapter cost more than the matrix product they feed. Here each is one launch:

* ``im2col``: one thread per entry of ``cols``, reading its pixel or the
  padding value;
* ``col2im``: one thread per pixel of the (unpadded) image, adding the column
  entries of every window tap that read it, taps in increasing ``(i, j)``
  order, in double precision, rounded once at the end, as the specification's
  scatter-add does on NumPy for batches up to ``backend._BINCOUNT_COLUMNS``
  images (``bincount``); no atomics, so the result does not depend on
  scheduling.

Both therefore give the specification's numbers bit for bit on the host
(``tests/test_cupy_kernels.py``); on the GPU ``im2col`` too, and ``col2im``
up to the rounding of the specification's float32 atomic additions.
"""

from __future__ import annotations

import numpy as np

from . import register
from .cupy_launch import launcher
from .cupy_optim import C_TYPES, DEVICE_PRELUDE

SOURCE = r"""
#define GEOMETRY const long long n, const long long c, const long long h, const long long w, \
    const long long kh, const long long kw, const long long sh, const long long sw, const long long dh, \
    const long long dw, const long long ph, const long long pw, const long long ho, const long long wo

extern "C" __global__ void im2col(const T* x, T* cols, const T fill, GEOMETRY) {
    FOR_EACH(e, c * kh * kw * ho * wo * n) {
        const long long column = e % (ho * wo * n), row = e / (ho * wo * n);
        const long long image = column % n, p = column / n / wo, q = column / n % wo;
        const long long channel = row / (kh * kw), i = row / kw % kh, j = row % kw;
        const long long y = sh * p + dh * i - ph, x_ = sw * q + dw * j - pw;
        cols[e] = (y >= 0 && y < h && x_ >= 0 && x_ < w) ? x[((image * c + channel) * h + y) * w + x_] : fill;
    }
}

extern "C" __global__ void col2im(const T* cols, T* x, GEOMETRY) {
    FOR_EACH(e, n * c * h * w) {
        const long long image = e / (c * h * w), channel = e / (h * w) % c, y = e / w % h, x_ = e % w;
        double total = 0;  // as NumPy's bincount in the specification: the sum in double, rounded once
        for (long long i = 0; i < kh; ++i) {
            const long long rows = y + ph - dh * i;
            if (rows < 0 || rows % sh != 0 || rows / sh >= ho) continue;
            for (long long j = 0; j < kw; ++j) {
                const long long columns = x_ + pw - dw * j;
                if (columns < 0 || columns % sw != 0 || columns / sw >= wo) continue;
                const long long tap = (channel * kh + i) * kw + j, position = rows / sh * wo + columns / sw;
                total = total + (double)cols[tap * (ho * wo * n) + position * n + image];
            }
        }
        x[e] = (T)total;
    }
}
"""
"""The kernels, for an element type ``T`` and a loop macro ``FOR_EACH(e, n)``; ``x`` is C-ordered ``(N, C, H, W)``,
``cols`` ``(C kH kW, H_out W_out N)`` as :func:`deepref.nn.conv.im2col` lays it out."""

KERNELS = ("im2col", "col2im")


def source(dtype, prelude: str = DEVICE_PRELUDE) -> str:
    """The source of both kernels for ``dtype`` (float32 or float64), after ``prelude``."""
    return f"typedef {C_TYPES[np.dtype(dtype)]} T;\n{prelude}{SOURCE}"


cupy_launch = launcher(source)
"""Launches the kernels above on CuPy arrays (:func:`deepref.kernels.cupy_launch.launcher`)."""


def _geometry(n: int, c: int, geometry) -> tuple[int, ...]:
    """The ``GEOMETRY`` arguments of the kernels."""
    (h, w), (kh, kw), (sh, sw) = geometry.in_hw, geometry.kernel, geometry.stride
    (dh, dw), (ph, pw), (ho, wo) = geometry.dilation, geometry.padding, geometry.out_hw
    return (n, c, h, w, kh, kw, sh, sw, dh, dw, ph, pw, ho, wo)


def _float(array) -> None:
    if np.dtype(array.dtype) not in C_TYPES:
        raise TypeError(f"the CUDA window kernels take float32 or float64 arrays, got {array.dtype}")


def im2col_driver(xp, launch, x, geometry, fill: float):
    """:func:`deepref.nn.conv.im2col` by one launch of ``im2col`` (``launch(name, size, *args)``)."""
    _float(x)
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = geometry.kernel, geometry.out_hw
    x = xp.ascontiguousarray(x)
    cols = xp.empty((c * kh * kw, ho * wo * n), dtype=x.dtype)
    launch("im2col", cols.size, x, cols, np.dtype(x.dtype).type(fill), *_geometry(n, c, geometry))
    return cols


def col2im_driver(xp, launch, cols, geometry, channels: int):
    """:func:`deepref.nn.conv.col2im` by one launch of ``col2im``: the ``(N, C, H, W)`` image."""
    _float(cols)
    ho, wo = geometry.out_hw
    n = cols.shape[1] // (ho * wo)
    cols = xp.ascontiguousarray(cols)
    x = xp.empty((n, channels, *geometry.in_hw), dtype=cols.dtype)
    launch("col2im", x.size, cols, x, *_geometry(n, channels, geometry))
    return x


@register("im2col", "cupy")
def im2col(x, geometry, fill: float = 0.0):
    """:func:`deepref.nn.conv.im2col` on CuPy, one launch."""
    import cupy

    return im2col_driver(cupy, cupy_launch, x, geometry, fill)


@register("col2im", "cupy")
def col2im(cols, geometry, channels: int):
    """:func:`deepref.nn.conv.col2im` on CuPy, one launch."""
    import cupy

    return col2im_driver(cupy, cupy_launch, cols, geometry, channels)
