"""Single-neuron models: leaky integrate-and-fire, Hodgkin-Huxley, Izhikevich, Poisson.

Every simulator steps a whole population as one array operation (one neuron
per column), records spikes as a ``(T, N)`` array of zeros and ones, and
raises, once the run is over, if the state became NaN or infinite (naming the
step when the potential was recorded): one value read back per run, not one
per step.

Units: time in ms, potentials in mV, rates in Hz. The LIF model takes its
input current in nA through a membrane resistance in MOhm (so ``R I`` is in
mV); Hodgkin-Huxley and Izhikevich take a current density in uA/cm^2 (for
Izhikevich, the dimensionless input of the 2003 paper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..backend import default_float, get_namespace
from ..nn.init import as_generator
from ..validation import check_choice, check_ndim, check_positive
from ._common import SpikeRecord, as_current, check_finite_run, check_positive_fields, check_step, current_at

# --------------------------------------------------------------------------- LIF


@dataclass(frozen=True)
class LIFParameters:
    """Leaky integrate-and-fire neuron ``tau_m dV/dt = -(V - e_l) + r_m I``.

    Attributes
    ----------
    tau_m : float
        Membrane time constant, ms (> 0).
    e_l : float
        Resting (leak reversal) potential, mV.
    v_th : float
        Spike threshold, mV (above ``v_reset``).
    v_reset : float
        Potential after a spike, mV.
    r_m : float
        Membrane resistance, MOhm (so ``r_m * I`` with ``I`` in nA is in mV).
    t_ref : float
        Absolute refractory period, ms (>= 0): the potential is held at
        ``v_reset`` for this long after each spike.
    """

    tau_m: float = 10.0
    e_l: float = -65.0
    v_th: float = -50.0
    v_reset: float = -65.0
    r_m: float = 10.0
    t_ref: float = 2.0

    def __post_init__(self):
        check_positive_fields(self, ("tau_m",), ("t_ref", "r_m"))
        if not self.v_th > self.v_reset:
            raise ValueError(f"v_th must lie above v_reset, got v_th={self.v_th} mV and v_reset={self.v_reset} mV")


LIF_METHODS = ("exact", "euler")


def lif_step(v, refractory, current, params: LIFParameters, dt: float,
             method: str = "exact"):
    """Advance a population of LIF neurons by one step of ``dt`` ms.

    With the input held constant over the step the membrane equation has the
    closed-form solution ``V(t + dt) = V_inf + (V(t) - V_inf) exp(-dt / tau_m)``
    with ``V_inf = e_l + r_m I`` (``method="exact"``); forward Euler takes
    ``V + dt / tau_m (V_inf - V)`` instead.

    Parameters
    ----------
    v : (N,) array
        Membrane potentials, mV.
    refractory : (N,) array
        Refractory steps left for each neuron (0 when it may integrate).
    current : (N,) array
        Input current during the step, nA.
    params : LIFParameters
    dt : float
        Time step, ms.
    method : {"exact", "euler"}

    Returns
    -------
    v : (N,) array
        Potentials at the end of the step, mV (``v_reset`` for neurons that spiked).
    refractory : (N,) array
    spikes : (N,) array
        1.0 for the neurons whose potential reached ``v_th`` in this step.
    """
    xp = get_namespace(v, refractory, current)
    v_inf = params.e_l + params.r_m * current
    if method == "exact":
        integrated = v_inf + (v - v_inf) * math.exp(-dt / params.tau_m)
    else:
        integrated = v + (dt / params.tau_m) * (v_inf - v)
    v = xp.where(refractory > 0.5, params.v_reset, integrated)
    refractory = xp.clip(refractory - 1.0, 0.0, None)
    fired = v >= params.v_th
    v = xp.where(fired, params.v_reset, v)
    refractory = xp.where(fired, float(round(params.t_ref / dt)), refractory)
    return v, refractory, xp.astype(fired, v.dtype)


def simulate_lif(current, duration: float, dt: float = 0.1, params: LIFParameters | None = None,
                 method: str = "exact", n: int | None = None, v0=None, record_v: bool = True) -> SpikeRecord:
    """Simulate LIF neurons driven by ``current`` for ``duration`` ms.

    Parameters
    ----------
    current : float, (N,) or (T, N) array
        Input current, nA: constant per neuron, or one row per step.
    duration : float
        Simulated time, ms; ``T = round(duration / dt)`` steps.
    dt : float
        Time step, ms (> 0).
    params : LIFParameters, optional
    method : {"exact", "euler"}
        Update rule of :func:`lif_step`.
    n : int, optional
        Number of neurons when ``current`` is a number.
    v0 : (N,) array, optional
        Initial potentials, mV (default ``e_l``).
    record_v : bool
        Keep the ``(T, N)`` potential trace.

    Returns
    -------
    SpikeRecord
    """
    params = LIFParameters() if params is None else params
    check_choice("method", method, LIF_METHODS)
    steps = check_step(dt, duration)
    current = as_current(current, n, steps)
    xp = get_namespace(current)
    n = current.shape[-1]
    v = xp.full((n,), params.e_l, dtype=current.dtype) if v0 is None else v0
    if tuple(v.shape) != (n,):
        raise ValueError(f"v0 must have shape ({n},) like the current, got {tuple(v.shape)}")
    refractory = xp.zeros((n,), dtype=current.dtype)
    spikes, trace, total = [], [], xp.zeros_like(v)
    for step in range(steps):
        v, refractory, fired = lif_step(v, refractory, current_at(current, step), params, dt, method)
        total = total + v
        spikes.append(fired)
        if record_v:
            trace.append(v)
    record = SpikeRecord(xp.stack(spikes), xp.stack(trace) if record_v else None, dt)
    check_finite_run(xp.sum(total), "the LIF membrane potential", dt, record.v)
    return record


def white_noise_current(mean, sigma: float, duration: float, dt: float, tau: float, seed=None):
    """A current with Gaussian white-noise fluctuations, one row per step, ``(T, N)``.

    ``I(t) = mean + sigma sqrt(tau) xi(t)`` with ``xi`` white noise of unit
    intensity: averaged over a step of ``dt`` it has standard deviation
    ``sigma sqrt(tau / dt)``, so halving the step multiplies the per-step
    spread by ``sqrt(2)`` and leaves the fluctuations of a membrane with time
    constant ``tau`` unchanged (the potential of a free LIF membrane has
    standard deviation ``r_m sigma / sqrt(2)``, whatever ``dt``).

    Parameters
    ----------
    mean : (N,) array
        Mean current of each neuron.
    sigma : float
        Noise amplitude, in the units of the current (>= 0).
    duration, dt : float
        ms; ``T = round(duration / dt)`` steps.
    tau : float
        Time constant that sets the scale of ``sigma``, ms (the membrane's).
    seed : int or Generator, optional

    Returns
    -------
    (T, N) array
    """
    check_ndim("mean", mean, 1, "(N,)")
    check_positive("sigma", sigma, allow_zero=True)
    check_positive("tau", tau)
    steps = check_step(dt, duration)
    draws = as_generator(seed).normal(size=(steps, mean.shape[0]), dtype=mean.dtype, like=mean)
    return mean + (sigma * math.sqrt(tau / dt)) * draws


def lif_rate(current, params: LIFParameters | None = None):
    """Analytic firing rate of an LIF neuron under a constant current, Hz.

    Integrating ``tau_m dV/dt = -(V - e_l) + r_m I`` from ``v_reset`` to
    ``v_th`` takes ``tau_m ln((r_m I + e_l - v_reset) / (r_m I + e_l - v_th))``,
    so ``r = 1 / (t_ref + that time)`` when ``r_m I + e_l > v_th`` and 0 below.

    Parameters
    ----------
    current : (N,) array
        Constant current, nA.
    params : LIFParameters, optional

    Returns
    -------
    (N,) array
        Rates, Hz.

    >>> import numpy as np
    >>> float(lif_rate(np.asarray([2.0]))[0]) > 0, float(lif_rate(np.asarray([1.0]))[0])
    (True, 0.0)
    """
    params = LIFParameters() if params is None else params
    xp = get_namespace(current)
    drive = params.r_m * current + params.e_l
    above = drive > params.v_th
    safe = xp.where(above, drive, params.v_th + 1.0)
    time_to_threshold = params.tau_m * xp.log((safe - params.v_reset) / (safe - params.v_th))
    return xp.where(above, 1000.0 / (params.t_ref + time_to_threshold), 0.0)


def isi_rate(record: SpikeRecord):
    """Firing rate from the interspike intervals, Hz, a ``(N,)`` array.

    ``(count - 1) / (t_last - t_first)``: free of the partial intervals at the
    ends of the run; 0 for neurons with fewer than two spikes.
    """
    xp = get_namespace(record.spikes)
    steps = record.spikes.shape[0]
    first = xp.astype(xp.argmax(record.spikes, axis=0), record.spikes.dtype)
    last = (steps - 1) - xp.astype(xp.argmax(xp.flip(record.spikes, axis=0), axis=0), record.spikes.dtype)
    count = record.counts()
    span = xp.where(count > 1.5, (last - first) * record.dt, 1.0)
    return xp.where(count > 1.5, (count - 1.0) * 1000.0 / span, 0.0)


# --------------------------------------------------------------------------- Hodgkin-Huxley


@dataclass(frozen=True)
class HHParameters:
    """Hodgkin-Huxley (1952) squid-axon parameters, shifted to rest near -65 mV.

    Attributes
    ----------
    c_m : float
        Membrane capacitance, uF/cm^2.
    g_na, g_k, g_l : float
        Maximal sodium, potassium and leak conductances, mS/cm^2.
    e_na, e_k, e_l : float
        Reversal potentials, mV.
    """

    c_m: float = 1.0
    g_na: float = 120.0
    g_k: float = 36.0
    g_l: float = 0.3
    e_na: float = 50.0
    e_k: float = -77.0
    e_l: float = -54.387

    def __post_init__(self):
        check_positive_fields(self, ("c_m",), ("g_na", "g_k", "g_l"))


class HHState(NamedTuple):
    """Potential (mV) and the three gating variables (between 0 and 1) of each neuron, ``(N,)`` arrays."""

    v: object
    m: object
    h: object
    n: object


def x_over_one_minus_exp(x):
    """``x / (1 - exp(-x))``, with its removable singularity at ``x = 0`` filled in.

    Near 0 the quotient is ``0 / 0`` in floating point; its Taylor series
    ``1 + x / 2 + x^2 / 12`` is used for ``|x| < 1e-4`` (error below 1e-16).

    >>> import numpy as np
    >>> [round(float(v), 9) for v in x_over_one_minus_exp(np.asarray([0.0, 1e-12, 1.0]))]
    [1.0, 1.0, 1.581976707]
    """
    xp = get_namespace(x)
    small = xp.abs(x) < 1e-4
    safe = xp.where(small, 1.0, x)
    return xp.where(small, 1.0 + x / 2.0 + x * x / 12.0, safe / -xp.expm1(-safe))


def hh_rates(v):
    """Opening and closing rates of the gates at potential ``v`` (mV), 1/ms.

    Returns
    -------
    tuple of (N,) arrays
        ``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)``.
    """
    xp = get_namespace(v)
    alpha_m = x_over_one_minus_exp((v + 40.0) / 10.0)
    beta_m = 4.0 * xp.exp(-(v + 65.0) / 18.0)
    alpha_h = 0.07 * xp.exp(-(v + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + xp.exp(-(v + 35.0) / 10.0))
    alpha_n = 0.1 * x_over_one_minus_exp((v + 55.0) / 10.0)
    beta_n = 0.125 * xp.exp(-(v + 65.0) / 80.0)
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


def hh_derivatives(state: HHState, current, params: HHParameters) -> HHState:
    """Right-hand side of the Hodgkin-Huxley equations.

    ``C dV/dt = I - g_Na m^3 h (V - E_Na) - g_K n^4 (V - E_K) - g_L (V - E_L)`` and
    ``dx/dt = alpha_x (1 - x) - beta_x x`` for each gate ``x`` in ``m, h, n``.

    Parameters
    ----------
    state : HHState
    current : (N,) array
        Injected current density, uA/cm^2.
    params : HHParameters

    Returns
    -------
    HHState
        Time derivatives: mV/ms and 1/ms.
    """
    v, m, h, n = state
    alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n = hh_rates(v)
    i_na = params.g_na * m * m * m * h * (v - params.e_na)
    n2 = n * n
    i_k = params.g_k * n2 * n2 * (v - params.e_k)
    i_l = params.g_l * (v - params.e_l)
    return HHState(
        (current - i_na - i_k - i_l) / params.c_m,
        alpha_m * (1.0 - m) - beta_m * m,
        alpha_h * (1.0 - h) - beta_h * h,
        alpha_n * (1.0 - n) - beta_n * n,
    )


def hh_rk4_step(state: HHState, current, params: HHParameters, dt: float) -> HHState:
    """One classical fourth-order Runge-Kutta step of ``dt`` ms (current held over the step)."""

    def shifted(k: HHState, scale: float) -> HHState:
        return HHState(*(s + scale * d for s, d in zip(state, k)))

    k1 = hh_derivatives(state, current, params)
    k2 = hh_derivatives(shifted(k1, dt / 2.0), current, params)
    k3 = hh_derivatives(shifted(k2, dt / 2.0), current, params)
    k4 = hh_derivatives(shifted(k3, dt), current, params)
    return HHState(*(s + (dt / 6.0) * (a + 2.0 * b + 2.0 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4)))


def hh_resting_state(v) -> HHState:
    """Gates at their steady state ``x_inf = alpha_x / (alpha_x + beta_x)`` for potentials ``v`` (mV)."""
    alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n = hh_rates(v)
    return HHState(v, alpha_m / (alpha_m + beta_m), alpha_h / (alpha_h + beta_h), alpha_n / (alpha_n + beta_n))


def simulate_hh(current, duration: float, dt: float = 0.01, params: HHParameters | None = None,
                n: int | None = None, v0: float = -65.0, record_v: bool = True,
                spike_threshold: float = 0.0) -> SpikeRecord:
    """Simulate Hodgkin-Huxley neurons with RK4, starting at rest.

    Parameters
    ----------
    current : float, (N,) or (T, N) array
        Injected current density, uA/cm^2.
    duration : float
        Simulated time, ms.
    dt : float
        Time step, ms (0.01 ms resolves the spike's upstroke; 0.025 ms is enough
        for rates).
    params : HHParameters, optional
    n : int, optional
        Number of neurons when ``current`` is a number.
    v0 : float
        Initial potential, mV; the gates start at their steady state there.
    record_v : bool
        Keep the ``(T, N)`` potential trace.
    spike_threshold : float
        A spike is an upward crossing of this potential, mV.

    Returns
    -------
    SpikeRecord
    """
    params = HHParameters() if params is None else params
    steps = check_step(dt, duration)
    current = as_current(current, n, steps)
    xp = get_namespace(current)
    state = hh_resting_state(xp.full((current.shape[-1],), float(v0), dtype=current.dtype))
    spikes, trace, total = [], [], xp.zeros_like(state.v)
    for step in range(steps):
        previous = state.v
        state = hh_rk4_step(state, current_at(current, step), params, dt)
        total = total + state.v
        spikes.append(xp.astype((previous < spike_threshold) & (state.v >= spike_threshold), current.dtype))
        if record_v:
            trace.append(state.v)
    record = SpikeRecord(xp.stack(spikes), xp.stack(trace) if record_v else None, dt)
    check_finite_run(xp.sum(total), "the Hodgkin-Huxley membrane potential", dt, record.v)
    return record


HH_REFERENCE_RATES = {6.3: 52.4, 10.0: 68.3, 20.0: 86.5}
"""Sustained firing rates (Hz) of :func:`simulate_hh` at three currents (uA/cm^2), from a high-accuracy integration.

