"""Networks: the Wilson-Cowan E/I rate model, the Hopfield memory, a sparse LIF network.

The sparse network is the current-based (CUBA) benchmark network of Vogels &
Abbott (2005) as Brian2 ships it, scaled to any size: 80% excitatory and 20%
inhibitory LIF neurons with exponentially decaying synaptic currents and a
fixed number of random targets per neuron.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..backend import asarray, default_float, get_namespace, scatter_add
from ..seeds import spawn_seeds
from ..validation import check_count, check_in_range, check_ndim, check_positive, check_same_shape, check_shape
from ._common import check_finite_run, check_positive_fields, check_step, host_rng

# --------------------------------------------------------------------------- Wilson-Cowan


@dataclass(frozen=True)
class WilsonCowanParameters:
    """Wilson & Cowan (1972) E/I population model; the defaults are their limit-cycle example.

    ``tau_e dE/dt = -E + (1 - r_e E) S_e(w_ee E - w_ei I + P)`` and
    ``tau_i dI/dt = -I + (1 - r_i I) S_i(w_ie E - w_ii I + Q)`` with the
    sigmoid ``S(x) = 1 / (1 + exp(-a (x - theta))) - 1 / (1 + exp(a theta))``
    (zero at zero input).

    Attributes
    ----------
    w_ee, w_ei, w_ie, w_ii : float
        Coupling strengths (E to E, I to E, E to I, I to I). For
        :func:`simulate_wilson_cowan` they may also be ``(N,)`` arrays, one
        value per E/I pair of the batch.
    a_e, theta_e, a_i, theta_i : float
        Slopes and thresholds of the two sigmoids.
    tau_e, tau_i : float
        Time constants, ms.
    r_e, r_i : float
        Refractory factors.
    """

    w_ee: float = 16.0
    w_ei: float = 12.0
    w_ie: float = 15.0
    w_ii: float = 3.0
    a_e: float = 1.3
    theta_e: float = 4.0
    a_i: float = 2.0
    theta_i: float = 3.7
    tau_e: float = 10.0
    tau_i: float = 10.0
    r_e: float = 1.0
    r_i: float = 1.0

    def __post_init__(self):
        check_positive_fields(self, ("tau_e", "tau_i"))


def wilson_cowan_sigmoid(x, a: float, theta: float):
    """``1 / (1 + exp(-a (x - theta))) - 1 / (1 + exp(a theta))``: a sigmoid shifted to vanish at 0."""
    xp = get_namespace(x)
    return 1.0 / (1.0 + xp.exp(-a * (x - theta))) - 1.0 / (1.0 + math.exp(a * theta))


def simulate_wilson_cowan(drive_e, drive_i, duration: float, dt: float = 0.1,
                          params: WilsonCowanParameters | None = None, e0=0.1, i0=0.05):
    """Integrate the Wilson-Cowan equations with forward Euler for a batch of external drives.

    Parameters
    ----------
    drive_e, drive_i : (N,) arrays
        External inputs ``P`` and ``Q`` of N independent E/I pairs.
    duration, dt : float
        ms.
    params : WilsonCowanParameters, optional
        Couplings may be ``(N,)`` arrays (one per pair).
    e0, i0 : float or (N,) arrays
        Initial activities.

    Returns
    -------
    e, i : (T, N) arrays
        Activities of the excitatory and inhibitory populations.
    """
    params = WilsonCowanParameters() if params is None else params
    check_ndim("drive_e", drive_e, 1, "(N,)")
    check_shape("drive_i", drive_i, tuple(drive_e.shape))
    steps = check_step(dt, duration)
    xp = get_namespace(drive_e, drive_i)
    e = xp.full(drive_e.shape, e0, dtype=drive_e.dtype) if isinstance(e0, (int, float)) else e0
    i = xp.full(drive_e.shape, i0, dtype=drive_e.dtype) if isinstance(i0, (int, float)) else i0
    check_shape("e0", e, tuple(drive_e.shape))
    check_shape("i0", i, tuple(drive_e.shape))
    e_trace, i_trace = [], []
    for _ in range(steps):
        s_e = wilson_cowan_sigmoid(params.w_ee * e - params.w_ei * i + drive_e, params.a_e, params.theta_e)
        s_i = wilson_cowan_sigmoid(params.w_ie * e - params.w_ii * i + drive_i, params.a_i, params.theta_i)
        e, i = (
            e + (dt / params.tau_e) * (-e + (1.0 - params.r_e * e) * s_e),
            i + (dt / params.tau_i) * (-i + (1.0 - params.r_i * i) * s_i),
        )
        e_trace.append(e)
        i_trace.append(i)
    e_trace = xp.stack(e_trace)
    check_finite_run(xp.sum(e_trace), "the Wilson-Cowan excitatory activity", dt, e_trace)
    return e_trace, xp.stack(i_trace)


def _logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def wilson_cowan_fixed_points(drive_e: float, drive_i: float, params: WilsonCowanParameters | None = None,
                              grid: int = 20001) -> list[tuple[float, float]]:
    """Every fixed point ``(E, I)`` of the Wilson-Cowan equations under constant drives (host floats).

    On the E-nullcline ``E = (1 - r_e E) S_e(w_ee E - w_ei I + P)`` the
    inhibitory activity is a function of ``E``,
    ``I = (w_ee E + P - S_e^{-1}(E / (1 - r_e E))) / w_ei``; the fixed points
    are the zeros of the I-equation along it, bracketed by sign changes on
    ``grid`` values of ``E`` and refined by bisection.

    Parameters
    ----------
    drive_e, drive_i : float
        External inputs ``P`` and ``Q``.
    params : WilsonCowanParameters, optional
        Needs ``w_ei > 0`` (with ``w_ei = 0`` the E-equation does not involve ``I``).
    grid : int
        Points of the scan in ``E``.

    Returns
    -------
    list of (float, float)
        In increasing ``E``.
    """
    params = WilsonCowanParameters() if params is None else params
    check_positive("w_ei", params.w_ei)
    check_count("grid", grid, 3)
    shift = 1.0 / (1.0 + math.exp(params.a_e * params.theta_e))  # S_e(x) = logistic(a (x - theta)) - shift
    top = 1.0 / params.r_e if params.r_e > 0 else 1.0

    def inhibition(e):
        level = e / (1.0 - params.r_e * e) + shift  # logistic(a (x - theta)) on the nullcline
        x = params.theta_e + np.log(level / (1.0 - level)) / params.a_e
        return (params.w_ee * e + drive_e - x) / params.w_ei

    def residual(e):
        i = inhibition(e)
        return -i + (1.0 - params.r_i * i) * (
            _logistic(params.a_i * (params.w_ie * e - params.w_ii * i + drive_i - params.theta_i))
            - 1.0 / (1.0 + math.exp(params.a_i * params.theta_i)))

    e = np.linspace(0.0, top, grid)[1:-1]
    level = e / (1.0 - params.r_e * e) + shift
    e = e[(level > 0.0) & (level < 1.0)]
    with np.errstate(invalid="ignore"):
        values = residual(e)
    change = np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)
    low, high = e[change], e[change + 1]
    for _ in range(60):  # bisection: the bracket shrinks below 1e-18
        middle = (low + high) / 2.0
        same = np.sign(residual(middle)) == np.sign(residual(low))
        low, high = np.where(same, middle, low), np.where(same, high, middle)
    roots = (low + high) / 2.0
    return [(float(r), float(inhibition(r))) for r in roots]


def wilson_cowan_jacobian(e: float, i: float, drive_e: float, drive_i: float,
                          params: WilsonCowanParameters | None = None) -> np.ndarray:
    """Jacobian ``(2, 2)`` of ``(dE/dt, dI/dt)`` with respect to ``(E, I)`` at one state (host, 1/ms).

    With ``x_e = w_ee E - w_ei I + P``, ``x_i = w_ie E - w_ii I + Q`` and
    ``S'(x) = a s (1 - s)`` for ``s = logistic(a (x - theta))``:
    ``tau_e dF_e/dE = -1 - r_e S_e + (1 - r_e E) S_e' w_ee``,
    ``tau_e dF_e/dI = -(1 - r_e E) S_e' w_ei``, and likewise for ``I``.
    At a fixed point, eigenvalues with positive real part mean that it is
    unstable; a complex pair crossing the imaginary axis is a Hopf bifurcation.
    """
    params = WilsonCowanParameters() if params is None else params
    x_e = params.w_ee * e - params.w_ei * i + drive_e
    x_i = params.w_ie * e - params.w_ii * i + drive_i
    s_e = _logistic(params.a_e * (x_e - params.theta_e))
    s_i = _logistic(params.a_i * (x_i - params.theta_i))
    big_s_e = s_e - 1.0 / (1.0 + math.exp(params.a_e * params.theta_e))
    big_s_i = s_i - 1.0 / (1.0 + math.exp(params.a_i * params.theta_i))
    slope_e = params.a_e * s_e * (1.0 - s_e)
    slope_i = params.a_i * s_i * (1.0 - s_i)
    return np.array([
        [(-1.0 - params.r_e * big_s_e + (1.0 - params.r_e * e) * slope_e * params.w_ee) / params.tau_e,
         -(1.0 - params.r_e * e) * slope_e * params.w_ei / params.tau_e],
        [(1.0 - params.r_i * i) * slope_i * params.w_ie / params.tau_i,
         (-1.0 - params.r_i * big_s_i - (1.0 - params.r_i * i) * slope_i * params.w_ii) / params.tau_i],
    ])


# --------------------------------------------------------------------------- Hopfield


def hopfield_weights(patterns):
    """Hebbian outer-product weights ``W = xi^T xi / N`` with a zero diagonal.

    Parameters
    ----------
    patterns : (P, N) array
        Patterns of +1 and -1.

    Returns
    -------
    (N, N) array
    """
    check_ndim("patterns", patterns, 2, "(P, N)")
    xp = get_namespace(patterns)
    n = patterns.shape[1]
    return (patterns.T @ patterns) * (1.0 - xp.eye(n, dtype=patterns.dtype)) / n


def hopfield_recall(weights, states, sweeps: int = 20, seed=0):
    """Asynchronous recall: update one neuron at a time, ``s_i <- sign(sum_j W_ij s_j)``.

    Each sweep visits every neuron once in a random order (the same order for
    all states of the batch); a sweep that changes nothing ends the recall,
    since the energy ``-s W s / 2`` can then decrease no further.

    Parameters
    ----------
    weights : (N, N) array
        Symmetric, zero diagonal.
    states : (B, N) array
        Initial states (+1/-1), one per row.
    sweeps : int
        Largest number of sweeps.
    seed : int or Generator
        Seed of the update orders.

    Returns
    -------
    (B, N) array
        Final states.
    """
    check_ndim("states", states, 2, "(B, N)")
    check_shape("weights", weights, (states.shape[1], states.shape[1]))
    check_count("sweeps", sweeps)
    xp = get_namespace(weights, states)
    orders = host_rng(seed)
    states = xp.asarray(states, copy=True)
    for _ in range(sweeps):
        before = states
        states = xp.asarray(states, copy=True)
        for i in orders.permutation(states.shape[1]).tolist():
            field = states @ weights[:, i]
            states[:, i] = 2.0 * xp.astype(field >= 0.0, states.dtype) - 1.0
        if bool(xp.all(states == before)):
            break
    return states


def hopfield_energy(weights, states):
    """Energy ``E(s) = -s W s / 2`` of each state, ``(B,)``.

    With ``W`` symmetric and zero on the diagonal, setting one neuron to
    ``sign(sum_j W_ij s_j)`` changes it by ``-(s_i' - s_i) sum_j W_ij s_j <= 0``:
    an asynchronous update never raises it.

    Parameters
    ----------
    weights : (N, N) array
    states : (B, N) array
    """
    check_ndim("states", states, 2, "(B, N)")
    check_shape("weights", weights, (states.shape[1], states.shape[1]))
    xp = get_namespace(weights, states)
    return -0.5 * xp.sum((states @ weights) * states, axis=1)


def hopfield_overlaps(states, patterns):
    """Overlap ``m = s . xi / N`` of each state with its own pattern, ``(B,)``."""
    check_same_shape("patterns", patterns, "states", states)
    xp = get_namespace(states, patterns)
    return xp.sum(states * patterns, axis=1) / patterns.shape[1]


# --------------------------------------------------------------------------- sparse LIF network


@dataclass(frozen=True)
class CUBAParameters:
    """Current-based LIF network of Vogels & Abbott (2005) in Brian2's example form.

    ``tau_m dv/dt = (g_e + g_i) - (v - e_l)``, ``tau_e dg_e/dt = -g_e``,
    ``tau_i dg_i/dt = -g_i``; a spike of an excitatory (inhibitory) neuron adds
    ``w_e`` (``w_i``) to ``g_e`` (``g_i``) of each of its targets.

    Attributes
    ----------
    tau_m, tau_e, tau_i : float
        Membrane and synaptic time constants, ms.
    v_th, v_reset, e_l : float
        Threshold, reset and resting potential, mV (``e_l`` above threshold:
        the neurons fire on their own and inhibition holds them back).
    w_e, w_i : float
        Synaptic jumps, mV.
    t_ref : float
        Refractory period, ms.
    excitatory_fraction : float
        Fraction of excitatory neurons (the first ones).
    """

    tau_m: float = 20.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    v_th: float = -50.0
    v_reset: float = -60.0
    e_l: float = -49.0
    w_e: float = 60.0 * 0.27 / 10.0
    w_i: float = -20.0 * 4.5 / 10.0
    t_ref: float = 5.0
    excitatory_fraction: float = 0.8

    def __post_init__(self):
        check_positive_fields(self, ("tau_m", "tau_e", "tau_i"))
        if self.tau_e == self.tau_m or self.tau_i == self.tau_m:
            raise ValueError(
                "the synaptic time constants must differ from tau_m (the exact update divides by the difference)"
            )
        check_in_range("excitatory_fraction", self.excitatory_fraction, 0.0, 1.0, closed="both")


def random_targets(n: int, fan_out: int, seed=0) -> np.ndarray:
    """Host array ``(n, fan_out)`` of distinct random targets of each neuron (no self-connections).

    ``seed`` is an int or a generator.
    """
    check_count("n", n, 2)
    check_count("fan_out", fan_out)
    if fan_out >= n:
        raise ValueError(f"fan_out must be smaller than n = {n}, got {fan_out}")
    rng = host_rng(seed)
    targets = np.empty((n, fan_out), dtype=np.int64)
    for i in range(n):
        chosen = rng.choice(n - 1, size=fan_out, replace=False)
        targets[i] = chosen + (chosen >= i)
    return targets


class NetworkRun(NamedTuple):
    """Spikes of a network run as events (``spike_step[k]``, ``spike_neuron[k]``), plus counts.

    Attributes
    ----------
    spike_step, spike_neuron : (S,) int arrays
        Step and neuron index of each spike, in time order.
    counts : (N,) array
        Spikes per neuron.
    dt : float
        Time step, ms.
    """

    spike_step: object
    spike_neuron: object
    counts: object
    dt: float


def _propagation(params: CUBAParameters, dt: float) -> tuple[float, float, float]:
    """Exact one-step factors: decay of ``v - e_l`` and the reach of ``g_e``, ``g_i`` into ``v``.

    With ``g(t) = g(0) exp(-t / tau_s)`` the membrane equation is linear, and
    ``v(dt) - e_l = (v(0) - e_l) exp(-dt / tau_m) + g(0) tau_s / (tau_s - tau_m)
    (exp(-dt / tau_s) - exp(-dt / tau_m))`` for each synaptic current.
    """
    decay = math.exp(-dt / params.tau_m)

    def reach(tau_s: float) -> float:
        return tau_s / (tau_s - params.tau_m) * (math.exp(-dt / tau_s) - decay)

    return decay, reach(params.tau_e), reach(params.tau_i)


def simulate_cuba_network(targets, v0, duration: float, dt: float = 0.1,
                          params: CUBAParameters | None = None) -> NetworkRun:
    """Simulate the CUBA network with exact integration between spikes.

    Each step: integrate ``v`` (held at ``v_reset`` while refractory) and decay
    the synaptic currents; neurons above ``v_th`` spike; their spikes add
    ``w_e`` or ``w_i`` to their targets' currents (scatter-add over the
    targets, repeated targets add up); spiking neurons are reset.

    Parameters
    ----------
    targets : (N, K) integer array
        Targets of each neuron (see :func:`random_targets`).
    v0 : (N,) array
        Initial potentials, mV.
    duration, dt : float
        ms.
    params : CUBAParameters, optional

    Returns
    -------
    NetworkRun
    """
    params = CUBAParameters() if params is None else params
    steps = check_step(dt, duration)
    check_ndim("v0", v0, 1, "(N,)")
    check_shape("targets", targets, (v0.shape[0], None))
    xp = get_namespace(v0, targets)
    n = v0.shape[0]
    n_exc = int(round(params.excitatory_fraction * n))
    decay, reach_e, reach_i = _propagation(params, dt)
    decay_e, decay_i = math.exp(-dt / params.tau_e), math.exp(-dt / params.tau_i)
    hold = round(params.t_ref / dt)
    v = v0
    g_e = xp.zeros_like(v0)
    g_i = xp.zeros_like(v0)
    free_from = xp.zeros_like(v0)  # first step at which each neuron integrates again
    jump = xp.where(xp.arange(n) < n_exc, params.w_e, xp.full((n,), params.w_i, dtype=v0.dtype))
    events_step, events_neuron, total = [], [], xp.zeros_like(v0)
    for step in range(steps):
        integrated = params.e_l + (v - params.e_l) * decay + g_e * reach_e + g_i * reach_i
        v = xp.where(free_from > step, params.v_reset, integrated)
        g_e, g_i = g_e * decay_e, g_i * decay_i
        fired = v > params.v_th
        total = total + v
        (idx,) = xp.nonzero(fired)
        if idx.shape[0]:
            reached = xp.reshape(xp.take(targets, idx, axis=0), (-1,))
            weights = xp.reshape(
                xp.broadcast_to(xp.reshape(xp.take(jump, idx), (-1, 1)), (idx.shape[0], targets.shape[1])), (-1,)
            )
            excitatory = weights > 0.0
            g_e = scatter_add(g_e, reached, xp.where(excitatory, weights, 0.0))
            g_i = scatter_add(g_i, reached, xp.where(excitatory, 0.0, weights))
            v = xp.where(fired, params.v_reset, v)
            free_from = xp.where(fired, float(step + hold + 1), free_from)
            events_step.append(xp.full(idx.shape, step, dtype=idx.dtype))
            events_neuron.append(idx)
    if events_step:
        spike_step, spike_neuron = xp.concat(events_step), xp.concat(events_neuron)
    else:
        spike_step = spike_neuron = xp.zeros((0,), dtype=xp.int64)
    check_finite_run(xp.sum(total), "the network's membrane potential", dt)
    counts = xp.zeros((n,), dtype=v0.dtype)
    counts = scatter_add(counts, spike_neuron, xp.ones(spike_neuron.shape, dtype=v0.dtype))
    return NetworkRun(spike_step, spike_neuron, counts, dt)


def cuba_initial_state(n: int, seed=0, fan_out: int | None = None, params: CUBAParameters | None = None,
                       dtype=None):
    """Targets (2% connectivity unless ``fan_out``) and initial potentials of a CUBA network of ``n`` neurons.

    Potentials are uniform between ``v_reset`` and ``v_th`` as in Brian2's example. ``seed`` (an int
    or a generator) spawns two independent streams, the connections and the potentials.

    Returns
    -------
    targets : (N, K) int64 array on the current backend
    v0 : (N,) array on the current backend, mV
    targets_host, v0_host : the same as NumPy arrays (to hand to another simulator)
    """
    params = CUBAParameters() if params is None else params
    fan_out = max(1, int(round(0.02 * n))) if fan_out is None else fan_out
    target_seed, potential_seed = spawn_seeds(seed, 2)
    targets_host = random_targets(n, fan_out, target_seed)
    v0_host = np.random.default_rng(potential_seed).uniform(params.v_reset, params.v_th, n)
    dtype = default_float() if dtype is None else dtype
    return asarray(targets_host), asarray(v0_host, dtype=dtype), targets_host, v0_host
