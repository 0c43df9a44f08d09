"""The spatial transformer module: localisation network, grid generator, sampler.

The localisation network is fully connected and regresses the parameters of a
transform; the last layer starts with zero weights and the identity transform
as its bias, so an untrained transformer passes its input through (resampled
to the output size) and learning starts from "look at the whole image".

Transforms (``kind``), as linear maps ``theta = params @ basis + offset`` from
the ``k`` regressed parameters to the six entries of ``theta`` (row-major
``[[t11, t12, t13], [t21, t22, t23]]``):

* ``"translation"`` (``k = 2``): ``[[1, 0, tx], [0, 1, ty]]``;
* ``"translation_scale"`` (``k = 3``): ``[[s, 0, tx], [0, s, ty]]``, an
  attention window;
* ``"affine"`` (``k = 6``): all six entries.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import asarray, get_namespace
from ..nn import Linear, ReLU, Sequential
from ..nn.init import as_generator
from ..nn.module import Module
from ..nn.sampling import affine_grid_backward, affine_grid_forward, grid_sample_backward, grid_sample_forward
from ..validation import check_choice, check_ndim, check_positive, check_shape


class TransformKind(NamedTuple):
    """How ``k`` regressed parameters become ``theta``: ``theta_flat = params @ basis + offset``."""

    basis: np.ndarray  # (k, 6)
    offset: np.ndarray  # (6,)
    identity: np.ndarray  # (k,) parameters of the identity transform


def _kind(rows: list[list[int]], offset: list[float], identity: list[float]) -> TransformKind:
    basis = np.zeros((len(rows), 6))
    for k, entries in enumerate(rows):
        basis[k, entries] = 1.0
    return TransformKind(basis, np.asarray(offset, dtype=float), np.asarray(identity, dtype=float))


TRANSFORMS = {
    "translation": _kind([[2], [5]], [1, 0, 0, 0, 1, 0], [0, 0]),
    "translation_scale": _kind([[0, 4], [2], [5]], [0] * 6, [1, 0, 0]),
    "affine": _kind([[0], [1], [2], [3], [4], [5]], [0] * 6, [1, 0, 0, 0, 1, 0]),
}
"""The transforms a :class:`SpatialTransformer` can regress, by name."""


class SpatialTransformer(Module):
    """Spatial transformer (Jaderberg et al., 2015) for ``(N, C, H, W)`` images.

    Parameters
    ----------
    in_shape : (C, H, W)
        Shape of one input image.
    out_size : (H_out, W_out)
        Size of the sampled output image (the same as the input by default).
    kind : str
        Transform regressed, a key of :data:`TRANSFORMS`.
    hidden : sequence of int
        Widths of the localisation network's hidden ReLU layers.
    align_corners : bool
        Convention of the normalised coordinates (see :mod:`deepref.nn.sampling`).
    seed : int, optional
        Seed of the localisation network's initial weights.
    dtype : optional
        Floating dtype of the parameters (float64 by default).

    Examples
    --------
    >>> import numpy as np
    >>> from deepref.backend import asarray
    >>> st = SpatialTransformer((1, 6, 6), kind="affine", hidden=(8,), seed=0)
    >>> x = asarray(np.random.default_rng(0).normal(size=(2, 1, 6, 6)))
    >>> bool(np.allclose(np.asarray(st(x)), np.asarray(x)))  # starts at the identity
    True
    """

    def __init__(self, in_shape, out_size=None, kind: str = "affine", hidden=(32,), align_corners: bool = False,
                 seed=None, dtype=None):
        check_choice("kind", kind, TRANSFORMS)
        if len(in_shape) != 3:
            raise ValueError(f"in_shape must be (C, H, W), got {tuple(in_shape)}")
        out_size = tuple(in_shape[1:]) if out_size is None else tuple(out_size)
        if len(out_size) != 2:
            raise ValueError(f"out_size must be (H_out, W_out), got {out_size}")
        for value in (*in_shape, *out_size):
            check_positive("every entry of in_shape and out_size", value)
        self.in_shape, self.out_size, self.kind, self.align_corners = tuple(in_shape), out_size, kind, align_corners
        transform = TRANSFORMS[kind]
        widths = [int(np.prod(in_shape)), *hidden]
        rng = as_generator(seed)
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [Linear(fan_in, fan_out, seed=rng, dtype=dtype), ReLU()]
        regression = Linear(widths[-1], len(transform.identity), seed=rng, dtype=dtype)
        xp = get_namespace(regression.weight.data)
        regression.weight.data = xp.zeros(regression.weight.shape, dtype=regression.weight.data.dtype)
        regression.bias.data = asarray(transform.identity, dtype=regression.bias.data.dtype)
        self.localisation = Sequential(*layers, regression)
        self._basis = asarray(transform.basis, dtype=regression.weight.data.dtype)
        self._offset = asarray(transform.offset, dtype=regression.weight.data.dtype)
        self._caches = None

    def predict_theta(self, x):
        """The affine matrices ``(N, 2, 3)`` the localisation network chooses for ``x`` ``(N, C, H, W)``."""
        check_ndim("x", x, 4, "(N, C, H, W)")
        check_shape("x", x, (None, *self.in_shape))
        xp = get_namespace(x)
        params = self.localisation.forward(xp.reshape(x, (x.shape[0], -1)))
        return xp.reshape(params @ self._basis + self._offset, (x.shape[0], 2, 3))

    def forward(self, x):
        theta = self.predict_theta(x)
        size = (x.shape[0], x.shape[1], *self.out_size)
        grid, grid_cache = affine_grid_forward(theta, size, self.align_corners)
        out, sample_cache = grid_sample_forward(x, grid, self.align_corners)
        self._caches = (tuple(x.shape), grid_cache, sample_cache)
        return out

    def backward(self, dout):
        """Gradient with respect to the input: through the sampler *and* through the localisation network."""
        xp = get_namespace(dout)
        x_shape, grid_cache, sample_cache = self._caches
        dx_sampled, dgrid = grid_sample_backward(dout, sample_cache)
        dtheta = affine_grid_backward(dgrid, grid_cache)
        dparams = xp.reshape(dtheta, (x_shape[0], 6)) @ self._basis.T
        dx_localisation = self.localisation.backward(dparams)
        return dx_sampled + xp.reshape(dx_localisation, x_shape)

    def __repr__(self) -> str:
        return (f"SpatialTransformer({self.in_shape} -> {self.out_size}, kind={self.kind!r},\n"
                f"  localisation={self.localisation!r})")
