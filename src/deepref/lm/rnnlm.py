"""The recurrent language model: embedding, stacked recurrent layers, a softmax over the vocabulary.

For a token stream ``w_1 .. w_T`` the model reads ``x_t = E[w_t]``, updates
the state ``h_t = f(h_{t-1}, x_t)`` with stacked LSTM, GRU or tanh layers of
:mod:`deepref.rnn` (dropout between layers, on the non-recurrent connections
only, as Zaremba et al. 2014 do), and predicts the next word with
``P(w_{t+1} | w_1 .. w_t) = softmax(h_t W + b)``. Training minimises the mean
negative log-likelihood per token; its exponential is the perplexity.

Truncated backpropagation through time cuts the stream into windows of
``steps`` tokens: the state at the end of one window starts the next (the model
keeps its memory), but no gradient flows back across the cut.

The output layer is the full softmax (optionally with the decoder tied to the
embedding, ``W = E^T``, Press & Wolf 2017) or the class-factored softmax of
:mod:`deepref.lm.softmax`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import rnn
from ..backend import get_namespace, to_numpy
from ..nn.dropout import Dropout
from ..nn.init import as_generator, uniform
from ..nn.linear import Linear, linear_backward, linear_forward
from ..nn.losses import log_softmax, one_hot
from ..nn.module import Module, Parameter
from ..nn.utils import restoring
from ..train import train_step
from ..validation import check_choice, check_count, check_finite_loss, check_in_range, check_ndim, check_positive
from .corpus import bptt_chunks
from .embedding import Embedding
from .softmax import ClassSoftmax, sequence_loss_backward, sequence_loss_forward

CELLS = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}


class RNNLM(Module):
    """Recurrent language model.

    Parameters
    ----------
    vocab_size, embed_size, hidden_size : int
    num_layers : int
    cell : {"lstm", "gru", "rnn"}
    dropout : float
        Dropout probability on the embedding output, between layers and before
        the decoder (0: none).
    tie_weights : bool
        Use the embedding matrix as the decoder (needs ``embed_size == hidden_size``).
    softmax : {"full", "class"}
    n_classes : int
        Number of word classes of the class-factored softmax (default ``ceil(sqrt(V))``).
    init_scale : float
        Embedding and output weights start uniform on ``[-init_scale, init_scale]``;
        recurrent layers keep PyTorch's initialisation.
    seed : int or Generator, optional
    dtype : optional

    Notes
    -----
    The recurrent state is a list with one entry per layer, each in the
    format of a one-layer :mod:`deepref.rnn` stack (an ``(1, N, H)`` array, or
    a pair of them for the LSTM); ``None`` means zeros.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.0, tie_weights: bool = False, softmax: str = "full", n_classes=None,
                 init_scale: float = 0.1, seed=None, dtype=None):
        check_choice("cell", cell, CELLS)
        check_choice("softmax", softmax, ("full", "class"))
        check_in_range("dropout", dropout, 0.0, 1.0)
        self.vocab_size = check_count("vocab_size", vocab_size)
        check_count("num_layers", num_layers)
        if tie_weights and (softmax != "full" or embed_size != hidden_size):
            raise ValueError(
                "tie_weights needs the full softmax and embed_size == hidden_size, "
                f"got softmax={softmax!r}, embed_size={embed_size}, hidden_size={hidden_size}"
            )
        rng = as_generator(seed)
        self.cell, self.softmax_kind, self.tie_weights = cell, softmax, tie_weights
        self.embedding = Embedding(vocab_size, embed_size, init_scale, seed=rng, dtype=dtype)
        self.layers, self.drops = [], [Dropout(dropout, seed=rng)]
        for k in range(num_layers):
            layer = CELLS[cell](embed_size if k == 0 else hidden_size, hidden_size, 1, seed=rng, dtype=dtype)
            setattr(self, f"l{k}", layer)
            self.layers.append(layer)
            self.drops.append(Dropout(dropout, seed=rng))
        xp = get_namespace(self.embedding.weight.data)
        if softmax == "class":
            n_classes = math.ceil(math.sqrt(vocab_size)) if n_classes is None else n_classes
            self.output = ClassSoftmax(hidden_size, vocab_size, n_classes, init_scale, seed=rng, dtype=dtype)
        elif tie_weights:
            self.decoder_bias = Parameter(xp.zeros((vocab_size,), dtype=self.embedding.weight.data.dtype))
        else:
            self.decoder = Linear(hidden_size, vocab_size, seed=rng, dtype=dtype)
        self.final_state = None
        self._cache = None

    # -- the recurrent part ------------------------------------------------
    def hidden_forward(self, ids, state=None):
        """``(N, T)`` ids to the last layer's ``(N, T, H)`` states; leaves the final state in ``final_state``."""
        check_ndim("ids", ids, 2, "(N, T): a batch of token windows")
        x = self.drops[0](self.embedding(ids))
        final = []
        for k, layer in enumerate(self.layers):
            x = self.drops[k + 1](layer.forward(x, None if state is None else state[k]))
            final.append(layer.final_state)
        self.final_state = final
        return x

    def hidden_backward(self, dh):
        """Backpropagate ``(N, T, H)`` through the layers and the embedding (the initial state gets no gradient).

        Returns the ``(N, T, D)`` gradient with respect to the embedded words
        ``x_t = E[w_t]`` (the ids themselves have none).
        """
        for k in reversed(range(len(self.layers))):
            dh = self.layers[k].backward(self.drops[k + 1].backward(dh))
        dx = self.drops[0].backward(dh)
        self.embedding.backward(dx)
        return dx

    def _decoder(self):
        if self.tie_weights:
            return self.embedding.weight.data.T, self.decoder_bias.data
        return self.decoder.weight.data, self.decoder.bias.data

    # -- full-softmax Module interface ------------------------------------
    def forward(self, ids, state=None):
        """Logits ``(N, T, V)`` of the next word at every position (full softmax only)."""
        if self.softmax_kind != "full":
            raise ValueError("forward returns logits of the full softmax; with softmax='class' use log_probs")
        h = self.hidden_forward(ids, state)
        n, t, width = h.shape
        xp = get_namespace(h)
        logits, self._cache = linear_forward(xp.reshape(h, (n * t, width)), *self._decoder())
        return xp.reshape(logits, (n, t, self.vocab_size))

    def backward(self, dlogits):
        """Backpropagate ``(N, T, V)`` logit gradients into every parameter.

        Returns the ``(N, T, D)`` gradient with respect to the embedded words
        (the ids get none), as every module returns its input's gradient.
        """
        xp = get_namespace(dlogits)
        n, t, v = dlogits.shape
        dh, dw, db = linear_backward(xp.reshape(dlogits, (n * t, v)), self.saved_cache())
        if self.tie_weights:
            self.embedding.weight.accumulate(dw.T)
            self.decoder_bias.accumulate(db)
        else:
            self.decoder.weight.accumulate(dw)
            self.decoder.bias.accumulate(db)
        return self.hidden_backward(xp.reshape(dh, (n, t, dh.shape[1])))

    # -- loss, for either softmax -------------------------------------------
    def loss_forward(self, ids, targets, state=None):
        """Mean negative log-likelihood (nats per token) of ``targets`` after ``ids``, both ``(N, T)``.

        The ids are not range-checked on the device: :func:`to_backend_ids`
        checks them on the host where they enter.
        """
        if self.softmax_kind == "full":
            loss, self._loss_cache = sequence_loss_forward(self.forward(ids, state), targets)
            return loss
        h = self.hidden_forward(ids, state)
        xp = get_namespace(h)
        n, t, width = h.shape
        return self.output.forward(xp.reshape(h, (n * t, width)), xp.reshape(targets, (n * t,)))

    def loss_backward(self, dloss=1.0):
        """Backpropagate the loss of the last :meth:`loss_forward` into every parameter.

        Returns the ``(N, T, D)`` gradient with respect to the embedded words.
        """
        if self.softmax_kind == "full":
            return self.backward(sequence_loss_backward(dloss, self._loss_cache))
        dh = self.output.backward(dloss)
        n, t = self.embedding.saved_cache().shape
        return self.hidden_backward(get_namespace(dh).reshape(dh, (n, t, dh.shape[1])))

    def token_logprobs(self, ids, targets, state=None):
        """``(N, T)`` log-probability of each target (natural log)."""
        if self.softmax_kind == "full":
            logits = self.forward(ids, state)
            xp = get_namespace(logits)
            return xp.sum(log_softmax(logits, axis=2) * one_hot_3d(targets, self.vocab_size, logits.dtype), axis=2)
        self.loss_forward(ids, targets, state)
        return -get_namespace(ids).reshape(self.output.saved_cache().nll, tuple(ids.shape))

    def log_probs(self, ids, state=None):
        """``(N, T, V)`` log-probabilities of every next word."""
        if self.softmax_kind == "full":
            return log_softmax(self.forward(ids, state), axis=2)
        h = self.hidden_forward(ids, state)
        xp = get_namespace(h)
        n, t, width = h.shape
        return xp.reshape(self.output.log_probs(xp.reshape(h, (n * t, width))), (n, t, self.vocab_size))


