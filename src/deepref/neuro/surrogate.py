"""A spiking network trained by backpropagation through time with a surrogate gradient.

Hidden layer: discrete-time LIF neurons with reset by subtraction,

    I_t = x_t W_1 + b_1,   v_t = beta v_{t-1} + I_t - theta s_{t-1},   s_t = H(v_t - theta),

read out by leaky, non-spiking integrators ``u_t = beta_out u_{t-1} + s_t W_2 + b_2``
whose time average ``(1/T) sum_t u_t`` gives the logits. The Heaviside step
``H`` has derivative zero almost everywhere; the backward pass replaces it,
and only it, by the derivative of a fast sigmoid of steepness ``k``,

    H'(x)  ~  sigma'(x) = k / (2 (1 + k |x|)^2),   sigma(x) = (1 + k x / (1 + k |x|)) / 2.

With ``smooth=True`` the forward uses ``sigma`` itself instead of ``H``: the
backward is then the exact gradient of that forward, which is how the test
suite checks every other part of the hand-written backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..backend import get_namespace
from ..nn.init import as_generator, fan_in_uniform, zeros
from ..nn.module import Module, Parameter
from ..validation import check_count, check_in_range, check_ndim, check_positive, check_shape


@dataclass(frozen=True)
class SpikingConfig:
    """Constants of the spiking network (not trained).

    Attributes
    ----------
    beta : float
        Membrane decay per step of the hidden LIF neurons, ``exp(-dt / tau_m)``, in [0, 1).
    beta_out : float
        Decay per step of the read-out integrators, in [0, 1].
    threshold : float
        Firing threshold ``theta`` (the reset subtracts it).
    slope : float
        Steepness ``k`` of the fast-sigmoid surrogate (> 0).
    """

    beta: float = 0.9
    beta_out: float = 0.9
    threshold: float = 1.0
    slope: float = 5.0

    def __post_init__(self):
        check_in_range("beta", self.beta, 0.0, 1.0)
        check_in_range("beta_out", self.beta_out, 0.0, 1.0, closed="both")
        check_positive("threshold", self.threshold)
        check_positive("slope", self.slope)


def fast_sigmoid(x, slope: float):
    """``(1 + k x / (1 + k |x|)) / 2``: a smooth step from 0 to 1 centred at 0."""
    xp = get_namespace(x)
    return 0.5 + 0.5 * slope * x / (1.0 + slope * xp.abs(x))


def fast_sigmoid_grad(x, slope: float):
    """Derivative of :func:`fast_sigmoid`, ``k / (2 (1 + k |x|)^2)``: the surrogate of the spike's derivative."""
    xp = get_namespace(x)
    return 0.5 * slope / (1.0 + slope * xp.abs(x)) ** 2


class SpikingCache(NamedTuple):
    x: object
    w1: object
    w2: object
    v: object  # (N, T, H) membrane potentials before the spike decision
    s: object  # (N, T, H) spikes (or their smooth stand-ins)
    config: SpikingConfig


def spiking_forward(x, w1, b1, w2, b2, config: SpikingConfig, smooth: bool = False):
    """Run the spiking network over ``T`` steps and average the read-out into logits.

    Parameters
    ----------
    x : (N, T, D) array
        Input spikes (or rates) per step.
    w1 : (D, H) array
    b1 : (H,) array
    w2 : (H, C) array
    b2 : (C,) array
    config : SpikingConfig
    smooth : bool
        Use the fast sigmoid instead of the Heaviside step in the forward pass.

    Returns
    -------
    logits : (N, C) array
    cache : SpikingCache
    """
    check_ndim("x", x, 3, "(N, T, D)")
    check_shape("w1", w1, (x.shape[2], None))
    check_shape("b1", b1, (w1.shape[1],))
    check_shape("w2", w2, (w1.shape[1], None))
    check_shape("b2", b2, (w2.shape[1],))
    xp = get_namespace(x, w1, w2)
    n, steps, d = x.shape
    hidden = w1.shape[1]
    drive = xp.reshape(xp.reshape(x, (n * steps, d)) @ w1 + b1, (n, steps, hidden))
    v = xp.zeros((n, hidden), dtype=w1.dtype)
    s = xp.zeros((n, hidden), dtype=w1.dtype)
    potentials, spikes = [], []
    for t in range(steps):
        v = config.beta * v + drive[:, t, :] - config.threshold * s
        if smooth:
            s = fast_sigmoid(v - config.threshold, config.slope)
        else:
            s = xp.astype(v >= config.threshold, w1.dtype)
        potentials.append(v)
        spikes.append(s)
    s_all = xp.stack(spikes, axis=1)
    # sum_t u_t = sum_t sum_{k<=t} beta_out^(t-k) (s_k W2 + b2): spike at step k weighs sum_{j<T-k} beta_out^j.
    weight = _readout_weights(xp, steps, config.beta_out, w1.dtype)
    pooled = xp.sum(s_all * xp.reshape(weight, (1, steps, 1)), axis=1)
    logits = (pooled @ w2 + xp.sum(weight) * b2) / steps
    return logits, SpikingCache(x, w1, w2, xp.stack(potentials, axis=1), s_all, config)


def _readout_weights(xp, steps: int, beta_out: float, dtype):
    """``(T,)`` weights ``sum_{j < T - t} beta_out^j``: how much step ``t`` counts in ``sum_t u_t``."""
    remaining = xp.astype(steps - xp.arange(steps), dtype)
    if beta_out == 1.0:
        return remaining
    return (1.0 - beta_out**remaining) / (1.0 - beta_out)


