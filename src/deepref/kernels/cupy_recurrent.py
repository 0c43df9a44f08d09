"""CUDA kernels of the recurrent layers on CuPy: per time step one recurrent product and one kernel.

The specification (:func:`deepref.rnn.layers.sequence_forward` and
``sequence_backward`` with the cores of :mod:`deepref.rnn.cells`) spends about
a dozen element-wise launches per LSTM step forward and two dozen backward,
each allocating its result, plus a concatenation of the gate gradients. On a
GPU those launches, not the arithmetic, take the time. Here each step of the
tanh RNN, the LSTM and the GRU is

* one recurrent product by cuBLAS, written into a reused ``(N, G*H)`` (forward)
  or ``(N, H)`` (backward) buffer (``matmul(..., out=)``), and
* one kernel (:data:`SOURCE`) in which a thread takes one ``(n, j)`` of the
  ``(N, H)`` state: it reads the ``G`` pre-activations of unit ``j``, applies
  the cell, and writes the gate activations back over the pre-activations in
  the preallocated ``(T, N, G*H)`` buffer, the new state into the ``(T + 1, N,
  H)`` state buffers, and (backward) the ``G`` gate gradients straight into
  the rows of step ``t`` of the ``(T, N, G*H)`` gradient buffer.

Before the loop, the input projection of every step is one product, with the
biases folded in (``b_x + b_h``; for the GRU ``b_h`` of the ``r, z`` blocks
only, since the reset gate multiplies ``h @ W_hn + b_hn``); after the loop the
weight and input gradients are one product each over all steps.

The kernels compute each element as the cores do, operation by operation in
the same order, and are compiled with ``--fmad=false``; what differs from the
specification is the summation order of the folded biases and of cuBLAS's
products, so the results agree with it to rounding (float64: about 1e-15
relative; float32: about 1e-6), not bit for bit (``tests/test_cupy_kernels.py``).

The sequence drivers (:func:`lstm_forward`, ...) take the array module and a
``launch(name, size, *args)`` function, so that the same driver runs the
kernels on CuPy (:func:`cupy_launch`) and, in the tests, the same source
compiled for the host on NumPy arrays. CuPy is imported only when a kernel is
launched.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..validation import check_shape
from . import register
from .cupy_launch import launcher
from .cupy_optim import C_TYPES, DEVICE_PRELUDE

SOURCE = r"""
__device__ __forceinline__ T sigmoid_of(T a) {
    // (1 + tanh(a / 2)) / 2, rounded as deepref.rnn.cells.sigmoid
    T s = tanh(a * (T)0.5);
    s = s * (T)0.5;
    return s + (T)0.5;
}

extern "C" __global__ void rnn_forward_step(const T* ax, const T* ah, T* h, const long long rows,
                                            const long long hidden) {
    FOR_EACH(k, rows * hidden) {
        h[k] = tanh(ax[k] + ah[k]);
    }
}

extern "C" __global__ void rnn_backward_step(const T* dout, const long long t, const long long steps,
                                             const T* through, const T* h, T* da, const long long rows,
                                             const long long hidden) {
    FOR_EACH(k, rows * hidden) {
        const long long n = k / hidden, j = k - n * hidden;
        const T dh = dout[(n * steps + t) * hidden + j] + through[k];
        da[k] = dh * ((T)1 - h[k] * h[k]);
    }
}

extern "C" __global__ void lstm_forward_step(T* gates, const T* ah, const T* c_prev, T* c, T* tanh_c, T* h,
                                             const long long rows, const long long hidden) {
    FOR_EACH(k, rows * hidden) {
        const long long n = k / hidden, j = k - n * hidden;
        T* a = gates + n * 4 * hidden;
        const T* r = ah + n * 4 * hidden;
        const T i = sigmoid_of(a[j] + r[j]);
        const T f = sigmoid_of(a[hidden + j] + r[hidden + j]);
        const T g = tanh(a[2 * hidden + j] + r[2 * hidden + j]);
        const T o = sigmoid_of(a[3 * hidden + j] + r[3 * hidden + j]);
        a[j] = i;
        a[hidden + j] = f;
        a[2 * hidden + j] = g;
        a[3 * hidden + j] = o;
        const T cell = f * c_prev[k] + i * g;
        const T tc = tanh(cell);
        c[k] = cell;
        tanh_c[k] = tc;
        h[k] = o * tc;
    }
}

