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
import numbers
import os
from collections.abc import Iterable, Sequence

import array_api_compat
import numpy as np

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


def _is_real(value) -> bool:
    """A real number (Python or NumPy scalar), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_count(name: str, value, minimum: int = 1) -> int:
    """Raise ``ValueError`` unless ``value`` is an integer ``>= minimum`` (NumPy integers accepted).

    Returns the value as a Python ``int``. Floats are rejected even when
    integral (``2.0``), as are bools.

    >>> check_count("epochs", 2.5)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 2.5
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value, low: float = -math.inf, high: float = math.inf, closed: str = "both") -> float:
    """Raise ``ValueError`` unless ``value`` is a finite real number between ``low`` and ``high``.

    ``closed`` says which ends belong to the interval: ``"both"`` (the default),
    ``"left"``, ``"right"`` or ``"neither"``. NumPy scalars are accepted; bools,
    ``None``, strings, NaN and infinities are not. Returns the value as a ``float``.
    """
    check_choice("closed", closed, ("both", "left", "right", "neither"))
    ok = _is_real(value) and math.isfinite(value)
    if ok:
        ok = (value >= low if closed in ("left", "both") else value > low) and (
            value <= high if closed in ("right", "both") else value < high
        )
    if not ok:
        raise ValueError(f"{name} must be {_describe_interval(low, high, closed)}, got {value!r}")
    return float(value)


def _describe_interval(low: float, high: float, closed: str) -> str:
    if math.isinf(high) and not math.isinf(low):
        return f"a finite number {'>=' if closed in ('left', 'both') else '>'} {low:g}"
    if math.isinf(low) and not math.isinf(high):
        return f"a finite number {'<=' if closed in ('right', 'both') else '<'} {high:g}"
    if math.isinf(low):
        return "a finite number"
    left = "[" if closed in ("left", "both") else "("
    right = "]" if closed in ("right", "both") else ")"
    return f"in {left}{low}, {high}{right}"


def check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0 (or >= 0 with ``allow_zero``)."""
    return check_real(name, value, 0.0, math.inf, closed="left" if allow_zero else "neither")


def check_in_range(name: str, value: float, low: float, high: float, closed: str = "left") -> float:
    """Raise ``ValueError`` unless ``value`` lies between ``low`` and ``high`` (``closed`` as in :func:`check_real`).

    The default ``"left"`` means ``low <= value < high``.
    """
    return check_real(name, value, low, high, closed)


def check_choice(name: str, value, choices: Iterable) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``, listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")


def reads_values(array) -> bool:
    """Whether a check may read ``array``'s values back to the host (a label range, a finiteness test).

    By default yes for arrays in main memory (NumPy, array-api-strict), where
    that costs nothing, and no for arrays on a GPU, where each read waits for
    all queued work to finish (inside a training loop, a synchronisation per
    step). ``DEEPREF_CHECK_VALUES=1`` in the environment turns such checks on
    everywhere (to debug on a GPU), ``DEEPREF_CHECK_VALUES=0`` off everywhere
    (to see on the CPU what a GPU run checks).
    """
    switch = os.environ.get("DEEPREF_CHECK_VALUES", "").strip()
    if switch in ("0", "1"):
        return switch == "1"
    return not array_api_compat.is_cupy_array(array)


def check_finite_loss(loss: float, where: str) -> None:
    """Raise ``FloatingPointError`` if ``loss`` is NaN or infinite; ``where`` names the step."""
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the loss became {loss} at {where}: training diverged; lower the learning rate, "
            "clip gradients or check the data for NaN/inf"
        )
