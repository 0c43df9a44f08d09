"""Classic two-dimensional test surfaces with analytic gradients and Hessians.

Each :class:`Surface` evaluates on points ``p`` of shape ``(..., 2)`` (one
point, a path, or a whole grid for contour plots) and returns values
``(...)``, gradients ``(..., 2)`` and Hessians ``(..., 2, 2)``.

>>> import numpy as np
>>> float(ROSENBROCK.value(np.array([1.0, 1.0])))
0.0
>>> HIMMELBLAU.gradient(np.array([3.0, 2.0])).tolist()
[0.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..backend import get_namespace
from ..validation import check_positive


@dataclass(frozen=True)
class Surface:
    """A test function of two variables.

    Attributes
    ----------
    name : str
    value : callable
        ``(..., 2) -> (...)``.
    gradient : callable
        ``(..., 2) -> (..., 2)``.
    hessian : callable
        ``(..., 2) -> (..., 2, 2)``.
    minima : tuple of (x, y)
        Known global (or, for Rastrigin, the global) minimisers.
    bounds : ((x_min, x_max), (y_min, y_max))
        A window that shows the interesting features.
    """

    name: str
    value: Callable
    gradient: Callable
    hessian: Callable
    minima: tuple
    bounds: tuple


def _split(p):
    if p.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., 2), got {tuple(p.shape)}")
    return p[..., 0], p[..., 1]


def _vector(xp, fx, fy):
    return xp.stack([fx, fy], axis=-1)


def _matrix(xp, fxx, fxy, fyy):
    return xp.stack([xp.stack([fxx, fxy], axis=-1), xp.stack([fxy, fyy], axis=-1)], axis=-2)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """``(a - x)**2 + b (y - x**2)**2``: a curved, narrow valley with its minimum at ``(a, a**2)``."""

    def value(p):
        x, y = _split(p)
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def gradient(p):
        x, y = _split(p)
        return _vector(get_namespace(p), -2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2))

    def hessian(p):
        x, y = _split(p)
        return _matrix(get_namespace(p), 2 - 4 * b * y + 12 * b * x**2, -4 * b * x, 2 * b + 0 * x)

    return Surface("Rosenbrock", value, gradient, hessian, ((a, a * a),), ((-2.0, 2.0), (-1.0, 3.0)))


_BEALE_C = (1.5, 2.25, 2.625)


def _beale_terms(p):
    """The residuals ``u_k = c_k - x + x y**k`` and their derivatives, k = 1, 2, 3."""
    x, y = _split(p)
    terms = []
    for k, c in enumerate(_BEALE_C, start=1):
        u = c - x + x * y**k
        du_dx = y**k - 1
        du_dy = k * x * y ** (k - 1)
        d2u_dy2 = k * (k - 1) * x * y ** (k - 2) if k >= 2 else 0 * x
        d2u_dxdy = k * y ** (k - 1)
        terms.append((u, du_dx, du_dy, d2u_dy2, d2u_dxdy))
    return terms


def beale() -> Surface:
    """``sum_k (c_k - x + x y**k)**2``, ``c = (1.5, 2.25, 2.625)``: plateaus, sharp ridges; minimum ``(3, 0.5)``."""

    def value(p):
        return sum(u**2 for u, *_ in _beale_terms(p))

    def gradient(p):
        terms = _beale_terms(p)
        fx = sum(2 * u * dx for u, dx, *_ in terms)
        fy = sum(2 * u * dy for u, _, dy, *_ in terms)
        return _vector(get_namespace(p), fx, fy)

    def hessian(p):
        terms = _beale_terms(p)
        fxx = sum(2 * dx**2 for _, dx, *_ in terms)
        fyy = sum(2 * (dy**2 + u * dyy) for u, _, dy, dyy, _ in terms)
        fxy = sum(2 * (dx * dy + u * dxy) for u, dx, dy, _, dxy in terms)
        return _matrix(get_namespace(p), fxx, fxy, fyy)

    return Surface("Beale", value, gradient, hessian, ((3.0, 0.5),), ((-4.5, 4.5), (-4.5, 4.5)))


def himmelblau() -> Surface:
    """``(x**2 + y - 11)**2 + (x + y**2 - 7)**2``: four minima of value 0, a maximum and four saddles."""

    def value(p):
        x, y = _split(p)
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def gradient(p):
        x, y = _split(p)
        a, b = x**2 + y - 11, x + y**2 - 7
        return _vector(get_namespace(p), 4 * x * a + 2 * b, 2 * a + 4 * y * b)

    def hessian(p):
        x, y = _split(p)
        a, b = x**2 + y - 11, x + y**2 - 7
        return _matrix(get_namespace(p), 4 * a + 8 * x**2 + 2, 4 * x + 4 * y, 2 + 4 * b + 8 * y**2)

    minima = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    return Surface("Himmelblau", value, gradient, hessian, minima, ((-5.0, 5.0), (-5.0, 5.0)))


def monkey_saddle() -> Surface:
    """``x**3 - 3 x y**2``: a degenerate critical point at the origin (zero Hessian), three valleys."""

    def value(p):
        x, y = _split(p)
        return x**3 - 3 * x * y**2

    def gradient(p):
        x, y = _split(p)
        return _vector(get_namespace(p), 3 * x**2 - 3 * y**2, -6 * x * y)

    def hessian(p):
        x, y = _split(p)
        return _matrix(get_namespace(p), 6 * x, -6 * y, -6 * x)

    return Surface("monkey saddle", value, gradient, hessian, (), ((-1.5, 1.5), (-1.5, 1.5)))


def saddle() -> Surface:
    """``x**2 - y**2``: the simplest saddle, Hessian ``diag(2, -2)`` everywhere."""

    def value(p):
        x, y = _split(p)
        return x**2 - y**2

    def gradient(p):
        x, y = _split(p)
        return _vector(get_namespace(p), 2 * x, -2 * y)

    def hessian(p):
        x, _ = _split(p)
        return _matrix(get_namespace(p), 2 + 0 * x, 0 * x, -2 + 0 * x)

    return Surface("saddle $x^2 - y^2$", value, gradient, hessian, (), ((-2.0, 2.0), (-2.0, 2.0)))


def rastrigin(amplitude: float = 10.0) -> Surface:
    """``2A + sum_i (x_i**2 - A cos(2 pi x_i))``: a bowl covered with local minima; global minimum at 0."""
    check_positive("amplitude", amplitude)
    w = 2 * math.pi

    def value(p):
        xp = get_namespace(p)
        x, y = _split(p)
        return 2 * amplitude + x**2 + y**2 - amplitude * (xp.cos(w * x) + xp.cos(w * y))

    def gradient(p):
        xp = get_namespace(p)
        x, y = _split(p)
        return _vector(xp, 2 * x + amplitude * w * xp.sin(w * x), 2 * y + amplitude * w * xp.sin(w * y))

    def hessian(p):
        xp = get_namespace(p)
        x, y = _split(p)
        curvature = amplitude * w * w
        return _matrix(xp, 2 + curvature * xp.cos(w * x), 0 * x, 2 + curvature * xp.cos(w * y))

    return Surface("Rastrigin", value, gradient, hessian, ((0.0, 0.0),), ((-5.12, 5.12), (-5.12, 5.12)))


def quadratic(condition_number: float = 10.0, angle: float = 0.0) -> Surface:
    """``0.5 p^T H p`` with eigenvalues ``1`` and ``condition_number``, axes rotated by ``angle`` radians."""
    check_positive("condition_number", condition_number)
    c, s = math.cos(angle), math.sin(angle)
    # H = R diag(1, kappa) R^T with R the rotation by `angle`.
    hxx = c * c + condition_number * s * s
    hxy = (1 - condition_number) * c * s
    hyy = s * s + condition_number * c * c

    def value(p):
        x, y = _split(p)
        return 0.5 * (hxx * x**2 + 2 * hxy * x * y + hyy * y**2)

    def gradient(p):
        x, y = _split(p)
        return _vector(get_namespace(p), hxx * x + hxy * y, hxy * x + hyy * y)

    def hessian(p):
        x, _ = _split(p)
        return _matrix(get_namespace(p), hxx + 0 * x, hxy + 0 * x, hyy + 0 * x)

    name = rf"quadratic ($\kappa = {condition_number:g}$)"
    return Surface(name, value, gradient, hessian, ((0.0, 0.0),), ((-2.0, 2.0), (-2.0, 2.0)))


ROSENBROCK = rosenbrock()
"""Rosenbrock's banana valley with ``a = 1, b = 100`` (:func:`rosenbrock`), minimum at ``(1, 1)``."""
BEALE = beale()
"""Beale's function (:func:`beale`), minimum at ``(3, 0.5)``."""
HIMMELBLAU = himmelblau()
"""Himmelblau's function (:func:`himmelblau`): four minima, four saddles, one maximum."""
MONKEY_SADDLE = monkey_saddle()
"""The monkey saddle ``x^3 - 3 x y^2`` (:func:`monkey_saddle`): a degenerate critical point at 0."""
SADDLE = saddle()
"""The saddle ``x^2 - y^2`` (:func:`saddle`)."""
RASTRIGIN = rastrigin()
"""Rastrigin's function (:func:`rastrigin`): a grid of local minima, global minimum at 0."""
