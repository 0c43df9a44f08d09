"""A generated language with a known entropy rate and an agreement longer than any n-gram window.

Each sentence is ``subject filler ... filler verb <eos>``:

* the subject is one of ``K`` words, uniformly;
* at least ``min_gap`` fillers follow, each uniform over ``F`` words; after
  those, each further position holds another filler with probability ``q``
  or ends the gap with probability ``1 - q``;
* the verb *agrees* with the subject: subject ``i`` always takes verb ``i``;
* ``<eos>`` ends the sentence.

An n-gram model of order ``n <= min_gap + 1`` never sees the subject when it
predicts the verb, so it must spread ``log K`` over the verbs; a recurrent
model can carry the subject across the gap. The entropy rate (bits per
token) of the stream of independent sentences is exact:

``H = [log K + min_gap log F + (H_b(q) + q log F) / (1 - q)] / [2 + min_gap + 1 / (1 - q)]``

where the numerator is the entropy of a sentence (the subject, the forced
fillers, and the geometric tail: ``1 / (1 - q)`` decisions in expectation,
each with entropy ``H_b(q) + q log F``) and the denominator its expected
length in tokens (subject, fillers, verb, ``<eos>``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import check_count, check_in_range
from .corpus import EOS


@dataclass(frozen=True)
class AgreementSource:
    """The agreement language (see the module docstring).

    Parameters
    ----------
    n_subjects : int
        ``K``, subjects and verbs.
    n_fillers : int
        ``F``.
    min_gap : int
        Fillers that always follow the subject.
    q : float in [0, 1)
        Probability of one more filler after the forced ones.
    """

    n_subjects: int = 8
    n_fillers: int = 8
    min_gap: int = 4
    q: float = 0.5

    def __post_init__(self):
        check_count("n_subjects", self.n_subjects)
        check_count("n_fillers", self.n_fillers)
        check_count("min_gap", self.min_gap, minimum=0)
        check_in_range("q", self.q, 0.0, 1.0)

    @property
    def words(self) -> list[str]:
        """The vocabulary: ``<eos>``, subjects ``s0..``, verbs ``v0..``, fillers ``f0..``."""
        k, f = self.n_subjects, self.n_fillers
        return [EOS] + [f"s{i}" for i in range(k)] + [f"v{i}" for i in range(k)] + [f"f{i}" for i in range(f)]

    def entropy_rate(self) -> float:
        """Exact entropy of the stream in bits per token."""
        q, k, f = self.q, self.n_subjects, self.n_fillers
        h_q = 0.0 if q == 0 else -(q * math.log2(q) + (1 - q) * math.log2(1 - q))
        tail = (h_q + q * math.log2(f)) / (1 - q)  # the geometric number of extra fillers
        sentence = math.log2(k) + self.min_gap * math.log2(f) + tail
        return sentence / (2 + self.min_gap + 1 / (1 - q))

    def sample(self, n_tokens: int, seed=None) -> np.ndarray:
        """At least ``n_tokens`` token ids of whole sentences (ids index :attr:`words`), as int64."""
        rng = np.random.default_rng(seed)
        k, f = self.n_subjects, self.n_fillers
        out, total = [], 0
        while total < check_count("n_tokens", n_tokens):
            subject = int(rng.integers(k))
            gap = self.min_gap + int(rng.geometric(1 - self.q)) - 1
            sentence = [1 + subject, *(1 + 2 * k + rng.integers(f, size=gap)).tolist(), 1 + k + subject, 0]
            out.extend(sentence)
            total += len(sentence)
        return np.asarray(out, dtype=np.int64)

    def logprobs(self, ids) -> np.ndarray:
        """Natural log-probability of each token of a stream of whole sentences under the true source.

        The first token is scored as a subject (the stream starts at a sentence
        boundary). Its mean is the cross-entropy floor on that very sample.
        """
        ids = np.asarray(ids, dtype=np.int64)
        k, f, q = self.n_subjects, self.n_fillers, self.q
        out = np.full(ids.size, -math.inf)  # tokens the source cannot emit keep -inf
        phase, subject, gap = "subject", 0, 0
        for t, token in enumerate(ids.tolist()):
            is_filler = token > 2 * k
            if phase == "subject" and 1 <= token <= k:
                out[t], phase, subject, gap = -math.log(k), "gap", token - 1, 0
            elif phase == "gap" and gap < self.min_gap and is_filler:
                out[t], gap = -math.log(f), gap + 1
            elif phase == "gap" and gap >= self.min_gap and is_filler:
                out[t], gap = math.log(q) - math.log(f), gap + 1
            elif phase == "gap" and gap >= self.min_gap and token == 1 + k + subject:
                out[t], phase = math.log1p(-q), "eos"
            elif phase == "eos" and token == 0:
                out[t], phase = 0.0, "subject"
            else:
                phase = "subject"  # an impossible token: score -inf and resynchronise at the next sentence
        return out
