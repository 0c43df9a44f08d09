"""Sequence layers: the cells of :mod:`deepref.rnn.cells` unrolled over time, and backpropagation through time.

Sequences are **batch-first**: ``x : (N, T, D)`` holds ``N`` sequences of ``T``
steps with ``D`` features (PyTorch's ``batch_first=True``), so that
:func:`deepref.train.fit` can cut mini-batches along the first axis. States are
``(N, H)`` per layer for the functions here and ``(L, N, H)`` for the stacked
modules (as PyTorch's ``h_0``/``c_0``, which are not batch-first).

Forward: the input pre-activations ``a_x = x @ w_x + b_x`` of all steps come
from one matrix product; the loop over time only adds ``h_{t-1} @ w_h + b_h``
and applies the cell core. Backward (BPTT) walks the steps in reverse: the
gradient reaching ``h_t`` is the output's ``dout_t`` plus what step ``t + 1``
sends back, ``da_h,t+1 @ w_h.T`` (and, for the LSTM, ``dc`` along the cell
path). The weights are shared by all steps, so their gradients are sums over
time, again one matrix product each: ``dw_x = sum_t x_t.T @ da_x,t`` and
``dw_h = sum_t h_{t-1}.T @ da_h,t``. Where a kernel is registered for the
cell's ``<cell>_sequence_forward`` / ``_backward`` (:mod:`deepref.kernels`;
on NumPy the LSTM), it computes the same thing faster.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .. import kernels
from ..backend import get_namespace
from ..nn.init import as_generator, uniform
from ..nn.module import Module, Parameter
from ..validation import check_choice, check_count, check_ndim
from .cells import CELLS, Cell, check_cell_weights, check_state

STATE_NAMES = ("h", "c")


class SequenceCache(NamedTuple):
    cell: Cell
    x: object
    hidden_states: object
    """(T + 1, N, H): ``h0`` and the hidden state after every step, in one array."""
    w_x: object
    w_h: object
    cores: list


def check_sequence(x, input_size: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch-first sequence ``(N, T, input_size)`` with ``T >= 1``."""
    check_ndim("x", x, 3, "(N, T, D): batch-first sequences")
    if x.shape[2] != input_size or x.shape[1] < 1:
        raise ValueError(f"x must have shape (N, T, {input_size}) with T >= 1, got {tuple(x.shape)}")


def sequence_forward(cell: Cell, x, state: tuple, w_x, w_h, b_x, b_h):
    """Run ``cell`` over a sequence.

    Parameters
    ----------
    cell : Cell
        One of :data:`deepref.rnn.cells.CELLS`.
    x : (N, T, D) array
    state : tuple of (N, H) arrays
        Initial state: ``(h0,)``, or ``(h0, c0)`` for the LSTM.
    w_x : (D, G*H) array
    w_h : (H, G*H) array
    b_x, b_h : (G*H,) arrays

    Returns
    -------
    out : (N, T, H) array
        The hidden state at every step.
    final_state : tuple of (N, H) arrays
    cache : SequenceCache
        (or the cache of the registered kernel that ran instead)
    """
    xp = get_namespace(x, w_x)
    hidden = check_cell_weights(cell, w_x, w_h, b_x, b_h)
    check_sequence(x, w_x.shape[0])
    if len(state) != cell.state_size:
        raise ValueError(
            f"the {cell.name} state is a tuple of {cell.state_size} arrays, "
            f"got {len(state)}"
        )
    for name, s in zip(STATE_NAMES, state):
        check_state(name + "0", s, (x.shape[0], hidden))
    kernel = kernels.lookup(f"{cell.name}_sequence_forward", xp)
    if kernel is not None:
        return kernel(x, state, w_x, w_h, b_x, b_h)
    n, steps, d = x.shape
    # a_x of all steps with one matrix product, rows ordered (t, n); the bias
    # added in place (a fresh (T*N, G*H) array costs as much as the product)
    ax_rows = _time_major_rows(xp, x) @ w_x
    ax_rows += b_x
    ax_all = xp.reshape(ax_rows, (steps, n, w_x.shape[1]))
    hidden_states, cores = [state[0]], []
    for t in range(steps):
        ah = state[0] @ w_h + b_h
        state, core = cell.core_forward(ax_all[t, ...], ah, state)
        hidden_states.append(state[0])
        cores.append(core)
    hidden_states = xp.stack(hidden_states)  # (T + 1, N, H), h_0 first
    out = xp.permute_dims(hidden_states[1:, ...], (1, 0, 2))
    cache = SequenceCache(cell, x, hidden_states, w_x, w_h, cores)
    return out, tuple(state), cache