def spiking_backward(dlogits, cache: SpikingCache):
    """Backpropagation through time for :func:`spiking_forward`.

    From the last step to the first, with ``g_v`` the gradient reaching ``v_t``:

    * ``ds_t = c_t dlogits W_2^T / T - theta g_v(t+1)`` (read-out, and the reset of the next step),
    * ``g_v(t) = ds_t sigma'(v_t - theta) + beta g_v(t+1)`` (surrogate, and the leak),
    * ``dW_1 = sum_t x_t^T g_v(t)``, ``db_1 = sum g_v``, ``dx_t = g_v(t) W_1^T``,

    where ``c_t`` is the read-out weight of step ``t`` (see the forward pass).

    Parameters
    ----------
    dlogits : (N, C) array
    cache : SpikingCache

    Returns
    -------
    dx : (N, T, D) array
    dw1 : (D, H) array
    db1 : (H,) array
    dw2 : (H, C) array
    db2 : (C,) array
    """
    x, w1, w2, v_all, s_all, config = cache
    xp = get_namespace(dlogits, w1)
    n, steps, d = x.shape
    check_shape("dlogits", dlogits, (n, w2.shape[1]))
    weight = _readout_weights(xp, steps, config.beta_out, w1.dtype)
    scaled = dlogits / steps
    pooled = xp.sum(s_all * xp.reshape(weight, (1, steps, 1)), axis=1)
    dw2 = pooled.T @ scaled
    db2 = xp.sum(scaled, axis=0) * xp.sum(weight)
    readout = scaled @ w2.T  # (N, H): gradient of sum_t c_t s_t per unit c_t
    surrogate = fast_sigmoid_grad(v_all - config.threshold, config.slope)
    g_v = xp.zeros((n, w1.shape[1]), dtype=w1.dtype)
    grads = []
    for t in range(steps - 1, -1, -1):
        ds = weight[t] * readout - config.threshold * g_v
        g_v = ds * surrogate[:, t, :] + config.beta * g_v
        grads.append(g_v)
    g_all = xp.stack(grads[::-1], axis=1)
    flat_g = xp.reshape(g_all, (n * steps, w1.shape[1]))
    dw1 = xp.reshape(x, (n * steps, d)).T @ flat_g
    db1 = xp.sum(flat_g, axis=0)
    dx = xp.reshape(flat_g @ w1.T, (n, steps, d))
    return dx, dw1, db1, dw2, db2


class SpikingClassifier(Module):
    """The spiking network of :func:`spiking_forward` as a trainable module.

    Parameters
    ----------
    in_features, hidden, classes : int
        ``D``, ``H`` and ``C``.
    config : SpikingConfig, optional
    input_scale : float
        Scale of the initial input weights, relative to PyTorch's default
        ``U(-1/sqrt(D), 1/sqrt(D))`` (spikes are sparse: the hidden layer needs
        enough drive to fire at the start).
    seed : int or Generator, optional
    """

    def __init__(self, in_features: int, hidden: int, classes: int, config: SpikingConfig | None = None,
                 input_scale: float = 1.0, seed=None, dtype=None):
        for name, value in (("in_features", in_features), ("hidden", hidden), ("classes", classes)):
            check_count(name, value)
        check_positive("input_scale", input_scale)
        rng = as_generator(seed)
        self.config = SpikingConfig() if config is None else config
        self.w1 = Parameter(input_scale * fan_in_uniform((in_features, hidden), rng=rng, dtype=dtype))
        self.b1 = Parameter(zeros((hidden,), dtype=self.w1.data.dtype))
        self.w2 = Parameter(fan_in_uniform((hidden, classes), rng=rng, dtype=self.w1.data.dtype))
        self.b2 = Parameter(zeros((classes,), dtype=self.w1.data.dtype))
        self._cache = None

    def forward(self, x):
        logits, self._cache = spiking_forward(
            x, self.w1.data, self.b1.data, self.w2.data, self.b2.data, self.config
        )
        return logits

    def backward(self, dout):
        dx, dw1, db1, dw2, db2 = spiking_backward(dout, self.saved_cache())
        for param, grad in ((self.w1, dw1), (self.b1, db1), (self.w2, dw2), (self.b2, db2)):
            param.accumulate(grad)
        return dx

    def firing_rate(self) -> float:
        """Mean number of hidden spikes per neuron and step in the last forward pass."""
        xp = get_namespace(self.saved_cache().s)
        return float(xp.mean(self.saved_cache().s))

    def __repr__(self) -> str:
        d, h = self.w1.shape
        return f"SpikingClassifier({d}, {h}, {self.w2.shape[1]})"


def rate_encode(x, steps: int, max_prob: float = 0.5, seed=None):
    """Bernoulli rate code: feature ``x`` in [0, 1] spikes with probability ``max_prob * x`` per step.

    Parameters
    ----------
    x : (N, D) array
        Intensities scaled to [0, 1].
    steps : int
        Number of time steps ``T``.
    max_prob : float
        Spike probability per step of the brightest input.
    seed : int or Generator, optional

    Returns
    -------
    (N, T, D) array of zeros and ones
    """
    check_ndim("x", x, 2, "(N, D)")
    check_count("steps", steps)
    check_in_range("max_prob", max_prob, 0.0, 1.0, closed="right")
    xp = get_namespace(x)
    if bool(xp.any((x < 0.0) | (x > 1.0))):
        raise ValueError("x must be scaled to [0, 1] before rate coding")
    draws = as_generator(seed).uniform(size=(x.shape[0], steps, x.shape[1]), dtype=x.dtype, like=x)
    return xp.astype(draws < max_prob * xp.reshape(x, (x.shape[0], 1, x.shape[1])), x.dtype)
