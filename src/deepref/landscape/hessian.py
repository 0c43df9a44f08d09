"""Curvature of a network's loss: Hessian-vector products, the full Hessian, Lanczos, critical points.

Everything here needs only gradients: the Hessian :math:`H = \\nabla^2 L(\\theta)`
of the loss of a :class:`~deepref.nn.Module` is reached through products
:math:`Hv`, computed as centered differences of two gradients
(:func:`hessian_vector_product`). A small network's whole Hessian is built one
column :math:`H e_i` at a time (:func:`full_hessian`); a large one is probed by
Lanczos iteration, which finds its extreme eigenvalues from a few dozen
products (:func:`lanczos`, :func:`hessian_extreme_eigenvalues`).

>>> import numpy as np
>>> from deepref.landscape import SADDLE
>>> classify_critical_point(SADDLE.hessian(np.zeros(2)))
CriticalPoint(kind='saddle', index=0.5, eigenvalues=[-2.0, 2.0])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from ..backend import default_rng, get_namespace, to_numpy
from ..nn.utils import loss_and_gradient, parameters_to_vector, restoring, vector_to_parameters
from ..optim.clip import global_norm
from ..optim.weight_decay import weight_decay_gradient, weight_decay_penalty
from ..validation import check_ndim, check_positive, check_shape


def _norm(v) -> float:
    return global_norm([v])


def _check_direction(name: str, v, size: int) -> float:
    """Check that ``v`` is a non-zero finite ``(size,)`` vector; return its norm."""
    check_shape(name, v, (size,))
    norm = _norm(v)
    if not math.isfinite(norm):
        raise ValueError(f"{name} must be finite, got a vector of norm {norm}")
    if norm == 0.0:
        raise ValueError(f"{name} is the zero vector: a direction needs a non-zero norm")
    return norm


def finite_difference_step(theta, v) -> float:
    """Step ``h`` of the centered difference along ``v`` at ``theta``: ``eps**(1/3) (1 + ||theta||) / ||v||``.

    ``eps`` is the machine precision of ``theta``'s dtype (``eps**(1/3)`` is
    about 6e-6 in float64 and 5e-3 in float32).

    The centered difference :math:`(g(\\theta + hv) - g(\\theta - hv)) / 2h`
    has a truncation error :math:`\\approx h^2 \\|v\\|^3 |L'''| / 6` and a
    round-off error :math:`\\approx \\epsilon \\|g\\| / h` (two gradients,
    each correct to about machine precision :math:`\\epsilon`, are subtracted
    and divided by :math:`h`). The sum is smallest for :math:`h \\propto
    \\epsilon^{1/3}`, where both are :math:`O(\\epsilon^{2/3}) \\approx 10^{-11}`
    relative. Dividing by :math:`\\|v\\|` makes the perturbation
    :math:`h v` independent of the length of ``v``, and the factor
    :math:`1 + \\|\\theta\\|` keeps it a fixed fraction of the parameters'
    own size (so it is not swamped by their rounding) while staying
    :math:`\\epsilon^{1/3}` near :math:`\\theta = 0`.

    Parameters
    ----------
    theta : (P,) array
    v : (P,) array, non-zero
    """
    eps = float(get_namespace(theta).finfo(theta.dtype).eps)
    return eps ** (1.0 / 3.0) * (1.0 + _norm(theta)) / _norm(v)


def hessian_vector_product(
    model, loss_fn, x, y, v, step: float | None = None, weight_decay: float = 0.0
):
    """:math:`H v` for the loss of ``model`` on ``(x, y)``, by centered differences of gradients.

    .. math:: Hv \\approx \\frac{\\nabla L(\\theta + h v) - \\nabla L(\\theta - h v)}{2h}

    The model is given back as it was found (parameters, batch-norm running
    statistics and mode; also when the loss is not finite).
    With ``weight_decay`` :math:`\\lambda > 0` the loss is
    :math:`L(\\theta) + \\tfrac{\\lambda}{2}\\|\\theta\\|^2` (the penalty that
    ``weight_decay`` of the optimizers follows), whose Hessian adds :math:`\\lambda I`.

    Parameters
    ----------
    model : Module
        Its current parameters are :math:`\\theta`; float64 parameters give about 10 exact digits.
    loss_fn : Loss
    x : (N, ...) array
    y : (N, ...) array
    v : (P,) array
        Direction, ordered as :func:`deepref.nn.utils.parameters_to_vector`; non-zero.
    step : float, optional
        ``h``; by default :func:`finite_difference_step`.
    weight_decay : float
        :math:`\\lambda \\ge 0`.

    Returns
    -------
    (P,) array
    """
    theta = parameters_to_vector(model)
    _check_direction("v", v, theta.shape[0])
    check_positive("weight_decay", weight_decay, allow_zero=True)
    h = finite_difference_step(theta, v) if step is None else step
    check_positive("step", h)
    with restoring(model):
        vector_to_parameters(theta + h * v, model)
        _, grad_plus = loss_and_gradient(model, loss_fn, x, y)
        vector_to_parameters(theta - h * v, model)
        _, grad_minus = loss_and_gradient(model, loss_fn, x, y)
    return weight_decay_gradient(v, weight_decay, (grad_plus - grad_minus) / (2.0 * h))


def full_hessian(model, loss_fn, x, y, weight_decay: float = 0.0):
    """The whole Hessian, column by column: column ``i`` is :math:`H e_i`.

    Costs ``2 P`` gradient evaluations and ``P**2`` memory: for small networks.
    The finite-difference columns are symmetrised, :math:`(H + H^T) / 2`.
    ``weight_decay`` :math:`\\lambda \\ge 0` adds :math:`\\lambda I`, the Hessian of
    the penalty :math:`\\tfrac{\\lambda}{2}\\|\\theta\\|^2` (see :func:`hessian_vector_product`).

    Returns
    -------
    (P, P) array
    """
    theta = parameters_to_vector(model)
    xp = get_namespace(theta)
    basis = xp.eye(theta.shape[0], dtype=theta.dtype)
    columns = [
        hessian_vector_product(model, loss_fn, x, y, basis[i, :], weight_decay=weight_decay)
        for i in range(theta.shape[0])
    ]
    hessian = xp.stack(columns, axis=1)
    return 0.5 * (hessian + hessian.T)


class LanczosResult(NamedTuple):
    """Ritz values (ascending, ``(k,)``) and the tridiagonal coefficients they come from."""

    ritz_values: object
    alphas: list[float]
    betas: list[float]


def _tridiagonal(alphas: list[float], betas: list[float]) -> list[list[float]]:
    k = len(alphas)
    return [
        [alphas[i] if i == j else betas[min(i, j)] if abs(i - j) == 1 else 0.0 for j in range(k)] for i in range(k)
    ]


def lanczos(
    matvec: Callable,
    dim: int,
    num_steps: int = 30,
    seed: int = 0,
    dtype=None,
    like=None,
) -> LanczosResult:
    """Eigenvalue estimates of a symmetric operator from ``num_steps`` products, by Lanczos iteration.

    Starting from a random unit vector :math:`q_1`, Lanczos builds an
    orthonormal basis :math:`q_1, \\dots, q_k` of the Krylov space
    :math:`\\{q_1, Aq_1, \\dots, A^{k-1} q_1\\}` in which :math:`A` is the
    tridiagonal matrix :math:`T_k` with diagonal :math:`\\alpha_j = q_j^T A q_j`
    and off-diagonal :math:`\\beta_j = \\|r_j\\|`, where
    :math:`r_j = A q_j - \\alpha_j q_j - \\beta_{j-1} q_{j-1}`. The eigenvalues
    of :math:`T_k` (Ritz values) converge to the extreme eigenvalues of
    :math:`A` first, typically within a few dozen steps. Each new vector is
    re-orthogonalised against all earlier ones (twice), which keeps spurious
    copies of converged eigenvalues away at a cost of ``O(k P)`` per step.
    The iteration stops early when the Krylov space is invariant
    (:math:`\\beta_j` negligible): then the Ritz values are exact.

    Parameters
    ----------
    matvec : callable
        ``(P,) array -> (P,) array``, the product with a symmetric matrix.
    dim : int
        ``P``.
    num_steps : int
        ``k``, at most ``dim``.
    seed : int
        Seed of the starting vector.
    dtype : optional
        Of the starting vector (the default float unless given).
    like : array, optional
        The starting vector is drawn on this array's backend and device (the
        current backend's otherwise); pass the vector ``matvec`` works on.

    Returns
    -------
    LanczosResult
    """
    check_positive("num_steps", num_steps)
    if num_steps > dim:
        raise ValueError(f"num_steps must be at most dim = {dim}, got {num_steps}")
    start = default_rng(seed).normal(size=(dim,), dtype=dtype, like=like)
    xp = get_namespace(start)
    basis = [start / _norm(start)]
    alphas: list[float] = []
    betas: list[float] = []
    for _ in range(int(num_steps)):
        q = basis[-1]
        w = matvec(q)
        alphas.append(float(xp.sum(w * q)))
        previous = xp.stack(basis, axis=0)
        for _ in range(2):
            w = w - (previous @ w) @ previous
        beta = _norm(w)
        if len(alphas) == num_steps or beta <= 1e-10 * max(abs(a) for a in alphas):
            break
        betas.append(beta)
        basis.append(w / beta)
    ritz = xp.linalg.eigvalsh(xp.asarray(_tridiagonal(alphas, betas), dtype=xp.float64))
    return LanczosResult(ritz, alphas, betas)


def hessian_extreme_eigenvalues(model, loss_fn, x, y, num_steps: int = 30, seed: int = 0) -> tuple[float, float]:
    """Smallest and largest Hessian eigenvalue of the loss of ``model`` on ``(x, y)``, by :func:`lanczos`.

    ``num_steps`` is capped at the number of parameters ``P``.
    """
    theta = parameters_to_vector(model)
    steps = min(int(num_steps), theta.shape[0])
    result = lanczos(
        lambda v: hessian_vector_product(model, loss_fn, x, y, v),
        theta.shape[0],
        steps,
        seed,
        theta.dtype,
        like=theta,
    )
    return float(result.ritz_values[0]), float(result.ritz_values[-1])


class CriticalPoint(NamedTuple):
    """The kind of a critical point (``minimum``, ``maximum``, ``saddle``, ``degenerate``), its index and spectrum."""

    kind: str
    index: float
    eigenvalues: list[float]


def classify_critical_point(
    hessian, rtol: float = 1e-6, atol: float = 1e-12
) -> CriticalPoint:
    """Second-order test at a critical point from its Hessian (or the Hessian's eigenvalues).

    An eigenvalue counts as zero when ``|lambda| <= max(rtol * max|lambda|, atol)``.
    With every eigenvalue positive the point is a strict local **minimum**;
    all negative, a strict **maximum**; some positive and some negative, a
    **saddle** (whatever the zeros: a direction of negative curvature already
    leads downhill). Otherwise (zeros and only one sign, or all zero) the
    test is inconclusive: **degenerate**, as at the monkey saddle, where
    higher-order terms decide. The **index** is the fraction of negative
    eigenvalues (Dauphin et al. 2014).

    Parameters
    ----------
    hessian : (P, P) symmetric array, or (P,) eigenvalues
    rtol, atol : float

    Returns
    -------
    CriticalPoint
    """
    xp = get_namespace(hessian)
    if hessian.ndim == 2:
        check_shape("hessian", hessian, (hessian.shape[0], hessian.shape[0]))
        eigenvalues = xp.linalg.eigvalsh(hessian)
    else:
        check_ndim("hessian", hessian, 1, "(P,) eigenvalues or (P, P) matrix")
        eigenvalues = xp.sort(hessian)
    values = [float(v) for v in to_numpy(eigenvalues)]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("the Hessian has non-finite entries")
    threshold = max(rtol * max(abs(v) for v in values), atol)
    negative = sum(v < -threshold for v in values)
    positive = sum(v > threshold for v in values)
    if positive == len(values):
        kind = "minimum"
    elif negative == len(values):
        kind = "maximum"
    elif positive and negative:
        kind = "saddle"
    else:
        kind = "degenerate"
    return CriticalPoint(kind, negative / len(values), values)


class NewtonResult(NamedTuple):
    """A point found by :func:`find_critical_point`: parameters, loss, gradient norm, iterations, success."""

    theta: object
    loss: float
    gradient_norm: float
    iterations: int
    converged: bool


def _penalised_loss_and_gradient(model, loss_fn, x, y, weight_decay: float) -> tuple[float, object]:
    loss, grad = loss_and_gradient(model, loss_fn, x, y)
    if weight_decay:
        theta = parameters_to_vector(model)
        loss, grad = loss + weight_decay_penalty(theta, weight_decay), weight_decay_gradient(theta, weight_decay, grad)
    return loss, grad


def find_critical_point(
    model,
    loss_fn,
    x,
    y,
    max_iter: int = 50,
    gtol: float = 1e-9,
    damping: float = 1e-3,
    weight_decay: float = 0.0,
    max_trials: int = 12,
) -> NewtonResult:
    """Solve :math:`\\nabla L(\\theta) = 0` from the model's parameters, by damped Newton (Levenberg-Marquardt).

    This minimises the squared gradient norm :math:`\\tfrac12\\|g(\\theta)\\|^2`,
    whose gradient is :math:`Hg`, by Gauss-Newton steps: the Jacobian of the
    equation :math:`g(\\theta) = 0` is :math:`H`, and the regularised step
    :math:`\\delta = -(H^2 + \\mu I)^{-1} H g` minimises
    :math:`\\|g + H\\delta\\|^2 + \\mu \\|\\delta\\|^2`. Unlike gradient descent it
    is attracted by saddles and maxima as much as by minima, which is what a
    census of critical points needs (Dauphin et al. 2014). The damping is
    relative, :math:`\\mu = \\mu_r \\lambda_{\\max}^2` (``damping`` is the first
    :math:`\\mu_r`), so it means the same at any scale of the loss. Each
    iteration builds :func:`full_hessian` once and diagonalises it,
    :math:`H = U \\Lambda U^T`, so that trial steps
    :math:`\\delta = -U \\Lambda (\\Lambda^2 + \\mu I)^{-1} U^T g` cost one
    gradient each: a step that reduces :math:`\\|g\\|` is kept (then
    :math:`\\mu_r` shrinks tenfold), otherwise :math:`\\mu_r` grows tenfold
    and the next trial is shorter and closer to the direction :math:`-Hg`.
    After ``max_trials`` refusals in a row the search stops: the point is a
    local minimum of :math:`\\|g\\|` that is not a critical point (or the
    Hessian is too inaccurate to go further), reported with
    ``converged=False``. The model is left at the point found. For networks
    of a few dozen parameters.

    Parameters
    ----------
    model : Module
        Float64 parameters; the start.
    loss_fn : Loss
    x : (N, ...) array
    y : (N, ...) array
    max_iter : int
        Hessian evaluations at most.
    gtol : float
        Stop when :math:`\\|g\\| \\le` ``gtol``.
    damping : float
        Initial relative damping :math:`\\mu_r > 0`.
    weight_decay : float
        :math:`\\lambda \\ge 0`: the critical points of
        :math:`L + \\tfrac{\\lambda}{2}\\|\\theta\\|^2` are sought (and ``loss`` includes the penalty).
        A small penalty removes the flat valleys that run off to infinite weights.
    max_trials : int
        Refused steps in a row before giving up.

    Returns
    -------
    NewtonResult
    """
    check_positive("max_iter", max_iter, allow_zero=True)
    check_positive("gtol", gtol)
    check_positive("damping", damping)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    check_positive("max_trials", max_trials)
    theta = parameters_to_vector(model)
    xp = get_namespace(theta)
    loss, grad = _penalised_loss_and_gradient(model, loss_fn, x, y, weight_decay)
    if not (math.isfinite(loss) and math.isfinite(_norm(grad))):
        raise ValueError(
            f"the loss or its gradient is not finite at the start (loss {loss})"
        )
    mu, iteration = float(damping), 0
    while iteration < max_iter and _norm(grad) > gtol:
        iteration += 1
        hessian = full_hessian(model, loss_fn, x, y, weight_decay)
        eigenvalues, vectors = xp.linalg.eigh(hessian)
        coefficients = grad @ vectors
        squares = eigenvalues * eigenvalues
        scale = float(xp.max(squares))
        for _ in range(int(max_trials)):
            step = -(vectors @ (eigenvalues * coefficients / (squares + mu * scale)))
            vector_to_parameters(theta + step, model)
            trial_loss, trial_grad = _penalised_loss_and_gradient(
                model, loss_fn, x, y, weight_decay
            )
            if math.isfinite(trial_loss) and _norm(trial_grad) < _norm(grad):
                theta, loss, grad = theta + step, trial_loss, trial_grad
                mu = max(mu / 10.0, 1e-16)
                break
            mu *= 10.0
        else:
            vector_to_parameters(theta, model)
            break
    return NewtonResult(theta, loss, _norm(grad), iteration, _norm(grad) <= gtol)
