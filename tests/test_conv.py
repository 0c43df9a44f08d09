"""Convolution and pooling: gradient checks, values, the portable and NumPy paths, errors, modules."""

import numpy as np
import pytest

from deepref import backend, nn
from deepref.gradcheck import as_float64, check_backward, check_module
from deepref.nn.conv import col2im, im2col, windows

TOL = 1e-7

CONV_CONFIGS = [  # (N, C_in, H, W), (C_out, kH, kW), stride, padding, dilation
    ((2, 3, 6, 7), (4, 3, 3), 1, 0, 1),
    ((2, 2, 7, 5), (3, 2, 3), (2, 1), (1, 2), 1),
    ((1, 2, 9, 8), (2, 3, 2), 2, 1, (2, 3)),
]


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=["plain", "stride-padding", "dilation"])
def test_conv2d_gradients(rng, config):
    (n, c, h, w), (c_out, kh, kw), stride, padding, dilation = config
    x, weight, bias = as_float64(rng.normal(size=(n, c, h, w)), rng.normal(size=(c_out, c, kh, kw)),
                                 rng.normal(size=c_out))
    errors = check_backward(nn.conv2d_forward, nn.conv2d_backward, [x, weight, bias, stride, padding, dilation])
    assert sorted(errors) == [0, 1, 2]
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), 1, (1, 0))])
def test_pooling_gradients(rng, kind, kernel, stride, padding):
    # a permutation of spread-out values: no ties, and every window's maximum
    # wins by far more than the finite-difference step
    x = as_float64(rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) * 0.1)
    pair = getattr(nn, f"{kind}_pool2d_forward"), getattr(nn, f"{kind}_pool2d_backward")
    assert check_backward(*pair, [x, kernel, stride, padding])[0] < TOL


def test_modules_gradient_check(rng):
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, seed=0), nn.MaxPool2d(2), nn.Conv2d(3, 2, 2, seed=1),
                        nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(2 * 2 * 2, 3, seed=2))
    for layer in (net[0], net[2], net[5]):
        layer.bias.data = as_float64(rng.normal(size=layer.bias.shape))
    x = as_float64(rng.permutation(2 * 2 * 8 * 8).reshape(2, 2, 8, 8) * 0.05)
    errors = check_module(net, x)
    assert len(errors) == 7  # the input and six parameters
    assert max(errors.values()) < TOL, errors


def test_conv2d_values():
    x = as_float64(np.arange(2 * 5 * 5).reshape(1, 2, 5, 5))
    host = backend.to_numpy(x)
    identity = np.zeros((2, 2, 3, 3))
    identity[0, 0, 1, 1] = identity[1, 1, 1, 1] = 1.0
    same = nn.conv2d(x, as_float64(identity), padding=1)
    np.testing.assert_allclose(backend.to_numpy(same), host)  # a centred delta kernel returns the input
    ones = nn.conv2d(x, as_float64(np.ones((1, 2, 2, 2))), as_float64([0.5]), stride=2)
    expected = host.reshape(2, 5, 5)[:, :4, :4].reshape(2, 2, 2, 2, 2).sum(axis=(0, 2, 4)) + 0.5
    np.testing.assert_allclose(backend.to_numpy(ones)[0, 0], expected)
    dilated = nn.conv2d(x[:, :1, ...], as_float64(np.ones((1, 1, 2, 2))), dilation=4)  # the four corners
    assert backend.to_numpy(dilated).shape == (1, 1, 1, 1)
    assert float(backend.to_numpy(dilated)[0, 0, 0, 0]) == 0 + 4 + 20 + 24


def test_pooling_values():
    x = as_float64(np.array([[1.0, 5.0, 2.0], [3.0, 4.0, 0.0], [7.0, 6.0, 8.0]]).reshape(1, 1, 3, 3))
    np.testing.assert_array_equal(backend.to_numpy(nn.max_pool2d(x, 2, stride=1))[0, 0], [[5, 5], [7, 8]])
    np.testing.assert_array_equal(backend.to_numpy(nn.max_pool2d(x, 2, padding=1))[0, 0], [[1, 5], [7, 8]])
    # padded zeros count in the mean (count_include_pad=True)
    np.testing.assert_allclose(backend.to_numpy(nn.avg_pool2d(x, 2, padding=1))[0, 0], [[0.25, 1.75], [2.5, 4.5]])
    out, cache = nn.max_pool2d_forward(x, 2, stride=1)
    dx = nn.max_pool2d_backward(as_float64(np.ones((1, 1, 2, 2))), cache)
    np.testing.assert_array_equal(backend.to_numpy(dx)[0, 0], [[0, 2, 0], [0, 0, 0], [1, 0, 1]])  # 5 won twice


