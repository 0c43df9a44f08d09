"""NumPy kernels of the spatial transformer's grid generator and bilinear sampler, on reused workspaces.

The specifications (:mod:`deepref.nn.sampling`) compute ``affine_grid`` as a
batch of small matrix products and ``grid_sample`` in about thirty NumPy
calls over the ``P = N * H_out * W_out`` points, each of which allocates its
result. Arrays that large may come fresh from the operating system after
every free (glibc hands big blocks back), and then a good part of the
specification's time goes into zeroing new pages, more or less depending on
the host. The kernels compute the same operations with these changes:

* the grid generator is one matrix product, ``theta`` as ``(2N, 3)`` rows
  times the ``(3, P)`` base, whose result is the grid laid out as
  ``(2, N, H_out, W_out)``: the returned ``(N, H_out, W_out, 2)`` grid is a
  view of it, so the ``x`` of all points is one contiguous run and their
  ``y`` another; the gradient with respect to ``theta`` is again one product
  (on a ``dgrid`` the sampler's backward pass returns in the same layout);
* the sampler pads the image with a border of zeros *two* pixels wide, so a
  corner's row is the clipped top-left corner's plus ``0, 1, W + 4, W + 5``:
  one clip per axis instead of one per corner and axis, and each corner is
  one ``np.take`` from the padded rows shifted by its offset;
* every per-point array lives in a :class:`Workspace`, allocated once for a
  given shape and dtype and written in place (``out=``) by every later call;
  what only one step needs is computed block by block of points
  (:data:`BLOCK_BYTES`), in arrays one block long that stay in the CPU's
  cache.

What a call returns is its own (new arrays: the output, the gradients).
What the forward pass keeps for the backward pass (:class:`SamplerCache`)
lives in the workspace, which is handed to a new forward call only once
that cache is gone (the workspace holds the cache weakly); while a cache
lives, a new call with the same shapes takes another workspace. The cache's
arrays are therefore valid exactly as long as the cache itself.

The grid generator's products round differently from the specification's
batched ones. The sampler computes the specification's operations in its
order on the same numbers, and its image gradient adds each pixel's
contributions in the specification's order in double precision
(``np.add.at`` here, ``np.bincount`` there), so on the same grid the sampler
agrees with the specification to the bit. The measured effect is in the
benchmark notes (``benchmarks/results/kernel_notes.md``).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, NamedTuple

import numpy as np

from ..nn.sampling import AffineGridCache, _pixels_per_unit, normalised_coordinates
from ..validation import check_shape
from . import register

WORKSPACES_PER_SHAPE = 4
"""Workspaces kept for one shape (a training loop holds one cache while its next forward pass runs)."""

SHAPES_KEPT = 8
"""Shapes whose workspaces are kept (the least recently used go first)."""

KEEP_BYTES = 64 << 20
"""Largest workspace kept for later calls (its forward arrays); a larger one serves one call and goes."""

BLOCK_BYTES = 1 << 16
"""Bytes of one per-point array of a block: the sampler runs over blocks of points whose arrays stay in cache."""

WEIGHT_ORDER = (0, 2, 1, 3)
"""Where the backward pass keeps the weights of the corners (x0, y0), (x1, y0), (x0, y1), (x1, y1): the
corners at ``x0`` first, so that one call multiplies both by ``a``; added up in the corners' order."""

_POOL: OrderedDict[tuple, list[Workspace]] = OrderedDict()


@lru_cache(maxsize=16)
def _base_rows(h: int, w: int, align_corners: bool, dtype: np.dtype):
    """The ``(3, H*W)`` rows ``x, y, 1`` of the output pixels' normalised coordinates, read-only."""
    xs = normalised_coordinates(np, w, align_corners, dtype)
    ys = normalised_coordinates(np, h, align_corners, dtype)
    rows = np.stack([np.tile(xs, h), np.repeat(ys, w), np.ones(h * w, dtype=dtype)])
    rows.flags.writeable = False
    return rows


@register("affine_grid_forward", "numpy")
def affine_grid_forward(theta, size, align_corners: bool = False):
    """:func:`deepref.nn.sampling.affine_grid_forward`: one ``(2N, 3) @ (3, P)`` product.

    The grid is a ``(N, H_out, W_out, 2)`` view of a new ``(2, N, H_out, W_out)``
    array: the ``x`` of all points, then their ``y``, each in one contiguous run.
    """
    n, _, h, w = (int(s) for s in size)
    base_rows = _base_rows(h, w, bool(align_corners), np.dtype(theta.dtype))
    grid = np.reshape(np.moveaxis(theta, 1, 0), (2 * n, 3)) @ base_rows
    return np.moveaxis(np.reshape(grid, (2, n, h, w)), 0, 3), AffineGridCache(base_rows.T, (h, w))


