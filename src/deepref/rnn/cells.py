"""One time step of the vanilla (tanh) RNN, the LSTM and the GRU, with hand-derived backward passes.

Weight layout (the same for the three cells, and PyTorch's up to a transpose):
a cell with ``G`` gate blocks of width ``H`` has

* ``w_x : (D, G*H)``, the input weights, equal to ``torch``'s ``weight_ih_l0.T``;
* ``w_h : (H, G*H)``, the recurrent weights, equal to ``weight_hh_l0.T``;
* ``b_x : (G*H,)`` and ``b_h : (G*H,)``, equal to ``bias_ih_l0`` and ``bias_hh_l0``.

The gate blocks follow PyTorch's order: one block ``(tanh)`` for the RNN
(``G = 1``), ``(i, f, g, o)`` for the LSTM (``G = 4``: input, forget, candidate,
output) and ``(r, z, n)`` for the GRU (``G = 3``: reset, update, candidate).
For the RNN and the LSTM the two biases only ever appear as their sum; they are
kept apart so that PyTorch's biases map one to one (its weights map through a
transpose: :func:`deepref.interop.from_torch` converts), and because the GRU
needs them apart (its reset gate multiplies ``h @ W_hn + b_hn``).

Each cell is split in two: the affine maps ``a_x = x @ w_x + b_x`` and
``a_h = h_prev @ w_h + b_h``, and a *core* that turns ``(a_x, a_h, state)``
into the new state. A sequence layer (:mod:`deepref.rnn.layers`) computes
``a_x`` for all time steps with one matrix product and loops only over the
cores; the step functions here compose the same two parts for one step.

Core equations, with ``a = a_x + a_h`` cut into blocks and ``s`` the sigmoid:

* RNN: ``h = tanh(a)``;
* LSTM: ``i, f, o = s(a_i), s(a_f), s(a_o)``, ``g = tanh(a_g)``,
  ``c = f * c_prev + i * g``, ``h = o * tanh(c)``;
* GRU: ``r = s(a_x,r + a_h,r)``, ``z = s(a_x,z + a_h,z)``,
  ``n = tanh(a_x,n + r * a_h,n)``, ``h = (1 - z) * n + z * h_prev``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace
from ..nn.activations import sigmoid
from ..validation import check_ndim, check_shape


class RNNCoreCache(NamedTuple):
    h: object


class LSTMCoreCache(NamedTuple):
    i: object
    f: object
    g: object
    o: object
    c_prev: object
    tanh_c: object


class GRUCoreCache(NamedTuple):
    r: object
    z: object
    n: object
    ah_n: object
    h_prev: object


def gate_blocks(a, count: int) -> tuple:
    """The ``count`` column blocks of ``a : (N, count*H)``, in order, each ``(N, H)`` (views on NumPy)."""
    width = a.shape[1] // count
    return tuple(a[:, k * width : (k + 1) * width] for k in range(count))


def rnn_core_forward(ax, ah, state):
    """``h = tanh(a_x + a_h)``. ``ax, ah`` : (N, H); ``state = (h_prev,)``. Returns ``((h,), cache)``."""
    h = get_namespace(ax).tanh(ax + ah)
    return (h,), RNNCoreCache(h)


def rnn_core_backward(dstate, cache: RNNCoreCache):
    """Returns ``(dax, dah, (dh_prev_direct,))``; the RNN's ``h_prev`` acts only through ``a_h`` (``None``)."""
    (dh,) = dstate
    da = dh * (1.0 - cache.h * cache.h)
    return da, da, (None,)


def lstm_core_forward(ax, ah, state):
    """LSTM gates and cell update.

    Parameters
    ----------
    ax, ah : (N, 4H) arrays
        Input and recurrent pre-activations, blocks ``(i, f, g, o)``.
    state : (h_prev, c_prev), each (N, H)

    Returns
    -------
    (h, c) : (N, H) arrays
    cache : LSTMCoreCache
    """
    xp = get_namespace(ax)
    _, c_prev = state
    hidden = c_prev.shape[1]
    a = ax + ah
    i, f, _, o = gate_blocks(sigmoid(a), 4)  # (the g block's sigmoid is unused)
    g = xp.tanh(a[:, 2 * hidden : 3 * hidden])
    c = f * c_prev + i * g
    tanh_c = xp.tanh(c)
    h = o * tanh_c
    return (h, c), LSTMCoreCache(i, f, g, o, c_prev, tanh_c)


