"""The grid generator and the bilinear sampler of a spatial transformer.

Both follow the conventions of ``torch.nn.functional.affine_grid`` and
``grid_sample`` (bilinear interpolation, zero padding): images are
``(N, C, H, W)``, and a sampling grid ``(N, H_out, W_out, 2)`` holds for each
output pixel the point ``(x, y)`` of the input to read, in *normalised*
coordinates where ``-1`` and ``+1`` are the two edges of the image.

Normalised to pixel coordinates (pixel ``j`` of a row of ``W`` has its centre at ``j``):

* ``align_corners=True``: ``-1`` and ``+1`` are the centres of the first and
  last pixels, ``j = (x + 1) (W - 1) / 2``;
* ``align_corners=False``: they are the outer edges of those pixels,
  ``j = ((x + 1) W - 1) / 2``, so an image keeps its extent when resized.

Bilinear sampling at ``(j, i)`` mixes the four pixels around it with weights
``(1 - a)(1 - b)``, ``a (1 - b)``, ``(1 - a) b`` and ``a b``, where
``a = j - floor(j)`` and ``b = i - floor(i)``; pixels outside the image count
as zeros. Its gradient with respect to the image scatters the upstream
gradient back to those four pixels with the same weights; its gradient with
respect to the point is the derivative of the weights, which jumps where the
point crosses a pixel centre (a sub-gradient at the crossing).

>>> import numpy as np
>>> image = np.arange(6.0).reshape(1, 1, 2, 3)
>>> identity = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
>>> bool(np.allclose(grid_sample(image, affine_grid(identity, (1, 1, 2, 3))), image))
True
"""

from __future__ import annotations

from typing import NamedTuple

from .. import kernels
from ..backend import get_namespace, scatter_add
from ..validation import check_ndim, check_shape


class AffineGridCache(NamedTuple):
    base: object
    out_hw: tuple


class GridSampleCache(NamedTuple):
    x_shape: tuple  # (N, C, H, W)
    corner_index: object  # (4*N*P,) rows of the padded image read by the corners, corner after corner
    frac: tuple  # fractional parts (a, b), each (N*P, 1)
    along_x: tuple  # (v10 - v00, v11 - v01), each (N*P, C): the differences along x of the two rows
    along_y: object  # (N*P, C) bottom row minus top row, both interpolated along x: d out / d b
    pixels_per_unit: tuple  # d(pixel) / d(normalised coordinate) along x and y


def normalised_coordinates(xp, n: int, align_corners: bool, dtype):
    """Normalised coordinates of the ``n`` pixel centres along one axis, shape ``(n,)``.

    ``linspace(-1, 1, n)`` with ``align_corners``, otherwise ``(2 j + 1) / n - 1``;
    a single pixel sits at 0 in both conventions (as in PyTorch).
    """
    if n == 1:
        return xp.zeros((1,), dtype=dtype)
    j = xp.arange(n, dtype=dtype)
    if align_corners:
        return 2.0 * j / (n - 1) - 1.0
    return (2.0 * j + 1.0) / n - 1.0


def _check_size(size, batch: int):
    if len(size) != 4 or any(int(s) != s or s < 1 for s in size):
        raise ValueError(f"size must be (N, C, H, W) with positive integers, got {tuple(size)}")
    if size[0] != batch:
        raise ValueError(f"size[0] must equal the batch size of theta, {batch}; got size {tuple(size)}")


def affine_grid_forward(theta, size, align_corners: bool = False):
    """Sampling grid of the affine transforms ``theta`` (the grid generator).

    Output pixel ``(i, j)`` with normalised coordinates ``(x_j, y_i)`` reads the
    input at ``theta_n @ (x_j, y_i, 1)``.

    Parameters
    ----------
    theta : (N, 2, 3) array
        Affine maps from output to input normalised coordinates.
    size : tuple of int
        ``(N, C, H_out, W_out)``, the shape of the output image.
    align_corners : bool
        Convention of the normalised coordinates (see the module docstring).

    Returns
    -------
    grid : (N, H_out, W_out, 2) array
        Sampling points ``(x, y)`` in normalised input coordinates.
    cache : AffineGridCache
    """
    check_shape("theta", theta, (None, 2, 3))
    _check_size(size, theta.shape[0])
    xp = get_namespace(theta)
    kernel = kernels.lookup("affine_grid_forward", xp)
    if kernel is not None:
        return kernel(theta, size, align_corners)
    n, _, h, w = (int(s) for s in size)
    xs = normalised_coordinates(xp, w, align_corners, theta.dtype)
    ys = normalised_coordinates(xp, h, align_corners, theta.dtype)
    base = xp.stack(
        [
            xp.reshape(xp.broadcast_to(xs[None, :], (h, w)), (h * w,)),
            xp.reshape(xp.broadcast_to(ys[:, None], (h, w)), (h * w,)),
            xp.ones((h * w,), dtype=theta.dtype),
        ],
        axis=1,
    )
    grid = xp.matmul(base[None, :, :], xp.permute_dims(theta, (0, 2, 1)))
    return xp.reshape(grid, (n, h, w, 2)), AffineGridCache(base, (h, w))


