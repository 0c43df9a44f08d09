"""deepref.landscape: test surfaces, Hessian-vector products, Lanczos, critical points, slices."""

import numpy as np
import pytest

from deepref import landscape, nn
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64, numerical_gradient, relative_error
from deepref.landscape import (
    classify_critical_point,
    filter_normalize,
    find_critical_point,
    full_hessian,
    hessian_extreme_eigenvalues,
    hessian_vector_product,
    interpolate,
    lanczos,
    loss_plane,
    random_direction,
)
from deepref.nn.utils import loss_and_gradient, num_elements, parameters_to_vector, vector_to_parameters

SURFACES = [
    landscape.ROSENBROCK,
    landscape.BEALE,
    landscape.HIMMELBLAU,
    landscape.MONKEY_SADDLE,
    landscape.SADDLE,
    landscape.RASTRIGIN,
    landscape.quadratic(25.0, 0.3),
]


# -- surfaces ---------------------------------------------------------------
@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_surface_gradient_and_hessian_match_finite_differences(surface, xp, rng):
    (x_lo, x_hi), (y_lo, y_hi) = surface.bounds
    for point in rng.uniform([x_lo, y_lo], [x_hi, y_hi], size=(3, 2)):
        p = as_float64(point)
        numerical = numerical_gradient(lambda q: float(surface.value(q)), p)
        assert relative_error(surface.gradient(p), numerical) < 1e-7
        rows = [numerical_gradient(lambda q, i=i: float(surface.gradient(q)[i]), p) for i in range(2)]
        assert relative_error(surface.hessian(p), np.stack(rows)) < 1e-7


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_surfaces_evaluate_on_grids(surface, xp):
    grid = as_float64(np.zeros((4, 5, 2)) + 0.25)
    assert tuple(surface.value(grid).shape) == (4, 5)
    assert tuple(surface.gradient(grid).shape) == (4, 5, 2)
    assert tuple(surface.hessian(grid).shape) == (4, 5, 2, 2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        surface.value(as_float64(np.zeros((4, 3))))


@pytest.mark.parametrize("surface", [s for s in SURFACES if s.minima], ids=lambda s: s.name)
def test_known_minima_are_minima_of_value_zero(surface, xp):
    for minimum in surface.minima:
        p = as_float64(minimum)
        assert float(surface.value(p)) == pytest.approx(0.0, abs=1e-9)
        assert float(xp.max(xp.abs(surface.gradient(p)))) < 1e-4  # Himmelblau's minima are given to 6 digits
        assert classify_critical_point(surface.hessian(p)).kind == "minimum"


def test_quadratic_has_the_requested_spectrum(xp):
    hessian = landscape.quadratic(condition_number=40.0, angle=0.7).hessian(as_float64([0.3, -0.2]))
    np.testing.assert_allclose(to_numpy(xp.linalg.eigvalsh(hessian)), [1.0, 40.0], rtol=1e-12)


# -- classification -----------------------------------------------------------
@pytest.mark.parametrize(
    ("surface", "point", "kind", "index"),
    [
        (landscape.SADDLE, (0.0, 0.0), "saddle", 0.5),
        (landscape.MONKEY_SADDLE, (0.0, 0.0), "degenerate", 0.0),
        (landscape.HIMMELBLAU, (-0.270845, -0.923039), "maximum", 1.0),  # its only local maximum
        (landscape.HIMMELBLAU, (3.0, 2.0), "minimum", 0.0),
        (landscape.RASTRIGIN, (0.0, 0.0), "minimum", 0.0),
        (landscape.RASTRIGIN, (0.0, 0.5), "saddle", 0.5),  # between minima along y; x stays at its minimum
        (landscape.ROSENBROCK, (1.0, 1.0), "minimum", 0.0),
    ],
)
def test_classification_of_known_points(surface, point, kind, index, xp):
    p = as_float64(point)
    result = classify_critical_point(surface.hessian(p))
    assert (result.kind, result.index) == (kind, index)


def test_classification_from_eigenvalues_and_errors(xp):
    assert classify_critical_point(as_float64([-3.0, -1.0])).kind == "maximum"
    assert classify_critical_point(as_float64([0.0, 1.0, 2.0])).kind == "degenerate"
    mixed = classify_critical_point(as_float64([-1.0, 0.0, 1.0, 2.0]))
    assert (mixed.kind, mixed.index) == ("saddle", 0.25)
    with pytest.raises(ValueError, match=r"hessian must have shape \(2, 2\)"):
        classify_critical_point(as_float64(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="non-finite"):
        classify_critical_point(as_float64([np.nan, 1.0]))


# -- Hessians of a network ----------------------------------------------------
def tanh_network(seed=0):
    return nn.Sequential(nn.Linear(3, 4, seed=seed), nn.Tanh(), nn.Linear(4, 2, seed=seed + 1))


@pytest.fixture
def regression_batch(rng):
    return as_float64(rng.normal(size=(10, 3)), rng.normal(size=(10, 2)))


def test_full_hessian_of_linear_least_squares_is_exact(xp, rng):
    # L = mean_n (x_n w + b - t_n)^2 with one output: H = (2/N) [[X^T X, X^T 1], [1^T X, N]].
    x, t = as_float64(rng.normal(size=(12, 3)), rng.normal(size=(12, 1)))
    model = nn.Linear(3, 1, seed=0)
    hessian = to_numpy(full_hessian(model, nn.MSELoss(), x, t))
    design = np.hstack([to_numpy(x), np.ones((12, 1))])
    assert relative_error(hessian, 2.0 / 12 * design.T @ design) < 1e-9


def test_hessian_matches_second_differences_of_the_loss(xp, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    hessian = to_numpy(full_hessian(model, loss_fn, x, t))
    theta = to_numpy(parameters_to_vector(model))

    def loss_at(vector):
        vector_to_parameters(asarray(vector), model)
        return float(loss_fn.forward(model.forward(x), t))

    h, size = 1e-4, theta.size
    second = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            e_i, e_j = np.eye(size)[i] * h, np.eye(size)[j] * h
            corners = [loss_at(theta + s * e_i + r * e_j) for s, r in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            second[i, j] = second[j, i] = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * h * h)
    assert relative_error(hessian, second) < 1e-6


def test_hessian_vector_product_agrees_with_full_hessian(xp, rng, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    before = to_numpy(parameters_to_vector(model)).copy()
    hessian = full_hessian(model, loss_fn, x, t)
    assert relative_error(hessian, hessian.T) == 0.0
    for _ in range(3):
        v = as_float64(rng.normal(size=before.shape) * 10.0 ** rng.uniform(-3, 3))
        assert relative_error(hessian_vector_product(model, loss_fn, x, t, v), hessian @ v) < 1e-8
    np.testing.assert_array_equal(to_numpy(parameters_to_vector(model)), before)


def test_hessian_vector_product_rejects_bad_directions(xp, regression_batch):
    x, t = regression_batch
    model = tanh_network()
    with pytest.raises(ValueError, match="zero vector"):
        hessian_vector_product(model, nn.MSELoss(), x, t, as_float64(np.zeros(26)))
    with pytest.raises(ValueError, match=r"v must have shape \(26,\)"):
        hessian_vector_product(model, nn.MSELoss(), x, t, as_float64(np.ones(25)))


def test_lanczos_extremes_match_eigh(xp, rng):
    basis, _ = np.linalg.qr(rng.normal(size=(60, 60)))
    spectrum = np.concatenate([[-6.0, 11.0], rng.uniform(-1.0, 1.0, size=58)])
    matrix = as_float64(basis @ np.diag(spectrum) @ basis.T)
    exact = np.linalg.eigh(to_numpy(matrix))[0]
    ritz = to_numpy(lanczos(lambda v: matrix @ v, 60, num_steps=25, seed=3).ritz_values)
    assert ritz[0] == pytest.approx(exact[0], rel=1e-10)
    assert ritz[-1] == pytest.approx(exact[-1], rel=1e-10)
    complete = to_numpy(lanczos(lambda v: matrix @ v, 60, num_steps=60).ritz_values)
    np.testing.assert_allclose(complete, exact, atol=1e-10)
    with pytest.raises(ValueError, match="at most dim = 60"):
        lanczos(lambda v: matrix @ v, 60, num_steps=61)


def test_hessian_extreme_eigenvalues_match_eigh_of_full_hessian(xp, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    exact = np.linalg.eigvalsh(to_numpy(full_hessian(model, loss_fn, x, t)))
    lowest, highest = hessian_extreme_eigenvalues(model, loss_fn, x, t, num_steps=20)
    assert lowest == pytest.approx(exact[0], rel=1e-6, abs=1e-8)
    assert highest == pytest.approx(exact[-1], rel=1e-7)
    assert exact[0] < 0 < exact[-1]  # a random initialisation is no minimum


def test_newton_finds_the_constant_output_saddle(xp):
    # Targets from a teacher network; from this initialisation damped Newton reaches the critical
    # point where the student outputs the targets' mean: its loss is their variance, 3 of 13 curvatures < 0.
    # The output weights are zero there, and each hidden unit couples its input and output weights
    # into one direction of negative curvature.
    x = as_float64(np.random.default_rng(0).normal(size=(30, 2)))
    teacher = nn.Sequential(
        nn.Linear(2, 3, seed=99, init="glorot_normal"), nn.Tanh(), nn.Linear(3, 1, seed=98, init="glorot_normal")
    )
    t = teacher.forward(x)
    model, loss_fn = nn.Sequential(nn.Linear(2, 3, seed=1), nn.Tanh(), nn.Linear(3, 1, seed=101)), nn.MSELoss()
    result = find_critical_point(model, loss_fn, x, t, max_iter=30)
    assert result.converged and result.gradient_norm < 1e-9
    _, grad = loss_and_gradient(model, loss_fn, x, t)
    assert float(xp.max(xp.abs(grad))) < 1e-9
    assert result.loss == pytest.approx(float(xp.mean((t - xp.mean(t)) ** 2)), rel=1e-9)
    point = classify_critical_point(full_hessian(model, loss_fn, x, t))
    assert (point.kind, point.index) == ("saddle", 3 / 13)


def test_weight_decay_adds_lambda_times_the_identity(xp, rng, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    plain = to_numpy(full_hessian(model, loss_fn, x, t))
    decayed = to_numpy(full_hessian(model, loss_fn, x, t, weight_decay=0.3))
    np.testing.assert_allclose(decayed - plain, 0.3 * np.eye(26), atol=1e-8)
    v = as_float64(rng.normal(size=26))
    product = hessian_vector_product(model, loss_fn, x, t, v, weight_decay=0.3)
    assert relative_error(product, as_float64(decayed) @ v) < 1e-8
    with pytest.raises(ValueError, match="weight_decay"):
        full_hessian(model, loss_fn, x, t, weight_decay=-1.0)


def test_newton_with_weight_decay_finds_the_saddle_of_a_deep_linear_model(xp):
    # f(x) = (x w1 + b1) w2 + b2, loss mean (f - t)^2 + (lam/2) |theta|^2. theta* = (0, 0, 0, 2 mean(t) / (2 + lam))
    # is critical; in (w1, b1, w2) the Hessian is [[lam, 0, c], [0, lam, d], [c, d, lam]] with
    # c = 2 mean((b2 - t) x), d = 2 (b2 - mean t), and d^2L/db2^2 = 2 + lam: one negative eigenvalue when
    # sqrt(c^2 + d^2) > lam, so a saddle of index 1/4.
    lam = 0.1
    x_np = np.linspace(-1.0, 2.0, 9)[:, None]
    t_np = 3.0 * x_np + 1.0
    x, t = as_float64(x_np, t_np)
    model = nn.Sequential(nn.Linear(1, 1, seed=0), nn.Linear(1, 1, seed=1))
    vector_to_parameters(as_float64([0.05, -0.03, 0.04, 0.9]), model)
    result = find_critical_point(model, nn.MSELoss(), x, t, max_iter=30, gtol=1e-11, weight_decay=lam)
    b2 = 2.0 * t_np.mean() / (2.0 + lam)
    assert result.converged and result.gradient_norm <= 1e-11
    np.testing.assert_allclose(to_numpy(result.theta), [0.0, 0.0, 0.0, b2], atol=1e-9)
    assert result.loss == pytest.approx(np.mean((b2 - t_np) ** 2) + 0.5 * lam * b2**2, rel=1e-10)
    c, d = 2.0 * np.mean((b2 - t_np) * x_np), 2.0 * (b2 - t_np.mean())
    point = classify_critical_point(full_hessian(model, nn.MSELoss(), x, t, weight_decay=lam))
    assert (point.kind, point.index) == ("saddle", 0.25)
    expected = sorted([lam - np.hypot(c, d), lam, lam + np.hypot(c, d), 2.0 + lam])
    np.testing.assert_allclose(point.eigenvalues, expected, rtol=1e-7)


def test_newton_rejects_bad_settings_and_non_finite_starts(xp, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    for name, kwargs in [("gtol", {"gtol": 0.0}), ("damping", {"damping": -1.0}),
                         ("weight_decay", {"weight_decay": -0.1}), ("max_trials", {"max_trials": 0})]:
        with pytest.raises(ValueError, match=name):
            find_critical_point(model, loss_fn, x, t, **kwargs)
    vector_to_parameters(as_float64(np.full(26, np.inf)), model)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="loss became"):
        find_critical_point(model, loss_fn, x, t)


def test_newton_reports_failure_when_the_iterations_run_out(xp, regression_batch):
    x, t = regression_batch
    model = tanh_network()
    start = to_numpy(parameters_to_vector(model)).copy()
    result = find_critical_point(model, nn.MSELoss(), x, t, max_iter=1, gtol=1e-12)
    assert result.iterations == 1 and not result.converged
    assert result.gradient_norm > 1e-12
    _, grad = loss_and_gradient(model, nn.MSELoss(), x, t)
    assert float(xp.sqrt(xp.sum(grad * grad))) == pytest.approx(result.gradient_norm, rel=1e-12)  # left there
    assert not np.array_equal(to_numpy(parameters_to_vector(model)), start)


# -- slices ---------------------------------------------------------------------
def test_filter_normalisation_per_output_unit(xp, rng):
    model = tanh_network()
    direction = filter_normalize(as_float64(rng.normal(size=26)), model)
    pieces = np.split(to_numpy(direction), [12, 16, 24])
    for piece, (_, param) in zip(pieces, model.named_parameters(), strict=True):
        weight = to_numpy(param.data)
        piece = piece.reshape(weight.shape)
        if weight.ndim == 1:
            np.testing.assert_array_equal(piece, 0.0)
        else:
            np.testing.assert_allclose(np.linalg.norm(piece, axis=0), np.linalg.norm(weight, axis=0), rtol=1e-9)
    assert not np.allclose(pieces[0], to_numpy(model[0].weight.data).ravel())


def test_random_direction_is_reproducible_and_normalised(xp):
    model = tanh_network()
    a, b = random_direction(model, seed=5), random_direction(model, seed=5)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert not np.array_equal(to_numpy(a), to_numpy(random_direction(model, seed=6)))
    weight = to_numpy(model[2].weight.data)
    np.testing.assert_allclose(np.linalg.norm(to_numpy(a)[16:24].reshape(4, 2), axis=0), np.linalg.norm(weight, axis=0))


def test_filter_normalize_errors(xp):
    model = tanh_network()
    with pytest.raises(ValueError, match="zero vector"):
        filter_normalize(as_float64(np.zeros(26)), model)
    only_bias = np.zeros(26)
    only_bias[12:16] = 1.0
    with pytest.raises(ValueError, match="all weights zero"):
        filter_normalize(as_float64(only_bias), model)
    with pytest.raises(ValueError, match=r"direction must have shape \(26,\)"):
        filter_normalize(as_float64(np.ones(20)), model)


def test_interpolation_endpoints_are_the_two_models_losses(xp, regression_batch):
    x, t = regression_batch
    first, second, loss_fn = tanh_network(0), tanh_network(10), nn.MSELoss()
    theta_a, theta_b = parameters_to_vector(first), parameters_to_vector(second)
    losses = interpolate(first, loss_fn, x, t, theta_a, theta_b, [0.0, 0.5, 1.0])
    assert losses[0] == pytest.approx(float(loss_fn.forward(first.forward(x), t)), rel=1e-14)
    assert losses[2] == pytest.approx(float(loss_fn.forward(second.forward(x), t)), rel=1e-14)
    assert losses[1] not in (losses[0], losses[2])
    np.testing.assert_array_equal(to_numpy(parameters_to_vector(first)), to_numpy(theta_a))
    with pytest.raises(ValueError, match=r"theta_b must have shape \(26,\)"):
        interpolate(first, loss_fn, x, t, theta_a, theta_b[:20], [0.0])


def test_loss_plane_layout_and_center(xp, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    center = parameters_to_vector(model)
    d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2)
    plane = loss_plane(model, loss_fn, x, t, center, d1, d2, [-1.0, 0.0, 1.0, 2.0], [-0.5, 0.0, 0.5])
    losses = np.asarray(plane.losses)
    assert losses.shape == np.asarray(plane.alpha_grid).shape == np.asarray(plane.beta_grid).shape == (3, 4)
    assert losses[1, 1] == pytest.approx(float(loss_fn.forward(model.forward(x), t)), rel=1e-14)
    vector_to_parameters(center + 2.0 * d1 - 0.5 * d2, model)
    assert losses[0, 3] == pytest.approx(float(loss_fn.forward(model.forward(x), t)), rel=1e-14)
    assert np.asarray(plane.alpha_grid)[0, 3] == 2.0 and np.asarray(plane.beta_grid)[0, 3] == -0.5


def test_slices_reject_zero_directions_and_non_finite_losses(xp, regression_batch):
    x, t = regression_batch
    model, loss_fn = tanh_network(), nn.MSELoss()
    center = parameters_to_vector(model)
    zero = center * 0.0
    with pytest.raises(ValueError, match="direction_2 is the zero vector"):
        loss_plane(model, loss_fn, x, t, center, random_direction(model, 1), zero, [0.0], [0.0])
    bad_targets = as_float64(np.full((10, 2), np.nan))
    with pytest.raises(FloatingPointError, match="loss became nan"):
        interpolate(model, loss_fn, x, bad_targets, center, center, [0.0])
    np.testing.assert_array_equal(to_numpy(parameters_to_vector(model)), to_numpy(center))
    assert num_elements(model) == 26


def test_width_spread_runs_draw_their_layers_from_one_stream(monkeypatch):
    from deepref.landscape import experiments as landscape_experiments

    built, mlp = {}, landscape_experiments.mlp

    def recording_mlp(*args, seed, **kwargs):
        built[seed] = [to_numpy(layer.weight.data).copy() for layer in mlp(*args, seed=seed, **kwargs).layers[::2]]
        return mlp(*args, seed=seed, **kwargs)

    monkeypatch.setattr(landscape_experiments, "mlp", recording_mlp)
    config = landscape_experiments.WidthSpreadConfig(width=16, steps=1, n_train=40)
    for seed in (0, 1, 1000):
        landscape_experiments.width_spread_run(config, seed)
    hidden = {seed: layers[0].ravel()[:160] for seed, layers in built.items()}  # (16, 16) against (16, 10)
    for _, output in built.values():  # the output layer once took seed + 1000
        assert not any(np.allclose(output.ravel(), h) for h in hidden.values())


def test_train_digits_network_gives_initialisation_and_batch_order_independent_seeds(monkeypatch):
    from deepref.landscape import digits as landscape_digits
    from seed_streams import assert_runs_share_no_stream

    problem = landscape_digits.digits_problem()
    assert_runs_share_no_stream(monkeypatch, landscape_digits, "digits_network",
                                lambda epochs, seed: landscape_digits.train_digits_network(problem, 4, seed, epochs), 1)
