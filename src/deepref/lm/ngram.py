"""Count-based n-gram language models: add-k, absolute discounting and interpolated modified Kneser-Ney.

An n-gram model predicts a word from the ``n - 1`` words before it,
``P(w | h)`` with ``h`` the context. Maximum likelihood, ``c(hw) / c(h)``,
gives zero to every n-gram not seen in training, so the models smooth:

* **add-k**: ``(c(hw) + k) / (c(h) + k V)``;
* **absolute discounting** (interpolated): subtract a fixed ``D`` from every
  seen count and give the freed mass, ``D N1+(h .) / c(h)``, to the
  lower-order model, ``P(w | h) = max(c(hw) - D, 0) / c(h) + gamma(h) P(w | h')``
  where ``h'`` drops the oldest word of ``h``;
* **interpolated modified Kneser-Ney** (Chen & Goodman 1999): three discounts
  ``D1, D2, D3+`` for counts 1, 2 and 3 or more, and lower orders that count
  *continuations*, ``N1+(. g)``, the number of distinct words seen before
  ``g``, instead of occurrences of ``g``.

The recursion ends with the uniform distribution ``1 / V``, so every context
gets a proper distribution over the vocabulary (:meth:`NGramLM.distribution`
sums to one; the tests check it).

Counting is host-side NumPy work: each n-gram gets an integer id built from
the id of its first ``n - 1`` words and its last word (``key = prefix_id * V +
word``), and ``np.unique`` counts the keys of a whole corpus at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..validation import check_choice, check_count, check_in_range, check_positive
from .corpus import Vocabulary

SMOOTHINGS = ("add-k", "absolute", "kneser-ney")


@dataclass
class _Level:
    """The n-grams of one order: sorted keys, the counts the model uses, and per-context sums."""

    keys: np.ndarray  # (K,) int64, prefix_id * V + word, sorted
    counts: np.ndarray  # (K,) float64: raw counts (highest order) or continuation counts (KN lower orders)
    context_total: np.ndarray  # (C,) sum of counts per context id of the order below
    backoff_mass: np.ndarray  # (C,) sum of discounts over the context's n-grams
    discounts: np.ndarray  # (4,) discount for counts 0, 1, 2, 3+


def _lookup(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each ``query`` key in the sorted ``keys``, or -1 where absent (negative queries are absent)."""
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, keys.size - 1)
    found = (query >= 0) & (keys[pos] == query)
    return np.where(found, pos, -1)


def _discounts(counts: np.ndarray, smoothing: str) -> np.ndarray:
    """Chen & Goodman's discounts from the counts of counts ``n1 .. n4`` (``[0, D1, D2, D3+]``).

    ``Y = n1 / (n1 + 2 n2)``; absolute discounting uses ``D = Y`` for every
    count, modified Kneser-Ney ``D_c = c - (c + 1) Y n_{c+1} / n_c``. Where a
    count of counts is zero or a discount falls outside ``(0, c)`` (tiny or
    highly repetitive corpora) it falls back to ``Y`` (0.5 without
    singletons), so every context keeps some mass for the lower order.
    """
    n = [float(np.sum(counts == c)) for c in range(1, 5)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] > 0 else 0.5
    if smoothing == "absolute":
        return np.array([0.0, y, y, y])
    d = [0.0]
    for c in (1, 2, 3):
        dc = c - (c + 1) * y * n[c] / n[c - 1] if n[c - 1] > 0 else y
        d.append(dc if 0.0 < dc < c else y)
    return np.array(d)