def sequence_backward(dout, dstate: tuple, cache: SequenceCache):
    """Backpropagation through time for :func:`sequence_forward`.

    Parameters
    ----------
    dout : (N, T, H) array
        Gradient with respect to ``out``.
    dstate : tuple of (N, H) arrays or None
        Gradient with respect to the final state (``None`` entries count as zero).
    cache : SequenceCache
        Or the cache of a forward kernel, which names the kernel that reads it
        (``cache.backward_op``).

    Returns
    -------
    dx : (N, T, D) array
    dstate0 : tuple of (N, H) arrays
        Gradient with respect to the initial state.
    dw_x, dw_h, db_x, db_h : arrays shaped like the weights
    """
    if not isinstance(cache, SequenceCache):  # a forward kernel's cache
        kernel = kernels.require(cache.backward_op, get_namespace(dout))
        return kernel(dout, dstate, cache)
    xp = get_namespace(dout, cache.x)
    n, steps, d = cache.x.shape
    hidden, width = cache.w_h.shape
    check_state("dout", dout, (n, steps, hidden))
    dout_steps = xp.permute_dims(dout, (1, 0, 2))  # (T, N, H)
    dax_steps, dah_steps = [], []  # last step first
    dstate = list(dstate)
    w_h_t = _transposed_copy(xp, cache.w_h)
    for t in reversed(range(steps)):
        dh = dout_steps[t, ...] if dstate[0] is None else dout_steps[t, ...] + dstate[0]
        dax, dah, direct = cache.cell.core_backward((dh, *dstate[1:]), cache.cores[t])
        dax_steps.append(dax)
        dah_steps.append(dah)
        through_w_h = dah @ w_h_t
        dh_prev = through_w_h if direct[0] is None else direct[0] + through_w_h
        dstate = [dh_prev, *direct[1:]]
    # the pre-activation gradients as rows ordered (t, n) like hidden_states;
    # the RNN and the LSTM have dax = dah: one array serves both
    dax_rows = xp.reshape(xp.stack(dax_steps[::-1]), (steps * n, width))
    shared = dah_steps[0] is dax_steps[0]
    if shared:
        dah_rows = dax_rows
    else:
        dah_rows = xp.reshape(xp.stack(dah_steps[::-1]), (steps * n, width))
    h_prev_rows = xp.reshape(cache.hidden_states[:-1, ...], (steps * n, hidden))
    dx_rows = dax_rows @ _transposed_copy(xp, cache.w_x)
    db_x = xp.sum(dax_rows, axis=0)
    db_h = xp.asarray(db_x, copy=True) if shared else xp.sum(dah_rows, axis=0)
    return (
        xp.permute_dims(xp.reshape(dx_rows, (steps, n, d)), (1, 0, 2)),
        tuple(dstate),
        _time_major_rows(xp, cache.x).T @ dax_rows,
        h_prev_rows.T @ dah_rows,
        db_x,
        db_h,
    )


def _time_major_rows(xp, x):
    """``(N, T, D)`` as ``(T*N, D)`` rows ordered ``(t, n)``, a C-ordered copy (one product over all steps)."""
    n, steps, d = x.shape
    return xp.reshape(xp.permute_dims(x, (1, 0, 2)), (steps * n, d))


def _transposed_copy(xp, w):
    """``w.T`` as a new C-ordered array (BLAS multiplies by it faster than by the transposed view)."""
    return xp.reshape(xp.reshape(w.T, (-1,)), (w.shape[1], w.shape[0]))


def rnn_forward(x, h0, w_x, w_h, b_x, b_h):
    """Tanh RNN over a sequence (:func:`sequence_forward` with the ``"rnn"`` cell).

    Parameters
    ----------
    x : (N, T, D) array
    h0 : (N, H) array
    w_x : (D, H) array
    w_h : (H, H) array
    b_x, b_h : (H,) arrays

    Returns
    -------
    (out, h_n) : (N, T, H) and (N, H) arrays
    cache : SequenceCache
    """
    out, (h_n,), cache = sequence_forward(CELLS["rnn"], x, (h0,), w_x, w_h, b_x, b_h)
    return (out, h_n), cache


