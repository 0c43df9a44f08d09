"""One- and two-dimensional slices through a network's loss, ready to plot.

A network with ``P`` parameters has a loss surface in ``P + 1`` dimensions;
what can be drawn are its restrictions to a line or a plane of parameter
space. Along the segment between two parameter vectors (Goodfellow, Vinyals
and Saxe 2015),

.. math:: L\\big((1 - \\alpha)\\,\\theta_a + \\alpha\\,\\theta_b\\big),

and on a plane through :math:`\\theta^*` spanned by two random directions
:math:`\\delta, \\eta` (Li et al. 2018),

.. math:: L(\\theta^* + \\alpha\\,\\delta + \\beta\\,\\eta).

Random directions are *filter normalised* first (:func:`filter_normalize`),
so that a step of 1 changes every unit's incoming weights by their own size;
otherwise the picture would depend on the arbitrary scale of each layer.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import default_rng, get_namespace
from ..nn.utils import (
    flatten_arrays,
    num_elements,
    parameters_to_vector,
    restoring,
    split_vector,
    vector_to_parameters,
)
from ..validation import check_finite_loss, check_ndim
from .hessian import _check_direction

FILTER_EPS = 1e-10
"""Added to a direction's filter norm before dividing (as in Li et al. 2018)."""


def _loss_at(model, loss_fn, x, y, theta) -> float:
    vector_to_parameters(theta, model)
    loss = float(loss_fn.forward(model.forward(x), y))
    check_finite_loss(loss, "a point of the slice (the model's parameters were restored)")
    return loss


def _evaluate(model, loss_fn, x, y, points) -> list[float]:
    """Losses at each parameter vector of ``points``; the model's parameters and mode are restored."""
    with restoring(model):
        model.eval()
        return [_loss_at(model, loss_fn, x, y, theta) for theta in points]


def _check_vector(name: str, v, model) -> None:
    check_ndim(name, v, 1, "(P,)")
    if v.shape[0] != num_elements(model):
        expected = num_elements(model)
        raise ValueError(f"{name} must have shape ({expected},) like the model's parameters, got {tuple(v.shape)}")


def interpolate(model, loss_fn, x, y, theta_a, theta_b, alphas):
    """Loss along the line :math:`(1 - \\alpha)\\theta_a + \\alpha\\theta_b`.

    Parameters
    ----------
    model : Module
        Evaluated in eval mode; its parameters and mode are restored afterwards.
    loss_fn : Loss
    x : (N, ...) array
    y : (N, ...) array
    theta_a, theta_b : (P,) arrays
        Parameter vectors (:func:`deepref.nn.utils.parameters_to_vector`).
    alphas : sequence of float, length K
        ``0`` gives ``theta_a`` and ``1`` gives ``theta_b``; values outside
        ``[0, 1]`` extrapolate.

    Returns
    -------
    (K,) list of float
        The losses.

    Raises
    ------
    ValueError
        If ``theta_a`` or ``theta_b`` does not match the model's parameters.
    FloatingPointError
        If a loss on the line is NaN or infinite.
    """
    _check_vector("theta_a", theta_a, model)
    _check_vector("theta_b", theta_b, model)
    points = [(1.0 - float(a)) * theta_a + float(a) * theta_b for a in alphas]
    return _evaluate(model, loss_fn, x, y, points)


def filter_normalize(direction, model):
    """Rescale a direction filter by filter, as Li et al. (2018) define it.

    For each 2-D weight of shape ``(in, out)`` (the layout of
    :class:`deepref.nn.Linear`) a *filter* is the column of weights feeding
    one output unit, and

    .. math:: d_{:, j} \\leftarrow \\frac{d_{:, j}}{\\|d_{:, j}\\| + 10^{-10}}\\,\\|\\theta_{:, j}\\|.

    Weights of more dimensions follow the convolution layout
    ``(out_channels, ...)``: a filter is ``d[j]``. Directions of 1-D
    parameters (biases, batch-norm scales) are set to zero.

    Parameters
    ----------
    direction : (P,) array
        Ordered as :func:`deepref.nn.utils.parameters_to_vector`; not all zero.
    model : Module
        Supplies the weights :math:`\\theta` and the parameter shapes.

    Returns
    -------
    (P,) array
    """
    _check_vector("direction", direction, model)
    _check_direction("direction", direction, direction.shape[0])
    xp = get_namespace(direction)
    pieces = []
    blocks = split_vector(direction, model)
    for d, param in zip(blocks, model.parameters(), strict=True):
        theta = param.data
        if d.ndim == 1:
            pieces.append(xp.zeros_like(d))
            continue
        axes = (0,) if d.ndim == 2 else tuple(range(1, d.ndim))
        d_norm = xp.sqrt(xp.sum(d * d, axis=axes, keepdims=True))
        theta_norm = xp.sqrt(xp.sum(theta * theta, axis=axes, keepdims=True))
        pieces.append(d * theta_norm / (d_norm + FILTER_EPS))
    normalized = flatten_arrays(pieces)
    what = "the filter-normalised direction (all weights zero?)"
    _check_direction(what, normalized, normalized.shape[0])
    return normalized


def random_direction(model, seed: int | None = None):
    """A Gaussian direction in parameter space, filter normalised (:func:`filter_normalize`); ``(P,)``."""
    theta = parameters_to_vector(model)
    draw = default_rng(seed).normal(size=tuple(theta.shape), dtype=theta.dtype, like=theta)
    return filter_normalize(draw, model)


class LossPlane(NamedTuple):
    """Loss on a grid, laid out for ``plt.contour(alpha_grid, beta_grid, losses)``.

    ``alphas`` (A,) and ``betas`` (B,) are the coordinates along the two
    directions; ``alpha_grid`` and ``beta_grid`` are their ``(B, A)`` meshes
    (``numpy.meshgrid`` order) and ``losses`` is ``(B, A)``.
    """

    alphas: list[float]
    betas: list[float]
    alpha_grid: list[list[float]]
    beta_grid: list[list[float]]
    losses: list[list[float]]


def loss_plane(model, loss_fn, x, y, center, direction_1, direction_2, alphas, betas) -> LossPlane:
    """Loss on the plane :math:`\\theta^* + \\alpha\\,\\delta + \\beta\\,\\eta` (Li et al. 2018).

    Parameters
    ----------
    model, loss_fn, x, y
        As in :func:`interpolate`.
    center : (P,) array
        :math:`\\theta^*`, usually the trained parameters.
    direction_1, direction_2 : (P,) arrays
        :math:`\\delta, \\eta`, non-zero; usually from :func:`random_direction`.
    alphas : sequence of float, length A
    betas : sequence of float, length B

    Returns
    -------
    LossPlane
        Host lists (``numpy.asarray`` them for plotting).

    Raises
    ------
    ValueError
        If a vector does not match the parameters, or a direction is zero.
    FloatingPointError
        If the loss at some grid point is NaN or infinite.
    """
    for name, v in (("center", center), ("direction_1", direction_1), ("direction_2", direction_2)):
        _check_vector(name, v, model)
    _check_direction("direction_1", direction_1, direction_1.shape[0])
    _check_direction("direction_2", direction_2, direction_2.shape[0])
    alphas, betas = [float(a) for a in alphas], [float(b) for b in betas]
    points = [center + a * direction_1 + b * direction_2 for b in betas for a in alphas]
    flat = _evaluate(model, loss_fn, x, y, points)
    width = len(alphas)
    losses = [flat[row * width : (row + 1) * width] for row in range(len(betas))]
    return LossPlane(alphas, betas, [list(alphas) for _ in betas], [[b] * width for b in betas], losses)
