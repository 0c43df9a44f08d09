"""Every registered kernel (:func:`deepref.kernels.registered`) held to its specification.

Each case calls the public function twice on the same inputs, once as it is
(the kernel runs) and once inside :func:`deepref.kernels.disabled` (the
specification runs), on shapes drawn by hypothesis: odd sizes, an empty batch
where the operation allows one, and inputs that are not C-contiguous. What is
promised:

* bit for bit: the optimizer steps (NumPy: the same operations chained in
  place; CuPy: a few ulp, where CuPy applies a Python scalar in higher
  precision), im2col, col2im in float64 (in float32 the specification's
  scatter-add sums in double precision), the softmax cross-entropy forward pass,
  the LSTM wherever its recurrent products are not cut into column blocks
  (never at these sizes; the blocked products are checked in
  ``tests/test_rnn_fused.py``), and the bilinear sampler (``grid_sample``,
  forward and both gradients, on the same grid; its gradients are also
  checked against finite differences with the kernel on in ``tests/test_stn.py``);
* to rounding (sums taken in another order or divided differently): batch
  and layer normalisation, the softmax cross-entropy gradient and the
  affine grid generator (one matrix product instead of a batch), within
  ``RTOL`` of each result's largest entry; these kernels' backward passes are
  also gradient-checked in float64.

CuPy kernels run only on a GPU (``--backend-cupy``); their sources are also
checked without one in ``tests/test_fused_cupy.py`` and ``tests/test_cupy_kernels.py``.
"""

import itertools
import os
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepref import backend, kernels, nn, optim, rnn
from deepref.gradcheck import check_backward

RTOL = {"float64": 1e-12, "float32": 2e-5}
"""Largest ``max |kernel - specification| / max |specification|`` per result where the kernels round differently."""

EXAMPLES = int(os.environ.get("KERNEL_EXAMPLES", "12"))
"""Drawn inputs per kernel (``KERNEL_EXAMPLES=150`` for a longer search; 150 passed when the file was written)."""
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from(["float64", "float32"])


# --- helpers ---------------------------------------------------------------------------------------------


def _namespace(backend_name: str):
    """The array library of ``backend_name``; CuPy only on the CuPy backend (a GPU)."""
    if backend_name == "numpy":
        return np
    if backend.get_backend() != "cupy":
        pytest.skip("CuPy kernels run on the CuPy backend (--backend-cupy, a GPU)")
    import cupy

    return cupy


def _host(a):
    return np.asarray(backend.to_numpy(a))


def _layout(xp, host, order: str):
    """``host`` on ``xp`` as a C-ordered array, a Fortran-ordered one ("F") or a strided view ("S")."""
    if order == "S":
        return xp.asarray(np.repeat(host, 2, axis=-1))[..., ::2]
    array = xp.asarray(host.copy())
    return xp.asfortranarray(array) if order == "F" else array


ORDERS = st.sampled_from(["C", "F", "S"])


def _compare(kernel_result, spec_result, exact: bool, dtype: str, floor: float = 0.0):
    """Results (nested tuples of arrays, ``None`` or scalars) equal bit for bit, or within ``RTOL``.

    The tolerance is relative to each result's largest entry, or to ``floor`` where that is larger (a
    result that cancels, such as batch norm's input gradient, is small against the terms it sums).
    """
    flat_k, flat_s = _flatten(kernel_result), _flatten(spec_result)
    assert len(flat_k) == len(flat_s)
    for ours, theirs in zip(flat_k, flat_s):
        if theirs is None:
            assert ours is None
            continue
        ours, theirs = _host(ours), _host(theirs)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        if exact:
            np.testing.assert_array_equal(ours, theirs)
        elif theirs.size:
            scale = max(float(np.max(np.abs(theirs))), floor, np.finfo(theirs.dtype).tiny)
            assert float(np.max(np.abs(ours - theirs))) <= RTOL[dtype] * scale


def _largest(a) -> float:
    return float(np.max(np.abs(a))) if a.size else 0.0


def _flatten(value) -> list:
    if isinstance(value, (tuple, list)):
        return [item for part in value for item in _flatten(part)]
    if hasattr(value, "_fields"):  # a cache
        return []
    return [value]