def lstm_core_backward(dstate, cache: LSTMCoreCache):
    """Backward of :func:`lstm_core_forward`.

    ``dstate = (dh, dc)`` with ``dc`` the gradient reaching ``c`` from the
    next step (``None`` for none). The cell path is additive, so
    ``dc_prev = (dc + dh * o * (1 - tanh(c)**2)) * f``. The gradient of each
    gate's activation, ``(dc g, dc c_prev, dc i, dh tanh(c))`` for
    ``(i, f, g, o)``, is multiplied by the derivative of its nonlinearity:
    ``s (1 - s)`` for the sigmoids, ``1 - g**2`` for the tanh.

    Returns
    -------
    dax, dah : (N, 4H) arrays (equal: ``a = a_x + a_h``)
    (None, dc_prev) : gradients reaching the previous state directly
    """
    xp = get_namespace(cache.c_prev)
    dh, dc = dstate
    i, f, g, o, c_prev, tanh_c = cache
    dc_total = dh * o * (1.0 - tanh_c * tanh_c)
    if dc is not None:
        dc_total += dc
    # each gate's upstream gradient times its slope: s (1 - s) or 1 - tanh**2
    da = xp.concat(
        [
            dc_total * g * (i * (1.0 - i)),
            dc_total * c_prev * (f * (1.0 - f)),
            dc_total * i * (1.0 - g * g),
            dh * tanh_c * (o * (1.0 - o)),
        ],
        axis=1,
    )
    return da, da, (None, dc_total * f)


def gru_core_forward(ax, ah, state):
    """GRU gates and update (PyTorch's formulation: the reset gate multiplies ``a_h,n``).

    Parameters
    ----------
    ax, ah : (N, 3H) arrays
        Input and recurrent pre-activations, blocks ``(r, z, n)``.
    state : (h_prev,), (N, H)

    Returns
    -------
    (h,) : (N, H) array
    cache : GRUCoreCache
    """
    xp = get_namespace(ax)
    (h_prev,) = state
    hidden = h_prev.shape[1]
    r, z = gate_blocks(sigmoid(ax[:, : 2 * hidden] + ah[:, : 2 * hidden]), 2)
    ax_n, ah_n = ax[:, 2 * hidden :], ah[:, 2 * hidden :]
    n = xp.tanh(ax_n + r * ah_n)
    h = n + z * (h_prev - n)  # (1 - z) n + z h_prev
    return (h,), GRUCoreCache(r, z, n, ah_n, h_prev)


def gru_core_backward(dstate, cache: GRUCoreCache):
    """Backward of :func:`gru_core_forward`.

    Returns
    -------
    dax, dah : (N, 3H) arrays (they differ in the ``n`` block by the factor ``r``)
    (dh_prev_direct,) : the gradient through ``z * h_prev``, ``dh * z``
    """
    xp = get_namespace(cache.h_prev)
    (dh,) = dstate
    r, z, n, ah_n, h_prev = cache
    dan = dh * (1.0 - z) * (1.0 - n * n)
    dar = dan * ah_n * (r * (1.0 - r))
    daz = dh * (h_prev - n) * (z * (1.0 - z))
    dax = xp.concat([dar, daz, dan], axis=1)
    dah = xp.concat([dar, daz, dan * r], axis=1)
    return dax, dah, (dh * z,)


class Cell(NamedTuple):
    """What a sequence layer needs to know about a cell type."""

    name: str
    gates: int
    state_size: int
    core_forward: object
    core_backward: object


CELLS = {
    "rnn": Cell("rnn", 1, 1, rnn_core_forward, rnn_core_backward),
    "lstm": Cell("lstm", 4, 2, lstm_core_forward, lstm_core_backward),
    "gru": Cell("gru", 3, 1, gru_core_forward, gru_core_backward),
}
"""The three cell types by name: gate blocks ``G``, number of state arrays, core pair."""


def check_cell_weights(cell: Cell, w_x, w_h, b_x, b_h) -> int:
    """Validate the shapes of a cell's weights (see the module docstring); return the hidden size ``H``."""
    check_ndim("w_h", w_h, 2, "(H, G*H)")
    hidden = w_h.shape[0]
    width = cell.gates * hidden
    check_shape("w_h", w_h, (hidden, width))
    check_ndim("w_x", w_x, 2, "(D, G*H)")
    check_shape("w_x", w_x, (None, width))
    check_shape("b_x", b_x, (width,))
    check_shape("b_h", b_h, (width,))
    return hidden