def one_hot_3d(targets, num_classes: int, dtype):
    """``(N, T)`` ids to an ``(N, T, num_classes)`` one-hot array."""
    xp = get_namespace(targets)
    n, t = targets.shape
    return xp.reshape(one_hot(xp.reshape(targets, (n * t,)), num_classes, dtype), (n, t, num_classes))


def init_uniform(model: Module, scale: float, seed=None) -> None:
    """Draw every parameter of ``model`` anew, uniform on ``[-scale, scale]`` (biases included).

    This is Zaremba et al.'s initialisation (``scale = 0.1`` for their small
    model); it replaces each layer's own.
    """
    rng = as_generator(seed)
    for p in model.parameters():
        p.data = uniform(p.shape, scale, rng, dtype=p.data.dtype)


def _host_to_model(host_array, model: RNNLM):
    """A host integer array as an int64 array on the backend of the model's parameters."""
    xp = get_namespace(model.embedding.weight.data)
    return xp.asarray(np.ascontiguousarray(host_array), dtype=xp.int64)


def to_backend_ids(host_ids, model: RNNLM, name: str = "ids"):
    """Host word ids, checked to lie in ``[0, V)`` on the host, as int64 on the model's backend.

    This is where ids enter the model: the check costs no read-back from a
    device, so the layers after it need not repeat it.
    """
    host_ids = np.asarray(host_ids)
    if not np.issubdtype(host_ids.dtype, np.integer):
        raise TypeError(f"{name} must be integer word ids, got dtype {host_ids.dtype}")
    if host_ids.size and (host_ids.min() < 0 or host_ids.max() >= model.vocab_size):
        raise ValueError(f"{name} must lie in [0, {model.vocab_size}) (the vocabulary), got values in "
                         f"[{host_ids.min()}, {host_ids.max()}]")
    return _host_to_model(host_ids, model)