def _both(function, *args, **kwargs):
    """``function(*args)`` with kernels on and off (the arguments are copied for each run)."""
    with kernels.use_kernels(True):
        with_kernel = function(*_copies(args), **kwargs)
    with kernels.disabled():
        specification = function(*_copies(args), **kwargs)
    return with_kernel, specification


def _copies(args):
    return [a.copy() if hasattr(a, "copy") and hasattr(a, "shape") else a for a in args]


def _gradient_check(forward, backward, inputs, wrt=None):
    """The kernels' backward pass against finite differences of their forward pass (float64 host inputs)."""
    with kernels.use_kernels(True), backend.use_backend("numpy"):
        errors = check_backward(forward, backward, [np.asarray(a, dtype=np.float64) for a in inputs], wrt=wrt)
    assert max(errors.values()) < 1e-7, errors


# --- optimizers ------------------------------------------------------------------------------------------

OPTIMIZER_OPTIONS = {
    "sgd_step": ("SGD", dict(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.2], nesterov=[False, True],
                            weight_decay=[0.0, 0.01])),
    "adagrad_step": ("Adagrad", dict(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.01],
                                     initial_accumulator_value=[0.0, 0.1])),
    "rmsprop_step": ("RMSprop", dict(lr=[0.01], centered=[False, True], momentum=[0.0, 0.5],
                                     weight_decay=[0.0, 0.01])),
    "adam_step": ("Adam", dict(lr=[0.01], amsgrad=[False, True], weight_decay=[0.0, 0.01])),
}


def _option_sets(op):
    name, grid = OPTIMIZER_OPTIONS[op]
    sets = []
    for values in itertools.product(*grid.values()):
        options = dict(zip(grid, values))
        if options.get("nesterov") and (not options["momentum"] or options["dampening"]):
            continue
        sets.append((name, options))
    if op == "adam_step":
        sets += [("AdamW", dict(lr=0.01, amsgrad=amsgrad, weight_decay=0.1)) for amsgrad in (False, True)]
    return sets


def _optimizer_case(op):
    @SETTINGS
    @given(data=st.data(), dtype=DTYPES)
    def check(xp, data, dtype):
        name, options = data.draw(st.sampled_from(_option_sets(op)))
        shapes = data.draw(st.lists(st.tuples(st.integers(0, 7), st.integers(1, 9)), min_size=1, max_size=3))
        orders = data.draw(st.lists(ORDERS, min_size=len(shapes), max_size=len(shapes)))
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
        start = [rng.normal(size=s).astype(dtype) for s in shapes]
        grads = [[rng.normal(size=s).astype(dtype) for s in shapes] for _ in range(3)]
        results = []
        for on in (True, False):
            params = [nn.Parameter(_layout(xp, w, order)) for w, order in zip(start, orders)]
            opt = getattr(optim, name)(params, **options)
            with kernels.use_kernels(on):
                for step_grads in grads:
                    for p, g, order in zip(params, step_grads, orders):
                        p.grad = _layout(xp, g, order)
                    opt.step()
            results.append(([p.data for p in params], [[s[k] for k in sorted(s)] for s in opt.state]))
        if xp is np:
            _compare(results[0], results[1], exact=True, dtype=dtype)
        else:  # a few ulp: CuPy's own kernels may apply a Python scalar in higher precision
            for ours, theirs in zip(_flatten(results[0]), _flatten(results[1])):
                np.testing.assert_array_max_ulp(_host(ours), _host(theirs), maxulp=4)

    return check


# --- recurrent layers ------------------------------------------------------------------------------------

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sequence_inputs(data, cell: str, dtype: str, allow_empty: bool = True):
    n = data.draw(st.integers(0 if allow_empty else 1, 5))
    steps, d, h = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 9))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    width = GATES[cell] * h
    shapes = [(n, steps, d), *[(n, h)] * (2 if cell == "lstm" else 1), (d, width), (h, width), (width,), (width,)]
    scales = [1.0, *[0.5] * (2 if cell == "lstm" else 1), 0.6, 0.6, 0.3, 0.3]
    return [(s * rng.normal(size=shape)).astype(dtype) for s, shape in zip(scales, shapes)], rng


