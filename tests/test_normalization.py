"""BatchNorm1d and LayerNorm: statistics, running estimates, gradient checks, bad input."""

import numpy as np
import pytest

from deepref import nn
from deepref.backend import to_numpy
from deepref.gradcheck import as_float64, check_backward, check_module


def _affine(rng, d):
    return as_float64(rng.uniform(0.5, 1.5, size=d), rng.normal(size=d))


def test_batchnorm_output_is_standardised(rng):
    x = as_float64(rng.normal(3.0, 5.0, size=(64, 4)))
    gamma, beta = as_float64(np.ones(4), np.zeros(4))
    out, cache = nn.batchnorm_forward(x, gamma, beta, eps=1e-14)
    stats = cache.stats
    out = to_numpy(out)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(to_numpy(stats.var), to_numpy(x).var(axis=0), rtol=1e-12)  # biased


def test_layernorm_standardises_each_row(rng):
    x = as_float64(rng.normal(-2.0, 3.0, size=(5, 16)))
    out, _ = nn.layernorm_forward(x, *as_float64(np.ones(16), np.zeros(16)), eps=1e-14)
    np.testing.assert_allclose(to_numpy(out).mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(to_numpy(out).std(axis=1), 1.0, atol=1e-12)


def test_batchnorm_gradcheck_train_mode(rng):
    x = as_float64(rng.normal(1.0, 2.0, size=(6, 4)))
    gamma, beta = _affine(rng, 4)

    def forward(x, gamma, beta):
        out, cache = nn.batchnorm_forward(x, gamma, beta)
        return out, cache

    errors = check_backward(forward, nn.batchnorm_backward, [x, gamma, beta])
    assert max(errors.values()) < 1e-7, errors


def test_batchnorm_input_gradient_vanishes_for_uniform_upstream(rng):
    """Why gradient checks need a random upstream gradient: all-ones gives dx = 0."""
    x = as_float64(rng.normal(size=(6, 3)))
    out, cache = nn.batchnorm_forward(x, *_affine(rng, 3))
    dx, _, _ = nn.batchnorm_backward(as_float64(np.ones((6, 3))), cache)
    np.testing.assert_allclose(to_numpy(dx), 0.0, atol=1e-12)


def test_batchnorm_gradcheck_eval_mode(rng):
    x = as_float64(rng.normal(size=(5, 3)))
    gamma, beta = _affine(rng, 3)
    mean, var = as_float64(rng.normal(size=3), rng.uniform(0.5, 2.0, size=3))
    inputs = [x, gamma, beta, mean, var]
    errors = check_backward(nn.batchnorm_eval_forward, nn.batchnorm_backward, inputs, wrt=[0, 1, 2])
    assert max(errors.values()) < 1e-7, errors


def test_layernorm_gradcheck(rng):
    x = as_float64(rng.normal(size=(4, 5)))
    errors = check_backward(nn.layernorm_forward, nn.layernorm_backward, [x, *_affine(rng, 5)])
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("cls", [nn.BatchNorm1d, nn.LayerNorm])
def test_module_gradcheck(cls, rng):
    layer = cls(4)
    layer.weight.data, layer.bias.data = _affine(rng, 4)
    errors = check_module(layer, as_float64(rng.normal(size=(5, 4))))
    assert max(errors.values()) < 1e-7, errors


def test_running_estimates_follow_pytorch_convention(rng):
    layer = nn.BatchNorm1d(3, momentum=0.1)
    batches = [rng.normal(2.0, 3.0, size=(8, 3)) for _ in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for b in batches:
        layer(as_float64(b))
        mean = 0.9 * mean + 0.1 * b.mean(axis=0)
        var = 0.9 * var + 0.1 * b.var(axis=0, ddof=1)  # unbiased
    np.testing.assert_allclose(to_numpy(layer.running_mean), mean, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(layer.running_var), var, rtol=1e-12)
    x = rng.normal(size=(2, 3))
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(to_numpy(layer.eval()(as_float64(x))), expected, rtol=1e-10)


def test_eval_mode_does_not_update_running_stats(rng):
    layer = nn.BatchNorm1d(2).eval()
    layer(as_float64(rng.normal(size=(4, 2))))
    np.testing.assert_array_equal(to_numpy(layer.running_mean), 0.0)
    np.testing.assert_array_equal(to_numpy(layer.running_var), 1.0)


def test_running_stats_are_saved_in_state_dict(rng):
    layer = nn.BatchNorm1d(2)
    layer(as_float64(rng.normal(size=(4, 2))))
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var"}
    fresh = nn.BatchNorm1d(2)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(to_numpy(fresh.running_var), state["running_var"])


def test_batch_of_one_in_training_mode_is_an_error():
    layer = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="at least 2 examples"):
        layer(as_float64(np.ones((1, 3))))
    assert layer.eval()(as_float64(np.ones((1, 3)))).shape == (1, 3)


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum must be in"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"x must be 2-D \(N, D\)"):
        nn.LayerNorm(3)(as_float64(np.ones(3)))
    with pytest.raises(ValueError, match=r"gamma must have shape \(4,\)"):
        nn.BatchNorm1d(3)(as_float64(rng.normal(size=(5, 4))))
