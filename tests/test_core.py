"""Core behaviour a careful user relies on: backends follow inputs, one dtype policy,
torch-like bookkeeping of parameters, and misuse that fails with a clear message."""

import math

import numpy as np
import pytest

from deepref import backend, landscape, nn, optim
from deepref.backend import asarray, default_rng, get_namespace, to_numpy
from deepref.nn.utils import parameters_to_vector, vector_to_parameters
from deepref.train import fit

# -- backends follow the inputs -------------------------------------------------


def test_random_draws_follow_the_array_they_are_for():
    strict = pytest.importorskip("array_api_strict")
    x = strict.ones((2, 3), dtype=strict.float32)
    for draw in (
        default_rng(0).normal(size=(2, 3), like=x, dtype=x.dtype),
        default_rng(0).bernoulli(0.5, (2, 3), like=x, dtype=x.dtype),
        nn.dropout_mask(x.shape, 0.5, rng=0, dtype=x.dtype, like=x),
    ):
        assert get_namespace(draw) is strict and draw.dtype == strict.float32
    assert get_namespace(default_rng(0).permutation(4, like=x)) is strict


def test_same_seed_same_numbers_on_numpy_and_strict():
    strict = pytest.importorskip("array_api_strict")
    on_numpy = default_rng(3).normal(size=5, like=np.zeros(1))
    on_strict = default_rng(3).normal(size=5, like=strict.zeros(1))
    np.testing.assert_array_equal(to_numpy(on_strict), on_numpy)


def test_mixing_backends_is_a_clear_error_and_modules_move():
    strict = pytest.importorskip("array_api_strict")
    with backend.use_backend("numpy"):
        layer = nn.Linear(3, 2, seed=0)
    x = strict.ones((4, 3), dtype=strict.float64)
    with pytest.raises(TypeError, match="different backends cannot be mixed.*module.to"):
        layer(x)
    layer.to("array_api_strict")
    out = layer(x)
    assert get_namespace(out) is strict and tuple(out.shape) == (4, 2)


def test_dropout_in_training_draws_its_mask_on_the_input_backend():
    strict = pytest.importorskip("array_api_strict")
    with backend.use_backend("numpy"):
        layer = nn.Dropout(0.5, seed=0)
    out = layer(strict.ones((3, 4), dtype=strict.float64))
    assert get_namespace(out) is strict


# -- one dtype policy -------------------------------------------------------------


def test_default_dtype_is_float64_and_float32_on_request(xp):
    assert nn.Linear(2, 3, seed=0).weight.data.dtype == xp.float64
    with backend.use_default_dtype("float32"):
        layer = nn.Linear(2, 3, seed=0)
        assert layer.weight.data.dtype == xp.float32 and layer.bias.data.dtype == xp.float32
    assert backend.get_default_dtype() == "float64"
    assert nn.Linear(2, 3, seed=0, dtype="float32").weight.data.dtype == xp.float32
    with pytest.raises(ValueError, match="unknown default dtype 'float16'; expected one of float64, float32"):
        backend.set_default_dtype("float16")
    with pytest.raises(TypeError, match="expected a floating dtype"):
        backend.resolve_dtype("int32")


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.1),
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda p: optim.Adagrad(p, lr=0.1),
        lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5),
        lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
        lambda p: optim.AdamW(p, lr=0.01),
    ],
)
def test_float32_parameters_stay_float32_through_every_optimizer(make, xp):
    layer = nn.Linear(4, 3, seed=0, dtype="float32")
    optimizer = make(layer.parameters())
    x = asarray(np.random.default_rng(0).normal(size=(5, 4)), dtype="float32")
    for _ in range(3):
        layer(x)
        layer.backward(asarray(np.ones((5, 3)), dtype="float32"))
        optimizer.step()
        optimizer.zero_grad()
    assert all(p.data.dtype == xp.float32 for p in layer.parameters())


def test_load_state_dict_rejects_another_dtype():
    state = nn.Linear(2, 2, seed=0, dtype="float32").state_dict()
    with pytest.raises(TypeError, match="saved dtype float32 does not match the module's float64"):
        nn.Linear(2, 2, seed=0).load_state_dict(state)


def test_saved_state_loads_back_exactly(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.BatchNorm1d(4), nn.Linear(4, 2, seed=1))
    model(asarray(np.random.default_rng(1).normal(size=(8, 3))))
    model.save(tmp_path / "m.npz")
    other = nn.Sequential(nn.Linear(3, 4, seed=5), nn.BatchNorm1d(4), nn.Linear(4, 2, seed=6))
    other.load(tmp_path / "m.npz")
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


# -- torch-like bookkeeping -----------------------------------------------------


class _Tied(nn.Module):
    """Two layers that share one weight (tied weights)."""

    def __init__(self):
        self.first = nn.Linear(3, 3, seed=0)
        self.second = nn.Linear(3, 3, seed=1)
        self.second.weight = self.first.weight


def test_a_shared_parameter_is_listed_and_stepped_once(xp):
    model = _Tied()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["first.weight", "first.bias", "second.bias"]
    weight = model.first.weight
    before = to_numpy(weight.data).copy()
    weight.grad = xp.ones_like(weight.data)
    optim.SGD(model.parameters(), lr=0.5).step()
    np.testing.assert_allclose(to_numpy(weight.data), before - 0.5)


