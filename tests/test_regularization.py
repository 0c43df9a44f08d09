"""Penalties, their gradients, the soft threshold and the Penalized optimizer wrapper."""

import numpy as np
import pytest

from deepref import generalization, nn, optim
from deepref.backend import to_numpy
from deepref.gradcheck import as_float64, numerical_gradient, relative_error


def _full_batch_steps(layer, opt, x, y, steps):
    """``steps`` full-batch gradient steps of ``layer`` on the mean squared error."""
    loss = nn.MSELoss()
    for _ in range(steps):
        loss(layer(x), y)
        layer.backward(loss.backward())
        opt.step()
        opt.zero_grad()

def test_penalty_values():
    w = as_float64([[1.0, -2.0], [0.5, 0.0]])
    assert generalization.l1_penalty(w, 0.1) == pytest.approx(0.1 * 3.5)
    assert generalization.l2_penalty(w, 0.1) == pytest.approx(0.05 * 5.25)
    assert generalization.elastic_net_penalty(w, 0.1, 0.25) == pytest.approx(0.1 * (0.25 * 3.5 + 0.375 * 5.25))


@pytest.mark.parametrize("l1_ratio", [0.0, 0.3, 1.0])
def test_gradient_matches_finite_differences(l1_ratio, rng):
    w = as_float64(rng.normal(size=(4, 3)) + 0.5)  # no exact zeros: |w| has a kink at 0
    analytic = generalization.elastic_net_gradient(w, 0.7, l1_ratio)
    numerical = numerical_gradient(lambda v: generalization.elastic_net_penalty(v, 0.7, l1_ratio), w)
    assert relative_error(analytic, numerical) < 1e-8


def test_soft_threshold_is_the_proximal_operator(rng):
    """soft_threshold(v, t) minimises 0.5 (w - v)^2 + t |w|: compare with a fine grid search."""
    v = rng.uniform(-2, 2, size=7)
    grid = np.linspace(-3, 3, 60001)
    objective = 0.5 * (grid[None, :] - v[:, None]) ** 2 + 0.6 * np.abs(grid[None, :])
    best = grid[np.argmin(objective, axis=1)]
    np.testing.assert_allclose(to_numpy(generalization.soft_threshold(as_float64(v), 0.6)), best, atol=1e-4)


def test_penalized_sgd_equals_weight_decay(rng):
    """L2 through Penalized is PyTorch's weight_decay for SGD (and leaves the bias alone)."""
    x, y = as_float64(rng.normal(size=(10, 3)), rng.normal(size=(10, 2)))
    runs = []
    for wrap in (True, False):
        layer = nn.Linear(3, 2, seed=0)
        if wrap:
            opt = generalization.Penalized(optim.SGD(layer.parameters(), lr=0.1), strength=0.05,
                                           params=layer.parameters())
        else:
            opt = optim.SGD(layer.parameters(), lr=0.1, weight_decay=0.05)
        _full_batch_steps(layer, opt, x, y, steps=5)
        runs.append(to_numpy(layer.weight.data))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-14)


def test_default_penalises_weights_not_biases():
    net = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1))
    opt = generalization.Penalized(optim.SGD(net.parameters(), lr=0.1), strength=1.0)
    assert [p.shape for p in opt.penalized] == [(3, 4), (4, 2)]


def test_proximal_step_makes_exact_zeros_and_subgradient_does_not(rng):
    """Lasso regression with a strong penalty: ISTA zeroes the irrelevant weights exactly."""
    x = as_float64(rng.normal(size=(100, 8)))
    true_w = np.array([2.0, -3.0, 0, 0, 0, 0, 0, 0])[:, None]
    y = as_float64(to_numpy(x) @ true_w)
    zeros = {}
    for proximal in (True, False):
        layer = nn.Linear(8, 1, seed=0)
        opt = generalization.Penalized(optim.SGD(layer.parameters(), lr=0.05), strength=0.3, l1_ratio=1.0,
                                       proximal=proximal)
        _full_batch_steps(layer, opt, x, y, steps=300)
        w = to_numpy(layer.weight.data).ravel()
        zeros[proximal] = int(np.sum(w == 0.0))
        assert abs(w[0]) > 1.0 and abs(w[1]) > 1.0  # the true features survive
    assert zeros[True] == 6
    assert zeros[False] == 0


def test_lr_is_shared_with_the_wrapped_optimizer():
    base = optim.SGD(nn.Linear(2, 2, seed=0).parameters(), lr=0.1)
    wrapped = generalization.Penalized(base, strength=0.1)
    wrapped.lr = 0.01
    assert base.lr == 0.01 and wrapped.params is base.params


def test_bad_arguments():
    w = as_float64(np.ones((2, 2)))
    with pytest.raises(ValueError, match="strength must be a finite number >= 0"):
        generalization.l2_penalty(w, -1.0)
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0.0, 1.0\]"):
        generalization.elastic_net_gradient(w, 0.1, 1.5)
    layer = nn.Linear(2, 2, seed=0)
    with pytest.raises(ValueError, match="must be one of the optimizer's parameters"):
        generalization.Penalized(optim.SGD(layer.parameters(), lr=0.1), 0.1, params=nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match="has no gradient"):
        generalization.Penalized(optim.SGD(layer.parameters(), lr=0.1), 0.1).step()



def _config_cases():
    from deepref.generalization.experiments import MemorisationConfig
    from deepref.landscape.experiments import WidthSpreadConfig
    from deepref.optimization.experiments import PracticeConfig, SoftmaxRegressionConfig
    from deepref.rnn.experiments import AddingConfig
    from deepref.stn.experiments import RTSConfig

    return [
        (MemorisationConfig, dict(labels="noisy"), "unknown labels"),
        (MemorisationConfig, dict(n_train=0), "n_train must be an integer >= 1"),
        (PracticeConfig, dict(lr=-1.0), "lr must be"),
        (PracticeConfig, dict(plateau_factor=1.0), "plateau_factor"),
        (SoftmaxRegressionConfig, dict(optimizer="Lion"), "unknown optimizer"),
        (WidthSpreadConfig, dict(width=0), "width must be"),
        (RTSConfig, dict(model="ViT"), "unknown model"),
        (AddingConfig, dict(chunk=7), "multiple of chunk=7"),
        (AddingConfig, dict(curriculum=(((1,), 100),)), "curriculum length"),
    ]


@pytest.mark.parametrize(("config", "values", "message"), _config_cases())
def test_experiment_configs_refuse_bad_values_when_made(config, values, message):
    with pytest.raises(ValueError, match=message):
        config(**values)