extern "C" __global__ void lstm_backward_step(const T* dout, const long long t, const long long steps,
                                              const T* through, T* dc_next, const T* gates, const T* tanh_c,
                                              const T* c_prev, T* da, const long long rows,
                                              const long long hidden) {
    FOR_EACH(k, rows * hidden) {
        const long long n = k / hidden, j = k - n * hidden;
        const T* s = gates + n * 4 * hidden;
        T* d = da + n * 4 * hidden;
        const T i = s[j], f = s[hidden + j], g = s[2 * hidden + j], o = s[3 * hidden + j];
        const T tc = tanh_c[k];
        const T dh = dout[(n * steps + t) * hidden + j] + through[k];
        T dc = dh * o * ((T)1 - tc * tc);
        dc = dc + dc_next[k];
        d[j] = dc * g * (i * ((T)1 - i));
        d[hidden + j] = dc * c_prev[k] * (f * ((T)1 - f));
        d[2 * hidden + j] = dc * i * ((T)1 - g * g);
        d[3 * hidden + j] = dh * tc * (o * ((T)1 - o));
        dc_next[k] = dc * f;
    }
}

extern "C" __global__ void gru_forward_step(T* gates, const T* ah, const T* b_hn, const T* h_prev, T* ah_n, T* h,
                                            const long long rows, const long long hidden) {
    FOR_EACH(k, rows * hidden) {
        const long long n = k / hidden, j = k - n * hidden;
        T* a = gates + n * 3 * hidden;
        const T* q = ah + n * 3 * hidden;
        const T r = sigmoid_of(a[j] + q[j]);
        const T z = sigmoid_of(a[hidden + j] + q[hidden + j]);
        const T ahn = q[2 * hidden + j] + b_hn[j];
        const T cand = tanh(a[2 * hidden + j] + r * ahn);
        a[j] = r;
        a[hidden + j] = z;
        a[2 * hidden + j] = cand;
        ah_n[k] = ahn;
        h[k] = cand + z * (h_prev[k] - cand);
    }
}

extern "C" __global__ void gru_backward_step(const T* dout, const long long t, const long long steps,
                                             const T* through, T* direct, const T* gates, const T* ah_n,
                                             const T* h_prev, T* dax, T* dah, const long long rows,
                                             const long long hidden) {
    FOR_EACH(k, rows * hidden) {
        const long long n = k / hidden, j = k - n * hidden;
        const T* s = gates + n * 3 * hidden;
        const T r = s[j], z = s[hidden + j], cand = s[2 * hidden + j];
        const T dh = dout[(n * steps + t) * hidden + j] + (direct[k] + through[k]);
        const T dan = dh * ((T)1 - z) * ((T)1 - cand * cand);
        const T dar = dan * ah_n[k] * (r * ((T)1 - r));
        const T daz = dh * (h_prev[k] - cand) * (z * ((T)1 - z));
        T* dx = dax + n * 3 * hidden;
        T* dr = dah + n * 3 * hidden;
        dx[j] = dar;
        dx[hidden + j] = daz;
        dx[2 * hidden + j] = dan;
        dr[j] = dar;
        dr[hidden + j] = daz;
        dr[2 * hidden + j] = dan * r;
        direct[k] = dh * z;
    }
}
"""
"""The step kernels, for an element type ``T``, a loop macro ``FOR_EACH(k, n)`` and ``__device__``/``__global__``.

