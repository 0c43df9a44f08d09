"""Update rules of deepref.optim on hand-computed steps, bad input, and saved state."""

import math

import numpy as np
import pytest

from deepref import nn, optim
from deepref.backend import asarray, get_namespace, to_numpy
from deepref.gradcheck import as_float64


def _param(values):
    return nn.Parameter(as_float64(values))


def _step(opt, param, grad):
    param.grad = as_float64(grad)
    opt.step()
    return to_numpy(param.data)


OPTIMIZERS = {
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
}


def test_sgd_plain_step():
    p = _param([1.0, -2.0])
    after = _step(optim.SGD([p], lr=0.1), p, [0.5, -1.0])
    np.testing.assert_allclose(after, [0.95, -1.9], rtol=0, atol=1e-15)


def test_sgd_momentum_dampening_and_weight_decay_by_hand():
    p = _param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    # step 1: g = 2 + 0.1 * 1 = 2.1; buf = g (no dampening on the first step); w = 1 - 0.21
    w1 = _step(opt, p, [2.0])[0]
    assert w1 == pytest.approx(0.79, abs=1e-15)
    # step 2: g = 2 + 0.1 * 0.79 = 2.079; buf = 0.9 * 2.1 + 0.5 * 2.079; w = w1 - 0.1 buf
    buf = 0.9 * 2.1 + 0.5 * (2.0 + 0.1 * 0.79)
    assert _step(opt, p, [2.0])[0] == pytest.approx(0.79 - 0.1 * buf, abs=1e-15)


def test_sgd_nesterov_by_hand():
    p = _param([0.0])
    opt = optim.SGD([p], lr=1.0, momentum=0.5, nesterov=True)
    # step 1: buf = 1, update g + mu buf = 1.5; step 2: buf = 0.5 + 1 = 1.5, update 1 + 0.75
    assert _step(opt, p, [1.0])[0] == pytest.approx(-1.5)
    assert _step(opt, p, [1.0])[0] == pytest.approx(-1.5 - 1.75)


def test_adagrad_by_hand():
    p = _param([1.0])
    opt = optim.Adagrad([p], lr=0.1, eps=0.0 + 1e-10)
    w1 = _step(opt, p, [2.0])[0]  # sum = 4, step = 0.1 * 2 / 2
    assert w1 == pytest.approx(0.9, abs=1e-9)
    w2 = _step(opt, p, [1.0])[0]  # sum = 5
    assert w2 == pytest.approx(0.9 - 0.1 / math.sqrt(5.0), abs=1e-9)


def test_rmsprop_by_hand_plain_and_centered():
    p = _param([1.0])
    opt = optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-8)
    v = 0.1 * 4.0
    assert _step(opt, p, [2.0])[0] == pytest.approx(1.0 - 0.01 * 2.0 / (math.sqrt(v) + 1e-8), abs=1e-14)
    q = _param([1.0])
    centered = optim.RMSprop([q], lr=0.01, alpha=0.9, eps=1e-8, centered=True, momentum=0.5)
    v, m = 0.1 * 4.0, 0.1 * 2.0
    buf = 2.0 / (math.sqrt(v - m * m) + 1e-8)
    assert _step(centered, q, [2.0])[0] == pytest.approx(1.0 - 0.01 * buf, abs=1e-14)


def test_adam_first_step_is_lr_times_sign():
    # With bias correction m_hat = g and v_hat = g**2, so the first step is lr * g / (|g| + eps).
    p = _param([1.0, 1.0, 1.0])
    after = _step(optim.Adam([p], lr=0.01, eps=1e-12), p, [3.0, -0.001, 1e4])
    np.testing.assert_allclose(after, [0.99, 1.01, 0.99], rtol=0, atol=1e-8)


