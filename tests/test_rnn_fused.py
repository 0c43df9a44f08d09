"""The NumPy LSTM kernel (deepref.kernels.numpy_recurrent).

It gives the step-by-step cells' numbers, blocked products and gradients.

Kernels are switched on here whatever ``DEEPREF_KERNELS`` says: these tests are about the kernel.
"""

import numpy as np
import pytest

from deepref import kernels, rnn
from deepref.backend import to_numpy
from deepref.gradcheck import check_backward
from deepref.kernels import numpy_recurrent as fused


@pytest.fixture(autouse=True)
def kernels_on():
    with kernels.use_kernels(True):
        yield


def _inputs(rng, n, steps, d, h, dtype="float64"):
    """``x, h0, c0, w_x, w_h, b_x, b_h`` as NumPy arrays."""
    shapes = [(n, steps, d), (n, h), (n, h), (d, 4 * h), (h, 4 * h), (4 * h,), (4 * h,)]
    scales = [1.0, 0.5, 0.5, 0.6, 0.6, 0.3, 0.3]
    return [(s * rng.normal(size=shape)).astype(dtype) for s, shape in zip(scales, shapes)]


def _step_by_step(inputs, dout, dh_n, dc_n):
    """Forward and backward with :func:`deepref.rnn.lstm_step_forward` / ``lstm_step_backward`` in a loop."""
    x, h, c, *weights = inputs
    caches, outputs = [], []
    for t in range(x.shape[1]):
        (h, c), cache = rnn.lstm_step_forward(x[:, t, :], h, c, *weights)
        outputs.append(h)
        caches.append(cache)
    dh, dc = dh_n, dc_n
    dxs, dweights = [None] * x.shape[1], [np.zeros_like(w) for w in weights]
    for t in reversed(range(x.shape[1])):
        dxs[t], dh, dc, *step_grads = rnn.lstm_step_backward((dout[:, t, :] + dh, dc), caches[t])
        dweights = [a + b for a, b in zip(dweights, step_grads)]
    return [np.stack(outputs, axis=1), h, c, np.stack(dxs, axis=1), dh, dc, *dweights]


BLOCKED = 2 * 40 * 8
"""A ``SMALL_PRODUCT`` that cuts both recurrent products of 2 sequences, H 10, into blocks of 8 float64 columns
and more: ``(2, 10) @ (10, 40)`` into 32 + 8 columns, ``(2, 40) @ (40, 10)`` into 8 + 2."""


def _check_blocked(w_h, rows):
    assert [len(fused.column_blocks(w, rows)) for w in (w_h, w_h.T)] == [2, 2]


@pytest.mark.parametrize("small_product", [fused.SMALL_PRODUCT, BLOCKED])
def test_fused_lstm_gives_the_numbers_of_the_step_by_step_cells(small_product, rng, monkeypatch):
    monkeypatch.setattr(fused, "SMALL_PRODUCT", small_product)
    n, steps, d, h = 2, 6, 3, 10
    inputs = _inputs(rng, n, steps, d, h)
    if small_product == BLOCKED:
        _check_blocked(inputs[4], n)
    dout, dh_n, dc_n = rng.normal(size=(n, steps, h)), rng.normal(size=(n, h)), rng.normal(size=(n, h))
    (out, h_n, c_n), cache = rnn.lstm_forward(*inputs)
    assert isinstance(cache, fused.FusedLSTMCache)
    grads = rnn.lstm_backward((dout, dh_n, dc_n), cache)
    expected = _step_by_step(inputs, dout, dh_n, dc_n)
    for ours, reference in zip([out, h_n, c_n, *grads], expected):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-13)


def test_fused_lstm_gradients_with_blocked_products(rng, monkeypatch):
    monkeypatch.setattr(fused, "SMALL_PRODUCT", BLOCKED)
    inputs = _inputs(rng, 2, 3, 2, 10)
    _check_blocked(inputs[4], 2)
    errors = check_backward(rnn.lstm_forward, rnn.lstm_backward, inputs)
    assert len(errors) == len(inputs)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("dtype, align", [("float32", 16), ("float64", 8)])
