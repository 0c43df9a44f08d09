"""Word embeddings by skip-gram with negative sampling (word2vec; Mikolov et al. 2013).

Each word ``w`` has an input vector ``v_w`` and an output vector ``u_w``. For
a (centre, context) pair ``(c, o)`` seen in the text within a window, and
``K`` *negative* words ``n_1 .. n_K`` drawn from the unigram distribution
raised to the 3/4 power, the loss is

``L = -log sigma(u_o . v_c) - sum_k log sigma(-u_{n_k} . v_c)``.

With ``s = u . v_c`` and ``d/ds [-log sigma(s)] = sigma(s) - 1``,
``d/ds [-log sigma(-s)] = sigma(s)``, the gradients are

* ``dL/dv_c = (sigma(s_o) - 1) u_o + sum_k sigma(s_k) u_{n_k}``,
* ``dL/du_o = (sigma(s_o) - 1) v_c``,  ``dL/du_{n_k} = sigma(s_k) v_c``,

and a batch adds them into the rows of the two tables with a scatter-add
(a word can appear several times in one batch).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import get_namespace, scatter_add, to_numpy
from ..nn.activations import sigmoid
from ..nn.init import as_generator, uniform
from ..nn.module import Module, Parameter
from ..optim import Adam
from ..seeds import spawn_seeds
from ..train import train_step
from ..validation import check_count, check_finite_loss, check_positive
from .embedding import check_ids


class SkipGramCache(NamedTuple):
    v_c: object  # (B, D)
    u_all: object  # (B, 1 + K, D): the context word's vector, then the negatives'
    sig: object  # (B, 1 + K)
    centers: object
    words: object  # (B, 1 + K)
    shapes: tuple


def skipgram_forward(centers, contexts, negatives, w_in, w_out):
    """Mean negative-sampling loss over a batch of pairs.

    Parameters
    ----------
    centers, contexts : (B,) integer arrays
    negatives : (B, K) integer array
    w_in, w_out : (V, D) arrays
        Input (centre) and output (context) vectors.

    Returns
    -------
    loss : 0-D array
    cache : SkipGramCache
    """
    xp = get_namespace(w_in, w_out)
    vocab = w_in.shape[0]
    for name, ids in (("centers", centers), ("contexts", contexts), ("negatives", negatives)):
        check_ids(name, ids, vocab)
    b, k = negatives.shape
    words = xp.concat([xp.reshape(contexts, (b, 1)), negatives], axis=1)  # (B, 1 + K)
    v_c = xp.take(w_in, centers, axis=0)
    u_all = xp.reshape(xp.take(w_out, xp.reshape(words, (-1,)), axis=0), (b, 1 + k, w_out.shape[1]))
    scores = xp.sum(u_all * v_c[:, None, :], axis=2)
    sign = xp.concat([xp.ones((b, 1), dtype=w_in.dtype), -xp.ones((b, k), dtype=w_in.dtype)], axis=1)
    z = sign * scores  # -log sigma(z), stably: log(1 + exp(-z))
    loss = xp.mean(xp.sum(xp.logaddexp(xp.zeros_like(z), -z), axis=1))
    return loss, SkipGramCache(v_c, u_all, sigmoid(scores), centers, words, tuple(w_in.shape))


def skipgram_backward(dloss, cache: SkipGramCache):
    """Gradients ``(dw_in, dw_out)`` of :func:`skipgram_forward`, each ``(V, D)``."""
    xp = get_namespace(cache.v_c)
    b = cache.v_c.shape[0]
    k = cache.sig.shape[1] - 1
    positive = xp.ones((b, 1), dtype=cache.sig.dtype)
    target = xp.concat([positive, xp.zeros((b, k), dtype=cache.sig.dtype)], axis=1)
    # ds (B, 1 + K): sigma(s) - 1 for the context word, sigma(s) for the negatives
    ds = dloss * (cache.sig - target) / b
    dv_c = xp.sum(ds[:, :, None] * cache.u_all, axis=1)
    du = xp.reshape(ds[:, :, None] * cache.v_c[:, None, :], (-1, cache.v_c.shape[1]))
    zeros = xp.zeros(cache.shapes, dtype=cache.v_c.dtype)
    dw_in = scatter_add(zeros, cache.centers, dv_c)
    return dw_in, scatter_add(zeros, xp.reshape(cache.words, (-1,)), du)


class SkipGram(Module):
    """The input and output vector tables ``(V, D)`` as a model whose loss is fused with it.

    :meth:`loss_forward` and :meth:`loss_backward` are :func:`skipgram_forward`
    and :func:`skipgram_backward` on the tables (what
    :func:`deepref.train.train_step` calls when it is given no loss function).
    """

    def __init__(self, w_in, w_out):
        self.w_in, self.w_out = Parameter(w_in), Parameter(w_out)
        self._cache = None

    def loss_forward(self, centers, contexts, negatives):
        """Mean negative-sampling loss of the pairs ``(centers, contexts)`` ``(B,)``.

        Each pair is scored against its row of ``negatives`` ``(B, K)``.
        """
        loss, self._cache = skipgram_forward(centers, contexts, negatives, self.w_in.data, self.w_out.data)
        return loss

    def loss_backward(self, dloss=1.0):
        """Add the gradients of the last :meth:`loss_forward` (times ``dloss``) into both tables."""
        dw_in, dw_out = skipgram_backward(dloss, self.saved_cache(consume=True))
        self.w_in.accumulate(dw_in)
        self.w_out.accumulate(dw_out)


def skipgram_pairs(ids, window: int) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) id pairs with ``0 < |offset| <= window`` in a token stream (host int64)."""
    ids = np.asarray(ids, dtype=np.int64)
    check_count("window", window)
    centers, contexts = [], []
    for offset in range(1, window + 1):
        centers += [ids[:-offset], ids[offset:]]
        contexts += [ids[offset:], ids[:-offset]]
    return np.concatenate(centers), np.concatenate(contexts)