def _sequence_case(cell: str):
    """Forward and backward of one cell (both kernels), on odd shapes, an empty batch and a strided input."""
    forward, backward = getattr(rnn, f"{cell}_forward"), getattr(rnn, f"{cell}_backward")
    state_size = 2 if cell == "lstm" else 1

    def run(xp, inputs, order, douts):
        x = _layout(xp, inputs[0], order)
        rest = [xp.asarray(a) for a in inputs[1:]]
        outputs, cache = forward(x, *rest)
        return outputs, backward(tuple(xp.asarray(d) for d in douts), cache)

    @SETTINGS
    @given(data=st.data(), dtype=DTYPES)
    def check(xp, data, dtype):
        inputs, rng = _sequence_inputs(data, cell, dtype)
        order = data.draw(ORDERS)
        n, steps, _ = inputs[0].shape
        h = inputs[1].shape[1]
        douts = [rng.normal(size=(n, steps, h)).astype(dtype)] + [rng.normal(size=(n, h)).astype(dtype)] * state_size
        with kernels.use_kernels(True):
            with_kernel = run(xp, inputs, order, douts)
        with kernels.disabled():
            specification = run(xp, inputs, order, douts)
        _compare(with_kernel, specification, exact=xp is np, dtype=dtype)

    return check


def test_the_lstm_kernels_gradients_agree_with_finite_differences(rng):
    inputs = [rng.normal(size=s) * 0.5 for s in [(3, 4, 2), (3, 5), (3, 5), (2, 20), (5, 20), (20,), (20,)]]
    _gradient_check(rnn.lstm_forward, rnn.lstm_backward, inputs)


def test_the_lstm_backward_kernel_reads_only_its_own_cache_and_runs_with_kernels_off(rng):
    from deepref.kernels import numpy_recurrent

    inputs = [rng.normal(size=s) for s in [(2, 3, 2), (2, 4), (2, 4), (2, 16), (4, 16), (16,), (16,)]]
    with kernels.disabled():
        (out, _, _), spec_cache = rnn.lstm_forward(*inputs)
    with pytest.raises(TypeError, match="reads the cache of lstm_forward"):
        numpy_recurrent.lstm_backward(np.ones_like(out), (None, None), spec_cache)
    with kernels.use_kernels(True):
        (out, _, _), kernel_cache = rnn.lstm_forward(*inputs)
    assert kernel_cache.backward_op == "lstm_sequence_backward"
    with kernels.disabled():  # the cache still goes to the kernel that can read it
        grads = rnn.lstm_backward((np.ones_like(out), None, None), kernel_cache)
        expected = rnn.lstm_backward((np.ones_like(out), None, None), spec_cache)
    _compare(grads, expected, exact=True, dtype="float64")


# --- normalisation -----------------------------------------------------------------------------------------


