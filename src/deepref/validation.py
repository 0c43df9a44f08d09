"""Checks of user input that raise clear errors naming what was expected.

Every public function of deepref validates its arguments with these helpers,
so that a wrong shape or option fails at once with a message, never deep
inside a computation.

>>> import numpy as np
>>> check_shape("x", np.zeros((2, 3)), (None, 4))
Traceback (most recent call last):
...
ValueError: x must have shape (N, 4), got (2, 3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

_LETTERS = "NMKLPQRSTUVW"


def _describe(expected: Sequence[int | None]) -> str:
    parts = [(_LETTERS[i] if d is None else str(d)) for i, d in enumerate(expected)]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_shape(name: str, array, expected: Sequence[int | None]) -> None:
    """Raise ``ValueError`` unless ``array.shape`` matches ``expected`` (``None`` matches any size)."""
    shape = tuple(array.shape)
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
        raise ValueError(f"{name} must have shape {_describe(expected)}, got {shape}")


def check_ndim(name: str, array, ndim: int, layout: str = "") -> None:
    """Raise ``ValueError`` unless ``array`` has ``ndim`` dimensions; ``layout`` names them, e.g. ``"(N, C, H, W)"``."""
    if array.ndim != ndim:
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{name} must be {ndim}-D{hint}, got shape {tuple(array.shape)}")


def check_same_shape(name_a: str, a, name_b: str, b) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{name_b} must have the shape of {name_a}, {tuple(a.shape)}; got {tuple(b.shape)}")


def check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0 (or >= 0 with ``allow_zero``)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def check_in_range(name: str, value: float, low: float, high: float, closed: str = "left") -> None:
    """Raise ``ValueError`` unless ``value`` lies between ``low`` and ``high``.

    ``closed`` says which ends belong to the interval: ``"left"`` (the default,
    ``low <= value < high``), ``"right"``, ``"both"`` or ``"neither"``.
    """
    lower_ok = value >= low if closed in ("left", "both") else value > low
    upper_ok = value <= high if closed in ("right", "both") else value < high
    if not (isinstance(value, (int, float)) and lower_ok and upper_ok):
        left = "[" if closed in ("left", "both") else "("
        right = "]" if closed in ("right", "both") else ")"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")


def check_choice(name: str, value, choices: Iterable) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``, listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")


def check_finite_loss(loss: float, where: str) -> None:
    """Raise ``FloatingPointError`` if ``loss`` is NaN or infinite; ``where`` names the step."""
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the loss became {loss} at {where}: training diverged; lower the learning rate, "
            "clip gradients or check the data for NaN/inf"
        )
