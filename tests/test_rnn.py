"""Tests of deepref.rnn: gradient checks of every cell and sequence layer, values, truncated BPTT, tasks, bad input."""

import math

import numpy as np
import pytest

from deepref import backend, nn, optim, rnn
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64, check_backward, check_module, numerical_gradient, relative_error
from deepref.train import evaluate, fit

N, T, D, H = 3, 4, 2, 3
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
STATES = {"rnn": 1, "lstm": 2, "gru": 1}
STEP_PAIRS = {
    "rnn": (rnn.rnn_step_forward, rnn.rnn_step_backward),
    "lstm": (rnn.lstm_step_forward, rnn.lstm_step_backward),
    "gru": (rnn.gru_step_forward, rnn.gru_step_backward),
}
SEQUENCE_PAIRS = {
    "rnn": (rnn.rnn_forward, rnn.rnn_backward),
    "lstm": (rnn.lstm_forward, rnn.lstm_backward),
    "gru": (rnn.gru_forward, rnn.gru_backward),
}
MODULES = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}


def _weights(rng, cell, d=D, h=H):
    g = GATES[cell] * h
    return as_float64(
        0.6 * rng.normal(size=(d, g)), 0.6 * rng.normal(size=(h, g)), 0.3 * rng.normal(size=g), 0.3 * rng.normal(size=g)
    )


def _states(rng, cell, shape):
    return [as_float64(0.5 * rng.normal(size=shape)) for _ in range(STATES[cell])]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_step_gradients(cell, rng):
    forward, backward = STEP_PAIRS[cell]
    inputs = [as_float64(rng.normal(size=(N, D))), *_states(rng, cell, (N, H)), *_weights(rng, cell)]
    errors = check_backward(forward, backward, inputs)
    assert len(errors) == len(inputs)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_gradients_with_upstream_on_outputs_and_final_states(cell, rng):
    forward, backward = SEQUENCE_PAIRS[cell]
    inputs = [as_float64(rng.normal(size=(N, T, D))), *_states(rng, cell, (N, H)), *_weights(rng, cell)]
    out, _ = forward(*inputs)
    assert len(out) == 1 + STATES[cell]  # the output sequence and every final state get a random upstream gradient
    errors = check_backward(forward, backward, inputs)
    assert len(errors) == len(inputs)
    assert max(errors.values()) < 1e-7, errors


def _pairing(arrays, upstream):
    return sum(float(np.sum(to_numpy(a) * g)) for a, g in zip(arrays, upstream))


def _as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


def _as_state(cell, arrays):
    return tuple(arrays) if cell == "lstm" else arrays[0]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stacked_module_gradients_of_input_state_and_parameters(cell, rng):
    layers, hidden = 2, 2  # small: every parameter of both layers is checked by finite differences
    module = MODULES[cell](D, hidden, num_layers=layers, seed=3)
    x = as_float64(rng.normal(size=(2, 3, D)))
    state = _states(rng, cell, (layers, 2, hidden))

    def run(x_value, state_values):
        out = module.forward(x_value, _as_state(cell, state_values))
        return [out, *_as_list(module.final_state)]

    outputs = run(x, state)
    upstream = [rng.normal(size=tuple(o.shape)) for o in outputs]
    module.zero_grad()
    dx = module.backward(asarray(upstream[0]), _as_state(cell, [asarray(u) for u in upstream[1:]]))
    analytic = {"x": dx, **{f"state{k}": g for k, g in enumerate(_as_list(module.initial_state_grad))}}
    analytic.update({name: p.grad for name, p in module.named_parameters()})

    numerical = {"x": numerical_gradient(lambda v: _pairing(run(v, state), upstream), x)}
    for k in range(len(state)):

        def with_state(v, k=k):
            return _pairing(run(x, state[:k] + [v] + state[k + 1 :]), upstream)

        numerical[f"state{k}"] = numerical_gradient(with_state, state[k])
    for name, param in module.named_parameters():
        original = param.data

        def with_param(v, param=param):
            param.data = v
            return _pairing(run(x, state), upstream)

        numerical[name] = numerical_gradient(with_param, original)
        param.data = original
    assert len(numerical) == 1 + len(state) + 4 * layers
    errors = {name: relative_error(analytic[name], numerical[name]) for name in numerical}
    assert max(errors.values()) < 1e-7, errors


