"""Mistakes a user makes, each caught with a message that names the fix; names PyTorch users type.

One test per silent mistake of issue 27 (a forgotten or doubled backward, an
optimizer of another model, data of the wrong dtype, shape or type, a
misspelt history key, another optimizer's state, an empty batch), and the
PyTorch names and habits deepref honours.
"""

import numpy as np
import pytest

import deepref
from deepref import nn, optim, rnn
from deepref.backend import asarray, to_numpy, use_default_dtype
from deepref.gradcheck import check_module
from deepref.train import EarlyStopping, evaluate, fit


def _data(rng, n=40, d=3, classes=2):
    x = asarray(rng.normal(size=(n, d)))
    y = asarray(rng.integers(0, classes, size=n).astype(np.int64))
    return x, y


def _net(d=3, classes=2, **kwargs):
    return nn.Sequential(nn.Linear(d, 4, seed=0, **kwargs), nn.ReLU(), nn.Linear(4, classes, seed=1, **kwargs))


# -- silent mistakes become errors or warnings ---------------------------------------------------


def test_a_step_without_any_gradient_warns(rng):
    model = _net()
    loss_fn, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(rng)
    loss_fn(model(x), y)  # the backward pass is forgotten
    before = to_numpy(model[0].weight.data).copy()
    with pytest.warns(UserWarning, match=r"found no gradient on any of its 4 parameters.*model.backward"):
        opt.step()
    np.testing.assert_array_equal(to_numpy(model[0].weight.data), before)


def test_a_second_backward_after_one_forward_raises(rng):
    model = _net()
    x, _ = _data(rng)
    dout = asarray(rng.normal(size=(x.shape[0], 2)))
    model(x)
    model.backward(dout)
    grad = to_numpy(model[0].weight.grad).copy()
    with pytest.raises(RuntimeError, match="called twice after one forward.*run forward"):
        model.backward(dout)
    np.testing.assert_array_equal(to_numpy(model[0].weight.grad), grad)  # nothing added twice
    model(x)
    model.backward(dout)  # a new forward allows a new backward


LAYERS_WITH_A_CACHE = {
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, seed=0), (4, 2, 5, 5), "float"),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3), "float"),
    "LayerNorm": (lambda: nn.LayerNorm(3), (4, 3), "float"),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 1, 4, 4), "float"),
    "Embedding": (lambda: nn.Embedding(7, 3, seed=0), (4, 5), "ids"),
    "LSTM": (lambda: rnn.LSTM(3, 4, seed=0), (2, 5, 3), "float"),
}


@pytest.mark.parametrize("name", LAYERS_WITH_A_CACHE)
def test_every_layer_refuses_a_second_backward_after_one_forward(name, rng):
    make, shape, kind = LAYERS_WITH_A_CACHE[name]
    layer = make()
    x = asarray(rng.integers(0, 7, size=shape)) if kind == "ids" else asarray(rng.normal(size=shape))
    out = layer(x)
    dout = asarray(rng.normal(size=tuple(out.shape)))
    layer.backward(dout)
    with pytest.raises(RuntimeError, match="called twice after one forward"):
        layer.backward(dout)


def test_backward_before_any_forward_still_says_so():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(2, 2, seed=0).backward(asarray(np.ones((1, 2))))


def test_fit_refuses_the_optimizer_of_another_model(rng):
    model, other = _net(), _net()
    x, y = _data(rng)
    with pytest.raises(ValueError, match="holds none of the model's parameters"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(other.parameters(), lr=0.1), x, y, epochs=1)


def test_fit_accepts_an_optimizer_of_part_of_the_model(rng):
    model = _net()
    x, y = _data(rng)
    frozen = to_numpy(model[0].weight.data).copy()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model[2].parameters(), lr=0.1), x, y, epochs=1)
    np.testing.assert_array_equal(to_numpy(model[0].weight.data), frozen)


@pytest.mark.parametrize("entry", ["fit", "evaluate", "check_module"])
def test_float64_data_for_a_float32_model_is_refused_before_any_step(rng, entry):
    with use_default_dtype("float32"):
        model = _net()
    x, y = _data(rng)  # float64, as scikit-learn's arrays
    with pytest.raises(TypeError, match=r"float32 parameters but got a float64 input; convert the input"):
        if entry == "fit":
            fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1)
        elif entry == "evaluate":
            evaluate(model, nn.CrossEntropyLoss(), x, y)
        else:
            check_module(model, x)


def test_forward_and_call_agree_on_the_dtype_rule(rng):
    with use_default_dtype("float32"):
        model = _net()
    x, _ = _data(rng)
    for run in (model, model.forward, model[0], model[0].forward):
        with pytest.raises(TypeError, match="convert the input"):
            run(x)


