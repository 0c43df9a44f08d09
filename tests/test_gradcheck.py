"""The finite-difference checker itself: it must pass right gradients and catch wrong ones."""

import numpy as np
import pytest

from deepref import nn
from deepref.gradcheck import as_float64, check_backward, check_module, numerical_gradient, relative_error


def test_numerical_gradient_of_a_known_function(xp):
    x = as_float64([0.5, -1.0, 2.0])
    grad = numerical_gradient(lambda z: float(xp.sum(xp.sin(z) * z)), x)
    host = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(grad, np.cos(host) * host + np.sin(host), rtol=1e-8)


def test_relative_error_is_scale_free():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert relative_error(np.array([1e-3, 0.0]), np.array([1.1e-3, 0.0])) == pytest.approx(0.1 / 1.1)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shape"):
        relative_error(np.zeros(3), np.zeros(4))


def test_float32_inputs_are_refused(xp):
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda z: 0.0, xp.asarray([1.0], dtype=xp.float32))


def test_check_backward_catches_a_wrong_gradient(rng):
    x, w, b = as_float64(rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2))

    def transposed_bug(dout, cache):
        dx, dw, db = nn.linear_backward(dout, cache)
        return dx, dw, db * 2.0

    good = check_backward(nn.linear_forward, nn.linear_backward, [x, w, b])
    bad = check_backward(nn.linear_forward, transposed_bug, [x, w, b])
    assert max(good.values()) < 1e-8
    assert bad[2] > 0.1 and bad[0] < 1e-8


def test_check_module_reports_input_and_every_parameter(rng):
    net = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1))
    errors = check_module(net, as_float64(rng.normal(size=(5, 3))))
    assert set(errors) == {"input", "0.weight", "0.bias", "2.weight", "2.bias"}
    assert max(errors.values()) < 1e-8
