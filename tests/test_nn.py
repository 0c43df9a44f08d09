"""Operations, modules and losses of deepref.nn: gradient checks, values, errors, saved state."""

import numpy as np
import pytest

from deepref import backend, nn
from deepref.gradcheck import as_float64, check_backward, check_module

TOL = 1e-7


def _away_from_zero(rng, shape):
    """Random values with |x| >= 0.1, away from the kinks of ReLU, leaky ReLU and L1."""
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


def test_linear_gradients(rng):
    x, w, b = as_float64(rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3))
    errors = check_backward(nn.linear_forward, nn.linear_backward, [x, w, b])
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize(
    "pair",
    [
        (nn.sigmoid_forward, nn.sigmoid_backward),
        (nn.tanh_forward, nn.tanh_backward),
        (nn.relu_forward, nn.relu_backward),
    ],
    ids=["sigmoid", "tanh", "relu"],
)
def test_elementwise_gradients(pair, rng):
    errors = check_backward(*pair, [as_float64(_away_from_zero(rng, (4, 6)))])
    assert errors[0] < TOL


def test_leaky_relu_gradient(rng):
    x = as_float64(_away_from_zero(rng, (4, 6)))
    errors = check_backward(nn.leaky_relu_forward, nn.leaky_relu_backward, [x, 0.2])
    assert errors[0] < TOL


def test_maxout_gradient_and_value(rng):
    z = as_float64(rng.normal(size=(3, 6)))
    assert check_backward(nn.maxout_forward, nn.maxout_backward, [z, 3])[0] < TOL
    out, _ = nn.maxout_forward(z, 3)
    expected = np.max(backend.to_numpy(z).reshape(3, 2, 3), axis=2)
    np.testing.assert_array_equal(backend.to_numpy(out), expected)


def test_loss_gradients(rng, xp):
    z = as_float64(rng.normal(size=(6, 4)) * 3.0)
    labels = backend.asarray(rng.integers(0, 4, size=6))
    targets01 = as_float64(rng.uniform(size=(6, 4)))
    target = as_float64(_away_from_zero(rng, (6, 4)) + backend.to_numpy(z))
    assert check_backward(nn.softmax_cross_entropy_forward, nn.softmax_cross_entropy_backward, [z, labels])[0] < TOL
    assert check_backward(nn.bce_with_logits_forward, nn.bce_with_logits_backward, [z, targets01], wrt=[0])[0] < TOL
    assert check_backward(nn.mse_forward, nn.mse_backward, [z, target], wrt=[0])[0] < TOL
    assert check_backward(nn.l1_forward, nn.l1_backward, [z, target], wrt=[0])[0] < TOL


def test_softmax_cross_entropy_values_and_stability(rng):
    z = rng.normal(size=(5, 3))
    y = rng.integers(0, 3, size=5)
    naive = np.mean(-np.log(np.exp(z[np.arange(5), y]) / np.exp(z).sum(axis=1)))
    loss, _ = nn.softmax_cross_entropy_forward(as_float64(z), backend.asarray(y))
    assert float(loss) == pytest.approx(naive, rel=1e-12)
    huge, _ = nn.softmax_cross_entropy_forward(as_float64([[1000.0, 0.0], [0.0, 1000.0]]), backend.asarray([1, 1]))
    assert float(huge) == pytest.approx(500.0)  # one example is off by 1000 nats, the other right
    probs = backend.to_numpy(nn.softmax(as_float64(z)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_bce_with_logits_is_stable_and_matches_the_definition(rng):
    z = rng.normal(size=8) * 4
    y = rng.integers(0, 2, size=8).astype(float)
    p = 1 / (1 + np.exp(-z))
    naive = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))
    loss, _ = nn.bce_with_logits_forward(as_float64(z), as_float64(y))
    assert float(loss) == pytest.approx(naive, rel=1e-12)
    extreme, _ = nn.bce_with_logits_forward(as_float64([800.0, -800.0]), as_float64([0.0, 1.0]))
    assert float(extreme) == pytest.approx(800.0)


def test_sigmoid_has_no_overflow_for_large_inputs():
    s = backend.to_numpy(nn.sigmoid(as_float64([-1000.0, 0.0, 1000.0])))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])


