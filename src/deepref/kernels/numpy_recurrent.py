"""NumPy kernel of the LSTM over a sequence: every per-step array preallocated and written in place.

Registered as ``lstm_sequence_forward`` and ``lstm_sequence_backward``: the
specification :func:`deepref.rnn.layers.sequence_forward` (and
``sequence_backward``) runs any cell on any array library, one core call per
step, each allocating its results. The kernel computes the same operations in
the same order, so the results are the same to the last bit, except where a
recurrent product is cut into column blocks (below; then they differ by
rounding). What it does differently:

* one buffer per sequence for the gates of all steps, ``(T, N, 4H)``, filled
  first by the input product of all steps and then, step by step, in place:
  no NumPy call in the loops allocates;
* the sigmoid gates come from the same ``tanh`` call as the candidate: the
  ``i, f, o`` columns of the weights and biases are halved once per
  sequence (exact: a power of two), so one ``tanh`` over all ``4H`` columns
  gives ``tanh(a/2)`` there and ``tanh(a_g)`` in the ``g`` block, and one
  multiply and one add by per-column constants turn the former into
  ``sigmoid(a) = (1 + tanh(a/2)) / 2`` and leave the latter unchanged;
* the recurrent products ``h_{t-1} @ w_h`` and ``da_t @ w_h.T``, which have
  only ``N`` rows, are cut into column blocks small enough for OpenBLAS's
  small-matrix kernel (see :func:`column_blocks`).

The measured effect of each of these is in the benchmark notes
(``benchmarks/results/kernel_notes.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..validation import check_shape
from . import register

SMALL_PRODUCT = 100**3
"""Largest ``M * N * K`` that OpenBLAS multiplies with its small-matrix kernel
(its SkylakeX-class x86 cores), which skips packing the operands into
cache-sized panels. A product with few rows and a large weight matrix spends
much of its time packing, so the recurrent product is cut into column blocks
under this size. Where the BLAS has no such kernel the blocks are plain
smaller products and cost a few percent."""

BLOCK_ALIGNMENT = 64
"""Bytes a column block's width is a multiple of (one AVX-512 register, a cache line)."""

NARROW_BLOCK_ROWS = 32
"""Most rows for which blocks one :data:`BLOCK_ALIGNMENT` wide still pay (with more rows one call is faster)."""


class FusedLSTMCache(NamedTuple):
    """What :func:`lstm_forward` keeps for :func:`lstm_backward` (``backward_op`` names the latter)."""

    x_rows: object
    """(T*N, D): the input, rows ordered ``(t, n)``."""
    hidden_states: object
    """(T + 1, N, H): ``h0`` and the hidden state after every step."""
    cells: object
    """(T + 1, N, H): ``c0`` and the cell state after every step."""
    gates: object
    """(T, N, 4H): the activations ``i, f, g, o`` of every step."""
    tanh_c: object
    """(T, N, H): ``tanh`` of every step's cell state."""
    w_x: object
    w_h: object

    backward_op = "lstm_sequence_backward"