The mean interspike interval after 200 ms of a step from rest, integrated with
SciPy's ``solve_ivp`` (DOP853, tolerances 1e-10); ``tests/test_oracle_neuro.py``
recomputes them.
"""


# --------------------------------------------------------------------------- Izhikevich

IZHIKEVICH_PARAMETERS = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
    "TC": (0.02, 0.25, -65.0, 0.05),
    "RZ": (0.1, 0.26, -65.0, 2.0),
}
"""Izhikevich (2003) parameters ``(a, b, c, d)`` by cell type: regular spiking, intrinsically
bursting, chattering, fast spiking, low-threshold spiking, thalamo-cortical, resonator."""

IZHIKEVICH_PEAK = 30.0
"""Spike cut-off of the Izhikevich model, mV."""


def izhikevich_parameters(names, like=None):
    """Arrays ``a, b, c, d`` (each ``(N,)``) for the cell types ``names`` (keys of :data:`IZHIKEVICH_PARAMETERS`)."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        check_choice("Izhikevich parameter set", name, IZHIKEVICH_PARAMETERS)
    xp = get_namespace(like)
    dtype = default_float(xp) if like is None else like.dtype
    columns = zip(*(IZHIKEVICH_PARAMETERS[name] for name in names))
    return tuple(xp.asarray(list(col), dtype=dtype) for col in columns)