def _norm_inputs(data, dtype, min_rows):
    # (64, 256) rows are folded into NumPy's ufunc buffer by the kernel; the drawn shapes mostly are not
    n, d = data.draw(st.one_of(st.tuples(st.integers(min_rows, 9), st.integers(1, 9)), st.just((64, 256))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.normal(size=(n, d)) * 3.0 + 1.0
    return [a.astype(dtype) for a in (x, rng.normal(size=d), rng.normal(size=d), rng.normal(size=(n, d)),
                                      rng.normal(size=d), rng.uniform(0.5, 2.0, size=d))]


def _norm_case(forward: str, min_rows: int):
    """A normalisation forward pass (its kernel) and the backward pass on its cache (``normalization_backward``)."""

    @SETTINGS
    @given(data=st.data(), dtype=DTYPES)
    def check(xp, data, dtype):
        x, gamma, beta, dout, mean, var = _norm_inputs(data, dtype, min_rows)
        order = data.draw(ORDERS)
        extra = [xp.asarray(mean), xp.asarray(var)] if forward == "batchnorm_eval_forward" else []
        function = getattr(nn.normalization, forward)

        def run():
            out, cache = function(_layout(xp, x, order), xp.asarray(gamma), xp.asarray(beta), *extra)
            return out, nn.normalization.normalization_backward(xp.asarray(dout), cache)

        with kernels.use_kernels(True):
            with_kernel = run()
        with kernels.disabled():
            specification = run()
        floor = 0.0
        if x.size:
            axis = 1 if forward == "layernorm_forward" else 0
            x_hat = (x - x.mean(axis=axis, keepdims=True)) / np.sqrt(x.var(axis=axis, keepdims=True) + 1e-5)
            floor = max(x.shape) * _largest(dout) * max(1.0, _largest(gamma)) * max(1.0, _largest(x_hat), _largest(x))
        _compare(with_kernel, specification, exact=False, dtype=dtype, floor=floor)

    return check


@pytest.mark.parametrize("forward", ["batchnorm_forward", "batchnorm_eval_forward", "layernorm_forward"])
def test_the_normalization_kernels_gradients_agree_with_finite_differences(forward, rng):
    d = 5
    inputs = [rng.normal(size=(6, d)) * 2 + 1, rng.uniform(0.5, 1.5, d), rng.normal(size=d)]
    if forward == "batchnorm_eval_forward":
        inputs += [rng.normal(size=d), rng.uniform(0.5, 2.0, d)]
    _gradient_check(getattr(nn.normalization, forward), nn.normalization.normalization_backward, inputs, wrt=[0, 1, 2])


# --- convolution --------------------------------------------------------------------------------------------


def _conv_case(op: str):
    @SETTINGS
    @given(data=st.data(), dtype=DTYPES)
    def check(xp, data, dtype):
        n, c = data.draw(st.integers(0, 3)), data.draw(st.integers(1, 3))
        kernel_size = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
        stride, dilation = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
        padding = data.draw(st.integers(0, 2))
        span = [dilation * (k - 1) + 1 for k in kernel_size]
        hw = [data.draw(st.integers(max(1, s - 2 * padding), 8)) for s in span]
        geometry = nn.conv.windows(tuple(hw), kernel_size, stride, padding, dilation)
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
        order = data.draw(ORDERS)
        if op == "im2col":
            x = _layout(xp, rng.normal(size=(n, c, *hw)).astype(dtype), order)
            fill = data.draw(st.sampled_from([0.0, -np.inf]))
            ours, theirs = _both(nn.conv.im2col, x, geometry, fill)
        else:
            rows, columns = c * kernel_size[0] * kernel_size[1], geometry.out_hw[0] * geometry.out_hw[1] * n
            cols = _layout(xp, rng.normal(size=(rows, columns)).astype(dtype), order)
            ours, theirs = _both(nn.conv.col2im, cols, geometry, c)
        # the specification's scatter-add sums float32 columns in double precision (np.bincount);
        # on CuPy it adds with atomics, in no set order
        exact = op == "im2col" or (dtype == "float64" and xp is np)
        _compare(ours, theirs, exact=exact, dtype=dtype, floor=_largest(_host(ours)))

    return check


# --- losses ---------------------------------------------------------------------------------------------------


def _cross_entropy_case(op: str):
    """Forward (exact) and backward (to rounding) of softmax cross-entropy; the backward's kernel on either cache."""

    @SETTINGS
    @given(data=st.data(), dtype=DTYPES)
    def check(xp, data, dtype):
        n, classes = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 12))
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
        z = _layout(xp, (rng.normal(size=(n, classes)) * 4).astype(dtype), data.draw(ORDERS))
        y = xp.asarray(rng.integers(0, classes, size=n))
        dloss = float(rng.normal())
        losses = nn.losses
        if op == "softmax_cross_entropy_forward":
            ours, theirs = _both(losses.softmax_cross_entropy_forward, z, y)
            _compare(ours[0], theirs[0], exact=True, dtype=dtype)
            _compare(tuple(ours[1]), tuple(theirs[1]), exact=True, dtype=dtype)
        else:
            with kernels.disabled():
                _, cache = losses.softmax_cross_entropy_forward(z, y)
            ours, theirs = _both(losses.softmax_cross_entropy_backward, dloss, cache)
            _compare(ours, theirs, exact=False, dtype=dtype, floor=abs(dloss) / n)  # (p - 1) cancels

    return check