def affine_grid_backward(dgrid, cache: AffineGridCache):
    """Gradient of :func:`affine_grid_forward` with respect to ``theta``.

    ``grid[n, p, r] = sum_k theta[n, r, k] base[p, k]``, so
    ``dtheta[n] = dgrid[n].T @ base``.

    Parameters
    ----------
    dgrid : (N, H_out, W_out, 2) array
    cache : AffineGridCache

    Returns
    -------
    dtheta : (N, 2, 3) array
    """
    xp = get_namespace(dgrid)
    h, w = cache.out_hw
    check_shape("dgrid", dgrid, (None, h, w, 2))
    kernel = kernels.lookup("affine_grid_backward", xp)
    if kernel is not None:
        return kernel(dgrid, cache)
    flat = xp.reshape(dgrid, (dgrid.shape[0], h * w, 2))
    return xp.matmul(xp.permute_dims(flat, (0, 2, 1)), cache.base[None, :, :])


def affine_grid(theta, size, align_corners: bool = False):
    """:func:`affine_grid_forward` without the cache: ``(N, H_out, W_out, 2)`` grid."""
    return affine_grid_forward(theta, size, align_corners)[0]


def _pixels_per_unit(n: int, align_corners: bool) -> float:
    """``d(pixel coordinate) / d(normalised coordinate)`` along an axis of ``n`` pixels."""
    return (n - 1) / 2 if align_corners else n / 2


def _to_pixels(u, n: int, align_corners: bool):
    """Normalised coordinates ``u`` to pixel coordinates along an axis of ``n`` pixels."""
    if align_corners:
        return (u + 1.0) * ((n - 1) / 2)
    return ((u + 1.0) * n - 1.0) / 2


def _padded_rows(xp, x):
    """``x`` (N, C, H, W) with a border of zeros one pixel wide, as rows of channels ``(N*(H+2)*(W+2), C)``."""
    n, c, h, w = x.shape
    padded = xp.zeros((n, h + 2, w + 2, c), dtype=x.dtype)
    padded[:, 1 : h + 1, 1 : w + 1, :] = xp.permute_dims(x, (0, 2, 3, 1))
    return xp.reshape(padded, (n * (h + 2) * (w + 2), c))


def _corner_index(xp, px, py, h: int, w: int):
    """Rows of the padded image (see :func:`_padded_rows`) read by the four corners of each point.

    ``px``, ``py`` are ``(N, P)`` pixel coordinates. Returns the fractional
    parts ``(a, b)``, each ``(N*P, 1)``, and a ``(4*N*P,)`` index, corner after
    corner in the order (x0, y0), (x1, y0), (x0, y1), (x1, y1). A corner
    outside the image is clipped onto the zero border (a point far outside
    has all four corners there), so it reads zero without a mask.
    """
    n = px.shape[0]
    x0, y0 = xp.floor(px), xp.floor(py)
    a, b = xp.reshape(px - x0, (-1, 1)), xp.reshape(py - y0, (-1, 1))
    offsets = xp.reshape(xp.asarray([1.0, 2.0], dtype=px.dtype), (2, 1, 1))  # +1: the border
    columns = xp.astype(xp.clip(x0[None, ...] + offsets, 0, w + 1), xp.int64)
    lines = xp.astype(xp.clip(y0[None, ...] + offsets, 0, h + 1), xp.int64)
    image_start = xp.reshape(xp.arange(n, dtype=xp.int64) * ((h + 2) * (w + 2)), (n, 1))
    lines = lines * (w + 2) + image_start  # (2, N, P): rows y0 and y1
    index = lines[:, None, ...] + columns[None, ...]  # (2, 2, N, P): [line][column]
    return (a, b), xp.reshape(index, (-1,))


