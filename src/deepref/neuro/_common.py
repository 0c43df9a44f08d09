"""Pieces shared by the simulators of :mod:`deepref.neuro`: the spike record and step checks."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..backend import default_float, get_namespace, to_numpy
from ..validation import check_positive


class SpikeRecord(NamedTuple):
    """What a simulation recorded, one row per time step.

    Attributes
    ----------
    spikes : (T, N) array
        1.0 where neuron ``n`` spiked during step ``t``, else 0.0.
    v : (T, N) array or None
        Membrane potential at the end of each step, mV (``None`` when not recorded).
    dt : float
        Time step, ms.
    """

    spikes: object
    v: object
    dt: float

    @property
    def duration(self) -> float:
        """Simulated time, ms."""
        return self.spikes.shape[0] * self.dt

    def counts(self):
        """Spikes per neuron, a ``(N,)`` array."""
        xp = get_namespace(self.spikes)
        return xp.sum(self.spikes, axis=0)

    def rates(self):
        """Mean firing rate of each neuron over the whole run, Hz, a ``(N,)`` array."""
        return self.counts() * (1000.0 / self.duration)

    def spike_times(self, neuron: int) -> np.ndarray:
        """Host array of the spike times of ``neuron``, ms (end of the step in which it spiked)."""
        column = to_numpy(self.spikes)[:, neuron]
        return (np.flatnonzero(column) + 1) * self.dt


def check_step(dt: float, duration: float) -> int:
    """Validate a time step and a duration (both ms) and return the number of steps."""
    check_positive("dt", dt)
    check_positive("duration", duration)
    return max(1, int(round(duration / dt)))


def check_positive_fields(params, positive=(), non_negative=()) -> None:
    """Check the named fields of a parameter dataclass: ``positive`` ones > 0, ``non_negative`` ones >= 0.

    Raises ``ValueError`` naming the first field that fails.
    """
    for name in positive:
        check_positive(name, getattr(params, name))
    for name in non_negative:
        check_positive(name, getattr(params, name), allow_zero=True)


def check_finite(state, step: int, dt: float, what: str) -> None:
    """Raise ``FloatingPointError`` naming the step if ``state`` holds NaN or inf."""
    xp = get_namespace(state)
    if not math.isfinite(float(xp.sum(state))):  # one reduction: any NaN or inf makes the sum non-finite
        raise FloatingPointError(
            f"{what} became NaN or infinite at step {step} (t = {step * dt:g} ms): the simulation diverged; "
            "lower the time step dt or check the input current and parameters"
        )


def as_current(current, n: int | None, steps: int, like=None):
    """Input current as a backend array of shape ``(steps, N)`` or ``(N,)`` (constant).

    Parameters
    ----------
    current : float, (N,) or (steps, N) array
        A Python number is broadcast to ``n`` neurons (``n`` required then).
    n : int or None
        Number of neurons, when ``current`` is a number.
    steps : int
        Number of time steps of the run.
    like : array, optional
        Array whose backend a numeric ``current`` follows.

    Returns
    -------
    array
        ``(N,)`` for a constant current or ``(steps, N)``.
    """
    xp = get_namespace(current, like)
    if isinstance(current, (int, float)):
        if n is None:
            raise ValueError("a scalar current needs the number of neurons n")
        if not math.isfinite(current):
            raise ValueError(f"current must be finite, got {current}")
        return xp.full((n,), float(current), dtype=default_float(xp))
    if current.ndim == 2 and current.shape[0] != steps:
        raise ValueError(
            f"a time-varying current must have shape (steps, N) = ({steps}, N), got {tuple(current.shape)}"
        )
    if current.ndim not in (1, 2):
        raise ValueError(f"current must have shape (N,) or (steps, N), got {tuple(current.shape)}")
    return current


def current_at(current, step: int):
    """The ``(N,)`` input of ``step`` from a constant ``(N,)`` or a ``(steps, N)`` current."""
    return current if current.ndim == 1 else current[step, :]