class NGramLM:
    """An n-gram language model of order ``order`` with one of :data:`SMOOTHINGS`.

    Parameters
    ----------
    order : int
        ``n``: the model conditions on ``n - 1`` previous words (1: unigram).
    smoothing : {"add-k", "absolute", "kneser-ney"}
        ``"kneser-ney"`` is interpolated modified Kneser-Ney.
    k : float
        The pseudo-count of add-k smoothing (1: Laplace).

    Notes
    -----
    Text is one stream: n-grams run across sentence ends (``<eos>`` is a
    word like any other), and the first words of a stream are predicted from
    the shorter context they have.

    >>> lm = NGramLM(2).fit("a b a b a c".split())
    >>> round(sum(lm.prob(w, ["a"]) for w in lm.vocab.words), 12)
    1.0
    """

    def __init__(self, order: int, smoothing: str = "kneser-ney", k: float = 1.0):
        self.order = check_count("order", order)
        check_choice("smoothing", smoothing, SMOOTHINGS)
        self.smoothing = smoothing
        self.k = check_positive("k", k)
        self.vocab: Vocabulary | None = None
        self.levels: list[_Level] = []

    # -- training ---------------------------------------------------------
    def fit(self, tokens: Sequence[str], vocab: Vocabulary | None = None) -> NGramLM:
        """Count the n-grams of ``tokens`` (a list of words).

        ``vocab`` fixes the vocabulary (its size ``V`` enters the uniform
        floor); by default it is the set of words of ``tokens``.
        """
        self.vocab = Vocabulary.build(tokens, specials=()) if vocab is None else vocab
        ids = self.vocab.encode(tokens)
        if ids.size < self.order:
            raise ValueError(f"an order-{self.order} model needs at least {self.order} training tokens, got {ids.size}")
        v = len(self.vocab)
        raw_counts, suffixes, keys_per_order = [], [], []
        previous = np.zeros(ids.size, dtype=np.int64)  # id of the (n-1)-gram ending at each position (order 0: 0)
        for n in range(1, self.order + 1):
            key = previous[n - 2 : -1] * v + ids[n - 1 :] if n > 1 else ids.copy()
            keys, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
            # the (n-1)-gram that drops the first word, read where this n-gram first occurs (it ends there too)
            suffixes.append(previous[first + n - 1] if n > 1 else np.zeros(keys.size, dtype=np.int64))
            previous = np.full(ids.size, -1, dtype=np.int64)
            previous[n - 1 :] = inverse.ravel()
            keys_per_order.append(keys)
            raw_counts.append(counts.astype(np.float64))
        self.levels = [self._level(n, keys_per_order, raw_counts, suffixes) for n in range(1, self.order + 1)]
        return self

    def _level(self, n: int, keys_per_order, raw_counts, suffixes) -> _Level:
        keys = keys_per_order[n - 1]
        if self.smoothing == "kneser-ney" and n < self.order:
            counts = np.bincount(suffixes[n], minlength=keys.size).astype(np.float64)  # N1+(. g)
        else:
            counts = raw_counts[n - 1]
        contexts = keys // len(self.vocab)
        n_contexts = 1 if n == 1 else keys_per_order[n - 2].size
        total = np.bincount(contexts, weights=counts, minlength=n_contexts)
        if self.smoothing == "add-k":
            discounts, mass = np.zeros(4), np.zeros(n_contexts)
        else:
            discounts = _discounts(counts, self.smoothing)
            per_gram = discounts[np.minimum(counts, 3).astype(np.int64)]
            mass = np.bincount(contexts, weights=per_gram, minlength=n_contexts)
        return _Level(keys, counts, total, mass, discounts)

    # -- probabilities ----------------------------------------------------
    def _check_fitted(self) -> None:
        if self.vocab is None:
            raise RuntimeError("the n-gram model is not fitted: call fit(tokens) first")

    def _window_probs(self, windows: np.ndarray) -> np.ndarray:
        """Probability of the last word of each row of ``windows`` given the words before it.

        ``windows`` is ``(M, order)`` int64; ``-1`` on the left marks a shorter context.
        """
        v = len(self.vocab)
        m, width = windows.shape
        # ids[k][:, j]: id of the k-gram of windows ending at column j (-1 where unseen)
        ids = [np.zeros((m, width), dtype=np.int64)]
        for k in range(1, self.order + 1):
            level_ids = np.full((m, width), -1, dtype=np.int64)
            for j in range(k - 1, width):
                prefix = ids[k - 1][:, j - 1] if k > 1 else np.zeros(m, dtype=np.int64)
                words = windows[:, j]
                query = np.where((prefix >= 0) & (words >= 0), prefix * v + words, -1)
                level_ids[:, j] = _lookup(self.levels[k - 1].keys, query)
            ids.append(level_ids)
        last = width - 1
        if self.smoothing == "add-k":
            return self._add_k(ids, last)
        prob = np.full(m, 1.0 / v)
        for n in range(1, self.order + 1):
            level = self.levels[n - 1]
            context = ids[n - 1][:, last - 1] if n > 1 else np.zeros(m, dtype=np.int64)
            has_context = context >= 0
            ctx = np.where(has_context, context, 0)
            total = np.where(has_context, level.context_total[ctx], 0.0)
            gram = ids[n][:, last]
            count = np.where(gram >= 0, level.counts[np.maximum(gram, 0)], 0.0)
            discount = level.discounts[np.minimum(count, 3).astype(np.int64)]
            discounted = np.maximum(count - discount, 0.0)
            backoff = level.backoff_mass[ctx] * prob
            mixed = (discounted + backoff) / np.where(total > 0, total, 1.0)
            prob = np.where(total > 0, mixed, prob)
        return prob

    def _add_k(self, ids, last: int) -> np.ndarray:
        """``(c(hw) + k) / (c(h) + k V)`` at the highest order (the context as given)."""
        n = self.order
        level = self.levels[n - 1]
        m = ids[0].shape[0]
        context = ids[n - 1][:, last - 1] if n > 1 else np.zeros(m, dtype=np.int64)
        total = np.where(context >= 0, level.context_total[np.maximum(context, 0)], 0.0)
        gram = ids[n][:, last]
        count = np.where(gram >= 0, level.counts[np.maximum(gram, 0)], 0.0)
        return (count + self.k) / (total + self.k * len(self.vocab))

    def _encode_context(self, context: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        context = list(context)
        if len(context) != self.order - 1:
            raise ValueError(
                f"an order-{self.order} model takes a context of exactly {self.order - 1} words, got {len(context)}"
            )
        return np.array([self._word_id(w) for w in context], dtype=np.int64)

    def _word_id(self, word: str) -> int:
        if word not in self.vocab:
            raise KeyError(f"word {word!r} is not in the model's vocabulary of {len(self.vocab)} words")
        return self.vocab.index[word]

    def prob(self, word: str, context: Sequence[str]) -> float:
        """``P(word | context)``; ``context`` holds exactly ``order - 1`` words, oldest first."""
        row = np.append(self._encode_context(context), self._word_id(word))
        return float(self._window_probs(row[None, :])[0])

    def logprob(self, word: str, context: Sequence[str]) -> float:
        """Natural log of :meth:`prob`."""
        return math.log(self.prob(word, context))

    def distribution(self, context: Sequence[str]) -> np.ndarray:
        """``(V,)`` probabilities of every vocabulary word after ``context`` (sums to one)."""
        ctx = self._encode_context(context)
        v = len(self.vocab)
        rows = np.concatenate([np.broadcast_to(ctx, (v, ctx.size)), np.arange(v)[:, None]], axis=1)
        return self._window_probs(rows)

    def logprobs(self, tokens: Sequence[str], reset_at: str | None = None) -> np.ndarray:
        """``(T,)`` natural log-probability of each token given the tokens before it in the stream.

        With ``reset_at`` (for example ``"<eos>"``) a context stops at the
        last occurrence of that word before the token: each sentence is then
        predicted from its own words and the ``<eos>`` that opens it, not from
        the sentence before (the counts are those of the one stream either way).
        """
        self._check_fitted()
        ids = np.array([self._word_id(w) for w in tokens], dtype=np.int64)
        padded = np.concatenate([np.full(self.order - 1, -1, dtype=np.int64), ids])
        windows = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(padded, self.order))
        if reset_at is not None and self.order > 1:
            is_reset = windows[:, :-1] == self._word_id(reset_at)
            last = np.where(is_reset.any(axis=1), self.order - 2 - np.argmax(is_reset[:, ::-1], axis=1), 0)
            windows[np.arange(self.order)[None, :] < last[:, None]] = -1
        return np.log(self._window_probs(windows))

    def perplexity(self, tokens: Sequence[str], reset_at: str | None = None) -> float:
        """``exp(-mean log P(w_t | history))`` over the stream ``tokens`` (``reset_at``: see :meth:`logprobs`)."""
        return perplexity_of(self.logprobs(tokens, reset_at))

    def __repr__(self) -> str:
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r})"


