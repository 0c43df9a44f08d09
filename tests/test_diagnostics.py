"""Tests of deepref.diagnostics: dead units, layer outputs and gradients, update ratios, averages."""

import math

import numpy as np
import pytest

from deepref import nn, optim
from deepref.backend import asarray, default_rng, to_numpy
from deepref.diagnostics import (
    ParameterAverage,
    activation_statistics,
    dead_fraction,
    ensemble_probabilities,
    layer_gradients,
    layer_outputs,
    mlp,
    one_piece_fraction,
    relu_interpolant,
    update_ratios,
    zero_gradient_fraction,
    zero_gradient_units,
)


def test_mlp_layout_and_maxout_doubles_the_hidden_parameters():
    relu = mlp([5, 7, 3], nn.ReLU, seed=0)
    maxout = mlp([5, 7, 3], nn.Maxout, seed=0, pieces=2)
    assert [type(m).__name__ for m in maxout.layers] == ["Linear", "Maxout", "Linear"]
    assert maxout.layers[0].weight.shape == (5, 14)
    assert maxout.layers[0].num_parameters() == 2 * relu.layers[0].num_parameters()
    assert [type(m).__name__ for m in mlp([2, 3], None).layers] == ["Linear"]


def test_mlp_draws_every_layer_from_one_stream_so_neighbouring_seeds_share_no_layer():
    def weights(seed):
        return [to_numpy(layer.weight.data) for layer in mlp([6, 6, 6, 6], nn.ReLU, seed=seed).layers[::2]]

    zero, one = weights(0), weights(1)
    assert not any(np.allclose(a, b) for a in zero for b in one)  # seed + i per layer made zero[1] == one[0]
    assert not any(np.allclose(a, b) for i, a in enumerate(zero) for b in zero[i + 1:])
    drawn = [to_numpy(layer.weight.data) for layer in mlp([6, 6, 6, 6], nn.ReLU, seed=default_rng(0)).layers[::2]]
    assert all(np.array_equal(a, b) for a, b in zip(drawn, zero))


def test_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        mlp([4], nn.ReLU)
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        mlp([4, 0, 2], nn.ReLU)


def test_layer_outputs_and_gradients_match_the_model(rng):
    net = mlp([4, 6, 5, 3], nn.Tanh, seed=1)
    x = asarray(rng.normal(size=(8, 4)))
    outs = layer_outputs(net, x)
    np.testing.assert_allclose(to_numpy(outs[-1]), to_numpy(net.forward(x)))
    dout = asarray(rng.normal(size=(8, 3)))
    net.zero_grad()
    net.forward(x)
    reference_dx = to_numpy(net.backward(dout))
    reference_dw = to_numpy(net.layers[0].weight.grad)
    net.zero_grad()
    layer_outputs(net, x)
    grads = layer_gradients(net, dout)
    assert len(grads) == len(net.layers)
    assert all(tuple(g.shape) == tuple(o.shape) for g, o in zip(grads, outs))
    np.testing.assert_allclose(to_numpy(net.layers[0].weight.grad), reference_dw)
    net.layers[0].forward(x)  # layer_gradients used up the first layer's cache
    np.testing.assert_allclose(to_numpy(net.layers[0].backward(grads[0])), reference_dx)


def test_layer_outputs_needs_a_sequential():
    with pytest.raises(TypeError, match="Sequential"):
        layer_outputs(nn.Linear(2, 2), asarray(np.ones((1, 2))))


def test_dead_and_zero_gradient_fractions():
    pre = asarray(np.array([[-1.0, 2.0, 0.0, -3.0], [-2.0, -1.0, 0.0, 1.0]]))
    assert dead_fraction(pre) == 0.5  # columns 0 and 2 are never positive
    grads = asarray(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -2.0]]))
    assert math.isclose(zero_gradient_fraction(grads), 1 / 3)
    with pytest.raises(ValueError, match="pre_activations"):
        dead_fraction(asarray(np.ones(3)))


def test_activation_statistics_counts_zeros_and_saturation():
    a = asarray(np.array([0.0, 0.995, -1.0, 0.5]))
    stats = activation_statistics(a, low=-1.0, high=1.0, margin=0.01)
    assert stats.zero_fraction == 0.25
    assert stats.saturated_fraction == 0.5
    assert math.isclose(stats.mean, float(np.mean([0.0, 0.995, -1.0, 0.5])))


def test_relu_interpolant_is_exact_at_the_knots_and_second_order_between():
    knots = np.linspace(-2.0, 2.0, 9)
    net = relu_interpolant(knots, np.sin(knots))
    at_knots = to_numpy(net.forward(asarray(knots[:, None])))[:, 0]
    np.testing.assert_allclose(at_knots, np.sin(knots), atol=1e-12)
    grid = np.linspace(-2.0, 2.0, 401)
    error = np.abs(to_numpy(net.forward(asarray(grid[:, None])))[:, 0] - np.sin(grid)).max()
    spacing = knots[1] - knots[0]
    assert error <= spacing**2 / 8 * 1.0 + 1e-12  # |sin''| <= 1
    with pytest.raises(ValueError, match="increasing"):
        relu_interpolant([0.0, 0.0, 1.0], [0.0, 1.0, 2.0])