def train_epoch(
    model: RNNLM,
    streams: np.ndarray,
    steps: int,
    optimizer,
    clip: float | None = None,
    max_windows: int | None = None,
    sum_steps: bool = False,
) -> float:
    """One pass of truncated BPTT over ``streams`` ``(B, L)``; returns the mean training loss (nats per token).

    The final state of each window starts the next one without carrying
    gradient. The gradient is that of the mean loss per token, or, with
    ``sum_steps``, of its sum over the window's steps (the mean over streams
    of each step's loss, added up: Zaremba et al.'s loss, ``steps`` times
    larger). ``clip`` rescales the global gradient norm (Zaremba et al. use 5);
    ``max_windows`` stops early (for budgets). A NaN or infinite loss stops the
    run with an error.
    """
    model.train()
    optimizer.zero_grad()
    state, total, count = None, 0.0, 0
    for k, (x, y) in enumerate(bptt_chunks(streams, steps)):
        if max_windows is not None and k >= max_windows:
            break
        inputs, targets = to_backend_ids(x, model), to_backend_ids(y, model, "targets")
        dloss = x.shape[1] if sum_steps else 1.0  # the window's sum: steps x its mean
        loss, _ = train_step(model, None, optimizer, inputs, targets, clip, dloss,
                             state=state)
        loss = float(loss)
        check_finite_loss(loss, f"window {k} of truncated BPTT")
        state = model.final_state  # carried forward; its gradient is never asked for
        total += loss * x.size
        count += x.size
    return total / max(count, 1)