def perplexity_of(logprobs) -> float:
    """``exp(-mean(logprobs))`` of natural log-probabilities (any host array)."""
    logprobs = np.asarray(logprobs, dtype=np.float64)
    if logprobs.size == 0:
        raise ValueError("perplexity needs at least one log-probability")
    return float(np.exp(-np.mean(logprobs)))


def interpolate_logprobs(logprobs_a, logprobs_b, weight: float) -> np.ndarray:
    """Log of the linear interpolation ``weight P_a + (1 - weight) P_b`` of two models' per-token probabilities.

    Parameters
    ----------
    logprobs_a, logprobs_b : (T,) arrays of natural log-probabilities of the same tokens
    weight : float in [0, 1]
    """
    check_in_range("weight", weight, 0.0, 1.0, closed="both")
    a = np.asarray(logprobs_a, dtype=np.float64)
    b = np.asarray(logprobs_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the two models scored different token counts: {a.shape} and {b.shape}")
    with np.errstate(divide="ignore"):
        return np.logaddexp(a + np.log(weight), b + np.log1p(-weight))


def fit_interpolation_weight(logprobs_a, logprobs_b, iterations: int = 50) -> float:
    """The weight of model ``a`` that maximises the likelihood of held-out tokens (EM, from 0.5).

    Each EM step sets the weight to the mean posterior responsibility of ``a``,
    ``lambda p_a / (lambda p_a + (1 - lambda) p_b)``; the likelihood never falls.
    """
    a = np.asarray(logprobs_a, dtype=np.float64)
    b = np.asarray(logprobs_b, dtype=np.float64)
    weight = 0.5
    for _ in range(check_count("iterations", iterations)):
        mixed = interpolate_logprobs(a, b, weight)
        weight = float(np.mean(np.exp(a + math.log(weight) - mixed)))
        weight = min(max(weight, 1e-12), 1 - 1e-12)
    return weight