def rnn_backward(douts, cache: SequenceCache):
    """Gradients of :func:`rnn_forward` from ``douts = (dout, dh_n)``: ``(dx, dh0, dw_x, dw_h, db_x, db_h)``."""
    dout, dh_n = douts
    dx, (dh0,), *dparams = sequence_backward(dout, (dh_n,), cache)
    return (dx, dh0, *dparams)


def lstm_forward(x, h0, c0, w_x, w_h, b_x, b_h):
    """LSTM over a sequence (gate blocks ``i, f, g, o``).

    Parameters
    ----------
    x : (N, T, D) array
    h0, c0 : (N, H) arrays
    w_x : (D, 4H) array
    w_h : (H, 4H) array
    b_x, b_h : (4H,) arrays

    Returns
    -------
    (out, h_n, c_n) : (N, T, H), (N, H) and (N, H) arrays
    cache : SequenceCache
    """
    out, (h_n, c_n), cache = sequence_forward(CELLS["lstm"], x, (h0, c0), w_x, w_h, b_x, b_h)
    return (out, h_n, c_n), cache


def lstm_backward(douts, cache: SequenceCache):
    """Gradients of :func:`lstm_forward` from ``(dout, dh_n, dc_n)``: ``(dx, dh0, dc0, dw_x, dw_h, db_x, db_h)``."""
    dout, dh_n, dc_n = douts
    dx, (dh0, dc0), *dparams = sequence_backward(dout, (dh_n, dc_n), cache)
    return (dx, dh0, dc0, *dparams)


def gru_forward(x, h0, w_x, w_h, b_x, b_h):
    """GRU over a sequence (gate blocks ``r, z, n``).

    Parameters
    ----------
    x : (N, T, D) array
    h0 : (N, H) array
    w_x : (D, 3H) array
    w_h : (H, 3H) array
    b_x, b_h : (3H,) arrays

    Returns
    -------
    (out, h_n) : (N, T, H) and (N, H) arrays
    cache : SequenceCache
    """
    out, (h_n,), cache = sequence_forward(CELLS["gru"], x, (h0,), w_x, w_h, b_x, b_h)
    return (out, h_n), cache


def gru_backward(douts, cache: SequenceCache):
    """Gradients of :func:`gru_forward` from ``(dout, dh_n)``: ``(dx, dh0, dw_x, dw_h, db_x, db_h)``."""
    dout, dh_n = douts
    dx, (dh0,), *dparams = sequence_backward(dout, (dh_n,), cache)
    return (dx, dh0, *dparams)