def test_update_ratios_of_one_sgd_step(rng):
    net = mlp([3, 4, 2], nn.ReLU, seed=0)
    before = net.state_dict()
    for p in net.parameters():
        p.grad = asarray(np.ones(p.shape))
    optim.SGD(net.parameters(), lr=0.1).step()
    ratios = update_ratios(before, net)
    w = before["0.weight"]
    assert math.isclose(ratios["0.weight"], 0.1 * math.sqrt(w.size) / np.linalg.norm(w))
    assert ratios["0.bias"] == math.inf  # zero-initialised bias that moved
    with pytest.raises(KeyError, match="0.weight"):
        update_ratios({}, net)


def test_parameter_average_uniform_and_exponential():
    layer = nn.Linear(2, 1, seed=0)
    uniform, ema = ParameterAverage(layer), ParameterAverage(layer, decay=0.5)
    with pytest.raises(RuntimeError, match="update"):
        uniform.state_dict()
    for value in (1.0, 2.0, 6.0):
        layer.weight.data = asarray(np.full((2, 1), value))
        uniform.update()
        ema.update()
    np.testing.assert_allclose(uniform.state_dict()["weight"], 3.0)
    np.testing.assert_allclose(ema.state_dict()["weight"], 0.25 * 1.0 + 0.25 * 2.0 + 0.5 * 6.0)
    layer.load_state_dict(uniform.state_dict())
    np.testing.assert_allclose(to_numpy(layer.weight.data), 3.0)
    with pytest.raises(ValueError, match="decay"):
        ParameterAverage(layer, decay=1.5)


def test_ensemble_probabilities_is_the_mean_of_softmaxes(rng):
    models = [mlp([3, 4, 5], nn.Tanh, seed=s) for s in range(3)]
    x = asarray(rng.normal(size=(6, 3)))
    probabilities = to_numpy(ensemble_probabilities(models, x))
    singles = [to_numpy(nn.softmax(m.forward(x), axis=1)) for m in models]
    np.testing.assert_allclose(probabilities, np.mean(singles, axis=0))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="at least one"):
        ensemble_probabilities([], x)


def test_dead_unit_monitor_records_every_epoch(rng):
    from deepref.diagnostics import DeadUnitMonitor
    from deepref.train import fit

    x = asarray(rng.normal(size=(32, 3)))
    y = asarray(rng.integers(0, 2, size=32))
    net = mlp([3, 8, 8, 2], nn.ReLU, seed=0)
    monitor = DeadUnitMonitor(x)
    net.layers[2].bias.data = asarray(np.full(8, -100.0))  # the second hidden layer starts dead
    history = fit(net, nn.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.01), x, y,
                  epochs=3, batch_size=8, callbacks=[monitor])
    assert len(history["dead_fraction"]) == 3
    assert history["dead_fraction"][-1] >= 0.5
    with pytest.raises(ValueError, match="ReLU"):
        DeadUnitMonitor(x).measure(mlp([3, 2], None))


def _relu_net_with_a_dead_unit():
    """A 2-3-2 ReLU net: hidden unit 0 is dead (bias -100), unit 1 always active, unit 2 switches."""
    net = mlp([2, 3, 2], nn.ReLU, seed=0)
    net.layers[0].weight.data = asarray(np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))
    net.layers[0].bias.data = asarray(np.array([-100.0, 100.0, 0.0]))
    x = asarray(np.array([[-1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    return net, x, asarray(np.array([0, 1, 1]))


def test_zero_gradient_units_counts_the_dead_relu_and_restores_the_mode():
    net, x, y = _relu_net_with_a_dead_unit()
    net.eval()
    assert zero_gradient_units(net, nn.SoftmaxCrossEntropy(), x, y) == pytest.approx(1 / 3)
    assert not net.training
    assert all(p.grad is None or not np.any(to_numpy(p.grad)) for p in net.parameters())


def test_one_piece_fraction_counts_dead_and_always_active_units():
    net, x, _ = _relu_net_with_a_dead_unit()
    assert one_piece_fraction(net, x) == pytest.approx(2 / 3)
    assert net.training


def test_one_piece_fraction_of_maxout_follows_the_winning_piece():
    net = mlp([1, 2, 1], nn.Maxout, seed=0, pieces=2)
    # unit 0: pieces x and -x (the winner changes with the sign of x); unit 1: pieces x and x + 5
    net.layers[0].weight.data = asarray(np.array([[1.0, -1.0, 1.0, 1.0]]))
    net.layers[0].bias.data = asarray(np.array([0.0, 0.0, 0.0, 5.0]))
    x = asarray(np.array([[-1.0], [2.0]]))
    assert one_piece_fraction(net, x) == pytest.approx(1 / 2)
    net, x, y = _relu_net_with_a_dead_unit()
    maxout = mlp([2, 3, 2], nn.Maxout, seed=0)
    assert zero_gradient_units(maxout, nn.SoftmaxCrossEntropy(), x, y) == 0.0


def test_unit_counts_need_a_suitable_network():
    x = asarray(np.ones((2, 3)))
    with pytest.raises(ValueError, match="ReLU, LeakyReLU or Maxout"):
        one_piece_fraction(mlp([3, 4, 2], nn.Tanh), x)
    with pytest.raises(ValueError, match="hidden layer"):
        zero_gradient_units(mlp([3, 2], None), nn.SoftmaxCrossEntropy(), x, asarray(np.array([0, 1])))
