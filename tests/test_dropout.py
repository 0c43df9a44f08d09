"""Dropout: masks, expectations, train/eval behaviour, gradient with a fixed mask, bad input."""

import numpy as np
import pytest

from deepref import nn
from deepref.backend import default_rng, to_numpy
from deepref.gradcheck import as_float64, check_backward, check_module


@pytest.mark.parametrize("inverted", [True, False])
def test_mask_values_and_keep_rate(inverted):
    p = 0.3
    mask = to_numpy(nn.dropout_mask((200, 100), p, rng=0, inverted=inverted))
    kept_value = 1 / (1 - p) if inverted else 1.0
    assert set(np.unique(mask)) == {0.0, kept_value}
    # 20000 Bernoulli(0.7) draws: the kept fraction is within 4 standard errors of 0.7
    assert abs(np.mean(mask > 0) - 0.7) < 4 * np.sqrt(0.7 * 0.3 / 20000)


def test_same_seed_same_mask():
    a = to_numpy(nn.dropout_mask((5, 7), 0.5, rng=3))
    b = to_numpy(nn.dropout_mask((5, 7), 0.5, rng=3))
    assert np.array_equal(a, b)


def test_inverted_and_vanilla_match_in_expectation(rng):
    """Mean training activation equals the eval activation for both conventions."""
    x = as_float64(rng.uniform(0.5, 2.0, size=(1, 50)))
    p = 0.4
    for inverted in (True, False):
        layer = nn.Dropout(p, inverted=inverted, seed=0)
        train_mean = np.mean([to_numpy(layer(x)) for _ in range(2000)], axis=0)
        test_out = to_numpy(layer.eval()(x))
        # standard error of a mean of 2000 draws is at most 2 * sqrt(0.24 / 2000 / 0.36) ~ 0.04
        np.testing.assert_allclose(train_mean, test_out, atol=0.15)
    vanilla_eval = to_numpy(nn.Dropout(p, inverted=False).eval()(x))
    np.testing.assert_allclose(vanilla_eval, (1 - p) * to_numpy(x))


def test_eval_mode_inverted_is_identity(xp, rng):
    x = as_float64(rng.normal(size=(4, 3)))
    layer = nn.Dropout(0.5, seed=0).eval()
    assert np.array_equal(to_numpy(layer(x)), to_numpy(x))
    assert np.array_equal(to_numpy(layer.backward(x)), to_numpy(x))


def test_p_zero_keeps_everything(rng):
    x = as_float64(rng.normal(size=(6, 5)))
    assert np.array_equal(to_numpy(nn.Dropout(0.0, seed=1)(x)), to_numpy(x))


def test_gradient_with_fixed_mask(rng):
    x = as_float64(rng.normal(size=(4, 6)))
    mask = nn.dropout_mask((4, 6), 0.5, rng=default_rng(0))
    errors = check_backward(nn.dropout_forward, nn.dropout_backward, [x, mask], wrt=[0])
    assert errors[0] < 1e-8


def test_module_backward_uses_the_forward_mask(rng):
    x = as_float64(rng.normal(size=(8, 5)))
    layer = nn.Dropout(0.5, seed=2)
    out = to_numpy(layer(x))
    dx = to_numpy(layer.backward(as_float64(np.ones((8, 5)))))
    # the gradient is 2 exactly where the unit was kept, 0 where it was dropped
    np.testing.assert_array_equal(dx, np.where(out != 0, 2.0, 0.0))


def test_module_gradcheck_in_vanilla_eval_mode(rng):
    errors = check_module(nn.Dropout(0.25, inverted=False).eval(), as_float64(rng.normal(size=(3, 4))))
    assert errors["input"] < 1e-8


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_bad_probability(p):
    with pytest.raises(ValueError, match=r"dropout probability p must be in \[0.0, 1.0\)"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout probability"):
        nn.dropout_mask((2, 2), p)


def test_mask_shape_must_match():
    x = as_float64(np.ones((2, 3)))
    with pytest.raises(ValueError, match="mask must have the shape of x"):
        nn.dropout_forward(x, as_float64(np.ones((3, 2))))