def test_mse_and_l1_values():
    pred, target = as_float64([1.0, 2.0, 4.0], [1.0, 0.0, 1.0])
    assert float(nn.mse_forward(pred, target)[0]) == pytest.approx((0 + 4 + 9) / 3)
    assert float(nn.l1_forward(pred, target)[0]) == pytest.approx((0 + 2 + 3) / 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nn.linear_forward(as_float64(np.ones((2, 3))), as_float64(np.ones((4, 5))), as_float64(np.ones(5))),
         r"w must have shape \(3, M\), got \(4, 5\)"),
        (lambda: nn.linear_forward(as_float64(np.ones((2, 3))), as_float64(np.ones((3, 5))), as_float64(np.ones(4))),
         r"b must have shape \(5,\), got \(4,\)"),
        (lambda: nn.linear_forward(as_float64(np.ones(3)), as_float64(np.ones((3, 5))), as_float64(np.ones(5))),
         r"x must be 2-D \(N, D\)"),
        (lambda: nn.softmax_cross_entropy_forward(as_float64(np.ones((2, 3))), backend.asarray([0, 3])),
         r"labels must lie in \[0, 3\)"),
        (lambda: nn.softmax_cross_entropy_forward(as_float64(np.ones((2, 3))), backend.asarray([0, 1, 2])),
         r"labels must have shape \(2,\)"),
        (lambda: nn.softmax_cross_entropy_forward(as_float64(np.ones((2, 3))), as_float64([0.0, 1.0])),
         "labels must be integer"),
        (lambda: nn.mse_forward(as_float64(np.ones(3)), as_float64(np.ones(4))), "target must have the shape of pred"),
        (lambda: nn.maxout_forward(as_float64(np.ones((2, 5))), 2), "maxout needs pieces >= 1 dividing"),
        (lambda: nn.Linear(3, 2, init="bogus"), "unknown init 'bogus'; expected one of"),
        (lambda: nn.LeakyReLU(-0.1), "slope must be a finite number >= 0"),
    ],
)
def test_bad_input_gives_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def _small_net():
    return nn.Sequential(nn.Linear(4, 6, seed=0), nn.LeakyReLU(0.1), nn.Linear(6, 6, seed=1),
                         nn.Maxout(2), nn.Linear(3, 2, seed=2), nn.Sigmoid())


def test_sequential_gradient_check(rng):
    errors = check_module(_small_net(), as_float64(_away_from_zero(rng, (5, 4))))
    assert max(errors.values()) < TOL, errors


def test_parameters_are_found_in_order_and_gradients_accumulate(rng):
    net = _small_net()
    assert [name for name, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert net.num_parameters() == 4 * 6 + 6 + 6 * 6 + 6 + 3 * 2 + 2
    x = as_float64(rng.normal(size=(3, 4)))
    dout = as_float64(rng.normal(size=(3, 2)))
    net.forward(x)
    net.backward(dout)
    first = backend.to_numpy(net[0].weight.grad).copy()
    net.forward(x)
    net.backward(dout)
    np.testing.assert_allclose(backend.to_numpy(net[0].weight.grad), 2 * first)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_reach_every_child():
    net = _small_net()
    net.eval()
    assert not any(layer.training for layer in net.layers)
    net.train()
    assert all(layer.training for layer in net.layers)


def test_state_saved_and_loaded_gives_bit_identical_outputs(tmp_path, rng):
    x = as_float64(rng.normal(size=(7, 4)))
    trained = _small_net()
    for p in trained.parameters():  # move away from the initial weights
        p.data = p.data + backend.asarray(rng.normal(size=p.shape))
    path = tmp_path / "net.npz"
    trained.save(path)
    fresh = nn.Sequential(nn.Linear(4, 6, seed=9), nn.LeakyReLU(0.1), nn.Linear(6, 6, seed=9),
                          nn.Maxout(2), nn.Linear(3, 2, seed=9), nn.Sigmoid())
    assert not np.array_equal(backend.to_numpy(fresh(x)), backend.to_numpy(trained(x)))
    fresh.load(path)
    np.testing.assert_array_equal(backend.to_numpy(fresh(x)), backend.to_numpy(trained(x)))


def test_load_state_dict_rejects_mismatches():
    net = _small_net()
    state = net.state_dict()
    with pytest.raises(KeyError, match=r"missing \['4.bias'\]"):
        net.load_state_dict({k: v for k, v in state.items() if k != "4.bias"})
    state["0.weight"] = np.zeros((5, 6))
    with pytest.raises(ValueError, match=r"0.weight: saved shape \(5, 6\) does not match the module's \(4, 6\)"):
        net.load_state_dict(state)


def test_parameter_rejects_a_gradient_of_the_wrong_shape(xp):
    p = nn.Parameter(xp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"gradient of shape \(3, 2\) for a parameter of shape \(2, 3\)"):
        p.accumulate(xp.zeros((3, 2)))


def test_sequential_needs_modules():
    with pytest.raises(TypeError, match="layer 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)
    with pytest.raises(ValueError, match="at least one module"):
        nn.Sequential()


def test_initializers_have_the_derived_variance(on_numpy):
    shape = (400, 600)
    for name, expected in [("glorot_uniform", 2 / 1000), ("glorot_normal", 2 / 1000),
                           ("he_uniform", 2 / 400), ("he_normal", 2 / 400), ("fan_in_uniform", 1 / 1200)]:
        w = nn.init.INITIALIZERS[name](shape, rng=0)
        assert float(np.var(w)) == pytest.approx(expected, rel=0.02), name