def test_the_cross_entropy_kernels_gradient_agrees_with_finite_differences(rng):
    y = np.array([0, 2, 1, 2])
    with kernels.use_kernels(True), backend.use_backend("numpy"):
        errors = check_backward(lambda z: nn.losses.softmax_cross_entropy_forward(z, y),
                                nn.losses.softmax_cross_entropy_backward, [rng.normal(size=(4, 3))])
    assert max(errors.values()) < 1e-7, errors


# --- spatial transformer sampling -----------------------------------------------------------------------------


def _sampling_inputs(data, dtype):
    """Images, affine maps, a grid with points outside the image, and upstream gradients of both outputs."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    h, w, h_out, w_out = (data.draw(st.integers(1, 6)) for _ in range(4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    theta = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) + rng.normal(size=(n, 2, 3)) * 0.4
    host = dict(x=rng.normal(size=(n, c, h, w)), theta=theta, grid=rng.uniform(-1.4, 1.4, (n, h_out, w_out, 2)),
                dgrid=rng.normal(size=(n, h_out, w_out, 2)), dout=rng.normal(size=(n, c, h_out, w_out)))
    return {k: v.astype(dtype) for k, v in host.items()}, data.draw(st.booleans())


def _sampling_case(op: str):
    """The grid generator (to rounding: other matrix products) or the sampler (bit for bit), forward and backward."""

    @SETTINGS
    @given(data=st.data(), dtype=DTYPES)
    def check(xp, data, dtype):
        sampling = nn.sampling
        sampler = op.startswith("grid_sample")
        arrays, align = _sampling_inputs(data, dtype)  # no empty batch: the specification's scatter needs rows
        orders = {name: data.draw(ORDERS) for name in arrays}
        a = {name: _layout(xp, value, orders[name]) for name, value in arrays.items()}

        def run():
            if sampler:
                out, cache = sampling.grid_sample_forward(a["x"], a["grid"], align)
                return out, sampling.grid_sample_backward(a["dout"], cache)
            size = (a["theta"].shape[0], 1, *a["dgrid"].shape[1:3])
            grid, cache = sampling.affine_grid_forward(a["theta"], size, align)
            return grid, sampling.affine_grid_backward(a["dgrid"], cache)

        with kernels.use_kernels(True):
            with_kernel = run()
        with kernels.disabled():
            specification = run()
        _compare(with_kernel, specification, exact=sampler, dtype=dtype, floor=1.0)

    return check


def test_the_affine_grid_kernels_gradient_agrees_with_finite_differences(rng):
    with kernels.use_kernels(True), backend.use_backend("numpy"):
        errors = check_backward(nn.sampling.affine_grid_forward, nn.sampling.affine_grid_backward,
                                [rng.normal(size=(3, 2, 3)), (3, 2, 4, 5), False])
    assert errors[0] < 1e-8, errors


def test_the_sampler_kernel_agrees_with_its_specification_over_many_blocks(monkeypatch):
    """Blocks of 8 or 16 points (the drawn shapes otherwise fit one block): a block ends mid-image."""
    from collections import OrderedDict

    from deepref.kernels import numpy_sampling

    monkeypatch.setattr(numpy_sampling, "BLOCK_BYTES", 64)
    monkeypatch.setattr(numpy_sampling, "_POOL", OrderedDict())
    CASES[("grid_sample_backward", "numpy")](np)


def test_the_sampler_kernel_keeps_each_cache_and_result_until_it_is_gone(rng):
    """Two forward passes before either backward pass: neither overwrites the other's cache or output."""
    from deepref.kernels import numpy_sampling

    x = [rng.normal(size=(2, 3, 5, 4)) for _ in range(2)]
    grid = [rng.uniform(-1.2, 1.2, size=(2, 3, 6, 2)) for _ in range(2)]
    dout = rng.normal(size=(2, 3, 3, 6))
    with kernels.disabled():
        expected = [(out.copy(), nn.sampling.grid_sample_backward(dout, cache))
                    for out, cache in (nn.sampling.grid_sample_forward(x[i], grid[i]) for i in range(2))]
    with kernels.use_kernels(True):
        first, second = (nn.sampling.grid_sample_forward(x[i], grid[i]) for i in range(2))
        assert first[1].workspace is not second[1].workspace
        for (out, cache), (spec_out, spec_grads) in zip((first, second), expected):
            np.testing.assert_array_equal(out, spec_out)
            _compare(nn.sampling.grid_sample_backward(dout, cache), spec_grads, exact=True, dtype="float64")
        grads = nn.sampling.grid_sample_backward(dout, first[1])
        nn.sampling.grid_sample_backward(dout, second[1])  # writes the workspace's gradient arrays again
        _compare(grads, expected[0][1], exact=True, dtype="float64")
        workspace = first[1].workspace
        del first
        assert nn.sampling.grid_sample_forward(x[0], grid[0])[1].workspace is workspace  # reused once free
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(numpy_sampling, "KEEP_BYTES", 0)  # too large to keep: one call each
            big = nn.sampling.grid_sample_forward(x[0], grid[0][:, :2])[1].workspace  # a new shape
            assert nn.sampling.grid_sample_forward(x[0], grid[0][:, :2])[1].workspace is not big
    with kernels.disabled():
        with pytest.raises(TypeError, match="reads the cache of grid_sample_forward"):
            numpy_sampling.grid_sample_backward(dout, nn.sampling.grid_sample_forward(x[0], grid[0])[1])
        # a kernel's cache still goes to the kernel that can read it
        _compare(nn.sampling.grid_sample_backward(dout, second[1]), expected[1][1], exact=True, dtype="float64")


