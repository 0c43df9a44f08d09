"""Output layers of a language model: the loss over a sequence, and the class-factored softmax.

**Full softmax.** Logits ``z = h W + b`` over all ``V`` words cost ``H V``
multiply-adds per token, forward, and twice that backward. With ``V = 10^4``
this dominates a small recurrent model.

**Class-factored softmax** (Goodman 2001; Mikolov et al. 2011). Partition the
vocabulary into ``C`` classes and write exactly

``P(w | h) = P(c(w) | h) P(w | c(w), h)``,

both factors softmaxes: over the ``C`` classes with logits ``h U + a``, and
over the words of class ``c(w)`` only, with logits ``h W_c + b_c``. A token
costs ``H (C + S)`` for classes of ``S`` words; with ``C = S = sqrt(V)`` that
is ``2 H sqrt(V)``, fifty times less than ``H V`` for ``V = 10^4``. The
probabilities stay normalised, so perplexities are exact. Here the classes are
consecutive blocks of ``S`` ids in frequency order (the vocabulary lists the
most frequent words first).

Gradients of the loss ``L = -log P(c | h) - log P(w | c, h)``, per token:
``dL/dz_class = softmax(z_class) - onehot(c)``, and for the words of class
``c`` only, ``dL/dz_word = softmax(z_word) - onehot(w)``; then
``dh = dz_class U^T + dz_word W_c^T``, ``dU = h^T dz_class``, and the block
``W_c`` receives ``h^T dz_word`` from the tokens of its class.

Target ids are range-checked here only where reading them costs nothing
(host arrays; on a GPU with ``DEEPREF_CHECK_VALUES=1``, see
:func:`deepref.validation.reads_values`): the language model checks its ids
once, on the host, where they enter (:func:`deepref.lm.rnnlm.to_backend_ids`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import get_namespace, to_numpy
from ..nn.init import as_generator, uniform
from ..nn.losses import log_softmax, one_hot, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..nn.module import Module, Parameter
from ..validation import check_choice, check_count, check_ndim, check_shape, reads_values
from .embedding import check_ids


class SequenceLossCache(NamedTuple):
    inner: object
    shape: tuple


def sequence_loss_forward(logits, targets):
    """Mean cross-entropy per token of ``(N, T, V)`` logits against ``(N, T)`` target ids (nats per token).

    Returns
    -------
    loss : 0-D array
    cache : SequenceLossCache
    """
    check_ndim("logits", logits, 3, "(N, T, V)")
    check_shape("targets", targets, tuple(logits.shape[:2]))
    xp = get_namespace(logits)
    n, t, v = logits.shape
    loss, inner = softmax_cross_entropy_forward(xp.reshape(logits, (n * t, v)), xp.reshape(targets, (n * t,)))
    return loss, SequenceLossCache(inner, tuple(logits.shape))


def sequence_loss_backward(dloss, cache: SequenceLossCache):
    """``(N, T, V)`` gradient of :func:`sequence_loss_forward`: ``(softmax - onehot) / (N T)``."""
    dz = softmax_cross_entropy_backward(dloss, cache.inner)
    return get_namespace(dz).reshape(dz, cache.shape)


class ClassSoftmaxCache(NamedTuple):
    h_sorted: object  # (M, H) rows sorted by class
    order: object  # (M,) row order that sorts by class
    segments: list  # (class, start, stop) of the sorted rows
    nll: object  # (M,) negative log-likelihood of each row's target, in the rows' original order
    class_probs: object  # (M, C)
    class_target: object  # (M, C) one-hot
    word_probs: list  # per segment (m_c, S_c)
    word_target: list  # per segment (m_c, S_c) one-hot
    u: object  # (H, C) class weights of the forward pass
    w: object  # (H, V) word weights of the forward pass


def class_layout(vocab_size: int, n_classes: int) -> tuple[int, int]:
    """``(C, S)``: the number of classes actually used and the class size, ``S = ceil(V / n_classes)``."""
    size = math.ceil(check_count("vocab_size", vocab_size) / check_count("n_classes", n_classes))
    return math.ceil(vocab_size / size), size


def output_layer_madds(vocab_size: int, hidden_size: int, kind: str, n_classes: int | None = None) -> int:
    """Multiply-adds per token of an output layer's forward pass (the backward pass costs twice as many).

    ``"full"``: ``H V`` for ``h W``. ``"class"``: ``H (C + S)``, the class
    logits ``h U`` and the logits of one class of ``S = ceil(V / C)`` words,
    with ``C = ceil(sqrt(V))`` classes unless ``n_classes`` is given. The
    softmaxes themselves, linear in ``V`` or ``C + S``, are not counted.
    """
    check_count("hidden_size", hidden_size)
    check_choice("kind", kind, ("full", "class"))
    if kind == "full":
        return hidden_size * check_count("vocab_size", vocab_size)
    classes, size = class_layout(vocab_size, math.ceil(math.sqrt(vocab_size)) if n_classes is None else n_classes)
    return hidden_size * (classes + size)


def class_softmax_forward(h, targets, u, a, w, b):
    """Mean negative log-likelihood under the class-factored softmax.

    Parameters
    ----------
    h : (M, H) array
        Hidden states, one row per token.
    targets : (M,) integer array
        Word ids in ``[0, V)`` (checked where that costs no device read, see the
        module docstring); word ``v`` belongs to class ``v // S``.
    u : (H, C) array, a : (C,) array
        Class weights and biases.
    w : (H, V) array, b : (V,) array
        Word weights and biases (class ``c`` uses columns ``c S .. (c + 1) S - 1``).

    Returns
    -------
    loss : 0-D array
        ``mean_m -log P(targets[m] | h[m])`` (the per-row values are ``cache.nll``).
    cache : ClassSoftmaxCache
    """
    check_ndim("h", h, 2, "(M, H)")
    check_shape("u", u, (h.shape[1], None))
    check_shape("w", w, (h.shape[1], None))
    check_shape("targets", targets, (h.shape[0],))
    xp = get_namespace(h, u, w)
    if reads_values(targets):
        check_ids("targets", targets, w.shape[1])
    elif not xp.isdtype(targets.dtype, "integral"):
        raise TypeError(f"targets must be integer word ids, got dtype {targets.dtype}")
    n_classes, size = u.shape[1], math.ceil(w.shape[1] / u.shape[1])
    classes = targets // size
    class_logp = log_softmax(h @ u + a, axis=1)
    class_target = one_hot(classes, n_classes, h.dtype)
    nll_parts = []
    order = xp.argsort(classes)
    h_sorted, sorted_classes = xp.take(h, order, axis=0), xp.take(classes, order)
    sorted_targets = xp.take(targets, order)
    boundaries = xp.arange(n_classes + 1, dtype=classes.dtype)
    starts = xp.searchsorted(sorted_classes, boundaries)
    starts = to_numpy(starts).tolist()  # the segments' bounds, read back once
    segments, word_probs, word_target = [], [], []
    for c in range(n_classes):
        start, stop = starts[c], starts[c + 1]
        if start == stop:
            continue
        cols = slice(c * size, min((c + 1) * size, w.shape[1]))
        logp = log_softmax(h_sorted[start:stop, :] @ w[:, cols] + b[cols], axis=1)
        target = one_hot(sorted_targets[start:stop] - c * size, logp.shape[1], h.dtype)
        nll_parts.append(-xp.sum(logp * target, axis=1))
        segments.append((c, start, stop))
        word_probs.append(xp.exp(logp))
        word_target.append(target)
    word_nll = xp.take(xp.concat(nll_parts), xp.argsort(order))
    nll = word_nll - xp.sum(class_logp * class_target, axis=1)
    cache = ClassSoftmaxCache(
        h_sorted, order, segments, nll, xp.exp(class_logp), class_target,
        word_probs, word_target, u, w,
    )
    return xp.mean(nll), cache


def class_softmax_backward(dloss, cache: ClassSoftmaxCache):
    """Gradients of :func:`class_softmax_forward`.

    Parameters
    ----------
    dloss : float or 0-D array
        Gradient of the objective with respect to the mean loss.
    cache : ClassSoftmaxCache
        From the forward pass.

    Returns
    -------
    dh : (M, H) array
    du : (H, C) array
    da : (C,) array
    dw : (H, V) array
    db : (V,) array
    """
    u, w = cache.u, cache.w
    xp = get_namespace(cache.h_sorted, u)
    m = cache.h_sorted.shape[0]
    dz_class = dloss * (cache.class_probs - cache.class_target) / m
    size = math.ceil(w.shape[1] / u.shape[1])
    zero_block = xp.zeros((u.shape[0], size), dtype=w.dtype)
    dh_parts, dw_blocks, db_blocks, done = [], [], [], 0
    for (c, start, stop), probs, target in zip(cache.segments, cache.word_probs, cache.word_target):
        cols = slice(c * size, min((c + 1) * size, w.shape[1]))
        dz_word = dloss * (probs - target) / m
        dh_parts.append(dz_word @ w[:, cols].T)
        dw_blocks += [zero_block] * (c - done) + [cache.h_sorted[start:stop, :].T @ dz_word]
        db_blocks += [zero_block[0, :]] * (c - done) + [xp.sum(dz_word, axis=0)]
        done = c + 1
    rest = w.shape[1] - min(done * size, w.shape[1])  # columns of the classes after the last one seen
    dw_blocks.append(xp.zeros((u.shape[0], rest), dtype=w.dtype))
    db_blocks.append(xp.zeros((rest,), dtype=w.dtype))
    inverse = xp.argsort(cache.order)
    dh = xp.take(xp.concat(dh_parts, axis=0), inverse, axis=0) + dz_class @ u.T
    h = xp.take(cache.h_sorted, inverse, axis=0)
    return dh, h.T @ dz_class, xp.sum(dz_class, axis=0), xp.concat(dw_blocks, axis=1), xp.concat(db_blocks)


def class_softmax_log_probs(h, u, a, w, b):
    """``(M, V)`` log-probabilities of every word, ``log P(c(v) | h) + log P(v | c(v), h)`` (for sampling)."""
    xp = get_namespace(h, w)
    n_classes, size = u.shape[1], math.ceil(w.shape[1] / u.shape[1])
    class_logp = log_softmax(h @ u + a, axis=1)
    parts = []
    for c in range(n_classes):
        cols = slice(c * size, min((c + 1) * size, w.shape[1]))
        parts.append(log_softmax(h @ w[:, cols] + b[cols], axis=1) + class_logp[:, c : c + 1])
    return xp.concat(parts, axis=1)


class ClassSoftmax(Module):
    """Class-factored softmax output layer with its loss (see the module docstring).

    ``forward(h, targets)`` returns the mean loss (nats per token);
    ``backward(dloss)`` returns ``dh`` and accumulates the parameter
    gradients; ``log_probs(h)`` gives the full ``(M, V)`` distribution.
    """

    def __init__(self, hidden_size: int, vocab_size: int, n_classes: int, init_scale: float = 0.1, seed=None,
                 dtype=None):
        rng = as_generator(seed)
        self.n_classes, self.size = class_layout(vocab_size, n_classes)
        self.u = Parameter(uniform((hidden_size, self.n_classes), init_scale, rng, dtype))
        self.a = Parameter(get_namespace(self.u.data).zeros((self.n_classes,), dtype=self.u.data.dtype))
        self.w = Parameter(uniform((hidden_size, vocab_size), init_scale, rng, dtype))
        self.b = Parameter(get_namespace(self.u.data).zeros((vocab_size,), dtype=self.u.data.dtype))
        self._cache = None

    def forward(self, h, targets):
        loss, self._cache = class_softmax_forward(h, targets, self.u.data, self.a.data, self.w.data, self.b.data)
        return loss

    def backward(self, dloss=1.0):
        dh, du, da, dw, db = class_softmax_backward(dloss, self.saved_cache())
        for param, grad in zip((self.u, self.a, self.w, self.b), (du, da, dw, db)):
            param.accumulate(grad)
        return dh

    def log_probs(self, h):
        return class_softmax_log_probs(h, self.u.data, self.a.data, self.w.data, self.b.data)

    def __repr__(self) -> str:
        return f"ClassSoftmax({self.w.shape[0]}, {self.w.shape[1]}, classes={self.n_classes})"