Arrays are C-ordered: ``(N, G*H)`` rows of a step (``gates``, ``ah``, ``da``,
``dax``, ``dah``), ``(N, H)`` states, and the whole ``dout : (N, T, H)``, read
at step ``t``. ``through`` is the gradient that reached ``h_t`` through the
recurrent product of step ``t + 1``; ``direct`` (GRU) the part through
``z * h_prev``."""

KERNELS = ("rnn_forward_step", "rnn_backward_step", "lstm_forward_step", "lstm_backward_step",
           "gru_forward_step", "gru_backward_step")


class RecurrentKernelCache(NamedTuple):
    """What the backward kernels need from the forward pass."""

    cell: str
    x_rows: object
    """(T*N, D): the input, rows ordered ``(t, n)``."""
    hidden_states: object
    """(T + 1, N, H): ``h0`` and the hidden state after every step."""
    gates: object
    """(T, N, G*H): the gate activations of every step (the RNN: ``None``)."""
    extra: tuple
    """LSTM: ``(cells (T + 1, N, H), tanh_c (T, N, H))``; GRU: ``(ah_n (T, N, H),)``; RNN: ``()``."""
    w_x: object
    w_h: object

    @property
    def backward_op(self) -> str:
        """The kernel that reads this cache (``sequence_backward`` hands it over: :func:`deepref.kernels.require`)."""
        return f"{self.cell}_sequence_backward"


def source(dtype, prelude: str = DEVICE_PRELUDE) -> str:
    """The source of every step kernel for ``dtype`` (float32 or float64), after ``prelude``."""
    return f"typedef {C_TYPES[np.dtype(dtype)]} T;\n{prelude}{SOURCE}"


cupy_launch = launcher(source)
"""Launches the kernels above on CuPy arrays (:func:`deepref.kernels.cupy_launch.launcher`)."""


def _common(xp, *arrays):
    """``arrays`` in their common floating dtype, C-ordered (copies only where needed)."""
    dtype = xp.result_type(*(a.dtype for a in arrays))  # dtypes: NumPy's result_type would convert CuPy arrays
    return [xp.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _input_projection(xp, x, w_x, bias):
    """``(x_rows, a_x)``: the input as ``(T*N, D)`` rows ordered ``(t, n)``; ``x @ w_x + bias`` as ``(T, N, G*H)``."""
    n, steps, d = x.shape
    x_rows = xp.ascontiguousarray(xp.transpose(x, (1, 0, 2))).reshape(steps * n, d)
    ax = x_rows @ w_x
    ax += bias
    return x_rows, ax.reshape(steps, n, w_x.shape[1])


def _state_buffer(xp, first, steps: int):
    """A ``(T + 1, N, H)`` buffer holding ``first`` at index 0."""
    buffer = xp.empty((steps + 1, *first.shape), dtype=first.dtype)
    buffer[0] = first
    return buffer


def _finish(xp, hidden_states, final: tuple, cache: RecurrentKernelCache):
    out = xp.transpose(hidden_states[1:], (1, 0, 2))
    return out, tuple(s.copy() for s in final), cache


def rnn_forward(xp, launch, x, state, w_x, w_h, b_x, b_h):
    """The tanh RNN over ``x : (N, T, D)`` from ``state = (h0,)``: ``(out, (h_n,), cache)`` as the specification."""
    x, h0, w_x, w_h, b_x, b_h = _common(xp, x, state[0], w_x, w_h, b_x, b_h)
    n, steps, _ = x.shape
    hidden = w_h.shape[0]
    x_rows, ax = _input_projection(xp, x, w_x, b_x + b_h)
    hs = _state_buffer(xp, h0, steps)
    ah = xp.empty((n, hidden), dtype=x.dtype)
    for t in range(steps):
        xp.matmul(hs[t], w_h, out=ah)
        launch("rnn_forward_step", n * hidden, ax[t], ah, hs[t + 1], n, hidden)
    return _finish(xp, hs, (hs[steps],), RecurrentKernelCache("rnn", x_rows, hs, None, (), w_x, w_h))


def lstm_forward(xp, launch, x, state, w_x, w_h, b_x, b_h):
    """The LSTM over ``x : (N, T, D)`` from ``state = (h0, c0)``: ``(out, (h_n, c_n), cache)``."""
    x, h0, c0, w_x, w_h, b_x, b_h = _common(xp, x, *state, w_x, w_h, b_x, b_h)
    n, steps, _ = x.shape
    hidden = w_h.shape[0]
    x_rows, gates = _input_projection(xp, x, w_x, b_x + b_h)
    hs, cs = _state_buffer(xp, h0, steps), _state_buffer(xp, c0, steps)
    tanh_c = xp.empty((steps, n, hidden), dtype=x.dtype)
    ah = xp.empty((n, 4 * hidden), dtype=x.dtype)
    for t in range(steps):
        xp.matmul(hs[t], w_h, out=ah)
        launch("lstm_forward_step", n * hidden, gates[t], ah, cs[t], cs[t + 1], tanh_c[t], hs[t + 1], n, hidden)
    cache = RecurrentKernelCache("lstm", x_rows, hs, gates, (cs, tanh_c), w_x, w_h)
    return _finish(xp, hs, (hs[steps], cs[steps]), cache)


def gru_forward(xp, launch, x, state, w_x, w_h, b_x, b_h):
    """The GRU over ``x : (N, T, D)`` from ``state = (h0,)``: ``(out, (h_n,), cache)``."""
    x, h0, w_x, w_h, b_x, b_h = _common(xp, x, state[0], w_x, w_h, b_x, b_h)
    n, steps, _ = x.shape
    hidden = w_h.shape[0]
    folded = b_x.copy()
    folded[: 2 * hidden] += b_h[: 2 * hidden]  # b_hn stays apart: the reset gate multiplies it
    x_rows, gates = _input_projection(xp, x, w_x, folded)
    b_hn = xp.ascontiguousarray(b_h[2 * hidden :])
    hs = _state_buffer(xp, h0, steps)
    ah_n = xp.empty((steps, n, hidden), dtype=x.dtype)
    ah = xp.empty((n, 3 * hidden), dtype=x.dtype)
    for t in range(steps):
        xp.matmul(hs[t], w_h, out=ah)
        launch("gru_forward_step", n * hidden, gates[t], ah, b_hn, hs[t], ah_n[t], hs[t + 1], n, hidden)
    return _finish(xp, hs, (hs[steps],), RecurrentKernelCache("gru", x_rows, hs, gates, (ah_n,), w_x, w_h))


def _upstream(xp, dout, dstate, hidden_states):
    """``dout`` as a C-ordered ``(N, T, H)`` array of the cache's dtype, after checking it and ``dstate``'s shapes.

    The kernels index ``dout`` and the state gradients by the cache's sizes:
    a wrong shape must fail here, not read past an array on the GPU.
    """
    steps, n, hidden = hidden_states.shape[0] - 1, hidden_states.shape[1], hidden_states.shape[2]
    check_shape("dout", dout, (n, steps, hidden))
    for k, gradient in enumerate(dstate):
        if gradient is not None:
            check_shape(f"the gradient of final state {k}", gradient, (n, hidden))
    return xp.ascontiguousarray(dout, dtype=hidden_states.dtype)


def _start(xp, gradient, like):
    """A writable ``(N, H)`` copy of a final-state gradient (zeros for ``None``)."""
    if gradient is None:
        return xp.zeros_like(like)
    return xp.array(gradient, dtype=like.dtype, order="C", copy=True)


def _parameter_gradients(xp, cache: RecurrentKernelCache, dax_all, dah_all):
    """``(dx, dw_x, dw_h, db_x, db_h)`` from the pre-activation gradients of all steps, one product each."""
    steps, n, width = dax_all.shape
    x_rows, hs, w_x = cache.x_rows, cache.hidden_states, cache.w_x
    dax_rows = dax_all.reshape(steps * n, width)
    dah_rows = dax_rows if dah_all is None else dah_all.reshape(steps * n, width)
    h_prev_rows = hs[:-1].reshape(steps * n, hs.shape[2])
    dx = xp.transpose((dax_rows @ w_x.T).reshape(steps, n, x_rows.shape[1]), (1, 0, 2))
    db_x = xp.sum(dax_rows, axis=0)
    db_h = db_x.copy() if dah_all is None else xp.sum(dah_rows, axis=0)
    return dx, x_rows.T @ dax_rows, h_prev_rows.T @ dah_rows, db_x, db_h


def rnn_backward(xp, launch, dout, dstate, cache: RecurrentKernelCache):
    """BPTT for :func:`rnn_forward`: ``(dx, (dh0,), dw_x, dw_h, db_x, db_h)`` as the specification."""
    hs, w_h = cache.hidden_states, cache.w_h
    steps, n, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dout = _upstream(xp, dout, dstate, hs)
    through = _start(xp, dstate[0], hs[0])
    da_all = xp.empty((steps, n, hidden), dtype=hs.dtype)
    for t in reversed(range(steps)):
        launch("rnn_backward_step", n * hidden, dout, t, steps, through, hs[t + 1], da_all[t], n, hidden)
        xp.matmul(da_all[t], w_h.T, out=through)
    dx, *dparams = _parameter_gradients(xp, cache, da_all, None)
    return (dx, (through,), *dparams)


def lstm_backward(xp, launch, dout, dstate, cache: RecurrentKernelCache):
    """BPTT for :func:`lstm_forward`: ``(dx, (dh0, dc0), dw_x, dw_h, db_x, db_h)``."""
    hs, gates, w_h = cache.hidden_states, cache.gates, cache.w_h
    cs, tanh_c = cache.extra
    steps, n, width = gates.shape
    hidden = width // 4
    dout = _upstream(xp, dout, dstate, hs)
    through, dc_next = _start(xp, dstate[0], hs[0]), _start(xp, dstate[1], hs[0])
    da_all = xp.empty_like(gates)
    for t in reversed(range(steps)):
        launch("lstm_backward_step", n * hidden, dout, t, steps, through, dc_next, gates[t], tanh_c[t], cs[t],
               da_all[t], n, hidden)
        xp.matmul(da_all[t], w_h.T, out=through)
    dx, *dparams = _parameter_gradients(xp, cache, da_all, None)
    return (dx, (through, dc_next), *dparams)


def gru_backward(xp, launch, dout, dstate, cache: RecurrentKernelCache):
    """BPTT for :func:`gru_forward`: ``(dx, (dh0,), dw_x, dw_h, db_x, db_h)``."""
    hs, gates, w_h = cache.hidden_states, cache.gates, cache.w_h
    (ah_n,) = cache.extra
    steps, n, width = gates.shape
    hidden = width // 3
    dout = _upstream(xp, dout, dstate, hs)
    direct, through = _start(xp, dstate[0], hs[0]), xp.zeros_like(hs[0])
    dax_all, dah_all = xp.empty_like(gates), xp.empty_like(gates)
    for t in reversed(range(steps)):
        launch("gru_backward_step", n * hidden, dout, t, steps, through, direct, gates[t], ah_n[t], hs[t],
               dax_all[t], dah_all[t], n, hidden)
        xp.matmul(dah_all[t], w_h.T, out=through)
    dx, *dparams = _parameter_gradients(xp, cache, dax_all, dah_all)
    return (dx, (direct + through,), *dparams)


FORWARD = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}
BACKWARD = {"rnn": rnn_backward, "lstm": lstm_backward, "gru": gru_backward}


def _register(cell: str) -> None:
    def forward(x, state, w_x, w_h, b_x, b_h):
        import cupy

        return FORWARD[cell](cupy, cupy_launch, x, state, w_x, w_h, b_x, b_h)

    def backward(dout, dstate, cache):
        import cupy

        if not isinstance(cache, RecurrentKernelCache) or cache.cell != cell:
            raise TypeError(f"{cell}_sequence_backward needs the cache of the {cell} forward kernel")
        return BACKWARD[cell](cupy, cupy_launch, dout, dstate, cache)

    forward.__doc__ = f"The {cell} sequence forward on CuPy (:func:`{FORWARD[cell].__name__}`)."
    backward.__doc__ = f"The {cell} sequence backward on CuPy (:func:`{BACKWARD[cell].__name__}`)."
    register(f"{cell}_sequence_forward", "cupy")(forward)
    register(f"{cell}_sequence_backward", "cupy")(backward)


for _cell in FORWARD:
    _register(_cell)