def check_state(name: str, array, expected: tuple) -> None:
    """Raise ``ValueError`` unless a state array has the ``expected`` shape (named in the message)."""
    if tuple(array.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(array.shape)}")


class StepCache(NamedTuple):
    x: object
    h_prev: object
    w_x: object
    w_h: object
    core: object
    cell: Cell


def _step_forward(cell: Cell, x, state, w_x, w_h, b_x, b_h):
    hidden = check_cell_weights(cell, w_x, w_h, b_x, b_h)
    check_ndim("x", x, 2, "(N, D)")
    check_shape("x", x, (None, w_x.shape[0]))
    for k, s in enumerate(state):
        check_state(("h_prev", "c_prev")[k], s, (x.shape[0], hidden))
    new_state, core = cell.core_forward(x @ w_x + b_x, state[0] @ w_h + b_h, state)
    return new_state, StepCache(x, state[0], w_x, w_h, core, cell)


def _step_backward(dstate, cache: StepCache):
    xp = get_namespace(cache.x)
    dax, dah, direct = cache.cell.core_backward(dstate, cache.core)
    dh_prev = dah @ cache.w_h.T if direct[0] is None else direct[0] + dah @ cache.w_h.T
    return (
        dax @ cache.w_x.T,
        (dh_prev, *direct[1:]),
        cache.x.T @ dax,
        cache.h_prev.T @ dah,
        xp.sum(dax, axis=0),
        xp.sum(dah, axis=0),
    )


def rnn_step_forward(x, h_prev, w_x, w_h, b_x, b_h):
    """One step of the tanh RNN, ``h = tanh(x @ w_x + b_x + h_prev @ w_h + b_h)``.

    Parameters
    ----------
    x : (N, D) array
    h_prev : (N, H) array
    w_x : (D, H) array
    w_h : (H, H) array
    b_x, b_h : (H,) arrays

    Returns
    -------
    h : (N, H) array
    cache : StepCache
    """
    (h,), cache = _step_forward(CELLS["rnn"], x, (h_prev,), w_x, w_h, b_x, b_h)
    return h, cache


def rnn_step_backward(dh, cache: StepCache):
    """Gradients of :func:`rnn_step_forward`: ``(dx, dh_prev, dw_x, dw_h, db_x, db_h)``."""
    dx, (dh_prev,), *dparams = _step_backward((dh,), cache)
    return (dx, dh_prev, *dparams)


def lstm_step_forward(x, h_prev, c_prev, w_x, w_h, b_x, b_h):
    """One LSTM step (gate blocks ``i, f, g, o``).

    Parameters
    ----------
    x : (N, D) array
    h_prev, c_prev : (N, H) arrays
    w_x : (D, 4H) array
    w_h : (H, 4H) array
    b_x, b_h : (4H,) arrays

    Returns
    -------
    (h, c) : (N, H) arrays
    cache : StepCache
    """
    return _step_forward(CELLS["lstm"], x, (h_prev, c_prev), w_x, w_h, b_x, b_h)


def lstm_step_backward(dstate, cache: StepCache):
    """Gradients of :func:`lstm_step_forward` from ``dstate = (dh, dc)``.

    Returns ``(dx, dh_prev, dc_prev, dw_x, dw_h, db_x, db_h)``.
    """
    dx, (dh_prev, dc_prev), *dparams = _step_backward(tuple(dstate), cache)
    return (dx, dh_prev, dc_prev, *dparams)


def gru_step_forward(x, h_prev, w_x, w_h, b_x, b_h):
    """One GRU step (gate blocks ``r, z, n``; see the module docstring).

    Parameters
    ----------
    x : (N, D) array
    h_prev : (N, H) array
    w_x : (D, 3H) array
    w_h : (H, 3H) array
    b_x, b_h : (3H,) arrays

    Returns
    -------
    h : (N, H) array
    cache : StepCache
    """
    (h,), cache = _step_forward(CELLS["gru"], x, (h_prev,), w_x, w_h, b_x, b_h)
    return h, cache


def gru_step_backward(dh, cache: StepCache):
    """Gradients of :func:`gru_step_forward`: ``(dx, dh_prev, dw_x, dw_h, db_x, db_h)``."""
    dx, (dh_prev,), *dparams = _step_backward((dh,), cache)
    return (dx, dh_prev, *dparams)
