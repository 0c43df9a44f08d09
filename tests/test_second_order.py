"""Newton, L-BFGS and the logistic-regression problem: closed forms and gradient checks."""

import numpy as np
import pytest

from deepref import optim, optimization
from deepref.backend import to_numpy
from deepref.gradcheck import as_float64, numerical_gradient, relative_error


def _quadratic(rng, dim=6, condition=50.0):
    """``0.5 x^T A x - b^T x`` with a known minimiser ``A^{-1} b``."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a = q @ np.diag(np.geomspace(1.0, condition, dim)) @ q.T
    b = rng.normal(size=dim)
    a_x, b_x = as_float64(a, b)

    def fun(x):
        return float(0.5 * (x @ (a_x @ x)) - b_x @ x)

    return fun, (lambda x: a_x @ x - b_x), (lambda x: a_x), np.linalg.solve(a, b)


def _logistic_problem(rng, l2=0.05):
    x = rng.normal(size=(60, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 + rng.normal(size=60) > 0).astype(np.float64)
    return optimization.LogisticRegressionProblem(*as_float64(x, y), l2=l2)


def test_newton_solves_a_quadratic_in_one_step(rng):
    fun, grad, hess, solution = _quadratic(rng)
    result = optim.newton(fun, grad, hess, as_float64(np.zeros(6)))
    assert result.iterations == 1 and result.converged
    np.testing.assert_allclose(to_numpy(result.x), solution, rtol=1e-10)


def test_lbfgs_solves_a_quadratic_to_the_closed_form(rng):
    fun, grad, _, solution = _quadratic(rng)
    result = optim.lbfgs(fun, grad, as_float64(np.zeros(6)), memory=6, tol=1e-12)
    assert result.converged and result.iterations < 100
    np.testing.assert_allclose(to_numpy(result.x), solution, rtol=1e-9)
    assert all(b <= a + 1e-14 for a, b in zip(result.values, result.values[1:]))  # descent, up to rounding


def test_lbfgs_direction_without_pairs_is_steepest_descent():
    g = as_float64([1.0, -2.0])
    np.testing.assert_array_equal(to_numpy(optim.lbfgs_direction(g, [])), [-1.0, 2.0])


def test_lbfgs_direction_satisfies_the_secant_equation():
    # With one pair, B y = s (the inverse-Hessian approximation maps y to s).
    s, y = as_float64([1.0, 0.5]), as_float64([2.0, 1.5])
    pair = (s, y, 1.0 / float(np.dot(to_numpy(s), to_numpy(y))))
    np.testing.assert_allclose(to_numpy(-optim.lbfgs_direction(y, [pair])), to_numpy(s), rtol=1e-12)


def test_logistic_gradient_and_hessian_pass_finite_differences(rng):
    problem = _logistic_problem(rng)
    theta = as_float64(rng.normal(size=4) * 0.5)
    grad_error = relative_error(problem.gradient(theta), numerical_gradient(problem.value, theta))
    assert grad_error < 1e-8
    columns = [numerical_gradient(lambda t, i=i: float(to_numpy(problem.gradient(t))[i]), theta) for i in range(4)]
    hess_error = relative_error(problem.hessian(theta), np.stack(columns))
    assert hess_error < 1e-7


def test_logistic_hessian_is_positive_definite_with_a_penalty(rng):
    problem = _logistic_problem(rng)
    eigenvalues = np.linalg.eigvalsh(to_numpy(problem.hessian(as_float64(rng.normal(size=4)))))
    assert eigenvalues.min() > 0


def test_newton_and_lbfgs_agree_on_logistic_regression(rng):
    problem = _logistic_problem(rng)
    start = as_float64(np.zeros(4))
    newton = optim.newton(problem.value, problem.gradient, problem.hessian, start)
    lbfgs = optim.lbfgs(problem.value, problem.gradient, start)
    assert newton.converged and lbfgs.converged and newton.iterations < lbfgs.iterations
    np.testing.assert_allclose(to_numpy(newton.x), to_numpy(lbfgs.x), rtol=1e-8)


def test_first_order_optimizer_reaches_the_same_minimum(rng):
    problem = _logistic_problem(rng, l2=0.2)
    reference = optim.newton(problem.value, problem.gradient, problem.hessian, as_float64(np.zeros(4)))
    result = optim.minimize_with_optimizer(problem.value, problem.gradient, as_float64(np.zeros(4)),
                                           lambda p: optim.SGD(p, lr=1.0, momentum=0.5), tol=1e-9)
    assert result.converged
    np.testing.assert_allclose(to_numpy(result.x), to_numpy(reference.x), rtol=1e-7)
    assert len(result.path) == result.iterations + 1


def test_bad_input_raises(rng):
    problem = _logistic_problem(rng)
    with pytest.raises(ValueError, match=r"theta must have shape \(4,\)"):
        problem.value(as_float64(np.zeros(3)))
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        optim.lbfgs(problem.value, problem.gradient, as_float64(np.zeros((2, 2))))
    with pytest.raises(ValueError, match="not a descent direction"):
        optim.backtracking_line_search(problem.value, as_float64(np.zeros(4)), 1.0, 0.5, as_float64(np.ones(4)))


def test_divergence_of_a_first_order_method_names_the_iteration():
    def fun(x):  # x**2 in Python floats: inf, without a warning, once x passes 1e154
        value = float(to_numpy(x)[0])
        return value * value

    # lr = 1.5 on x**2 multiplies x by -2 each step
    with pytest.raises(FloatingPointError, match=r"loss became inf at iteration 5\d\d"):
        optim.minimize_with_optimizer(fun, lambda x: 2.0 * x, as_float64([1.0]), lambda p: optim.SGD(p, lr=1.5),
                                      max_iter=1000)