def test_adam_two_steps_and_amsgrad_by_hand():
    b1, b2, lr, eps = 0.9, 0.999, 0.1, 1e-8
    for amsgrad in (False, True):
        p = _param([0.0])
        opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad)
        _step(opt, p, [4.0])
        w1 = -lr * 4.0 / (4.0 + eps)
        m = b1 * (1 - b1) * 4.0 + (1 - b1) * 1.0
        v = b2 * (1 - b2) * 16.0 + (1 - b2) * 1.0
        v_used = max(v, (1 - b2) * 16.0) if amsgrad else v
        expected = w1 - lr / (1 - b1**2) * m / (math.sqrt(v_used) / math.sqrt(1 - b2**2) + eps)
        assert _step(opt, p, [1.0])[0] == pytest.approx(expected, abs=1e-14)


def test_adamw_decouples_decay_from_the_gradient():
    p, q = _param([2.0]), _param([2.0])
    adamw = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    adam_l2 = optim.Adam([q], lr=0.1, weight_decay=0.5)
    # AdamW: w (1 - lr wd) - lr sign(g); Adam + L2: the decay enters g and is normalised away.
    assert _step(adamw, p, [1.0])[0] == pytest.approx(2.0 * (1 - 0.05) - 0.1, abs=1e-8)
    assert _step(adam_l2, q, [1.0])[0] == pytest.approx(2.0 - 0.1, abs=1e-8)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "lr must be"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), "beta2 must be in"),
        (lambda p: optim.Adam(p, betas=(-0.1, 0.9)), "beta1 must be in"),
        (lambda p: optim.AdamW(p, betas=(0.9,)), "betas must be a pair"),
        (lambda p: optim.RMSprop(p, alpha=1.5), "alpha must be in"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
        (lambda p: optim.Adagrad(p, eps=0.0), "eps must be"),
        (lambda p: optim.SGD(p, lr=float("nan")), "lr must be"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make([_param([1.0])])


def test_empty_parameter_list_and_wrong_type_raise():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="expected a deepref.nn.Parameter"):
        optim.SGD([as_float64([1.0])], lr=0.1)


def test_step_skips_parameters_without_gradient():
    a, b = _param([1.0]), _param([1.0, 2.0])
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = as_float64([1.0])
    opt.step()
    np.testing.assert_array_equal(to_numpy(b.data), [1.0, 2.0])
    assert opt.state[1] == {} and opt.steps == [1, 0]  # no state made for the skipped one
    b.grad = as_float64([1.0, 1.0])
    opt.step()  # b's first step: bias correction of step 1, as torch's per-parameter step count
    np.testing.assert_allclose(to_numpy(b.data), [0.9, 1.9], rtol=0, atol=1e-8)


def test_a_parameter_given_twice_is_stepped_once():
    p = _param([1.0])
    opt = optim.SGD([p, p], lr=0.1)
    assert len(opt.params) == 1
    assert _step(opt, p, [1.0])[0] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_param_groups_have_their_own_options():
    body, head = _param([1.0]), _param([1.0])
    opt = optim.SGD([{"params": [body]}, {"params": [head], "lr": 1.0, "momentum": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert opt.nesterov is False  # shared by both groups, so readable as an attribute
    body.grad, head.grad = as_float64([1.0]), as_float64([1.0])
    opt.step()
    assert to_numpy(body.data)[0] == pytest.approx(0.9) and to_numpy(head.data)[0] == pytest.approx(0.0)
    with pytest.raises(AttributeError, match="different lr values"):
        _ = opt.lr
    opt.lr = 0.5  # setting a shared hyperparameter sets it in every group
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5] and opt.lr == 0.5
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = -1.0
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['betas'\]"):
        optim.SGD([{"params": [body], "betas": (0.9, 0.9)}], lr=0.1)


@pytest.mark.parametrize("name", ["sgd", "sgd_nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_float32_parameters_and_state_stay_float32(name):
    xp = get_namespace()
    make = {"sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.1), **OPTIMIZERS}[name]
    p = nn.Parameter(asarray(np.linspace(-1.0, 1.0, 6).reshape(2, 3), dtype="float32"))
    opt = make([p])
    for _ in range(3):
        p.grad = asarray(np.full((2, 3), 0.5), dtype="float32")
        opt.step()
    assert p.data.dtype == xp.float32
    assert all(v.dtype == xp.float32 for v in opt.state[0].values())
    p.grad = asarray(np.full((2, 3), 0.5))  # float64
    with pytest.raises(TypeError, match=r"parameter 0 is \S*float32 but its gradient \S*float64"):
        opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_update_is_in_place_and_chunks_agree_with_one_block(name, rng, monkeypatch):
    """A parameter larger than a chunk gets the same update as one processed whole (NumPy's chunked kernels)."""
    from deepref.kernels import numpy_optim

    start = rng.normal(size=(3, 5000))
    grads = [rng.normal(size=(3, 5000)) for _ in range(3)]
    results = []
    for chunk in (8 * 4096, 8 * 15000 * 2):  # four chunks, the last one partial; one chunk
        monkeypatch.setattr(numpy_optim, "CHUNK_BYTES", chunk)
        p = nn.Parameter(asarray(start.copy()))
        data = p.data
        opt = OPTIMIZERS[name]([p])
        for g in grads:
            p.grad = asarray(g)
            opt.step()
        assert p.data is data  # updated in place
        results.append(to_numpy(p.data))
    np.testing.assert_array_equal(results[0], results[1])


def test_gradient_is_not_modified_by_weight_decay():
    p = _param([1.0, 2.0])
    grad = as_float64([0.5, 0.5])
    p.grad = grad
    optim.Adam([p], weight_decay=0.1).step()
    np.testing.assert_array_equal(to_numpy(grad), [0.5, 0.5])


def test_zero_grad_clears_gradients():
    p = _param([1.0])
    p.grad = as_float64([3.0])
    optim.SGD([p], lr=0.1).zero_grad()
    assert p.grad is None


def _run(params, opt, grads):
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = asarray(gi)
        opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_resumes_a_run_bit_identically(name, rng):
    start = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    grads = [[rng.normal(size=(3, 2)), rng.normal(size=2)] for _ in range(10)]
    reference = [nn.Parameter(asarray(s.copy())) for s in start]
    _run(reference, OPTIMIZERS[name](reference), grads)

    first = [nn.Parameter(asarray(s.copy())) for s in start]
    opt = OPTIMIZERS[name](first)
    _run(first, opt, grads[:4])
    saved_state, saved_weights = opt.state_dict(), [to_numpy(p.data).copy() for p in first]

    resumed = [nn.Parameter(asarray(w)) for w in saved_weights]
    fresh = OPTIMIZERS[name](resumed)
    fresh.load_state_dict(saved_state)
    _run(resumed, fresh, grads[4:])
    for a, b in zip(reference, resumed):
        assert np.array_equal(to_numpy(a.data), to_numpy(b.data))


def test_load_state_dict_checks_the_parameter_count():
    opt = optim.Adam([_param([1.0]), _param([2.0])])
    with pytest.raises(ValueError, match="saved state has 2 parameters, this optimizer 1"):
        optim.Adam([_param([1.0])]).load_state_dict(opt.state_dict())


def test_clip_grad_norm_rescales_to_the_bound():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad, b.grad = as_float64([3.0, 0.0]), as_float64([4.0])
    before = optim.clip_grad_norm([a, b], max_norm=1.0)
    assert before == pytest.approx(5.0)
    assert optim.global_grad_norm([a, b]) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(to_numpy(a.grad), [0.6, 0.0], rtol=1e-5)


def test_clip_grad_norm_leaves_small_gradients_and_stops_on_nan():
    a = _param([0.0, 0.0])
    a.grad = as_float64([0.3, 0.4])
    assert optim.clip_grad_norm([a], max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(to_numpy(a.grad), [0.3, 0.4])
    a.grad = as_float64([np.nan, 0.0])
    with pytest.raises(FloatingPointError, match="gradient norm is nan"):
        optim.clip_grad_norm([a], max_norm=1.0)
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0"):
        optim.clip_grad_norm([a], max_norm=0.0)


def test_clip_grad_norm_of_huge_float32_gradients_does_not_overflow():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad = asarray(np.array([3e20, 0.0]), dtype="float32")
    b.grad = asarray(np.array([4e20]), dtype="float32")
    assert optim.clip_grad_norm([a, b], max_norm=1.0) == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(to_numpy(a.grad), [0.6, 0.0], rtol=1e-5)
    assert a.grad.dtype == get_namespace().float32


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e20])
def test_global_norm_is_one_helper_exact_at_every_scale(scale):
    arrays = [asarray(np.array([3.0, 0.0]) * scale, dtype="float32"), asarray(np.array([[4.0]]) * scale)]
    assert optim.global_norm(arrays) == pytest.approx(5.0 * scale, rel=1e-6)
    assert optim.global_norm([asarray(np.array([np.inf, 1.0]))]) == np.inf


def test_clip_grad_value_clamps_each_entry():
    a, b = _param([0.0, 0.0, 0.0]), _param([0.0])
    a.grad, b.grad = as_float64([-3.0, 0.2, 5.0]), as_float64([-0.5])
    optim.clip_grad_value([a, b], clip_value=0.4)
    np.testing.assert_array_equal(to_numpy(a.grad), [-0.4, 0.2, 0.4])
    np.testing.assert_array_equal(to_numpy(b.grad), [-0.4])
    with pytest.raises(ValueError, match="clip_value must be a finite number > 0"):
        optim.clip_grad_value([a], clip_value=-1.0)


def test_step_rejects_a_gradient_of_the_wrong_shape():
    p = _param([1.0, 2.0])
    p.grad = as_float64([1.0])
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2,\) but its gradient \(1,\)"):
        optim.SGD([p], lr=0.1).step()


def test_load_state_dict_checks_the_state_shapes():
    p = _param([1.0, 2.0])
    p.grad = as_float64([0.5, 0.5])
    opt = optim.Adam([p])
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match=r"saved exp_avg of parameter 0 has shape \(2,\), the parameter \(3,\)"):
        optim.Adam([_param([1.0, 2.0, 3.0])]).load_state_dict(saved)


def test_one_weight_decay_rule_for_optimizers_penalties_and_the_landscape(rng):
    from deepref import generalization
    from deepref.generalization import penalties
    from deepref.landscape import hessian

    w, g = as_float64(rng.normal(size=(3, 2))), as_float64(rng.normal(size=(3, 2)))
    expected = to_numpy(g) + 0.3 * to_numpy(w)
    np.testing.assert_allclose(to_numpy(optim.weight_decay_gradient(w, 0.3, g)), expected, rtol=1e-15)
    np.testing.assert_allclose(to_numpy(generalization.elastic_net_gradient(w, 0.3, l1_ratio=0.0)),
                               0.3 * to_numpy(w), rtol=1e-15)
    assert optim.weight_decay_penalty(w, 0.3) == pytest.approx(generalization.l2_penalty(w, 0.3), rel=1e-15)
    assert hessian.weight_decay_gradient is penalties.weight_decay_gradient is optim.weight_decay_gradient
    start = to_numpy(w).copy()
    p, q = _param(start.copy()), _param(start.copy())  # SGD's weight_decay is the same rule
    after = _step(optim.SGD([p], lr=0.1, weight_decay=0.3), p, to_numpy(g))
    np.testing.assert_allclose(after, start - 0.1 * expected, rtol=1e-14)
    decayed = to_numpy(q.data).copy()
    optim.decay_weights(q.data, 0.1, 0.3)
    np.testing.assert_allclose(to_numpy(q.data), decayed * (1 - 0.03), rtol=1e-15)