def test_module_and_last_time_step_with_check_module(rng):
    model = nn.Sequential(rnn.LSTM(D, H, forget_bias=1.0, seed=0), rnn.LastTimeStep(), nn.Linear(H, 2, seed=1))
    errors = check_module(model, as_float64(rng.normal(size=(N, T, D))))
    assert max(errors.values()) < 1e-7, errors


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_lstm_and_gru_steps_match_the_textbook_equations(rng):
    x, h, c = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    w_x, w_h, b_x, b_h = (to_numpy(w) for w in _weights(rng, "lstm"))
    (h_new, c_new), _ = rnn.lstm_step_forward(*as_float64(x, h, c, w_x, w_h, b_x, b_h))
    a = x @ w_x + b_x + h @ w_h + b_h
    i, f, g, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H]), np.tanh(a[:, 2 * H : 3 * H]), _sigmoid(a[:, 3 * H :])
    expected_c = f * c + i * g
    np.testing.assert_allclose(to_numpy(c_new), expected_c, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(h_new), o * np.tanh(expected_c), rtol=1e-12)

    w_x, w_h, b_x, b_h = (to_numpy(w) for w in _weights(rng, "gru"))
    h_gru, _ = rnn.gru_step_forward(*as_float64(x, h, w_x, w_h, b_x, b_h))
    ax, ah = x @ w_x + b_x, h @ w_h + b_h
    r, z = _sigmoid(ax[:, :H] + ah[:, :H]), _sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
    n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
    np.testing.assert_allclose(to_numpy(h_gru), (1 - z) * n + z * h, rtol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_equals_repeated_steps(cell, rng):
    x = as_float64(rng.normal(size=(N, T, D)))
    state = _states(rng, cell, (N, H))
    weights = _weights(rng, cell)
    outputs, _ = SEQUENCE_PAIRS[cell][0](x, *state, *weights)
    step = STEP_PAIRS[cell][0]
    for t in range(T):
        result, _ = step(x[:, t, :], *state, *weights)
        state = list(result) if cell == "lstm" else [result]
        np.testing.assert_allclose(to_numpy(outputs[0][:, t, :]), to_numpy(state[0]), rtol=1e-13, atol=1e-15)
    for final, expected in zip(outputs[1:], state):
        np.testing.assert_allclose(to_numpy(final), to_numpy(expected), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncated_bptt_chains_to_the_full_sequence(cell, rng):
    """Two halves with the state carried over give the full run's outputs and, chained back, its input gradient."""
    full = MODULES[cell](D, H, num_layers=2, seed=5)
    x = as_float64(rng.normal(size=(N, 6, D)))
    dout = as_float64(rng.normal(size=(N, 6, H)))
    out_full = full.forward(x)
    dx_full = full.backward(dout)

    first, second = x[:, :3, :], x[:, 3:, :]
    out_first = full.forward(first)
    state = full.final_state
    out_second = full.forward(second, state)
    np.testing.assert_allclose(to_numpy(out_second), to_numpy(out_full[:, 3:, :]), rtol=1e-12)
    dx_second = full.backward(dout[:, 3:, :])
    carried = full.initial_state_grad
    full.forward(first)
    dx_first = full.backward(dout[:, :3, :], carried)
    np.testing.assert_allclose(to_numpy(out_first), to_numpy(out_full[:, :3, :]), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(dx_second), to_numpy(dx_full[:, 3:, :]), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(to_numpy(dx_first), to_numpy(dx_full[:, :3, :]), rtol=1e-10, atol=1e-14)


def test_forget_bias_initialisation():
    lstm = rnn.LSTM(D, 5, num_layers=2, forget_bias=1.0, seed=0)
    for layer in lstm.layers:
        total = to_numpy(layer.b_x.data) + to_numpy(layer.b_h.data)
        np.testing.assert_array_equal(total[5:10], np.ones(5))
        other = np.concatenate([total[:5], total[10:]])
        assert np.all(np.abs(other) <= 2 / math.sqrt(5)) and np.std(other) > 0.05
    default = rnn.LSTM(D, 5, seed=0).layers[0]
    assert not np.allclose(to_numpy(default.b_x.data)[5:10], 1.0)
    with pytest.raises(ValueError, match="LSTM only"):
        rnn.RecurrentLayer("gru", D, 5, forget_bias=1.0)


def test_same_seed_same_weights_and_float32(xp):
    a, b = rnn.GRU(D, H, seed=7, dtype=xp.float32), rnn.GRU(D, H, seed=7, dtype=xp.float32)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(to_numpy(p.data), to_numpy(q.data))
    out = a(asarray(np.ones((2, 3, D)), dtype=xp.float32))
    assert out.dtype == xp.float32 and tuple(out.shape) == (2, 3, H)


def test_lstm_in_float32_and_float64_agree_whatever_ran_first(xp, rng):
    # The LSTM keeps its per-column gate scale between calls, keyed by dtype: a
    # float64 run must not leak float64 arrays into a float32 run, or back.
    x = rng.normal(size=(2, 5, D))
    dout = rng.normal(size=(2, 5, H))
    results = {}
    for dtype in (xp.float64, xp.float32, xp.float64):
        lstm = rnn.LSTM(D, H, forget_bias=1.0, seed=4, dtype=dtype)
        out = lstm.forward(asarray(x, dtype=dtype))
        dx = lstm.backward(asarray(dout, dtype=dtype))
        assert out.dtype == dtype and dx.dtype == dtype and lstm.l0.w_h.grad.dtype == dtype
        results.setdefault(str(dtype), []).append((to_numpy(out), to_numpy(dx), to_numpy(lstm.l0.w_h.grad)))
    (first, second), (single,) = results[str(xp.float64)], results[str(xp.float32)]
    for a, b, c in zip(first, second, single):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-5)


def test_bad_input_gives_clear_errors(rng):
    lstm = rnn.LSTM(D, H, num_layers=2, seed=0)
    with pytest.raises(ValueError, match=r"x must be 3-D \(N, T, D\)"):
        lstm(as_float64(rng.normal(size=(N, D))))
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, 2\)"):
        lstm(as_float64(rng.normal(size=(N, T, 5))))
    x = as_float64(rng.normal(size=(N, T, D)))
    h0 = as_float64(np.zeros((2, N, H)))
    with pytest.raises(ValueError, match=r"c0 must have shape \(2, 3, 3\), got \(1, 3, 3\)"):
        lstm(x, (h0, as_float64(np.zeros((1, N, H)))))
    with pytest.raises(ValueError, match=r"pair \(h, c\)"):
        lstm(x, h0)
    w_x, w_h, b_x, b_h = _weights(rng, "rnn")
    with pytest.raises(ValueError, match=r"h0 must have shape \(3, 3\), got \(2, 3\)"):
        rnn.rnn_forward(x, as_float64(np.zeros((2, H))), w_x, w_h, b_x, b_h)
    with pytest.raises(ValueError, match=r"w_h must have shape \(3, 12\)"):
        rnn.lstm_forward(x, h0[0, ...], h0[0, ...], *_weights(rng, "gru"))
    with pytest.raises(ValueError, match="unknown cell"):
        rnn.RecurrentLayer("transformer", D, H)


def test_adding_problem_is_seeded_and_well_formed():
    x, y = rnn.adding_problem(200, 10, seed=3)
    x2, y2 = rnn.adding_problem(200, 10, seed=3)
    x3, _ = rnn.adding_problem(200, 10, seed=4)
    np.testing.assert_array_equal(to_numpy(x), to_numpy(x2))
    np.testing.assert_array_equal(to_numpy(y), to_numpy(y2))
    assert not np.array_equal(to_numpy(x), to_numpy(x3))
    values, markers = to_numpy(x)[..., 0], to_numpy(x)[..., 1]
    np.testing.assert_array_equal(markers[:, :5].sum(axis=1), np.ones(200))
    np.testing.assert_array_equal(markers[:, 5:].sum(axis=1), np.ones(200))
    np.testing.assert_allclose(to_numpy(y)[:, 0], (values * markers).sum(axis=1))
    _, y_big = rnn.adding_problem(20000, 4, seed=0)
    baseline = float(np.mean((to_numpy(y_big) - 1.0) ** 2))
    assert abs(baseline - rnn.ADDING_BASELINE_MSE) < 0.005


def test_copy_task_structure():
    x, y = rnn.copy_task(5, length=4, delay=6, num_symbols=3, seed=0)
    x_host, y_host = to_numpy(x), to_numpy(y)
    assert x_host.shape == (5, 14, 5) and y_host.shape == (5, 14)
    np.testing.assert_array_equal(x_host.sum(axis=2), np.ones((5, 14)))
    symbols = x_host[:, :4, :].argmax(axis=2)
    assert symbols.min() >= 1 and symbols.max() <= 3
    np.testing.assert_array_equal(x_host[:, 9, :].argmax(axis=1), np.full(5, 4))  # the delimiter
    np.testing.assert_array_equal(y_host[:, 10:], symbols)
    np.testing.assert_array_equal(y_host[:, :10], 0)
    np.testing.assert_array_equal(to_numpy(rnn.copy_task(5, 4, 6, 3, seed=0)[1]), y_host)


def test_noisy_sines_and_windows():
    clean = to_numpy(rnn.noisy_sines(200, periods=(10.0,), amplitudes=(2.0,), noise=0.0, seed=1))
    np.testing.assert_allclose(clean[10:], clean[:-10], atol=1e-12)  # periodic with period 10
    np.testing.assert_allclose(np.mean(clean**2), 2.0**2 / 2, rtol=1e-10)  # 20 whole periods: mean square A**2 / 2
    noisy = to_numpy(rnn.noisy_sines(200, periods=(10.0,), amplitudes=(2.0,), noise=0.3, seed=1))
    assert 0.2 < np.std(noisy - clean) < 0.4
    np.testing.assert_array_equal(noisy, to_numpy(rnn.noisy_sines(200, (10.0,), (2.0,), 0.3, seed=1)))
    series = asarray(np.arange(10.0))
    x, y = rnn.sliding_windows(series, window=3, horizon=2)
    assert tuple(x.shape) == (6, 3, 1) and tuple(y.shape) == (6, 1)
    np.testing.assert_array_equal(to_numpy(x)[2, :, 0], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(to_numpy(y)[:, 0], np.arange(4.0, 10.0))
    with pytest.raises(ValueError, match="too short"):
        rnn.sliding_windows(series, window=9, horizon=2)


def test_lstm_learns_a_short_adding_problem_with_clipping():
    """A small LSTM trained with Adam and norm clipping beats the 1/6 baseline clearly on T = 5."""
    x, y = rnn.adding_problem(1024, 5, seed=0)
    x_test, y_test = rnn.adding_problem(512, 5, seed=1)
    model = nn.Sequential(rnn.LSTM(2, 8, forget_bias=1.0, seed=0), rnn.LastTimeStep(), nn.Linear(8, 1, seed=1))
    history = fit(
        model,
        nn.MSELoss(),
        optim.Adam(model.parameters(), lr=2e-2),
        x,
        y,
        epochs=4,
        batch_size=32,
        clip_norm=1.0,
        seed=0,
    )
    test_mse = evaluate(model, nn.MSELoss(), x_test, y_test)["loss"]
    assert history["loss"][-1] < history["loss"][0]
    assert test_mse < 0.3 * rnn.ADDING_BASELINE_MSE, test_mse


def test_lstm_keeps_float32_and_caches_no_array_across_backends():
    from deepref.rnn import cells

    assert not [name for name in vars(cells) if "SCALE" in name.upper()]  # nothing pinned to a backend
    xp_host = np.random.default_rng(0)
    for backend_name in ("numpy", "array_api_strict"):
        pytest.importorskip(backend_name)
        with backend.use_backend(backend_name) as xp:
            model = rnn.LSTM(3, 4, seed=0, dtype="float32")
            x = backend.asarray(xp_host.normal(size=(2, 5, 3)), dtype="float32")
            out = model.forward(x)
            dx = model.backward(backend.asarray(xp_host.normal(size=(2, 5, 4)), dtype="float32"))
            assert out.dtype == dx.dtype == model.l0.w_h.grad.dtype == xp.float32
            assert tuple(out.shape) == (2, 5, 4) and tuple(dx.shape) == (2, 5, 3)


def test_rnn_lag_curve_draws_its_three_streams_from_spawned_seeds(monkeypatch):
    from deepref.rnn import probes

    seen, draw = [], np.random.default_rng

    def recording_rng(seed=None):
        seen.append(seed)
        return draw(seed)

    monkeypatch.setattr(np.random, "default_rng", recording_rng)
    x = as_float64(np.full((2, 5, 1), 1e-3))
    per_run = []
    for seed in (0, 1):
        seen.clear()
        probes.rnn_lag_curve(x, radius=0.9, hidden=4, seed=seed)
        per_run.append(list(seen))
    assert [len(s) for s in per_run] == [3, 3]  # W_x, W_h's orthogonal factor, u
    assert len(set(per_run[0] + per_run[1])) == 6  # seed, seed + 1, seed + 2 once shared two