def izhikevich_step(v, u, current, a, b, c, d, dt: float):
    """One forward-Euler step of ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``.

    A neuron whose ``v`` reaches 30 mV spikes: ``v <- c``, ``u <- u + d``.

    Parameters
    ----------
    v, u : (N,) arrays
        Potential (mV) and recovery variable.
    current : (N,) array
        Input (the paper's dimensionless ``I``).
    a, b, c, d : (N,) arrays
        Parameters of each neuron.
    dt : float
        Time step, ms.

    Returns
    -------
    v, u, spikes : (N,) arrays
    """
    xp = get_namespace(v, u, current)
    v_new = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + current)
    u_new = u + dt * a * (b * v - u)
    fired = v_new >= IZHIKEVICH_PEAK
    return xp.where(fired, c, v_new), xp.where(fired, u_new + d, u_new), xp.astype(fired, v.dtype)


def simulate_izhikevich(names, current, duration: float, dt: float = 0.1, v0: float = -65.0,
                        record_v: bool = True) -> SpikeRecord:
    """Simulate one Izhikevich neuron per cell type in ``names``.

    Parameters
    ----------
    names : str or sequence of str
        Cell types, keys of :data:`IZHIKEVICH_PARAMETERS` ("RS", "IB", "CH", "FS", "LTS", ...).
    current : float, (N,) or (T, N) array
        Input of each neuron (``N = len(names)``).
    duration : float
        Simulated time, ms.
    dt : float
        Time step, ms.
    v0 : float
        Initial potential, mV; ``u`` starts at ``b v0``.
    record_v : bool
        Keep the potential trace; a spiking step records the 30 mV peak.

    Returns
    -------
    SpikeRecord
    """
    names = [names] if isinstance(names, str) else list(names)
    steps = check_step(dt, duration)
    current = as_current(current, len(names), steps)
    if current.shape[-1] != len(names):
        raise ValueError(f"current must have {len(names)} columns, one per cell type, got {tuple(current.shape)}")
    xp = get_namespace(current)
    a, b, c, d = izhikevich_parameters(names, like=current)
    v = xp.full((len(names),), float(v0), dtype=current.dtype)
    u = b * v
    spikes, trace, total = [], [], xp.zeros_like(v)
    for step in range(steps):
        v, u, fired = izhikevich_step(v, u, current_at(current, step), a, b, c, d, dt)
        total = total + v
        spikes.append(fired)
        if record_v:
            trace.append(xp.where(fired > 0.5, IZHIKEVICH_PEAK, v))
    record = SpikeRecord(xp.stack(spikes), xp.stack(trace) if record_v else None, dt)
    check_finite_run(xp.sum(total), "the Izhikevich membrane potential", dt, record.v)
    return record