def test_numpy_fast_path_equals_the_portable_path(rng, on_numpy):
    import array_api_strict as strict

    x = rng.normal(size=(3, 2, 9, 8))
    geometry = windows((9, 8), (3, 2), (2, 1), (1, 2), (2, 1))
    fast = im2col(x, geometry, fill=-1.5)
    portable = backend.to_numpy(im2col(strict.asarray(x), geometry, fill=-1.5))
    np.testing.assert_array_equal(fast, portable)
    cols = rng.normal(size=fast.shape)
    np.testing.assert_allclose(col2im(cols, geometry, 2), backend.to_numpy(col2im(strict.asarray(cols), geometry, 2)),
                               rtol=0, atol=1e-13)


def test_col2im_is_the_adjoint_of_im2col(rng):
    geometry = windows((7, 6), 3, 2, 1, 1)
    x = as_float64(rng.normal(size=(2, 3, 7, 6)))
    cols = im2col(x, geometry)
    y = as_float64(rng.normal(size=tuple(cols.shape)))
    lhs = float(np.sum(backend.to_numpy(cols) * backend.to_numpy(y)))
    rhs = float(np.sum(backend.to_numpy(x) * backend.to_numpy(col2im(y, geometry, 3))))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)  # <im2col(x), y> = <x, col2im(y)>


def test_float32_in_float32_out(rng):
    layer = nn.Conv2d(2, 3, 3, seed=0, dtype="float32")
    xp = backend.current_namespace()
    x = backend.asarray(rng.normal(size=(2, 2, 6, 6)), dtype=xp.float32)
    pool = nn.MaxPool2d(2)
    out = pool(layer(x))
    assert out.dtype == xp.float32 and layer.weight.data.dtype == xp.float32
    dx = layer.backward(pool.backward(xp.ones(tuple(out.shape), dtype=xp.float32)))
    assert dx.dtype == xp.float32 and layer.weight.grad.dtype == xp.float32


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, w: nn.conv2d(x, w[:, :1, ...]), r"w expects 1 input channels \(w.shape\[1\]\) but x has 2"),
        (lambda x, w: nn.conv2d(x, w, padding=-1), "padding must be an integer >= 0"),
        (lambda x, w: nn.conv2d(x, w, stride=0), "stride must be an integer >= 1"),
        (lambda x, w: nn.conv2d(x, w, stride=(1, 2, 3)), "stride must be an integer or a pair"),
        (lambda x, w: nn.conv2d(x[:, :, :2, ...], w),
         r"the kernel spans \(3, 3\) pixels .* padded input is only \(2, 5\)"),
        (lambda x, w: nn.conv2d(x, w, dilation=3), r"kernel spans \(7, 7\) pixels"),
        (lambda x, w: nn.conv2d(x[0, ...], w), r"x must be 4-D \(N, C, H, W\)"),
        (lambda x, w: nn.conv2d(x, w, w[0, 0, 0, ...]), r"b must have shape \(4,\)"),
        (lambda x, w: nn.max_pool2d(x, 6), r"kernel spans \(6, 6\) pixels"),
        (lambda x, w: nn.avg_pool2d(x, 2, padding=2), "padding must be at most half the kernel size"),
        (lambda x, w: nn.Conv2d(2, 4, 3, init="magic"), "unknown init 'magic'"),
    ],
    ids=["channels", "padding", "stride", "pair", "too-large", "dilated-too-large", "ndim", "bias", "pool-too-large",
         "pool-padding", "init"],
)
def test_bad_input_gives_clear_errors(call, message):
    x, w = as_float64(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=message):
        call(x, w)


def test_backward_checks_the_upstream_shape(rng):
    out, cache = nn.conv2d_forward(*as_float64(rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3))))
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 3, 3, 3\)"):
        nn.conv2d_backward(as_float64(np.zeros((1, 3, 4, 3))), cache)


