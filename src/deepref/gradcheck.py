"""Finite-difference gradient checks in float64.

The analytic backward passes of this library are compared with centered
differences

.. math:: \\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + h e_i) - f(x - h e_i)}{2h},

whose truncation error is :math:`O(h^2)`. An operation with array output is
reduced to a scalar with a *random* upstream gradient :math:`g`,
:math:`L = \\sum_k g_k\\, y_k`, so that :math:`\\partial L / \\partial x` is the
vector-Jacobian product that ``backward(g)`` must return. (An upstream gradient
of all ones would hide errors: batch normalisation's input gradient, for
example, is exactly zero for it.)

>>> import numpy as np
>>> numerical_gradient(lambda x: float(np.sum(x ** 3)), np.array([1.0, 2.0]))
array([ 3., 12.])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .backend import asarray, get_namespace, is_floating_array, to_numpy
from .nn.module import check_inputs

TINY = 1e-300


def relative_error(analytic, numerical) -> float:
    """Relative error ``||a - n|| / max(||a||, ||n||, tiny)`` of two arrays (Euclidean norms).

    Norms rather than a per-element ratio, so that entries that are zero up to
    round-off (where a per-element ratio is meaningless) cannot dominate.
    """
    a = np.asarray(to_numpy(analytic), dtype=np.float64)
    n = np.asarray(to_numpy(numerical), dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic gradient has shape {a.shape}, numerical gradient {n.shape}")
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(n)), TINY)
    return float(np.linalg.norm(a - n)) / scale


def numerical_gradient(f: Callable[[object], float], x, h: float = 1e-6) -> np.ndarray:
    """Centered finite-difference gradient of the scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        Takes an array shaped like ``x`` (on ``x``'s backend) and returns a scalar.
    x : array, float64
        Point of evaluation; not modified.
    h : float
        Step. ``1e-6`` balances truncation (``O(h^2)``) and round-off
        (``O(eps / h)``) in float64.

    Returns
    -------
    numpy.ndarray, shape of ``x``
    """
    host = np.array(to_numpy(x))
    if host.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 inputs, got {host.dtype}")
    namespace = get_namespace(x)
    grad = np.zeros_like(host)
    for i in range(host.size):
        original = host.flat[i]
        host.flat[i] = original + h
        f_plus = float(f(namespace.asarray(host.copy())))
        host.flat[i] = original - h
        f_minus = float(f(namespace.asarray(host.copy())))
        host.flat[i] = original
        grad.flat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _random_like(outputs: tuple, rng: np.random.Generator) -> tuple:
    return tuple(get_namespace(o).asarray(rng.standard_normal(tuple(o.shape))) for o in outputs)


def _pairing(outputs: tuple, upstream: tuple) -> float:
    return float(sum(float(np.sum(to_numpy(o) * to_numpy(g))) for o, g in zip(outputs, upstream)))


def check_backward(
    forward: Callable,
    backward: Callable,
    inputs: Sequence,
    wrt: Sequence[int] | None = None,
    seed: int = 0,
    h: float = 1e-6,
) -> dict[int, float]:
    """Compare a ``forward``/``backward`` pair with finite differences.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)``; ``out`` is an array or a tuple of arrays.
    backward : callable
        ``backward(dout, cache) -> grads``; ``dout`` has ``out``'s structure and
        ``grads`` holds one gradient per input (``None`` for inputs without one).
        A single returned array is taken as the gradient of the first input.
    inputs : sequence of arrays
        Float64 arrays to differentiate, plus any other arguments (labels, masks).
    wrt : sequence of int, optional
        Positions of ``inputs`` to check; by default every floating-point array.
    seed : int
        Seed of the random upstream gradient.
    h : float
        Finite-difference step.

    Returns
    -------
    dict
        Relative error (:func:`relative_error`) for each checked input position.
    """
    inputs = list(inputs)
    if wrt is None:
        wrt = [i for i, a in enumerate(inputs) if hasattr(a, "dtype") and is_floating_array(a)]
    out, cache = forward(*inputs)
    upstream = _random_like(_as_tuple(out), np.random.default_rng(seed))
    dout = upstream if isinstance(out, (tuple, list)) else upstream[0]
    grads = _as_tuple(backward(dout, cache))
    errors = {}
    for i in wrt:

        def scalar(x_i, i=i):
            args = inputs[:i] + [x_i] + inputs[i + 1 :]
            return _pairing(_as_tuple(forward(*args)[0]), upstream)

        errors[i] = relative_error(grads[i], numerical_gradient(scalar, inputs[i], h))
    return errors


def check_module(module, x, seed: int = 0, h: float = 1e-6, check_input: bool = True) -> dict[str, float]:
    """Gradient-check a :class:`~deepref.nn.Module`: its input gradient and every parameter's.

    The module must be deterministic between calls (dropout in eval mode or
    with a fixed mask) and its parameters float64.

    Parameters
    ----------
    module : Module
        ``forward(x)`` returns an array; ``backward(dout)`` returns ``dx`` and
        accumulates parameter gradients.
    x : array, float64
        Input batch.
    seed, h
        As in :func:`check_backward`.

    Returns
    -------
    dict
        Relative error for ``"input"`` (if ``check_input``) and for each
        parameter name of ``module.named_parameters()``.
    """
    check_inputs(module, x)
    if not is_floating_array(x) or str(x.dtype).rsplit(".", 1)[-1] != "float64":
        raise TypeError(f"check_module needs a float64 input (finite differences in lower precision are "
                        f"too coarse), got {x.dtype}; convert the input with as_float64(x)")
    out = module.forward(x)
    (upstream,) = _random_like((out,), np.random.default_rng(seed))
    module.zero_grad()
    dx = module.backward(upstream)
    errors = {}
    if check_input:
        errors["input"] = relative_error(
            dx, numerical_gradient(lambda z: _pairing((module.forward(z),), (upstream,)), x, h)
        )
    for name, param in module.named_parameters():
        original = param.data

        def scalar(value, param=param):
            param.data = value
            return _pairing((module.forward(x),), (upstream,))

        numerical = numerical_gradient(scalar, original, h)
        param.data = original
        errors[name] = relative_error(param.grad, numerical)
    return errors


def as_float64(*arrays):
    """Convert host data to float64 arrays of the current backend (test helper)."""
    converted = tuple(asarray(np.asarray(a, dtype=np.float64)) for a in arrays)
    return converted if len(converted) > 1 else converted[0]