@register("affine_grid_backward", "numpy")
def affine_grid_backward(dgrid, cache: AffineGridCache):
    """:func:`deepref.nn.sampling.affine_grid_backward`: one ``(2N, P) @ (P, 3)`` product.

    ``dgrid`` laid out as ``(2, N, H_out, W_out)`` (as :func:`grid_sample_backward`
    returns it) is read in place; any other layout is copied once.
    """
    n = dgrid.shape[0]
    rows = np.reshape(np.moveaxis(dgrid, 3, 0), (2 * n, -1))
    return np.ascontiguousarray(np.moveaxis(np.reshape(rows @ cache.base, (2, n, 3)), 0, 1))


class Workspace:
    """The arrays of one sampler shape, written in place by every call that holds it.

    The image is padded with zeros two pixels wide, as ``(N, H + 4, W + 4, C)``,
    and read as rows of channels: a point's top-left corner is row ``line``,
    its other corners rows ``line + offsets[k]``. What the backward pass reads
    spans all ``P`` points; the rest is computed block by block of points
    (:data:`BLOCK_BYTES`) in arrays one block long, which stay in the cache.

    Parameters
    ----------
    x_shape : (N, C, H, W)
    points : int
        ``P = N * H_out * W_out``.
    x_dtype, grid_dtype : numpy dtypes
        Of the image and of the grid; the sampled values take their result type.
    """

    def __init__(self, x_shape: tuple, points: int, x_dtype, grid_dtype):
        n, c, h, w = x_shape
        out_dtype = np.result_type(x_dtype, grid_dtype)
        self.padded = np.zeros((n, h + 4, w + 4, c), dtype=x_dtype)  # only the interior is ever written
        self.offsets = (0, 1, w + 4, w + 5)  # corners (x0, y0), (x1, y0), (x0, y1), (x1, y1)
        step = max(BLOCK_BYTES // (c * out_dtype.itemsize), 1)
        self.blocks = [slice(start, min(start + step, points)) for start in range(0, points, step)]
        per_image = points // n if n else 0
        self.starts = np.repeat((np.arange(n, dtype=np.intp) * (h + 4) + 2) * (w + 4) + 2, per_image)
        # what the backward pass reads, for all points
        self.frac = np.empty((2, points, 1), dtype=grid_dtype)  # a and b
        self.line = np.empty(points, dtype=np.intp)
        self.along_x = np.empty((2, points, c), dtype=x_dtype)  # v10 - v00, v11 - v01
        self.along_y = np.empty((points, c), dtype=out_dtype)
        # one block's worth
        block = min(step, points)
        self.pixels = np.empty((2, block), dtype=grid_dtype)  # x and y in pixels
        self.floors = np.empty((2, block), dtype=grid_dtype)  # their floors, then clipped
        self.corner = np.empty((2, block), dtype=np.intp)
        self.values = np.empty((4, block, c), dtype=x_dtype)
        self.rows = np.empty((2, block, c), dtype=out_dtype)  # the top and bottom rows interpolated along x
        self.gradients: dict = {}  # the backward pass's arrays, by dtype of the upstream gradient
        self.owner = None  # weak reference to the cache that reads this workspace

    def nbytes(self) -> int:
        """Bytes of the forward pass's arrays (the backward pass's, made on first use, about as many again)."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    def free(self) -> bool:
        """Whether no live cache reads this workspace."""
        return self.owner is None or self.owner() is None

    def gradient_arrays(self, dtype) -> GradientArrays:
        """The backward pass's arrays for an upstream gradient of ``dtype``, made on first use."""
        if dtype not in self.gradients:
            self.gradients[dtype] = GradientArrays.allocate(self, dtype)
        return self.gradients[dtype]


class GradientArrays(NamedTuple):
    """The arrays :func:`grid_sample_backward` writes into, besides its results."""

    weights: object
    """(4, B, C): one block's upstream gradient times each corner's weight, corners in the order of
    :data:`WEIGHT_ORDER`; None where those are float64."""
    wide: object
    """(C, 4, P) float64: the weights of all points, for the sums."""
    sums: object
    """(C, N * (H + 4) * (W + 4)) float64: the image gradient, summed pixel by pixel."""
    d_a: object
    """(B, C): ``d out / d a`` of one block."""
    product: object
    """(B, C): upstream gradient times a derivative of the output, one block."""

    @classmethod
    def allocate(cls, ws: Workspace, dtype) -> GradientArrays:
        (_, points, _), (_, block, c) = ws.frac.shape, ws.rows.shape
        weight_dtype = np.result_type(ws.frac.dtype, dtype)
        return cls(
            None if weight_dtype == np.float64 else np.empty((4, block, c), dtype=weight_dtype),
            np.empty((c, 4, points)),
            np.empty((c, ws.padded.size // c)),
            np.empty((block, c), dtype=ws.along_x.dtype),
            np.empty((block, c), dtype=np.result_type(dtype, ws.along_y.dtype)),
        )


def _workspace(key: tuple) -> Workspace:
    """A free workspace for ``key = (x_shape, points, x_dtype, grid_dtype)``, kept for later calls if there is room."""
    kept = _POOL.setdefault(key, [])
    _POOL.move_to_end(key)
    while len(_POOL) > SHAPES_KEPT:
        _POOL.popitem(last=False)
    for workspace in kept:
        if workspace.free():
            return workspace
    workspace = Workspace(*key)
    if len(kept) < WORKSPACES_PER_SHAPE and workspace.nbytes() <= KEEP_BYTES:
        kept.append(workspace)
    return workspace


@dataclass(frozen=True, slots=True, weakref_slot=True)
class SamplerCache:
    """What :func:`grid_sample_forward` keeps for :func:`grid_sample_backward` (``backward_op`` names it).

    Its arrays are the workspace's: valid while this cache lives.
    """

    workspace: Workspace
    x_shape: tuple
    pixels_per_unit: tuple

    backward_op: ClassVar[str] = "grid_sample_backward"


def _forward_block(ws: Workspace, coordinates, block: slice, out, scales: tuple, align_corners: bool) -> None:
    """The sampler on the points of ``block``: cache arrays and ``out`` (P, C) written there.

    ``coordinates`` (2, P) holds the normalised ``x`` and ``y`` of the points;
    ``scales`` is ``(per_unit, limits)``, two (2, 1) columns: pixels per unit
    and ``(W, H)``. Pixel coordinates ``((u + 1) n - 1) / 2`` are computed as
    ``(u + 1) (n / 2) - 1 / 2``: halving is exact, so both round alike (short
    of underflow). A floor clipped to ``[-2, W]`` (and ``[-2, H]``) keeps every
    corner of a point outside the image on the two-pixel border, where it
    reads zero.
    """
    size = block.stop - block.start
    pixels, floors, corner = ws.pixels[:, :size], ws.floors[:, :size], ws.corner[:, :size]
    per_unit, limits = scales
    np.add(coordinates[:, block], 1.0, out=pixels)
    np.multiply(pixels, per_unit, out=pixels)
    if not align_corners:
        np.subtract(pixels, 0.5, out=pixels)
    np.floor(pixels, out=floors)
    np.subtract(pixels, floors, out=ws.frac[:, block, 0])
    a, b = ws.frac[:, block]
    np.clip(floors, -2, limits, out=floors)
    np.copyto(corner, floors, casting="unsafe")
    line = ws.line[block]
    np.multiply(corner[1], ws.padded.shape[2], out=corner[1])
    np.add(corner[1], corner[0], out=corner[1])
    np.add(corner[1], ws.starts[block], out=line)
    rows, values = np.reshape(ws.padded, (-1, ws.padded.shape[3])), ws.values[:, :size]
    for k, offset in enumerate(ws.offsets):  # in range: mode "clip" only skips the bounds check's copy
        np.take(rows[offset:], line, axis=0, out=values[k], mode="clip")
    # interpolate along x in the top and bottom rows, then along y between them
    along_x, top_bottom, along_y = ws.along_x[:, block], ws.rows[:, :size], ws.along_y[block]
    np.subtract(values[1::2], values[0::2], out=along_x)  # v10 - v00, v11 - v01
    np.multiply(a, along_x, out=top_bottom)
    top_bottom += values[0::2]
    top, bottom = top_bottom
    np.subtract(bottom, top, out=along_y)
    np.multiply(b, along_y, out=out[block])
    out[block] += top


@register("grid_sample_forward", "numpy")
def grid_sample_forward(x, grid, align_corners: bool = False):
    """:func:`deepref.nn.sampling.grid_sample_forward` on a reused workspace; the output is a new array."""
    n, c, h, w = x.shape
    h_out, w_out = grid.shape[1], grid.shape[2]
    points = n * h_out * w_out
    ws = _workspace(((n, c, h, w), points, np.dtype(x.dtype), np.dtype(grid.dtype)))
    np.copyto(ws.padded[:, 2 : h + 2, 2 : w + 2, :], np.moveaxis(x, 1, 3))
    coordinates = np.reshape(np.moveaxis(grid, 3, 0), (2, points))  # a view in the (2, N, H_out, W_out) layout
    per_unit = (_pixels_per_unit(w, align_corners), _pixels_per_unit(h, align_corners))
    scales = (np.array(per_unit, dtype=grid.dtype)[:, None], np.array([w, h], dtype=grid.dtype)[:, None])
    out = np.empty((n, h_out, w_out, c), dtype=ws.rows.dtype)
    for block in ws.blocks:
        _forward_block(ws, coordinates, block, np.reshape(out, (points, c)), scales, align_corners)
    cache = SamplerCache(ws, (n, c, h, w), per_unit)
    ws.owner = weakref.ref(cache)
    return np.moveaxis(out, 3, 1), cache


def _backward_block(ws: Workspace, arrays: GradientArrays, g, block: slice, dgrid, per_unit: tuple) -> None:
    """The corner weights of the points of ``block`` (into ``arrays.wide``) and their ``dgrid`` (2, P)."""
    size = block.stop - block.start
    a, b = ws.frac[:, block]
    g = g[block]
    # the corner weights (1-a)(1-b), (1-a)b, a(1-b), ab times g (WEIGHT_ORDER), as differences
    wide = np.moveaxis(arrays.wide[:, :, block], 0, 2)  # (4, B, C)
    weights = wide if arrays.weights is None else arrays.weights[:, :size]
    np.multiply(b, g, out=weights[1])  # g b
    np.subtract(g, weights[1], out=weights[0])  # g (1 - b)
    np.multiply(a, weights[:2], out=weights[2:])
    weights[:2] -= weights[2:]
    if weights is not wide:
        np.copyto(wide, weights)
    top_dx, bottom_dx = ws.along_x[:, block]
    d_a, product = arrays.d_a[:size], arrays.product[:size]
    np.subtract(bottom_dx, top_dx, out=d_a)
    d_a *= b
    d_a += top_dx
    for axis, derivative in enumerate((d_a, ws.along_y[block])):
        np.multiply(g, derivative, out=product)
        summed = product[:, 0] if product.shape[1] == 1 else np.sum(product, axis=1)
        np.multiply(summed, per_unit[axis], out=dgrid[axis, block])


def _image_gradient(ws: Workspace, arrays: GradientArrays, dtype):
    """``dx``, a new ``(N, C, H, W)`` array: the corner weights added up pixel by pixel.

    Corner after corner, in double precision, as the specification's
    ``bincount`` adds them (``np.add.at`` into the workspace's sums).
    """
    n, h4, w4, c = ws.padded.shape
    sums = arrays.sums
    sums.fill(0.0)
    for channel in range(c):
        for k, offset in zip(WEIGHT_ORDER, ws.offsets):
            np.add.at(sums[channel, offset:], ws.line, arrays.wide[channel, k])
    dx = np.empty((n, c, h4 - 4, w4 - 4), dtype=dtype)
    interior = np.reshape(sums, (c, n, h4, w4))[:, :, 2 : h4 - 2, 2 : w4 - 2]
    np.copyto(dx, np.moveaxis(interior, 0, 1), casting="same_kind")
    return dx


@register("grid_sample_backward", "numpy")
def grid_sample_backward(dout, cache: SamplerCache):
    """:func:`deepref.nn.sampling.grid_sample_backward` on the forward pass's workspace; new gradients.

    ``dgrid`` is a ``(N, H_out, W_out, 2)`` view of a new ``(2, N, H_out, W_out)``
    array, the layout :func:`affine_grid_backward` reads without a copy.
    """
    if not isinstance(cache, SamplerCache):
        raise TypeError(f"grid_sample_backward reads the cache of grid_sample_forward, got a {type(cache).__name__}")
    n, c, h, w = cache.x_shape
    check_shape("dout", dout, (n, c, None, None))
    ws = cache.workspace
    h_out, w_out = dout.shape[2], dout.shape[3]
    points = n * h_out * w_out
    if points != ws.line.shape[0]:
        raise ValueError(f"dout must have the forward output's shape, {ws.line.shape[0] // max(n, 1)} points "
                         f"per image; got {tuple(dout.shape)}")
    arrays = ws.gradient_arrays(np.dtype(dout.dtype))
    g = np.reshape(np.moveaxis(dout, 1, 3), (points, c))  # a view where dout is C-ordered with one channel
    dgrid = np.empty((2, n, h_out, w_out), dtype=arrays.product.dtype)
    for block in ws.blocks:
        _backward_block(ws, arrays, g, block, np.reshape(dgrid, (2, points)), cache.pixels_per_unit)
    return _image_gradient(ws, arrays, dout.dtype), np.moveaxis(dgrid, 0, 3)