def grid_sample_forward(x, grid, align_corners: bool = False):
    """Bilinear sampling of ``x`` at the points of ``grid``, zeros outside (the sampler).

    Parameters
    ----------
    x : (N, C, H, W) array
        Input images.
    grid : (N, H_out, W_out, 2) array
        Points ``(x, y)`` in normalised coordinates of ``x``.
    align_corners : bool
        Convention of the normalised coordinates (see the module docstring).

    Returns
    -------
    out : (N, C, H_out, W_out) array
    cache : GridSampleCache

    Notes
    -----
    The four weighted corners are summed as two interpolations along ``x``,
    ``top = v00 + a (v10 - v00)`` and ``bottom = v01 + a (v11 - v01)``, and
    one along ``y``, ``out = top + b (bottom - top)``: the same bilinear
    weights, with no stacked ``(4, N*P, C)`` arrays, and the differences are
    the derivatives the backward pass needs.
    """
    check_ndim("x", x, 4, "(N, C, H, W)")
    check_shape("grid", grid, (x.shape[0], None, None, 2))
    xp = get_namespace(x, grid)
    kernel = kernels.lookup("grid_sample_forward", xp)
    if kernel is not None:
        return kernel(x, grid, align_corners)
    n, c, h, w = x.shape
    h_out, w_out = grid.shape[1], grid.shape[2]
    px = _to_pixels(xp.reshape(grid[..., 0], (n, h_out * w_out)), w, align_corners)
    py = _to_pixels(xp.reshape(grid[..., 1], (n, h_out * w_out)), h, align_corners)
    (a, b), index = _corner_index(xp, px, py, h, w)
    points = n * h_out * w_out
    values = xp.take(_padded_rows(xp, x), index, axis=0)
    v00, v10 = values[:points, :], values[points : 2 * points, :]
    v01, v11 = values[2 * points : 3 * points, :], values[3 * points :, :]
    # interpolate along x in the top and bottom rows, then along y between them
    top_dx, bottom_dx = v10 - v00, v11 - v01
    top = a * top_dx
    top += v00
    along_y = a * bottom_dx
    along_y += v01
    along_y -= top
    out = b * along_y
    out += top
    cache = GridSampleCache(
        tuple(x.shape), index, (a, b), (top_dx, bottom_dx), along_y,
        (_pixels_per_unit(w, align_corners), _pixels_per_unit(h, align_corners)),
    )
    out = xp.reshape(out, (n, h_out, w_out, c))
    return xp.permute_dims(out, (0, 3, 1, 2)), cache


def grid_sample_backward(dout, cache: GridSampleCache):
    """Gradients of :func:`grid_sample_forward` with respect to the image and the grid.

    With corner values ``v00, v10, v01, v11`` and fractions ``(a, b)``:

    * ``dx``: each corner pixel receives ``weight * dout`` (scatter-add, since
      several points can share a pixel);
    * ``d out / d a = (1 - b)(v10 - v00) + b (v11 - v01)`` and
      ``d out / d b = (1 - a)(v01 - v00) + a (v11 - v10)``, summed over channels
      against ``dout`` and scaled by ``d(pixel) / d(normalised coordinate)``.

    Parameters
    ----------
    dout : (N, C, H_out, W_out) array
    cache : GridSampleCache
        Or the cache of a forward kernel, which names the kernel that reads it
        (``cache.backward_op``).

    Returns
    -------
    dx : (N, C, H, W) array
    dgrid : (N, H_out, W_out, 2) array
    """
    if not isinstance(cache, GridSampleCache):  # a forward kernel's cache
        return kernels.require(cache.backward_op, get_namespace(dout))(dout, cache)
    n, c, h, w = cache.x_shape
    check_shape("dout", dout, (n, c, None, None))
    xp = get_namespace(dout)
    h_out, w_out = dout.shape[2], dout.shape[3]
    g = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (n * h_out * w_out, c))
    a, b = cache.frac
    # the corner weights (1-a)(1-b), a(1-b), (1-a)b, ab times g, as differences
    g_bottom = b * g
    g_top = g - g_bottom
    g10, g11 = a * g_top, a * g_bottom
    corners = [g_top - g10, g10, g_bottom - g11, g11]
    zeros = xp.zeros((n * (h + 2) * (w + 2), c), dtype=dout.dtype)
    rows = scatter_add(zeros, cache.corner_index, xp.concat(corners))
    padded = xp.reshape(rows, (n, h + 2, w + 2, c))[:, 1 : h + 1, 1 : w + 1, :]
    dx = xp.permute_dims(padded, (0, 3, 1, 2))
    top_dx, bottom_dx = cache.along_x
    d_a = bottom_dx - top_dx
    d_a *= b
    d_a += top_dx
    per_x, per_y = cache.pixels_per_unit
    d_px = xp.sum(g * d_a, axis=1) * per_x
    d_py = xp.sum(g * cache.along_y, axis=1) * per_y
    dgrid = xp.stack([d_px, d_py], axis=1)
    return dx, xp.reshape(dgrid, (n, h_out, w_out, 2))


def grid_sample(x, grid, align_corners: bool = False):
    """:func:`grid_sample_forward` without the cache: ``(N, C, H_out, W_out)`` samples."""
    return grid_sample_forward(x, grid, align_corners)[0]