def column_blocks(w, rows: int) -> list:
    """``w`` cut into column blocks for products ``a @ w`` with ``rows`` rows.

    The blocks are as wide as :data:`SMALL_PRODUCT` allows (``rows * K * width``
    at most), rounded down to a multiple of :data:`BLOCK_ALIGNMENT` bytes; the
    last one takes the rest. A block is a view where it is contiguous already
    (the columns of a transposed C-ordered matrix: the small kernel takes
    them as fast as a C-ordered copy), a C-ordered copy otherwise. When ``w``
    is small enough already, or not one aligned block fits (many rows), or the
    blocks would be one alignment wide for more than :data:`NARROW_BLOCK_ROWS`
    rows, or ``rows`` is 1 (a matrix-vector product packs nothing), it stays
    whole, as a C-ordered array (the packing kernel takes a transposed view
    more slowly).

    Parameters
    ----------
    w : (K, M) ndarray
    rows : int

    Returns
    -------
    list of (start, stop, block)
        ``block`` holds ``w[:, start:stop]``.
    """
    depth, width = w.shape
    align = max(BLOCK_ALIGNMENT // w.itemsize, 1)
    step = SMALL_PRODUCT // max(rows * depth, 1) // align * align
    narrow = step == align and rows > NARROW_BLOCK_ROWS
    if rows == 1 or step == 0 or step >= width or narrow:
        return [(0, width, np.ascontiguousarray(w))]
    blocks = []
    for start in range(0, width, step):
        block = w[:, start : start + step]
        if not block.flags.f_contiguous:
            block = np.ascontiguousarray(block)
        blocks.append((start, min(start + step, width), block))
    return blocks


def blocked_matmul(a, blocks: list, out) -> None:
    """``out[...] = a @ w`` with ``w`` given as :func:`column_blocks`. ``a`` : (N, K); ``out`` : (N, M)."""
    for start, stop, block in blocks:
        np.matmul(a, block, out=out[:, start:stop])


def _gate_columns(hidden: int, dtype, sigmoid_value: float, g_value: float):
    """A (4H,) row holding ``sigmoid_value`` in the ``i, f, o`` blocks and ``g_value`` in the ``g`` block."""
    row = np.full(4 * hidden, sigmoid_value, dtype=dtype)
    row[2 * hidden : 3 * hidden] = g_value
    return row


def _by_block(gates):
    """``(T, N, 4H)`` gates as a ``(T, 4, N, H)`` view: ``i, f, g, o = by_block[t]`` unpacks step ``t``."""
    steps, n, width = gates.shape
    return np.moveaxis(np.reshape(gates, (steps, n, 4, width // 4)), 2, 1)


@register("lstm_sequence_forward", "numpy")
def lstm_forward(x, state: tuple, w_x, w_h, b_x, b_h):
    """The LSTM over ``x : (N, T, D)`` from ``state = (h0, c0)`` (validated by the caller).

    Returns ``(out, (h_n, c_n), cache)`` as :func:`deepref.rnn.layers.sequence_forward`,
    with ``out : (N, T, H)`` a view of the hidden-state buffer.
    """
    n, steps, d = x.shape
    hidden = w_h.shape[0]
    dtype = np.result_type(x, w_x, w_h, b_x, b_h, *state)
    half = _gate_columns(hidden, dtype, 0.5, 1.0)  # a/2 for the sigmoids; tanh(a_g) as is
    shift = _gate_columns(hidden, dtype, 0.5, 0.0)
    x_rows = np.reshape(np.transpose(x, (1, 0, 2)), (steps * n, d))
    gates = x_rows @ (w_x * half)
    gates += b_x * half
    gates = np.reshape(gates, (steps, n, 4 * hidden))
    recurrent, b_h_half = column_blocks(w_h * half, n), b_h * half
    hidden_states = np.empty((steps + 1, n, hidden), dtype=dtype)
    cells = np.empty_like(hidden_states)
    tanh_c = np.empty((steps, n, hidden), dtype=dtype)
    hidden_states[0], cells[0] = state
    product = np.empty((n, 4 * hidden), dtype=dtype)
    input_times_candidate = np.empty((n, hidden), dtype=dtype)
    by_block = _by_block(gates)
    for t in range(steps):
        a = gates[t]
        blocked_matmul(hidden_states[t], recurrent, product)
        product += b_h_half
        a += product
        np.tanh(a, out=a)
        a *= half  # (1 + tanh(a/2)) / 2 in the sigmoid blocks, g unchanged
        a += shift
        i, f, g, o = by_block[t]
        np.multiply(f, cells[t], out=cells[t + 1])
        np.multiply(i, g, out=input_times_candidate)
        cells[t + 1] += input_times_candidate
        np.tanh(cells[t + 1], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=hidden_states[t + 1])
    out = np.transpose(hidden_states[1:], (1, 0, 2))
    cache = FusedLSTMCache(x_rows, hidden_states, cells, gates, tanh_c, w_x, w_h)
    # copies: the caller may change the final state in place, the backward reads the buffers
    return out, (hidden_states[steps].copy(), cells[steps].copy()), cache


@register("lstm_sequence_backward", "numpy")
def lstm_backward(dout, dstate: tuple, cache: FusedLSTMCache):
    """Backpropagation through time for :func:`lstm_forward`.

    Parameters
    ----------
    dout : (N, T, H) ndarray
    dstate : (dh_n, dc_n), each (N, H) ndarray or None (zero)
    cache : FusedLSTMCache

    Returns
    -------
    dx : (N, T, D) ndarray
    (dh0, dc0) : (N, H) ndarrays
    dw_x, dw_h, db_x, db_h : ndarrays shaped like the weights
    """
    if not isinstance(cache, FusedLSTMCache):
        raise TypeError(f"lstm_backward reads the cache of lstm_forward, got a {type(cache).__name__}")
    x_rows, hidden_states, cells, gates, tanh_c, w_x, w_h = cache
    steps, n, width = gates.shape
    hidden = width // 4
    check_shape("dout", dout, (n, steps, hidden))
    dtype = np.result_type(dout, gates)
    recurrent = column_blocks(np.transpose(w_h), n)
    da_all = np.empty((steps, n, width), dtype=dtype)
    dh_n, dc_n = dstate
    through_w_h = np.zeros((n, hidden), dtype=dtype) if dh_n is None else np.array(dh_n, dtype=dtype)
    dc_next = np.zeros((n, hidden), dtype=dtype) if dc_n is None else np.array(dc_n, dtype=dtype)
    dh, dc, work = (np.empty((n, hidden), dtype=dtype) for _ in range(3))
    slope = np.empty((n, width), dtype=dtype)
    tanh_slope = slope[:, 2 * hidden : 3 * hidden]
    by_block = _by_block(gates)
    for t in reversed(range(steps)):
        s = gates[t]
        i, f, g, o = by_block[t]
        np.add(dout[:, t, :], through_w_h, out=dh)
        np.multiply(dh, o, out=work)
        np.multiply(tanh_c[t], tanh_c[t], out=dc)
        np.subtract(1.0, dc, out=dc)
        work *= dc
        np.add(work, dc_next, out=dc)  # dc + dh * o * (1 - tanh(c)**2)
        da = da_all[t]
        np.multiply(dc, g, out=da[:, :hidden])
        np.multiply(dc, cells[t], out=da[:, hidden : 2 * hidden])
        np.multiply(dc, i, out=da[:, 2 * hidden : 3 * hidden])
        np.multiply(dh, tanh_c[t], out=da[:, 3 * hidden :])
        np.subtract(1.0, s, out=slope)
        slope *= s  # sigmoid' = s (1 - s)
        np.multiply(g, g, out=tanh_slope)
        np.subtract(1.0, tanh_slope, out=tanh_slope)  # tanh' = 1 - g**2
        da *= slope
        np.multiply(dc, f, out=dc_next)
        blocked_matmul(da, recurrent, through_w_h)
    da_rows = np.reshape(da_all, (steps * n, width))
    h_prev_rows = np.reshape(hidden_states[:-1], (steps * n, hidden))
    dx_rows = da_rows @ np.ascontiguousarray(np.transpose(w_x))
    db = np.sum(da_rows, axis=0)
    return (
        np.transpose(np.reshape(dx_rows, (steps, n, x_rows.shape[1])), (1, 0, 2)),
        (through_w_h, dc_next),
        x_rows.T @ da_rows,
        h_prev_rows.T @ da_rows,
        db,
        db.copy(),
    )