# --- every registered kernel has a case ---------------------------------------------------------------------------

CASES = {
    **{(op, b): _optimizer_case(op) for op in OPTIMIZER_OPTIONS for b in ("numpy", "cupy")},
    **{(f"{cell}_sequence_{d}", b): _sequence_case(cell)
       for cell in GATES for d in ("forward", "backward") for b in ("numpy", "cupy")},
    ("batchnorm_forward", "numpy"): _norm_case("batchnorm_forward", 2),
    ("batchnorm_eval_forward", "numpy"): _norm_case("batchnorm_eval_forward", 0),
    ("layernorm_forward", "numpy"): _norm_case("layernorm_forward", 0),
    ("normalization_backward", "numpy"): _norm_case("batchnorm_forward", 2),
    **{(op, b): _conv_case(op) for op in ("im2col", "col2im") for b in ("numpy", "cupy")},
    ("softmax_cross_entropy_forward", "numpy"): _cross_entropy_case("softmax_cross_entropy_forward"),
    ("softmax_cross_entropy_backward", "numpy"): _cross_entropy_case("softmax_cross_entropy_backward"),
    **{(f"{name}_{d}", "numpy"): _sampling_case(f"{name}_{d}")
       for name in ("affine_grid", "grid_sample") for d in ("forward", "backward")},
}
"""For each ``(op, backend)``: ``check(xp)``, which draws its inputs and compares kernel and specification."""


def test_every_registered_kernel_has_a_case():
    missing = sorted(set(kernels.registered()) - set(CASES))
    assert not missing, f"registered kernels without a case in tests/test_kernels.py: {missing}"


@pytest.mark.parametrize("key", sorted(kernels.registered()), ids=lambda key: f"{key[0]}-{key[1]}")
def test_kernel_agrees_with_its_specification(key):
    op, backend_name = key
    if key not in CASES:
        pytest.fail(f"no case for the {backend_name} kernel of {op!r}")
    CASES[key](_namespace(backend_name))


def test_kernels_are_switched_off_and_on():
    with kernels.disabled():
        assert kernels.lookup("adam_step", np) is None
        with kernels.use_kernels(True):
            assert kernels.lookup("adam_step", np) is not None
    assert kernels.lookup("adam_step", types.ModuleType("array_api_strict")) is None  # a library without kernels
    with pytest.raises(LookupError, match="no numpy kernel is registered for 'nothing'"):
        kernels.require("nothing", np)