def stream_logprobs(model: RNNLM, ids, n_streams: int = 16, steps: int = 64) -> np.ndarray:
    """Log-probabilities of ``ids[1 : 1 + n_streams * L]`` given everything before them in their stream.

    The tokens are cut into ``n_streams`` contiguous pieces that are read in
    parallel, each from a zero state, the state carried across windows.
    Returns a host ``(n_streams * L,)`` array in stream order (fewer than
    ``n_streams`` tokens at the end are not scored). The model scores in
    evaluation mode (no dropout) and is left in the mode it was in.
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    check_count("n_streams", n_streams)
    length = (ids.size - 1) // n_streams
    if length < 1:
        raise ValueError(f"{ids.size} tokens are too few for {n_streams} streams")
    inputs = ids[: n_streams * length].reshape(n_streams, length)
    targets = ids[1 : n_streams * length + 1].reshape(n_streams, length)
    state, pieces = None, []
    with restoring(model):
        model.eval()
        for start in range(0, length, check_count("steps", steps)):
            window = slice(start, start + steps)
            lp = model.token_logprobs(to_backend_ids(inputs[:, window], model),
                                      to_backend_ids(targets[:, window], model, "targets"), state)
            state = model.final_state
            pieces.append(to_numpy(lp))
    return np.concatenate(pieces, axis=1).ravel()


# -- decoding ---------------------------------------------------------------
def filter_distribution(log_probs, temperature: float = 1.0, top_k: int | None = None,
                        top_p: float | None = None) -> np.ndarray:
    """Next-word probabilities after temperature, top-k and top-p (nucleus) filtering (host NumPy).

    Parameters
    ----------
    log_probs : (V,) array
        Log-probabilities of the next word.
    temperature : float > 0
        ``p_i ∝ exp(log p_i / temperature)``: below 1 sharper, above 1 flatter.
    top_k : int >= 1, optional
        Keep the ``k`` most probable words.
    top_p : float in (0, 1], optional
        Keep the smallest set of most probable words whose mass reaches ``top_p``.

    Returns
    -------
    (V,) float64 numpy array summing to one.
    """
    check_positive("temperature", temperature)
    scaled = np.asarray(to_numpy(log_probs), dtype=np.float64) / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    keep = np.ones(probs.size, dtype=bool)
    if top_k is not None:
        keep[order[check_count("top_k", top_k):]] = False
    if top_p is not None:
        check_in_range("top_p", top_p, 0.0, 1.0, closed="right")
        mass_before = np.cumsum(probs[order]) - probs[order]
        keep[order[mass_before >= top_p]] = False
    probs = np.where(keep, probs, 0.0)
    return probs / probs.sum()


def _step(model: RNNLM, tokens, state):
    """Log-probabilities ``(N, V)`` (host) after feeding one token per row; returns them and the new state."""
    lp = model.log_probs(to_backend_ids(np.asarray(tokens, dtype=np.int64)[:, None], model), state)
    return to_numpy(lp[:, -1, :]), model.final_state


def _prime(model: RNNLM, prompt) -> tuple[np.ndarray, list]:
    """Feed ``prompt`` (ids, at least one) and return the next-word log-probabilities and the state."""
    prompt = np.asarray(prompt).ravel()
    if prompt.size == 0:
        raise ValueError("the prompt must hold at least one token id (for example <eos>)")
    lp = model.log_probs(to_backend_ids(prompt[None, :], model, "prompt"))
    return to_numpy(lp[0, -1, :]), model.final_state


def sample(model: RNNLM, prompt, length: int, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, seed=None) -> np.ndarray:
    """Draw ``length`` tokens after ``prompt`` (host int64 ids), one at a time from :func:`filter_distribution`.

    The model runs in evaluation mode and is left in the mode it was in;
    ``seed`` is an int or a ``numpy.random.Generator``.
    """
    rng = np.random.default_rng(seed)
    out = []
    with restoring(model):
        model.eval()
        log_probs, state = _prime(model, prompt)
        for _ in range(check_count("length", length)):
            probs = filter_distribution(log_probs, temperature, top_k, top_p)
            token = int(rng.choice(probs.size, p=probs))
            out.append(token)
            log_probs, state = _step(model, [token], state)
            log_probs = log_probs[0]
    return np.asarray(out, dtype=np.int64)


def greedy_decode(model: RNNLM, prompt, length: int) -> np.ndarray:
    """The most probable next token, ``length`` times (a beam of width 1)."""
    return beam_search(model, prompt, length, beam_width=1)[0]


def _select_state(state: list, rows):
    """Pick batch rows ``rows`` of a per-layer state (arrays ``(1, N, H)`` or pairs of them)."""
    def pick(a):
        return get_namespace(a).take(a, rows, axis=1)

    return [tuple(pick(a) for a in s) if isinstance(s, tuple) else pick(s) for s in state]


def beam_search(model: RNNLM, prompt, length: int, beam_width: int = 4) -> tuple[np.ndarray, float]:
    """The ``length``-token continuation with the highest log-probability found by beam search.

    Keeps the ``beam_width`` best partial continuations; each step extends
    every one by every word and keeps the best ``beam_width`` of the
    ``beam_width * V`` candidates. Beam search is a heuristic: it keeps more
    candidates than greedy decoding, but a continuation it drops early can
    be the best one, so it need not score as high as greedy decoding does.
    The model runs in evaluation mode and is left in the mode it was in.

    Returns
    -------
    tokens : (length,) int64 numpy array
    logprob : float
        Its total natural log-probability.
    """
    check_count("beam_width", beam_width)
    check_count("length", length)
    with restoring(model):
        model.eval()
        log_probs, state = _prime(model, prompt)
        beams, scores = np.zeros((1, 0), dtype=np.int64), np.zeros(1)
        log_probs = log_probs[None, :]
        for step in range(length):
            candidates = (scores[:, None] + log_probs).ravel()
            best = np.argsort(-candidates, kind="stable")[:beam_width]
            rows, words = best // model.vocab_size, best % model.vocab_size
            beams = np.concatenate([beams[rows], words[:, None]], axis=1)
            scores = candidates[best]
            if step + 1 < length:
                state = _select_state(state, _host_to_model(rows, model))
                log_probs, state = _step(model, words, state)
    return beams[0], float(scores[0])
