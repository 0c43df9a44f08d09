"""Newton's method and L-BFGS for full-batch problems on a flat parameter vector.

Both minimise a smooth function ``f`` given as Python callables on a vector
``x`` of shape ``(D,)``: ``fun(x) -> float``, ``grad(x) -> (D,)`` and, for
Newton, ``hess(x) -> (D, D)``. Each iteration picks a descent direction ``d``
and a step ``t`` by backtracking until the Armijo condition
``f(x + t d) <= f(x) + c1 t grad(x) . d`` holds:

* Newton: ``d = -H^{-1} g``, the minimiser of the local quadratic model;
  near the solution ``t = 1`` is accepted and convergence is quadratic.
* L-BFGS (Liu & Nocedal 1989): ``d = -B g``, with ``B`` an approximation of
  the inverse Hessian built by the two-loop recursion from the last
  ``memory`` pairs ``s = x_{k+1} - x_k``, ``y = g_{k+1} - g_k``; it needs only
  gradients and ``O(memory D)`` memory.

:func:`minimize_with_optimizer` runs a first-order optimizer of
:mod:`deepref.optim` on the same kind of problem, for comparisons.

>>> import numpy as np
>>> h = np.array([[3.0, 1.0], [1.0, 2.0]])
>>> result = newton(lambda x: float(0.5 * x @ h @ x), lambda x: h @ x, lambda x: h, np.array([1.0, -1.0]))
>>> result.iterations, result.converged
(1, True)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..backend import get_namespace, to_numpy
from ..nn.module import Parameter
from ..validation import check_finite_loss, check_ndim, check_positive
from .clip import global_norm


@dataclass
class MinimizeResult:
    """Outcome of a minimisation.

    Attributes
    ----------
    x : (D,) array
        The last iterate.
    value : float
        ``fun(x)``.
    gradient_norm : float
        ``||grad(x)||``.
    iterations : int
        Number of updates made.
    converged : bool
        Whether ``gradient_norm <= tol`` was reached.
    values : list of float
        ``fun`` at every iterate, the start included.
    path : list of numpy.ndarray
        Every iterate on the host, the start included.
    """

    x: object
    value: float
    gradient_norm: float
    iterations: int
    converged: bool
    values: list[float] = field(default_factory=list)
    path: list[np.ndarray] = field(default_factory=list)


def _dot(a, b) -> float:
    return float(get_namespace(a, b).sum(a * b))


def _norm(v) -> float:
    """Euclidean norm of a vector (:func:`deepref.optim.clip.global_norm`, safe from overflow)."""
    return global_norm([v])


def backtracking_line_search(fun: Callable, x, value: float, slope: float, direction,
                             c1: float = 1e-4, shrink: float = 0.5, max_halvings: int = 60) -> float:
    """Largest ``t`` in ``1, shrink, shrink**2, ...`` with ``fun(x + t d) <= value + c1 t slope``.

    The comparison allows the rounding error of ``value`` (a few ulps): close to
    the minimum the decrease ``c1 t slope`` falls below the precision of
    ``fun`` itself, and a strict test would reject every step there.

    Parameters
    ----------
    fun : callable
    x : (D,) array
    value : float
        ``fun(x)``.
    slope : float
        Directional derivative ``grad(x) . direction``; must be negative.
    direction : (D,) array

    Raises
    ------
    ValueError
        If ``direction`` is not a descent direction.
    FloatingPointError
        If no step satisfies the condition (the function is not smooth or is
        evaluated with too little precision).
    """
    if not slope < 0:
        raise ValueError(f"the search direction is not a descent direction (slope {slope:.3g} >= 0)")
    rounding = 8 * sys.float_info.epsilon * abs(value)
    t = 1.0
    for _ in range(max_halvings):
        trial = fun(x + t * direction)
        if math.isfinite(trial) and trial <= value + c1 * t * slope + rounding:
            return t
        t *= shrink
    raise FloatingPointError(f"line search found no step decreasing the function after {max_halvings} halvings")


def _check_start(x0, tol: float, max_iter: int) -> None:
    check_ndim("x0", x0, 1, "(D,)")
    check_positive("tol", tol, allow_zero=True)
    check_positive("max_iter", max_iter, allow_zero=True)


class _Recorder:
    """Collects values and iterates, and builds the :class:`MinimizeResult`."""

    def __init__(self):
        self.values, self.path = [], []

    def record(self, x, value) -> None:
        value = float(value)  # a 0-D array of any backend
        check_finite_loss(value, f"iteration {len(self.values)}")
        self.values.append(value)
        self.path.append(to_numpy(x).copy())

    def result(self, x, gradient, tol: float) -> MinimizeResult:
        norm = _norm(gradient)
        return MinimizeResult(x, self.values[-1], norm, len(self.values) - 1, norm <= tol, self.values, self.path)


def newton(fun: Callable, grad: Callable, hess: Callable, x0, tol: float = 1e-10,
           max_iter: int = 100) -> MinimizeResult:
    """Damped Newton's method: ``x <- x - t H(x)^{-1} g(x)`` with a backtracking step ``t``.

    Parameters
    ----------
    fun : callable
        ``(D,) -> float``.
    grad : callable
        ``(D,) -> (D,)``.
    hess : callable
        ``(D,) -> (D, D)``, positive definite on the path (a strictly convex
        problem); otherwise the Newton direction may point uphill and the line
        search raises.
    x0 : (D,) array
    tol : float
        Stop when ``||grad|| <= tol``.
    max_iter : int

    Returns
    -------
    MinimizeResult
    """
    _check_start(x0, tol, max_iter)
    xp = get_namespace(x0)
    x, recorder = x0, _Recorder()
    value, g = fun(x), grad(x)
    recorder.record(x, value)
    for _ in range(int(max_iter)):
        if _norm(g) <= tol:
            break
        direction = -xp.linalg.solve(hess(x), g)
        x = x + backtracking_line_search(fun, x, value, _dot(g, direction), direction) * direction
        value, g = fun(x), grad(x)
        recorder.record(x, value)
    return recorder.result(x, g, tol)


def lbfgs_direction(g, pairs: list[tuple]) -> object:
    """The L-BFGS direction ``-B g`` by the two-loop recursion.

    Parameters
    ----------
    g : (D,) array
        Current gradient.
    pairs : list of (s, y, rho)
        Oldest first; ``rho = 1 / (y . s)``.

    Returns
    -------
    (D,) array
        ``-B g``, where ``B`` is the inverse-Hessian approximation that starts
        from ``gamma I`` with ``gamma = s . y / y . y`` of the newest pair (``I``
        without pairs: steepest descent).
    """
    q, alphas = g, []
    for s, y, rho in reversed(pairs):
        alpha = rho * _dot(s, q)
        q = q - alpha * y
        alphas.append(alpha)
    if pairs:
        s, y, _ = pairs[-1]
        q = (_dot(s, y) / _dot(y, y)) * q
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        beta = rho * _dot(y, q)
        q = q + (alpha - beta) * s
    return -q


def lbfgs(fun: Callable, grad: Callable, x0, memory: int = 10, tol: float = 1e-10,
          max_iter: int = 500) -> MinimizeResult:
    """Limited-memory BFGS with a backtracking (Armijo) line search.

    A pair ``(s, y)`` is kept only if ``s . y > 1e-12 ||s|| ||y||`` (the
    curvature condition; always true on a strictly convex function), so the
    implicit inverse Hessian stays positive definite.

    Parameters
    ----------
    fun, grad, x0, tol, max_iter
        As in :func:`newton`.
    memory : int
        Number of ``(s, y)`` pairs kept.

    Returns
    -------
    MinimizeResult
    """
    _check_start(x0, tol, max_iter)
    check_positive("memory", memory)
    x, recorder, pairs = x0, _Recorder(), []
    value, g = fun(x), grad(x)
    recorder.record(x, value)
    for _ in range(int(max_iter)):
        if _norm(g) <= tol:
            break
        direction = lbfgs_direction(g, pairs)
        x_new = x + backtracking_line_search(fun, x, value, _dot(g, direction), direction) * direction
        g_new = grad(x_new)
        s, y = x_new - x, g_new - g
        sy = _dot(s, y)
        if sy > 1e-12 * math.sqrt(_dot(s, s) * _dot(y, y)):
            pairs = (pairs + [(s, y, 1.0 / sy)])[-int(memory):]
        x, g, value = x_new, g_new, fun(x_new)
        recorder.record(x, value)
    return recorder.result(x, g, tol)


def minimize_with_optimizer(fun: Callable, grad: Callable, x0, make_optimizer: Callable, tol: float = 1e-10,
                            max_iter: int = 1000) -> MinimizeResult:
    """Run a first-order optimizer of :mod:`deepref.optim` on ``fun`` from ``x0``.

    Parameters
    ----------
    fun, grad, x0, tol, max_iter
        As in :func:`newton`; ``tol = 0`` runs exactly ``max_iter`` steps.
    make_optimizer : callable
        ``make_optimizer([param]) -> Optimizer``, e.g. ``lambda p: SGD(p, lr=0.1)``.

    Returns
    -------
    MinimizeResult
        ``path`` holds the trajectory (used for the 2-D plots of the book).
    """
    _check_start(x0, tol, max_iter)
    param = Parameter(get_namespace(x0).asarray(x0, copy=True))  # optimizers update in place: keep x0
    optimizer = make_optimizer([param])
    recorder = _Recorder()
    recorder.record(param.data, fun(param.data))
    g = grad(param.data)
    for _ in range(int(max_iter)):
        if _norm(g) <= tol:
            break
        param.grad = g
        optimizer.step()
        recorder.record(param.data, fun(param.data))
        g = grad(param.data)
    return recorder.result(param.data, g, tol)
