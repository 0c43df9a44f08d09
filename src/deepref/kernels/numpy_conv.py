"""NumPy kernels of im2col and col2im: a strided view instead of a gather, slice-adds instead of a scatter.

The specifications (:func:`deepref.nn.conv.im2col`, :func:`~deepref.nn.conv.col2im`)
gather with ``take`` and scatter with ``scatter_add``; on NumPy the same
columns come from one copy out of a strided window view of the padded
``(C, H, W, N)`` input, and the adjoint adds them back one kernel offset at a
time (within one offset no pixel repeats). im2col gives the specification's
numbers exactly (a gather copies); col2im adds each pixel's contributions in
the specification's order, exactly so in float64 (in float32 the
specification's NumPy scatter-add sums in double precision and rounds once).
"""

from __future__ import annotations

import numpy as np

from ..nn.conv import Windows
from . import register


def _kernel_offsets(geometry: Windows):
    """``(i, j, rows, columns)`` for each kernel offset: the strided slices of the padded input it reads."""
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    ho, wo = geometry.out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, slice(dh * i, dh * i + sh * (ho - 1) + 1, sh), slice(dw * j, dw * j + sw * (wo - 1) + 1, sw)


@register("im2col", "numpy")
def im2col(x, geometry: Windows, fill: float):
    """:func:`deepref.nn.conv.im2col`: one copy out of a strided view of the padded ``(C, H, W, N)`` input."""
    (ph, pw), (sh, sw), (dh, dw) = geometry.padding, geometry.stride, geometry.dilation
    pixels = x.transpose(1, 2, 3, 0)  # no copy when x is the output of a convolution
    if ph or pw:
        pixels = np.pad(pixels, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=fill)
    else:
        pixels = np.ascontiguousarray(pixels)  # one transpose, then the windows are read in order
    view = np.lib.stride_tricks.sliding_window_view(pixels, geometry.span, axis=(1, 2))
    view = view[:, ::sh, ::sw, :, ::dh, ::dw].transpose(0, 4, 5, 1, 2, 3)  # (C, kH, kW, H_out, W_out, N)
    return np.ascontiguousarray(view).reshape(x.shape[1] * geometry.kernel[0] * geometry.kernel[1], -1)


@register("col2im", "numpy")
def col2im(cols, geometry: Windows, channels: int):
    """:func:`deepref.nn.conv.col2im`: one strided slice-add per kernel offset (no repeated pixel within one)."""
    (ph, pw), (h, w), (ho, wo) = geometry.padding, geometry.in_hw, geometry.out_hw
    n = cols.shape[1] // (ho * wo)
    per_offset = cols.reshape(channels, *geometry.kernel, ho, wo, n)
    padded = np.zeros((channels, *geometry.padded_hw, n), dtype=cols.dtype)
    for i, j, rows, columns in _kernel_offsets(geometry):
        padded[:, rows, columns, :] += per_offset[:, i, j]
    return padded[:, ph : ph + h, pw : pw + w, :].transpose(3, 0, 1, 2)
