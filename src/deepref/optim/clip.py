"""Gradient clipping, applied between the backward pass and ``step()``.

Clipping by global norm rescales all gradients together,
``g <- g * min(1, max_norm / ||g||)`` with ``||g||`` the Euclidean norm of all
gradients concatenated, so the update keeps its direction. Clipping by value
clamps each entry to ``[-clip_value, clip_value]`` and changes the direction.
"""

from __future__ import annotations

import math

from ..backend import get_namespace, to_numpy
from ..validation import check_positive


def global_norm(arrays) -> float:
    """Euclidean norm of all entries of ``arrays`` together, safe from overflow in float32.

    The one norm of deepref (gradient clipping, line searches, Hessian tools).
    Squares of finite float32 entries above about 1.8e19 overflow, so when the
    largest entry is outside ``[1e-15, 1e15]`` every array is divided by it
    first: ``||a|| = m ||a / m||`` with ``m = max |a|``. Each array's sum of
    squares is added in double precision. Everything is computed where the
    arrays live and read back once, at the end: on a GPU one synchronisation
    per call, whatever the number of arrays.

    Parameters
    ----------
    arrays : iterable of arrays
        Any shapes, one backend; ``None`` entries are skipped.

    Returns
    -------
    float
        ``inf`` or ``nan`` if an entry is.

    >>> import numpy as np
    >>> f"{global_norm([np.full(4, 1e20, dtype=np.float32)]):.6g}"  # squares would overflow float32
    '2e+20'
    """
    arrays = [a for a in arrays if a is not None and a.size]
    if not arrays:
        return 0.0
    xp = get_namespace(*arrays)
    largest = xp.max(xp.stack([xp.astype(xp.max(xp.abs(a)), xp.float64) for a in arrays]))
    rescale = ((largest < 1e-15) | (largest > 1e15)) & (largest > 0) & xp.isfinite(largest)
    scale = xp.where(rescale, largest, xp.ones_like(largest))
    total = xp.sum(xp.stack([_sum_of_squares(xp, a, scale) for a in arrays]))
    largest, norm = (float(v) for v in to_numpy(xp.stack([largest, scale * xp.sqrt(total)])))
    return norm if math.isfinite(largest) else largest


def _sum_of_squares(xp, a, scale):
    """``sum((a / scale)**2)`` as a float64 0-D array, the products and their sum in ``a``'s dtype."""
    flat = xp.reshape(a, (-1,)) / xp.astype(scale, a.dtype)
    return xp.astype(xp.vecdot(flat, flat), xp.float64)


def global_grad_norm(params) -> float:
    """Euclidean norm of all ``.grad`` arrays of ``params`` together (parameters without gradient are skipped)."""
    return global_norm(p.grad for p in params)


def clip_grad_norm(params, max_norm: float) -> float:
    """Rescale the gradients so that their global norm is at most ``max_norm``.

    Returns
    -------
    float
        The global norm *before* clipping (as ``torch.nn.utils.clip_grad_norm_``).
    """
    check_positive("max_norm", max_norm)
    params = list(params)
    norm = global_grad_norm(params)
    if not math.isfinite(norm):
        raise FloatingPointError(
            f"gradient norm is {norm}: the backward pass produced NaN or inf"
        )
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for p in params:
            if p.grad is not None:
                # a new array: the backward pass may share the old one with others
                p.grad = p.grad * scale
    return norm


clip_grad_norm_ = clip_grad_norm
"""PyTorch's name (``torch.nn.utils.clip_grad_norm_``) for :func:`clip_grad_norm`."""


def clip_grad_value(params, clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]``."""
    check_positive("clip_value", clip_value)
    for p in params:
        if p.grad is not None:
            p.grad = get_namespace(p.grad).clip(p.grad, -clip_value, clip_value)