def test_replacing_or_deleting_a_child_unregisters_it():
    model = nn.Sequential(nn.Linear(2, 2, seed=0))
    model.extra = nn.Linear(2, 2, seed=1)
    assert len(model.parameters()) == 4
    model.extra = None
    assert len(model.parameters()) == 2
    model.more = nn.Parameter(asarray(np.zeros(3)))
    del model.more
    assert len(model.parameters()) == 2 and "more" not in dict(model.named_parameters())


# -- misuse gets a clear error; NaN is never hidden ---------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: nn.Linear(-1, 2), ValueError, r"in_features must be an integer >= 1, got -1"),
        (lambda: nn.Linear(2.0, 2), ValueError, r"in_features must be an integer >= 1, got 2.0"),
        (lambda: nn.Dropout(None), ValueError, r"dropout probability p must be in \[0.0, 1.0\), got None"),
        (lambda: nn.Dropout(np.float64(1.0)), ValueError, r"dropout probability p must be in \[0.0, 1.0\)"),
        (lambda: nn.Maxout(0), ValueError, r"pieces must be an integer >= 1, got 0"),
        (lambda: nn.LeakyReLU(-0.1), ValueError, r"slope must be a finite number >= 0, got -0.1"),
    ],
)
def test_bad_arguments_name_what_was_expected(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_numpy_scalars_are_accepted_as_numbers():
    assert nn.Dropout(np.float32(0.25)).p == 0.25
    assert nn.Linear(np.int64(3), np.int32(2), seed=0).weight.shape == (3, 2)


def test_fit_rejects_a_fractional_epoch_count():
    model = nn.Linear(2, 1, seed=0)
    x, y = asarray(np.zeros((4, 2))), asarray(np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got 2.5"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2.5)


@pytest.mark.parametrize("layer", [nn.Linear(2, 2, seed=0), nn.ReLU(), nn.Tanh(), nn.LeakyReLU(), nn.Dropout(0.5)])
def test_backward_before_forward_names_the_fix(layer):
    with pytest.raises(RuntimeError, match=r"backward was called before forward: run forward\(x\) first"):
        layer.backward(asarray(np.ones((1, 2))))


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.LeakyReLU(), nn.Sigmoid(), nn.Tanh()])
def test_activations_propagate_nan_forward_and_backward(layer):
    x = asarray(np.array([[-1.0, math.nan, 2.0]]))
    out = to_numpy(layer(x))
    assert math.isnan(out[0, 1])
    dx = to_numpy(layer.backward(asarray(np.array([[math.nan, 1.0, 1.0]]))))
    assert math.isnan(dx[0, 0]) and math.isnan(dx[0, 1])


# -- landscape tools leave the model as they found it ----------------------------------


def test_hessian_vector_product_leaves_batch_norm_statistics_and_parameters_alone():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2, seed=1))
    x = asarray(np.random.default_rng(0).normal(size=(16, 3)))
    y = asarray(np.random.default_rng(1).integers(0, 2, 16))
    before = model.state_dict()
    theta = parameters_to_vector(model)
    landscape.hessian_vector_product(model, nn.SoftmaxCrossEntropy(), x, y, theta * 0.0 + 1.0)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_parameters_never_alias_the_callers_vector(xp):
    model = nn.Linear(2, 2, seed=0)
    theta = parameters_to_vector(model)
    vector_to_parameters(theta, model)
    model.weight.data = model.weight.data + 1.0  # any later change of the model ...
    np.testing.assert_array_equal(to_numpy(parameters_to_vector(model))[:4], to_numpy(theta)[:4] + 1.0)
    vector_to_parameters(theta * 2.0, model)
    assert float(xp.max(xp.abs(parameters_to_vector(model) - 2.0 * theta))) == 0.0


def test_a_float64_input_to_a_float32_layer_is_rejected():
    layer = nn.Linear(2, 2, seed=0, dtype="float32")
    with pytest.raises(TypeError, match="Linear has float32 parameters but got a float64 input"):
        layer(asarray(np.ones((1, 2))))
    assert layer(asarray(np.ones((1, 2)), dtype="float32")).dtype == layer.weight.data.dtype


def test_dtype_predicates_use_the_array_api():
    assert backend.is_integer_array(asarray(np.arange(3)))
    assert not backend.is_integer_array(asarray(np.ones(3)))
    assert backend.is_floating_array(asarray(np.ones(3), dtype="float32"))


def test_counts_and_targets_are_checked_where_they_are_given(xp):
    optimizer = optim.SGD([nn.Parameter(asarray(np.zeros(2)))], lr=0.1)
    with pytest.raises(ValueError, match=r"step_size must be an integer >= 1, got 0.5"):
        optim.StepDecay(optimizer, step_size=0.5)
    from deepref import rnn

    with pytest.raises(ValueError, match=r"hidden_size must be an integer >= 1, got 2.5"):
        rnn.LSTM(2, 2.5)
    with pytest.raises(ValueError, match=r"BCE targets must lie in \[0, 1\]"):
        nn.BCEWithLogits()(asarray(np.zeros(3)), asarray(np.array([0.0, 2.0, 1.0])))