def test_check_module_needs_float64(rng):
    with use_default_dtype("float32"):
        model = _net()
    x = asarray(rng.normal(size=(4, 3)), dtype="float32")
    with pytest.raises(TypeError, match="check_module needs a float64 input"):
        check_module(model, x)


def test_fit_refuses_empty_data(rng):
    model = _net()
    x = asarray(np.zeros((0, 3)))
    y = asarray(np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match=r"x has no examples \(shape \(0, 3\)\)"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), x, y, epochs=1)


def test_fit_refuses_a_list(rng):
    model = _net()
    _, y = _data(rng, n=2)
    with pytest.raises(TypeError, match=r"x must be an array, got a list; convert it with deepref.backend.asarray"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), [[0.0] * 3] * 2, y, epochs=1)


def test_validation_data_of_the_wrong_width_fails_before_training(rng):
    model = _net()
    x, y = _data(rng)
    x_val, y_val = _data(rng, n=5, d=4)
    before = to_numpy(model[0].weight.data).copy()
    with pytest.raises(ValueError, match=r"validation_data x has examples of shape \(4,\), the training data \(3,\)"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1,
            validation_data=(x_val, y_val))
    np.testing.assert_array_equal(to_numpy(model[0].weight.data), before)  # no epoch ran


@pytest.mark.parametrize(("monitor", "validation", "hint"), [
    ("val_los", True, "'val_los', which fit will not record"),
    ("val_loss", False, "val_\\* keys need validation_data"),
])
def test_an_early_stopping_key_that_will_not_exist_fails_before_training(rng, monitor, validation, hint):
    model = _net()
    x, y = _data(rng)
    with pytest.raises(KeyError, match=hint):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2,
            validation_data=(x, y) if validation else None, callbacks=[EarlyStopping(monitor)])


def test_a_plateau_schedule_key_is_checked_too(rng):
    model = _net()
    x, y = _data(rng)
    opt = optim.SGD(model.parameters(), lr=0.1)
    callback = optim.LRScheduleCallback(optim.ReduceLROnPlateau(opt), monitor="val_acc")
    with pytest.raises(KeyError, match="'val_acc', which fit will not record"):
        fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=1, validation_data=(x, y), callbacks=[callback])


def test_adam_state_into_sgd_raises():
    model = _net()
    adam, sgd = optim.Adam(model.parameters(), lr=0.5), optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="saved by Adam .* cannot be loaded into SGD"):
        sgd.load_state_dict(adam.state_dict())
    assert sgd.lr == 0.1 and "betas" not in sgd.param_groups[0]


def test_repr_of_an_optimizer_shows_current_values():
    opt = optim.SGD(_net().parameters(), lr=0.1, momentum=0.9)
    optim.StepLR(opt, step_size=1, gamma=0.5).step()
    assert repr(opt).startswith("SGD(lr=0.05, momentum=0.9,")
    opt.param_groups[0]["lr"] = 0.01
    opt.add_param_group({"params": [nn.Parameter(asarray(np.zeros(2)))], "lr": 0.2})
    assert "lr=[0.01, 0.2]" in repr(opt)


def test_cross_entropy_of_an_empty_batch_raises():
    with pytest.raises(ValueError, match="cross-entropy of an empty batch"):
        nn.CrossEntropyLoss()(asarray(np.zeros((0, 3))), asarray(np.zeros(0, dtype=np.int64)))


def test_lstm_batch_first_false_reads_time_major_input(rng):
    batch_major = rnn.LSTM(2, 3, num_layers=2, seed=0)
    time_major = rnn.LSTM(2, 3, num_layers=2, batch_first=False, seed=0)
    x = rng.normal(size=(4, 5, 2))  # (N, T, D)
    dout = rng.normal(size=(4, 5, 3))
    out = to_numpy(batch_major(asarray(x)))
    out_t = to_numpy(time_major(asarray(x.transpose(1, 0, 2).copy())))
    np.testing.assert_allclose(out_t, out.transpose(1, 0, 2), rtol=0, atol=1e-14)
    dx = to_numpy(batch_major.backward(asarray(dout)))
    dx_t = to_numpy(time_major.backward(asarray(dout.transpose(1, 0, 2).copy())))
    np.testing.assert_allclose(dx_t, dx.transpose(1, 0, 2), rtol=0, atol=1e-14)
    assert tuple(time_major.final_state[0].shape) == (2, 4, 3)  # states (L, N, H) either way
    assert "batch_first=False" in repr(time_major)
    with pytest.raises(TypeError, match="batch_first must be True or False"):
        rnn.GRU(2, 3, batch_first="yes")