class RecurrentLayer(Module):
    """One recurrent layer over batch-first sequences, with parameters ``w_x, w_h, b_x, b_h``.

    Parameters are initialised like PyTorch's, from ``U(-1/sqrt(H), 1/sqrt(H))``
    (biases included). ``forward(x, state)`` takes the initial state as a
    tuple of ``(N, H)`` arrays (zeros when ``None``) and leaves the final one in
    ``final_state``; ``backward(dout, dstate)`` takes the gradient of the final
    state as well (``None``: zero) and leaves that of the initial state in
    ``initial_state_grad``, which is what truncated BPTT chains.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    input_size, hidden_size : int
    forget_bias : float, optional
        LSTM only: start the forget gate's bias (``b_x + b_h``) at this value
        (1.0 in Jozefowicz et al., 2015) instead of a random one.
    seed : int or Generator, optional
    dtype : optional
        Floating dtype of the parameters (float64 by default).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, forget_bias=None, seed=None, dtype=None):
        check_choice("cell", cell, CELLS)
        check_count("input_size", input_size)
        check_count("hidden_size", hidden_size)
        if forget_bias is not None and cell != "lstm":
            raise ValueError(f"forget_bias applies to the LSTM only, not to the {cell!r} cell")
        self.cell = CELLS[cell]
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        rng = as_generator(seed)
        bound = 1.0 / math.sqrt(hidden_size)
        width = self.cell.gates * hidden_size
        self.w_x = Parameter(uniform((input_size, width), bound, rng, dtype))
        self.w_h = Parameter(uniform((hidden_size, width), bound, rng, dtype))
        self.b_x = Parameter(uniform((width,), bound, rng, dtype))
        self.b_h = Parameter(uniform((width,), bound, rng, dtype))
        if forget_bias is not None:
            self.b_x.data = _with_forget_block(self.b_x.data, float(forget_bias), hidden_size)
            self.b_h.data = _with_forget_block(self.b_h.data, 0.0, hidden_size)
        self.final_state = self.initial_state_grad = None
        self._cache = None

    def zero_state(self, batch_size: int, like) -> tuple:
        """The all-zero initial state for ``batch_size`` sequences (dtype and backend of ``like``)."""
        xp = get_namespace(like)
        return tuple(xp.zeros((batch_size, self.hidden_size), dtype=like.dtype) for _ in range(self.cell.state_size))

    def forward(self, x, state=None):
        """Run the cell over ``x`` (N, T, D) from ``state`` (a tuple of (N, H) arrays; zeros when ``None``).

        Returns the hidden state at every step, (N, T, H); the final state is
        left in ``final_state``.
        """
        if state is None:
            state = self.zero_state(x.shape[0], self.w_x.data)
        out, self.final_state, self._cache = sequence_forward(
            self.cell, x, tuple(state), self.w_x.data, self.w_h.data, self.b_x.data, self.b_h.data
        )
        return out

    def backward(self, dout, dstate=None):
        """BPTT from ``dout`` (N, T, H) and the final state's gradient ``dstate`` (``None``: zero).

        Adds the parameters' gradients to their ``.grad``, returns ``dx`` (N, T, D)
        and leaves the initial state's gradient in ``initial_state_grad``.
        """
        if dstate is None:
            dstate = (None,) * self.cell.state_size
        cache = self.saved_cache(consume=True)
        dx, self.initial_state_grad, dw_x, dw_h, db_x, db_h = sequence_backward(dout, tuple(dstate), cache)
        for param, grad in zip((self.w_x, self.w_h, self.b_x, self.b_h), (dw_x, dw_h, db_x, db_h)):
            param.accumulate(grad)
        return dx

    def __repr__(self) -> str:
        return f"RecurrentLayer({self.cell.name!r}, {self.input_size}, {self.hidden_size})"


def _with_forget_block(bias, value: float, hidden: int):
    """``bias`` (4H,) with its forget block (the second of ``i, f, g, o``) set to ``value``."""
    xp = get_namespace(bias)
    block = xp.full((hidden,), value, dtype=bias.dtype)
    return xp.concat([bias[:hidden], block, bias[2 * hidden :]])


class _RecurrentStack(Module):
    """``num_layers`` recurrent layers, each feeding its output sequence to the next (PyTorch's ``num_layers``).

    **Input layout.** ``batch_first=True`` (the default here, *not* PyTorch's)
    takes ``x : (N, T, D)``, ``N`` sequences of ``T`` steps, and returns
    ``(N, T, H)``, so that :func:`deepref.train.fit` cuts mini-batches along
    the first axis. ``batch_first=False`` takes PyTorch's default time-major
    ``(T, N, D)`` and returns ``(T, N, H)`` (``backward`` then takes and
    returns time-major arrays too). Nothing can tell the two layouts apart
    from the shape: a time-major array given to a batch-first layer is read
    as ``T`` sequences of ``N`` steps.

    **State contract.** States are stacked over layers: ``(L, N, H)`` arrays
    whatever ``batch_first`` says, an array for the RNN and the GRU, a pair
    ``(h, c)`` for the LSTM, as PyTorch's ``h_0`` / ``(h_0, c_0)``.

    * ``forward(x, state=None)`` starts from ``state`` (zeros when ``None``),
      returns the last layer's output at every step and leaves the final
      state in ``final_state`` (PyTorch returns it as ``h_n`` / ``(h_n, c_n)``);
      pass ``final_state`` as the next chunk's ``state`` to carry it over.
    * ``backward(dout, dstate=None)`` takes the gradient of the output and,
      optionally, of ``final_state`` (``None``: zero), adds the parameters'
      gradients to their ``.grad``, returns ``dx`` and leaves the gradient
      of the initial state in ``initial_state_grad`` (what truncated
      backpropagation through time hands to the previous chunk).

    **Parameters.** Layer ``k`` has ``l{k}.w_x`` ``(D, G*H)``, ``l{k}.w_h``
    ``(H, G*H)``, ``l{k}.b_x`` and ``l{k}.b_h`` ``(G*H,)``: inputs along the
    rows, the transpose of PyTorch's ``weight_ih_l{k}`` and
    ``weight_hh_l{k}``; the biases are PyTorch's ``bias_ih_l{k}`` and
    ``bias_hh_l{k}``, the gate blocks in PyTorch's order. Use
    :func:`deepref.interop.from_torch` / :func:`~deepref.interop.to_torch`
    to convert state dicts.

    Parameters
    ----------
    input_size, hidden_size : int
        ``D`` and ``H``.
    num_layers : int
        ``L``.
    batch_first : bool
        ``True``: ``(N, T, D)`` sequences (the default); ``False``: ``(T, N, D)``.
    seed : int or Generator, optional
    dtype : str or dtype, optional
        Floating dtype of the parameters (the default dtype, float64 unless
        set); inputs and states must have it.
    """

    cell_name: str

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 seed=None, dtype=None, **cell_options):
        check_count("num_layers", num_layers)
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first must be True or False, got {batch_first!r}")
        rng = as_generator(seed)
        self.num_layers, self.hidden_size, self.batch_first = int(num_layers), int(hidden_size), batch_first
        self.layers = []
        for k in range(self.num_layers):
            layer_input = input_size if k == 0 else hidden_size
            layer = RecurrentLayer(self.cell_name, layer_input, hidden_size, seed=rng, dtype=dtype, **cell_options)
            setattr(self, f"l{k}", layer)
            self.layers.append(layer)
        self.final_state = self.initial_state_grad = None

    @property
    def _state_size(self) -> int:
        return CELLS[self.cell_name].state_size

    def _as_tuple(self, state) -> tuple:
        """The public state (array or ``(h, c)``) as a tuple of arrays."""
        if self._state_size == 1:
            return (state,)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError("the LSTM state is a pair (h, c) of (L, N, H) arrays")
        return tuple(state)

    def _public(self, arrays: tuple):
        return arrays[0] if self._state_size == 1 else arrays

    def _per_layer(self, state, batch_size: int) -> list:
        """Split a stacked state ``(L, N, H)`` into one tuple of ``(N, H)`` arrays per layer (``None``: zeros)."""
        if state is None:
            return [None] * self.num_layers
        arrays = self._as_tuple(state)
        for name, s in zip(STATE_NAMES, arrays):
            check_state(name + "0", s, (self.num_layers, batch_size, self.hidden_size))
        return [tuple(s[k, ...] for s in arrays) for k in range(self.num_layers)]

    def _stacked(self, per_layer: list):
        xp = get_namespace(per_layer[0][0])
        return self._public(tuple(xp.stack([s[j] for s in per_layer]) for j in range(self._state_size)))

    def _batch_major(self, a):
        """``a`` as ``(N, T, ...)``: unchanged when batch-first, the first two axes swapped otherwise."""
        return a if self.batch_first else get_namespace(a).permute_dims(a, (1, 0, 2))

    def forward(self, x, state=None):
        """Run the stack over ``x`` from ``state``; see the class for layouts and the state contract.

        Parameters
        ----------
        x : (N, T, D) array, or (T, N, D) with ``batch_first=False``
        state : optional
            ``(L, N, H)`` array (RNN, GRU) or pair of them (LSTM); zeros when ``None``.

        Returns
        -------
        out : (N, T, H) array, or (T, N, H)
            The last layer's hidden state at every step; the final state is
            left in ``final_state``.
        """
        check_ndim("x", x, 3, "(N, T, D) batch-first sequences" if self.batch_first else "(T, N, D) sequences")
        x = self._batch_major(x)
        for layer, layer_state in zip(self.layers, self._per_layer(state, x.shape[0])):
            x = layer.forward(x, layer_state)
        self.final_state = self._stacked([layer.final_state for layer in self.layers])
        return self._batch_major(x)

    def backward(self, dout, dstate=None):
        """Backpropagation through time from ``dout`` (shaped like the output) and ``dstate``.

        Parameters
        ----------
        dout : (N, T, H) array, or (T, N, H)
        dstate : optional
            Gradient of ``final_state`` (its structure); ``None`` is zero.

        Returns
        -------
        dx : array shaped like the last ``forward``'s ``x``
            The parameters' gradients are added to their ``.grad``; the
            gradient of the initial state is left in ``initial_state_grad``.
        """
        dout = self._batch_major(dout)
        per_layer = [None] * self.num_layers
        if dstate is not None:
            per_layer = self._per_layer(dstate, dout.shape[0])
        for layer, layer_dstate in zip(reversed(self.layers), reversed(per_layer)):
            dout = layer.backward(dout, layer_dstate)
        self.initial_state_grad = self._stacked([layer.initial_state_grad for layer in self.layers])
        return self._batch_major(dout)

    def __repr__(self) -> str:
        first = self.layers[0]
        extra = "" if self.batch_first else ", batch_first=False"
        return f"{type(self).__name__}({first.input_size}, {self.hidden_size}, num_layers={self.num_layers}{extra})"


class RNN(_RecurrentStack):
    """Stacked tanh RNN, ``h_t = tanh(x_t @ w_x + b_x + h_{t-1} @ w_h + b_h)``.

    Input layout (``batch_first``, ``True`` by default, unlike PyTorch), the
    state contract (``forward(x, state)``, ``final_state``,
    ``initial_state_grad``), the parameters and ``dtype=``: see
    :class:`_RecurrentStack`; the state is one ``(L, N, H)`` array.

    >>> rnn = RNN(3, 5, num_layers=2, seed=0)
    >>> from deepref.backend import asarray
    >>> out = rnn(asarray([[[0.1, 0.2, 0.3]] * 4]))
    >>> tuple(out.shape), tuple(rnn.final_state.shape)
    ((1, 4, 5), (2, 1, 5))
    """

    cell_name = "rnn"


class LSTM(_RecurrentStack):
    """Stacked LSTM (gate blocks ``i, f, g, o``, PyTorch's equations and order).

    **Layout.** ``x`` is ``(N, T, D)`` by default (``batch_first=True``, the
    opposite of PyTorch's default); ``batch_first=False`` takes ``(T, N, D)``.

    **State contract.** The state is a pair ``(h, c)`` of ``(L, N, H)`` arrays.
    ``forward(x, state=None)`` starts from ``state`` (zeros when ``None``) and
    returns the output ``(N, T, H)``; the final pair is left in
    ``final_state`` (PyTorch's ``(h_n, c_n)``), to pass as the ``state`` of
    the next chunk. ``backward(dout, dstate=None)`` takes the gradient of
    the output and optionally of ``final_state``, returns ``dx`` and leaves
    the gradient of the initial pair in ``initial_state_grad``.

    **Parameters.** ``l{k}.w_x`` is PyTorch's ``weight_ih_l{k}.T``,
    ``l{k}.w_h`` its ``weight_hh_l{k}.T``, ``l{k}.b_x`` and ``l{k}.b_h`` its
    biases (convert with :func:`deepref.interop.from_torch`). More in
    :class:`_RecurrentStack`.

    Parameters
    ----------
    input_size, hidden_size, num_layers : int
    forget_bias : float, optional
        Start every forget gate's bias (``b_x + b_h``) at this value (1.0 in
        Jozefowicz et al., 2015) instead of a random one.
    batch_first : bool
    seed : int or Generator, optional
    dtype : str or dtype, optional
        Floating dtype of the parameters (float64 unless the default dtype was set).
    """

    cell_name = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, forget_bias=None,
                 batch_first: bool = True, seed=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, batch_first=batch_first, seed=seed, dtype=dtype,
                         forget_bias=forget_bias)


class GRU(_RecurrentStack):
    """Stacked GRU (PyTorch's formulation, reset gate applied to ``h @ W_hn + b_hn``; gate blocks ``r, z, n``).

    Input layout (``batch_first``, ``True`` by default, unlike PyTorch), the
    state contract and the parameters: see :class:`_RecurrentStack`; the
    state is one ``(L, N, H)`` array.
    """

    cell_name = "gru"


class LastTimeStep(Module):
    """Keep only the last step of a sequence: ``(N, T, H) -> (N, H)`` (to put a read-out after a recurrent layer)."""

    def forward(self, x):
        check_ndim("x", x, 3, "(N, T, H)")
        self._shape = tuple(x.shape)
        return x[:, -1, :]

    def backward(self, dout):
        xp = get_namespace(dout)
        n, steps, hidden = self._shape
        check_state("dout", dout, (n, hidden))
        earlier = xp.zeros((n, steps - 1, hidden), dtype=dout.dtype)
        return xp.concat([earlier, dout[:, None, :]], axis=1)

    def __repr__(self) -> str:
        return "LastTimeStep()"
