"""Synaptic plasticity: Hebb, Oja, BCM and pair-based STDP with traces.

The rate rules act on a linear neuron ``y = x w`` and take a batch of input
patterns ``x : (B, D)``; each step applies the batch-averaged update. STDP
acts on spike trains through exponentially decaying traces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import get_namespace
from ..validation import check_ndim, check_positive, check_shape
from ._common import check_positive_fields


def _check_rate_inputs(w, x) -> None:
    check_ndim("w", w, 1, "(D,)")
    check_ndim("x", x, 2, "(B, D)")
    check_shape("x", x, (None, w.shape[0]))


def hebb_step(w, x, lr: float):
    """Plain Hebbian update ``w <- w + lr <y x>`` with ``y = x w``.

    The weight grows along the leading principal direction without bound: for
    centred inputs ``<y x> = C w`` with ``C`` the input covariance, so ``w`` is
    multiplied by ``(I + lr C)`` each step.

    Parameters
    ----------
    w : (D,) array
    x : (B, D) array
        Batch of input rates.
    lr : float
        Learning rate (> 0).

    Returns
    -------
    (D,) array
    """
    _check_rate_inputs(w, x)
    check_positive("lr", lr)
    y = x @ w
    return w + lr * (y @ x) / x.shape[0]


def oja_step(w, x, lr: float):
    """Oja's rule ``w <- w + lr <y (x - y w)>`` with ``y = x w``.

    The decay term ``-y^2 w`` keeps ``|w|`` near 1; the fixed points are the
    unit eigenvectors of the input covariance and only the leading one is
    stable, so ``w`` converges to the first principal component (up to sign).

    Parameters
    ----------
    w : (D,) array
    x : (B, D) array
        Batch of centred inputs.
    lr : float

    Returns
    -------
    (D,) array
    """
    _check_rate_inputs(w, x)
    check_positive("lr", lr)
    xp = get_namespace(w, x)
    y = x @ w
    batch = x.shape[0]
    return w + lr * ((y @ x) / batch - (xp.sum(y * y) / batch) * w)


def bcm_step(w, theta, x, lr: float, theta_rate: float):
    """Bienenstock-Cooper-Munro rule with a sliding threshold.

    ``w <- w + lr <x y (y - theta)>`` and ``theta <- theta + theta_rate (<y^2> - theta)``:
    activity above the threshold potentiates, below it depresses, and the
    threshold follows the recent mean of ``y^2``, which makes the neuron
    selective to one of its input patterns. Weights are kept >= 0.

    Parameters
    ----------
    w : (D,) array
    theta : float or 0-d array
        Modification threshold.
    x : (B, D) array
        Batch of input rates (>= 0).
    lr, theta_rate : float
        Learning rate of the weights and of the threshold (the threshold must be faster).

    Returns
    -------
    w : (D,) array
    theta : 0-d array
    """
    _check_rate_inputs(w, x)
    check_positive("lr", lr)
    check_positive("theta_rate", theta_rate)
    xp = get_namespace(w, x)
    y = x @ w
    batch = x.shape[0]
    w = xp.clip(w + lr * ((y * (y - theta)) @ x) / batch, 0.0, None)
    return w, theta + theta_rate * (xp.sum(y * y) / batch - theta)


@dataclass(frozen=True)
class STDPParameters:
    """Pair-based STDP with exponential windows (Song, Miller & Abbott 2000).

    A pre-before-post pair ``s = t_post - t_pre > 0`` changes the weight by
    ``a_plus exp(-s / tau_plus) w_max``, a post-before-pre pair by
    ``-a_minus exp(s / tau_minus) w_max``; weights are clipped to ``[0, w_max]``.

    Attributes
    ----------
    a_plus, a_minus : float
        Amplitudes (fractions of ``w_max``, >= 0).
    tau_plus, tau_minus : float
        Window time constants, ms (> 0).
    w_max : float
        Largest weight.
    """

    a_plus: float = 0.005
    a_minus: float = 0.00525
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_max: float = 1.0

    def __post_init__(self):
        check_positive_fields(self, ("tau_plus", "tau_minus", "w_max"), ("a_plus", "a_minus"))


def stdp_step(w, pre_trace, post_trace, pre_spikes, post_spikes,
              params: STDPParameters, dt: float):
    """One step of trace-based pair STDP for a ``(M, N)`` weight matrix.

    Each neuron keeps a trace that decays with its window's time constant and
    jumps by 1 at each of its spikes. A postsynaptic spike potentiates every
    synapse by ``a_plus`` times the presynaptic trace; a presynaptic spike
    depresses by ``a_minus`` times the postsynaptic trace. Summed over all
    pairs this is exactly the exponential window of :class:`STDPParameters`.

    Parameters
    ----------
    w : (M, N) array
        Weights from M presynaptic to N postsynaptic neurons.
    pre_trace : (M,) array
    post_trace : (N,) array
    pre_spikes : (M,) array
        1.0 where a presynaptic neuron spiked in this step.
    post_spikes : (N,) array
    params : STDPParameters
    dt : float
        Time step, ms.

    Returns
    -------
    w, pre_trace, post_trace : arrays of the input shapes
    """
    check_positive("dt", dt)
    check_shape("w", w, (pre_trace.shape[0], post_trace.shape[0]))
    check_shape("pre_spikes", pre_spikes, (w.shape[0],))
    check_shape("post_spikes", post_spikes, (w.shape[1],))
    xp = get_namespace(w, pre_trace, post_trace)
    pre_trace = pre_trace * math.exp(-dt / params.tau_plus) + pre_spikes
    post_trace = post_trace * math.exp(-dt / params.tau_minus) + post_spikes
    as_column, as_row = (-1, 1), (1, -1)
    potentiation = xp.reshape(pre_trace, as_column) * xp.reshape(post_spikes, as_row)
    depression = xp.reshape(pre_spikes, as_column) * xp.reshape(post_trace, as_row)
    dw = params.a_plus * potentiation - params.a_minus * depression
    return xp.clip(w + params.w_max * dw, 0.0, params.w_max), pre_trace, post_trace


def stdp_window(delays, params: STDPParameters, dt: float = 0.1, w0: float = 0.5):
    """Weight change of one spike pair for each delay ``t_post - t_pre``, by simulation.

    Pair ``j`` is presynaptic neuron ``j`` and postsynaptic neuron ``j``; all
    pairs run at once through :func:`stdp_step` on a ``(K, K)`` weight matrix
    whose diagonal holds the K synapses of interest.

    Parameters
    ----------
    delays : (K,) array
        ``t_post - t_pre``, ms (rounded to multiples of ``dt``).
    params : STDPParameters
    dt : float
        Time step, ms.
    w0 : float
        Initial weight as a fraction of ``w_max`` (inside ``(0, 1)`` so that clipping does not act).

    Returns
    -------
    (K,) array
        Change of each weight, in units of ``w_max``.
    """
    check_ndim("delays", delays, 1, "(K,)")
    xp = get_namespace(delays)
    k = delays.shape[0]
    lag = xp.round(delays / dt)
    first = float(xp.max(xp.abs(lag))) + 1.0
    pre_step = xp.where(lag >= 0.0, first, first - lag)
    post_step = pre_step + lag
    eye = xp.eye(k, dtype=delays.dtype)
    w = xp.full((k, k), w0 * params.w_max, dtype=delays.dtype)
    pre_trace = xp.zeros((k,), dtype=delays.dtype)
    post_trace = xp.zeros((k,), dtype=delays.dtype)
    for step in range(int(float(xp.max(post_step)) + float(xp.max(pre_step))) + 2):
        pre = xp.astype(pre_step == step, delays.dtype)
        post = xp.astype(post_step == step, delays.dtype)
        w, pre_trace, post_trace = stdp_step(w, pre_trace, post_trace, pre, post, params, dt)
    return (xp.sum(w * eye, axis=1) - w0 * params.w_max) / params.w_max


def stdp_window_formula(delays, params: STDPParameters):
    """The exponential window ``a_plus exp(-s / tau_plus)`` (s > 0), ``-a_minus exp(s / tau_minus)`` (s < 0).

    ``s = 0`` gets both terms (a simultaneous pair both potentiates and depresses).

    Parameters
    ----------
    delays : (K,) array
        ``s = t_post - t_pre``, ms.

    Returns
    -------
    (K,) array
        Weight change in units of ``w_max``.
    """
    xp = get_namespace(delays)
    potentiation = xp.where(delays >= 0.0, params.a_plus * xp.exp(-xp.abs(delays) / params.tau_plus), 0.0)
    depression = xp.where(delays <= 0.0, params.a_minus * xp.exp(-xp.abs(delays) / params.tau_minus), 0.0)
    return potentiation - depression