# -- PyTorch names and habits -----------------------------------------------------------------------


def test_linear_without_bias(rng):
    layer = nn.Linear(3, 2, bias=False, seed=0)
    assert [name for name, _ in layer.named_parameters()] == ["weight"] and repr(layer) == "Linear(3, 2, bias=False)"
    x = asarray(rng.normal(size=(5, 3)))
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(x) @ to_numpy(layer.weight.data))
    errors = check_module(layer, x)
    assert max(errors.values()) < 1e-7
    with pytest.raises(TypeError, match="bias must be True or False"):
        nn.Linear(3, 2, "he_uniform")


@pytest.mark.parametrize("loss_cls", [nn.CrossEntropyLoss, nn.MSELoss, nn.L1Loss, nn.BCEWithLogits])
def test_reduction_sum_is_the_mean_times_the_terms(rng, loss_cls):
    pred = asarray(rng.normal(size=(6, 3)))
    if loss_cls is nn.CrossEntropyLoss:
        target, terms = asarray(rng.integers(0, 3, size=6).astype(np.int64)), 6
    else:
        target, terms = asarray(rng.uniform(size=(6, 3))), 18
    mean_loss, sum_loss = loss_cls(), loss_cls(reduction="sum")
    np.testing.assert_allclose(float(sum_loss(pred, target)), terms * float(mean_loss(pred, target)), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(sum_loss.backward()), terms * to_numpy(mean_loss.backward()), rtol=1e-14)
    assert repr(sum_loss).endswith("(reduction='sum')")
    with pytest.raises(ValueError, match="unknown reduction 'none'"):
        loss_cls(reduction="none")


def test_pytorch_names_exist():
    assert nn.CrossEntropyLoss is nn.SoftmaxCrossEntropy
    assert optim.StepLR is optim.StepDecay and optim.ExponentialLR is optim.ExponentialDecay
    assert optim.clip_grad_norm_ is optim.clip_grad_norm
    assert nn.Embedding is deepref.lm.Embedding
    assert nn.LeakyReLU(negative_slope=0.2).negative_slope == 0.2


def test_nn_does_not_import_the_language_model_chapter():
    from pathlib import Path

    for path in Path(nn.__file__).parent.glob("*.py"):
        imports = [line for line in path.read_text().splitlines() if line.startswith(("from ", "import "))]
        assert not [line for line in imports if "lm" in line.split()[1].split(".")], path


def test_identity_module_list_and_sequential_slicing(rng):
    net = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Identity(), nn.Tanh())
    head = net[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is net[0]
    net.append(nn.Linear(4, 2, seed=1))
    assert len(net) == 4 and [n for n, _ in net.named_parameters()][-1] == "3.bias"
    x = asarray(rng.normal(size=(2, 3)))
    assert tuple(net(x).shape) == (2, 2)
    heads = nn.ModuleList([nn.Linear(3, 2, seed=k) for k in range(3)])
    assert [n for n, _ in heads.named_parameters()][:2] == ["0.weight", "0.bias"]
    assert isinstance(heads[1:], nn.ModuleList) and len(heads[1:]) == 2
    with pytest.raises(TypeError, match="layer 3 is a str"):
        heads.append("linear")


def test_manual_seed_makes_unseeded_layers_reproducible():
    deepref.manual_seed(3)
    first = [to_numpy(nn.Linear(3, 2).weight.data) for _ in range(2)]
    deepref.manual_seed(3)
    second = [to_numpy(nn.Linear(3, 2).weight.data) for _ in range(2)]
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(to_numpy(nn.Linear(3, 2, seed=0).weight.data),
                                  to_numpy(nn.Linear(3, 2, seed=0).weight.data))
    with pytest.raises(ValueError, match="non-negative integer"):
        deepref.manual_seed(-1)


@pytest.mark.parametrize("mode", [True, False])
def test_fit_leaves_the_model_in_the_mode_it_had(rng, mode):
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Dropout(0.5, seed=0), nn.Linear(4, 2, seed=1))
    model.train(mode)
    x, y = _data(rng)
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1)
    assert model.training is mode and model[1].training is mode


def test_help_texts_document_the_contracts():
    assert "Returns" in nn.Linear.forward.__doc__ and "dx" in nn.Linear.backward.__doc__
    assert "dtype" in nn.Linear.__doc__ and "dtype" in rnn.LSTM.__doc__
    for text in ("final_state", "initial_state_grad", "batch_first", "weight_ih"):
        assert text in rnn.LSTM.__doc__, text
    assert "model.backward(loss_fn.backward())" in nn.Loss.__doc__
