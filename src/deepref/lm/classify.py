"""Word-level text classification: a recurrent classifier and a multinomial Naive Bayes baseline.

**Recurrent classifier.** Embed the words of a sentence, run a recurrent layer
over them, pool the states into one vector (their mean over the real words,
or the state after the last word), and classify it with an affine layer and
a softmax. Sentences of a batch are padded on the right to the longest; a
weight matrix ``P`` of shape ``(N, T)`` (``1 / length`` on real words for the
mean, a one at the last word for ``"last"``) makes pooling one linear map,
``pooled_n = sum_t P_nt h_nt``, whose backward is ``dh_nt = P_nt dpooled_n``.

**Multinomial Naive Bayes** with binarised counts (Wang & Manning 2012):
each document contributes at most one count per feature (word or word pair),
``theta_cf = (alpha + docs of class c containing f) / (alpha F + sum_f' ...)``,
and a document's class scores are ``log prior_c + sum_{f in doc} log theta_cf``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import rnn
from ..backend import get_namespace, to_numpy
from ..nn.init import as_generator
from ..nn.linear import Linear
from ..nn.losses import SoftmaxCrossEntropy
from ..nn.module import Module
from ..nn.utils import restoring
from ..optim import Adam
from ..train import train_step
from ..validation import check_choice, check_count, check_finite_loss, check_positive
from .embedding import Embedding

POOLINGS = ("mean", "last")


def ngram_features(tokens: Sequence[str], max_n: int = 1) -> list[str]:
    """Word n-grams of ``tokens`` for ``n = 1 .. max_n``, joined with a space.

    >>> ngram_features(["not", "good"], 2)
    ['not', 'good', 'not good']
    """
    check_count("max_n", max_n)
    return [" ".join(tokens[i : i + n]) for n in range(1, max_n + 1) for i in range(len(tokens) - n + 1)]


class MultinomialNB:
    """Multinomial Naive Bayes over binarised features with Laplace (``alpha``) smoothing.

    ``fit(docs, labels)`` takes documents as lists of feature strings (see
    :func:`ngram_features`); features not seen in training are ignored at
    prediction.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = check_positive("alpha", alpha)
        self.index: dict[str, int] = {}

    def _encode(self, docs, grow: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(doc index, feature id)`` pairs, each present feature once per document."""
        rows, cols = [], []
        for d, doc in enumerate(docs):
            ids = set()
            for f in doc:
                if grow and f not in self.index:
                    self.index[f] = len(self.index)
                if f in self.index:
                    ids.add(self.index[f])
            rows.extend([d] * len(ids))
            cols.extend(ids)
        return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)

    def fit(self, docs: Sequence[Sequence[str]], labels) -> MultinomialNB:
        labels = np.asarray(labels, dtype=np.int64)
        if len(docs) != labels.size:
            raise ValueError(f"got {len(docs)} documents and {labels.size} labels")
        self.index = {}
        rows, cols = self._encode(docs, grow=True)
        self.classes = np.unique(labels)
        n_features = len(self.index)
        counts = np.stack([np.bincount(cols[labels[rows] == c], minlength=n_features) for c in self.classes])
        smoothed = counts + self.alpha
        self.log_theta = np.log(smoothed / smoothed.sum(axis=1, keepdims=True))  # (C, F)
        self.log_prior = np.log(np.array([np.mean(labels == c) for c in self.classes]))
        return self

    def decision_function(self, docs) -> np.ndarray:
        """``(D, C)`` log joint scores ``log P(c) + sum_f log theta_cf``."""
        if not self.index:
            raise RuntimeError("MultinomialNB is not fitted: call fit(docs, labels) first")
        rows, cols = self._encode(docs, grow=False)
        scores = [np.bincount(rows, weights=self.log_theta[k, cols], minlength=len(docs)) for k in
                  range(self.classes.size)]
        return np.stack(scores, axis=1) + self.log_prior

    def predict(self, docs) -> np.ndarray:
        return self.classes[np.argmax(self.decision_function(docs), axis=1)]


def pad_batch(sequences: Sequence[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences to ``(N, T_max)``; also return their lengths ``(N,)`` (each at least 1)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if lengths.size == 0 or lengths.min() < 1:
        raise ValueError("every sequence must hold at least one token")
    out = np.full((lengths.size, int(lengths.max())), pad_id, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out, lengths


def pooling_weights(lengths, steps: int, pooling: str):
    """Weights over time: ``1 / length`` on real words (``"mean"``) or a one at the last word (``"last"``).

    Parameters
    ----------
    lengths : (N,) integer array (any backend)
    steps : int
        ``T``, the padded length.
    pooling : {"mean", "last"}

    Returns
    -------
    (N, T) float64 array of the namespace of ``lengths``
    """
    check_choice("pooling", pooling, POOLINGS)
    xp = get_namespace(lengths)
    positions = xp.arange(steps)[None, :]
    lengths = lengths[:, None]
    if pooling == "mean":
        return xp.astype(positions < lengths, xp.float64) / xp.astype(lengths, xp.float64)
    return xp.astype(positions == lengths - 1, xp.float64)


class SequenceClassifier(Module):
    """Embedding, a recurrent layer, pooling over time and an affine read-out to class logits.

    ``forward(ids, lengths)`` takes right-padded ``(N, T)`` ids and their
    lengths and returns ``(N, n_classes)`` logits; ``backward(dlogits)``
    accumulates every gradient.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, n_classes: int = 2, cell: str = "gru",
                 pooling: str = "mean", seed=None, dtype=None):
        check_choice("cell", cell, ("rnn", "lstm", "gru"))
        check_choice("pooling", pooling, POOLINGS)
        rng = as_generator(seed)
        self.pooling = pooling
        self.embedding = Embedding(vocab_size, embed_size, seed=rng, dtype=dtype)
        self.recurrent = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}[cell](embed_size, hidden_size, 1,
                                                                                    seed=rng, dtype=dtype)
        self.readout = Linear(hidden_size, n_classes, seed=rng, dtype=dtype)
        self._cache = None

    def forward(self, ids, lengths):
        h = self.recurrent(self.embedding(ids))
        xp = get_namespace(h)
        weights = pooling_weights(xp.asarray(lengths), ids.shape[1], self.pooling)
        weights = xp.astype(weights, h.dtype)
        self._cache = weights
        return self.readout(xp.sum(weights[:, :, None] * h, axis=1))

    def backward(self, dlogits):
        """Backpropagate ``(N, classes)`` logit gradients; returns the ``(N, T, D)`` gradient of the embedded words."""
        weights = self.saved_cache()
        dpooled = self.readout.backward(dlogits)
        dx = self.recurrent.backward(weights[:, :, None] * dpooled[:, None, :])
        self.embedding.backward(dx)
        return dx


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches of sequences of similar length (less padding), in random order."""
    order = np.argsort(np.asarray(lengths) + rng.random(len(lengths)), kind="stable")
    batches = [order[i : i + check_count("batch_size", batch_size)] for i in range(0, order.size, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def fit_classifier(model: SequenceClassifier, sequences: Sequence[np.ndarray], labels, epochs: int = 2,
                   batch_size: int = 50, lr: float = 3e-3, seed=0) -> list[float]:
    """Train with Adam on the mean cross-entropy; returns the loss of every batch (a NaN/inf loss stops it)."""
    xp = get_namespace(model.readout.weight.data)
    labels = np.asarray(labels, dtype=np.int64)
    lengths = np.array([len(s) for s in sequences])
    rng = np.random.default_rng(seed)
    optimizer, loss_fn = Adam(model.parameters(), lr=lr), SoftmaxCrossEntropy()
    losses = []
    model.train()
    optimizer.zero_grad()
    for epoch in range(check_count("epochs", epochs)):
        for rows in length_batches(lengths, batch_size, rng):
            ids, lens = pad_batch([sequences[i] for i in rows])
            loss, _ = train_step(model, loss_fn, optimizer, xp.asarray(ids), xp.asarray(labels[rows]),
                                 lengths=xp.asarray(lens))
            check_finite_loss(float(loss), f"epoch {epoch}")
            losses.append(float(loss))
    return losses


def predict_classes(model: SequenceClassifier, sequences: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Predicted class of each sequence (host int64), in evaluation mode; the model keeps the caller's mode."""
    xp = get_namespace(model.readout.weight.data)
    lengths = np.array([len(s) for s in sequences])
    out = np.empty(len(sequences), dtype=np.int64)
    with restoring(model):
        model.eval()
        for rows in length_batches(lengths, batch_size, np.random.default_rng(0)):
            ids, lens = pad_batch([sequences[i] for i in rows])
            out[rows] = np.argmax(to_numpy(model(xp.asarray(ids), xp.asarray(lens))), axis=1)
    return out
