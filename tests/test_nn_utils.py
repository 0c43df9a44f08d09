"""Flat parameter vectors and the flat loss gradient (deepref.nn.utils)."""

import numpy as np
import pytest

from deepref import nn
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64, numerical_gradient, relative_error
from deepref.nn.utils import (
    flatten_arrays,
    loss_and_gradient,
    num_elements,
    parameters_to_vector,
    split_vector,
    vector_to_parameters,
)


def small_network():
    return nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1))


def test_vector_concatenates_parameters_in_order(xp):
    model = small_network()
    theta = to_numpy(parameters_to_vector(model))
    assert theta.shape == (3 * 4 + 4 + 4 * 2 + 2,) == (num_elements(model),)
    expected = np.concatenate([to_numpy(p.data).ravel() for p in model.parameters()])
    np.testing.assert_array_equal(theta, expected)


def test_round_trip_and_copy_semantics(xp, rng):
    model = small_network()
    before = to_numpy(parameters_to_vector(model)).copy()
    new = as_float64(rng.normal(size=before.shape))
    vector_to_parameters(new, model)
    np.testing.assert_array_equal(to_numpy(parameters_to_vector(model)), to_numpy(new))
    assert [p.shape for p in model.parameters()] == [(3, 4), (4,), (4, 2), (2,)]
    first_weight = to_numpy(model.parameters()[0].data)
    np.testing.assert_array_equal(first_weight, to_numpy(new)[:12].reshape(3, 4))
    assert not np.array_equal(before, to_numpy(new))


def test_split_vector_inverts_flatten(xp, rng):
    arrays = [as_float64(rng.normal(size=s)) for s in [(2, 3), (3,)]]
    model = [nn.Parameter(a) for a in arrays]
    pieces = split_vector(flatten_arrays(arrays), model)
    for piece, original in zip(pieces, arrays, strict=True):
        np.testing.assert_array_equal(to_numpy(piece), to_numpy(original))


def test_wrong_length_names_expected_shape(xp):
    model = small_network()
    with pytest.raises(ValueError, match=r"vector must have shape \(26,\).*got \(29,\)"):
        vector_to_parameters(as_float64(np.zeros(29)), model)
    with pytest.raises(ValueError, match="1-D"):
        vector_to_parameters(as_float64(np.zeros((26, 1))), model)
    with pytest.raises(ValueError, match="no parameters"):
        parameters_to_vector(nn.Sequential(nn.Tanh()))


def test_loss_and_gradient_matches_finite_differences(xp, rng):
    model = small_network()
    x = as_float64(rng.normal(size=(7, 3)))
    y = asarray(rng.integers(0, 2, size=7))
    loss_fn = nn.SoftmaxCrossEntropy()
    loss, grad = loss_and_gradient(model, loss_fn, x, y)

    def loss_of(theta):
        vector_to_parameters(theta, model)
        return float(loss_fn.forward(model.forward(x), y))

    theta = parameters_to_vector(model)
    numerical = numerical_gradient(loss_of, theta)
    vector_to_parameters(theta, model)
    assert loss == pytest.approx(loss_of(theta))
    assert relative_error(grad, numerical) < 1e-8
    assert all(p.grad is None for p in model.parameters())


def test_loss_and_gradient_stops_on_non_finite_loss(xp):
    model = small_network()
    x = as_float64(np.ones((2, 3)))
    target = as_float64(np.array([[0.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(FloatingPointError, match="loss became nan"):
        loss_and_gradient(model, nn.MSELoss(), x, target)