def test_column_blocks_are_aligned_and_multiply_like_the_whole_matrix(dtype, align, rng):
    rows, depth, width = 20, 650, 2600
    w = rng.normal(size=(depth, width)).astype(dtype)
    a = rng.normal(size=(rows, depth)).astype(dtype)
    blocks = fused.column_blocks(w, rows)
    widths = [stop - start for start, stop, _ in blocks]
    step = fused.SMALL_PRODUCT // (rows * depth) // align * align
    assert widths[:-1] == [step] * (len(blocks) - 1) and 0 < widths[-1] <= step and sum(widths) == width
    assert all(block.flags.c_contiguous for *_, block in blocks)
    transposed = fused.column_blocks(w.T, rows)  # blocks of a transposed matrix: views
    assert all(np.shares_memory(block, w) for *_, block in transposed)
    tolerance = {"rtol": 1e-4 if dtype == "float32" else 1e-12, "atol": 1e-3}
    out, out_transposed = np.empty((rows, width), dtype=dtype), np.empty((rows, depth), dtype=dtype)
    fused.blocked_matmul(a, blocks, out)
    np.testing.assert_allclose(out, a @ w, **tolerance)
    b = rng.normal(size=(rows, width)).astype(dtype)
    fused.blocked_matmul(b, transposed, out_transposed)
    np.testing.assert_allclose(out_transposed, b @ w.T, **tolerance)


def test_column_blocks_keep_a_small_tall_narrow_or_one_row_product_whole(rng):
    w = rng.normal(size=(200, 800)).astype("float32")
    wide = rng.normal(size=(650, 2600)).astype("float32")
    # small enough already; no aligned block fits; 16-column blocks for 64 rows; a matrix-vector product
    for matrix, rows in ((w, 4), (w, 2000), (wide, 64), (wide, 1)):
        ((start, stop, block),) = fused.column_blocks(matrix, rows)
        assert (start, stop) == (0, matrix.shape[1]) and np.array_equal(block, matrix)
    assert len(fused.column_blocks(wide, 32)) == 2600 // 48 + 1  # 48 columns for 32 rows
    assert len(fused.column_blocks(wide.T, 20)) == 650 // 16 + 1  # 16 columns for 20 rows


def test_fused_lstm_keeps_float32_and_leaves_its_cache_alone(rng):
    inputs = _inputs(rng, 2, 3, 3, 4, dtype="float32")
    (out, h_n, c_n), cache = rnn.lstm_forward(*inputs)
    h_n += 1.0  # the final state is the caller's to change
    c_n += 1.0
    grads = rnn.lstm_backward((np.ones_like(out), None, None), cache)
    assert all(g.dtype == np.float32 for g in (out, *cache[1:5], *grads))
    (out_again, _, _), cache_again = rnn.lstm_forward(*inputs)
    np.testing.assert_array_equal(cache.cells, cache_again.cells)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_lstm_rounds_like_the_generic_path_where_no_product_is_cut(dtype, rng):
    # array-api-strict runs the generic sequence_forward/backward on NumPy underneath
    xp = pytest.importorskip("array_api_strict")
    inputs = _inputs(rng, 3, 5, 4, 6, dtype=dtype)
    dout, dh_n = rng.normal(size=(3, 5, 6)).astype(dtype), rng.normal(size=(3, 6)).astype(dtype)
    results = []
    for wrap in (lambda a: a, xp.asarray):
        (out, h_n, c_n), cache = rnn.lstm_forward(*(wrap(a) for a in inputs))
        grads = rnn.lstm_backward((wrap(dout), wrap(dh_n), None), cache)
        results.append([np.asarray(to_numpy(a)) for a in (out, h_n, c_n, *grads)])
    assert isinstance(cache, rnn.layers.SequenceCache)
    for fused_result, generic in zip(*results):
        np.testing.assert_array_equal(fused_result, generic)
