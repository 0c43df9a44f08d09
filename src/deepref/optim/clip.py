"""Gradient clipping, applied between the backward pass and ``step()``.

Clipping by global norm rescales all gradients together,
``g <- g * min(1, max_norm / ||g||)`` with ``||g||`` the Euclidean norm of all
gradients concatenated, so the update keeps its direction. Clipping by value
clamps each entry to ``[-clip_value, clip_value]`` and changes the direction.
"""

from __future__ import annotations

import math

from ..backend import get_namespace
from ..validation import check_positive


def global_grad_norm(params) -> float:
    """Euclidean norm of all ``.grad`` arrays of ``params`` together (parameters without gradient are skipped)."""
    total = 0.0
    for p in params:
        if p.grad is not None:
            xp = get_namespace(p.grad)
            total += float(xp.sum(p.grad * p.grad))
    return math.sqrt(total)


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
        raise FloatingPointError(f"gradient norm is {norm}: the backward pass produced NaN or inf")
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * scale
    return norm


def clip_grad_value(params, clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]``."""
    check_positive("clip_value", clip_value)
    for p in params:
        if p.grad is not None:
            p.grad = get_namespace(p.grad).clip(p.grad, -clip_value, clip_value)