# --------------------------------------------------------------------------- Poisson


def poisson_spikes(rates, duration: float, dt: float = 1.0, seed=None):
    """Independent Poisson spike trains, ``(T, N)`` array of zeros and ones.

    In each step of ``dt`` ms neuron ``n`` spikes with probability
    ``rates[n] * dt / 1000`` (the Bernoulli approximation of a Poisson process,
    exact as ``dt -> 0``).

    Parameters
    ----------
    rates : (N,) array
        Rates, Hz (>= 0, with ``rate * dt / 1000 <= 1``).
    duration, dt : float
        ms.
    seed : int or Generator, optional

    Returns
    -------
    (T, N) array
    """
    steps = check_step(dt, duration)
    xp = get_namespace(rates)
    p = rates * (dt / 1000.0)
    if not bool(xp.all((p >= 0.0) & (p <= 1.0))):
        raise ValueError(f"rates must lie in [0, {1000.0 / dt:g}] Hz for dt = {dt} ms")
    draws = as_generator(seed).uniform(size=(steps, rates.shape[0]), dtype=rates.dtype, like=rates)
    return xp.astype(draws < p, rates.dtype)


# --------------------------------------------------------------------------- spike-train statistics


class FiringStatistics(NamedTuple):
    """Summary of one spike train (times in ms).

    Attributes
    ----------
    count : int
        Number of spikes.
    first_isi : float
        First interspike interval, ms (``nan`` with fewer than two spikes).
    late_isi : float
        Median interval of the second half of the run, ms (``nan`` if none).
    late_cv : float
        Coefficient of variation of the intervals of the second half.
    adaptation : float
        ``late_isi / first_isi``: how much the firing slows down.
    """

    count: int
    first_isi: float
    late_isi: float
    late_cv: float
    adaptation: float