def noise_distribution(ids, vocab_size: int, power: float = 0.75) -> np.ndarray:
    """Unigram frequencies raised to ``power`` and renormalised (word2vec's negative-sampling distribution)."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size).astype(np.float64)
    weights = counts ** check_positive("power", power)
    return weights / weights.sum()


def train_skipgram(ids, vocab_size: int, dim: int = 50, window: int = 2, negatives: int = 5, epochs: int = 1,
                   batch_size: int = 1024, lr: float = 0.01, seed=0, dtype=None):
    """Train skip-gram with negative sampling on the pairs of a token stream, by Adam on mini-batches.

    (word2vec itself steps by plain SGD after every pair; summed over a large
    batch, the updates of a frequent word add up and plain SGD diverges, which
    Adam's per-coordinate scaling avoids.) Frequent words are not subsampled.
    ``seed`` (an int or a generator) feeds two independent streams: the
    initial vectors, and the batch order with the negative samples.

    Returns
    -------
    w_in : (V, D) array
        The word vectors (input vectors), on the current backend.
    losses : list of float
        Mean loss of each batch.
    """
    init_seed, draw_seed = spawn_seeds(seed, 2)
    host = np.random.default_rng(draw_seed)
    w_in = uniform((vocab_size, dim), 0.5 / dim, as_generator(init_seed), dtype)
    xp = get_namespace(w_in)
    model = SkipGram(w_in, xp.zeros((vocab_size, dim), dtype=w_in.dtype))
    optimizer = Adam(model.parameters(), lr=lr)
    centers, contexts = skipgram_pairs(ids, window)
    cumulative = np.cumsum(noise_distribution(ids, vocab_size))
    losses = []
    for _ in range(check_count("epochs", epochs)):
        order = host.permutation(centers.size)
        for start in range(0, order.size, check_count("batch_size", batch_size)):
            rows = order[start : start + batch_size]
            noise = np.searchsorted(cumulative, host.random((rows.size, check_count("negatives", negatives))),
                                    side="right")
            batch = [xp.asarray(a, dtype=xp.int64) for a in (centers[rows], contexts[rows],
                                                              np.minimum(noise, vocab_size - 1))]
            loss, _ = train_step(model, None, optimizer, batch[0], batch[1], negatives=batch[2])
            check_finite_loss(float(loss), f"skip-gram batch {len(losses)}")
            losses.append(float(loss))
    return model.w_in.data, losses


def centred_unit_vectors(vectors) -> np.ndarray:
    """``(V, D)`` host float64 rows with the mean row subtracted, scaled to unit length.

    Trained embeddings share a common direction (every row moves with the
    word frequencies), which makes the cosine of two random words clearly
    positive; after centring, unrelated words sit near zero.
    """
    v = to_numpy(vectors).astype(np.float64)
    v = v - v.mean(axis=0)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def nearest_neighbours(vectors, word_id: int, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` words with the highest cosine similarity to ``word_id`` (itself excluded): ids and similarities.

    Cosines are taken between mean-centred vectors (:func:`centred_unit_vectors`).
    """
    unit = centred_unit_vectors(vectors)
    sims = unit @ unit[word_id]
    sims[word_id] = -np.inf
    best = np.argsort(-sims, kind="stable")[: check_count("k", k)]
    return best, sims[best]