def test_conv_layer_state_and_repr(tmp_path, rng):
    layer = nn.Conv2d(2, 4, (3, 5), stride=2, padding=(1, 2), seed=0)
    assert [p.shape for p in layer.parameters()] == [(4, 2, 3, 5), (4,)]
    assert repr(layer) == "Conv2d(2, 4, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), dilation=(1, 1))"
    assert nn.Conv2d(2, 4, 3, bias=False).num_parameters() == 4 * 2 * 9
    layer.save(tmp_path / "conv.npz")
    copy = nn.Conv2d(2, 4, (3, 5), stride=2, padding=(1, 2), seed=1)
    copy.load(tmp_path / "conv.npz")
    x = as_float64(rng.normal(size=(1, 2, 6, 6)))
    np.testing.assert_array_equal(backend.to_numpy(copy(x)), backend.to_numpy(layer(x)))
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"


def test_initial_weights_have_the_fan_in_bound():
    weight = backend.to_numpy(nn.Conv2d(4, 8, 5, seed=0).weight.data)
    bound = 1 / np.sqrt(4 * 5 * 5)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound


# -- the convolutional networks of the spatial transformer chapter ----------------


def test_conv_spatial_transformer_starts_at_the_identity_and_passes_a_gradient_check(rng):
    from deepref.stn import affine_grid
    from deepref.stn.cnn import ConvLocalisation, conv_spatial_transformer

    st = conv_spatial_transformer((1, 8, 8), out_size=(5, 5), channels=(3,), kernel_size=3, hidden=4, downsample=2,
                                  seed=0)
    assert isinstance(st.localisation, ConvLocalisation)
    x = as_float64(rng.normal(size=(2, 1, 8, 8)))
    np.testing.assert_allclose(backend.to_numpy(st.predict_theta(x)), np.tile(np.eye(2, 3), (2, 1, 1)), atol=1e-15)
    regression = st.localisation[-1]
    regression.weight.data = as_float64(rng.normal(0.0, 0.05, regression.weight.shape))
    regression.bias.data = as_float64([0.9, 0.05, 0.02, -0.03, 0.85, 0.01])  # a generic, non-identity transform
    grid = backend.to_numpy(affine_grid(st.predict_theta(x), (2, 1, 5, 5)))
    pixels = ((grid + 1.0) * 8 - 1.0) / 2
    assert np.min(np.abs(pixels - np.round(pixels))) > 1e-3  # sampling points away from the kinks
    errors = check_module(st, x)
    assert {"input", "localisation.net.1.weight", "localisation.net.5.weight"} <= set(errors)
    assert max(errors.values()) < 1e-6, errors


def test_rts_models_have_the_documented_shapes():
    from deepref.stn.experiments import MODELS, rts_model

    xp = backend.current_namespace()
    x = xp.zeros((2, 1, 42, 42), dtype=xp.float32)
    for name in MODELS:
        model = rts_model(name, seed=0)
        out = model(x)
        assert tuple(out.shape) == (2, 10) and out.dtype == xp.float32, name
    with pytest.raises(ValueError, match="unknown model 'LeNet'"):
        rts_model("LeNet")


def test_rts_run_learns_and_the_benchmark_shares_it():
    from dataclasses import replace

    from deepref.stn.experiments import RTSConfig, rts_benchmark, rts_data, rts_run

    config = RTSConfig(model="FCN", n_train=128, n_test=64, epochs=6, batch_size=16)
    model, record = rts_run(config, seed=0, data=rts_data(config))
    assert not model.training
    assert record["train_error"] < 60  # it fits its training images (guessing: 90%)
    assert record["parameters"] == 42 * 42 * 64 + 64 + 64 * 10 + 10
    again = rts_benchmark(replace(config, model="CNN", epochs=1), seed=1)
    assert again["model"] == "CNN" and 0 <= again["test_error"] <= 100


def test_rts_runs_share_no_stream(monkeypatch):
    from deepref.stn import experiments as stn_experiments
    from seed_streams import assert_runs_share_no_stream

    config = stn_experiments.RTSConfig(model="FCN", n_train=32, n_test=16, epochs=1, batch_size=16)
    assert_runs_share_no_stream(monkeypatch, stn_experiments, "rts_model", stn_experiments.rts_run, config)


def test_small_cnn_checks_its_arguments():
    from deepref.stn.cnn import small_cnn

    with pytest.raises(ValueError, match=r"kernel_size must be an integer or one per stage \(2\)"):
        small_cnn((1, 16, 16), channels=(4, 8), kernel_size=(3, 3, 3))
    with pytest.raises(ValueError, match=r"in_shape must be \(C, H, W\)"):
        small_cnn((16, 16))
    with pytest.raises(ValueError, match="channels must be an integer >= 1"):
        small_cnn((1, 16, 16), channels=(4, 0))