def firing_statistics(times, duration: float) -> FiringStatistics:
    """Statistics of one spike train given its spike ``times`` (host array, ms) in a run of ``duration`` ms."""
    times = np.asarray(times, dtype=float)
    intervals = np.diff(times)
    late = intervals[times[1:] > duration / 2] if intervals.size else intervals
    first = float(intervals[0]) if intervals.size else math.nan
    late_isi = float(np.median(late)) if late.size else math.nan
    late_cv = float(np.std(late) / np.mean(late)) if late.size > 1 else math.nan
    return FiringStatistics(int(times.size), first, late_isi, late_cv, late_isi / first)


def classify_firing_pattern(stats: FiringStatistics) -> str:
    """Name the Izhikevich firing type of a spike train from its statistics (step input).

    * chattering (CH): bursts keep recurring, so the late intervals are very
      irregular (``late_cv > 0.5``);
    * slow regular firing (late interval > 20 ms): intrinsically bursting (IB)
      if it opens with a burst (first interval < 10 ms), else regular spiking (RS);
    * fast firing: low-threshold spiking (LTS) if it slows down more than
      threefold, else fast spiking (FS).
    """
    if stats.count < 3:
        return "silent"
    if stats.late_cv > 0.5:
        return "CH"
    if stats.late_isi > 20.0:
        return "IB" if stats.first_isi < 10.0 else "RS"
    return "LTS" if stats.adaptation > 3.0 else "FS"
