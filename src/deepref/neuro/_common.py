"""Pieces shared by the simulators of :mod:`deepref.neuro`: the spike record and the checks of a run."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..backend import Generator, default_float, get_namespace, to_numpy
from ..seeds import spawn_seeds
from ..validation import check_positive, check_real


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


def host_rng(seed) -> np.random.Generator:
    """A NumPy generator for host-side draws from ``seed``: an int, a NumPy or a deepref generator.

    A NumPy generator is used as it is; a :class:`deepref.backend.Generator`
    gives a seed drawn from its own stream.
    """
    if isinstance(seed, Generator):
        (seed,) = spawn_seeds(seed, 1)
    return np.random.default_rng(seed)


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


def check_finite_run(total, what: str, dt: float, trace=None) -> None:
    """Check once, after a run, that a simulation stayed finite.

    ``total`` is a running sum of the state over every step (a NaN or an
    infinity anywhere makes it non-finite), so a run reads one number back
    from the device instead of one per step. When the ``(T, N)`` ``trace`` was
    recorded, the error names the first step that went wrong.

    Raises
    ------
    FloatingPointError
        Naming ``what`` (and the step), with the usual remedies.
    """
    try:
        check_real(what, float(total))
    except ValueError as error:
        where = ""
        if trace is not None:
            xp = get_namespace(trace)
            bad = np.flatnonzero(~np.isfinite(to_numpy(xp.sum(trace, axis=1))))
            if bad.size:
                where = f" at step {int(bad[0])} (t = {int(bad[0]) * dt:g} ms)"
        raise FloatingPointError(
            f"{what} became NaN or infinite{where}: the simulation diverged; "
            "lower the time step dt or check the input current and parameters"
        ) from error


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
