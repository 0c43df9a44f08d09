"""The experiments of the language-model chapter: a configuration and a seed in, a result record out.

The chapter calls them with small settings that fit its time budget; the
same functions run the longer versions (``DEEPREF_FULL=1`` in the chapter,
``python -m deepref reproduce language_models --full``). Each ``*Config`` is
frozen, so it can key a results table.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..data import kfold_indices
from ..experiments import config_to_dict
from ..nn.init import as_generator
from ..optim import SGD, Adam
from ..seeds import spawn_seeds
from ..validation import check_choice, check_count, check_in_range, check_positive
from .classify import MultinomialNB, SequenceClassifier, fit_classifier, ngram_features, predict_classes
from .corpus import EOS, Vocabulary, batchify, load_movie_reviews, load_ptb, load_python_docs, tokenize
from .ngram import NGramLM, fit_interpolation_weight, interpolate_logprobs, perplexity_of
from .rnnlm import CELLS, RNNLM, init_uniform, stream_logprobs, train_epoch
from .synthetic import AgreementSource
from .word2vec import centred_unit_vectors, nearest_neighbours, train_skipgram


@dataclass(frozen=True)
class LMConfig:
    """A recurrent LM and its truncated-BPTT training.

    ``epochs`` full passes, or ``max_windows`` windows of the first pass when
    it is set (a budget cut). ``optimizer`` is ``"adam"`` or ``"sgd"`` (plain
    SGD); the rate is ``lr`` for the first ``decay_after`` passes and is then
    multiplied by ``lr_decay`` at the start of every later pass (``lr_decay =
    1``: constant). ``init_scale`` set: every parameter starts uniform on
    ``[-init_scale, init_scale]`` (Zaremba et al.); ``None``: each layer's own
    initialisation. ``loss`` is what one window's gradient is taken of:
    ``"token"``, the mean negative log-likelihood per token; ``"window"``, its
    sum over the window's steps (of the mean over streams), the loss of
    Zaremba et al.'s code, ``steps`` times larger, so their rate and clipping
    threshold apply unchanged.
    """

    embed_size: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    cell: str = "lstm"
    softmax: str = "full"
    n_streams: int = 32
    steps: int = 35
    optimizer: str = "adam"
    lr: float = 0.01
    lr_decay: float = 1.0
    decay_after: int = 0
    clip: float | None = 5.0
    epochs: int = 1
    max_windows: int | None = None
    init_scale: float | None = None
    loss: str = "token"
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("embed_size", "hidden_size", "num_layers", "n_streams", "steps"):
            check_count(name, getattr(self, name))
        check_in_range("dropout", self.dropout, 0.0, 1.0)
        check_choice("cell", self.cell, CELLS)
        check_choice("softmax", self.softmax, ("full", "class"))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("loss", self.loss, ("token", "window"))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        check_positive("lr", self.lr)
        if self.clip is not None:
            check_positive("clip", self.clip)
        if self.max_windows is not None:
            check_count("max_windows", self.max_windows)
        check_in_range("lr_decay", self.lr_decay, 0.0, 1.0, closed="right")
        check_count("decay_after", self.decay_after, minimum=0)
        check_count("epochs", self.epochs)
        if self.init_scale is not None:
            check_positive("init_scale", self.init_scale)

    def rate(self, epoch: int) -> float:
        """The learning rate of pass ``epoch`` (counted from 0)."""
        return self.lr * self.lr_decay ** max(0, epoch + 1 - self.decay_after) if self.decay_after else self.lr


OPTIMIZERS = {"adam": Adam, "sgd": SGD}

ZAREMBA_SMALL = LMConfig(embed_size=200, hidden_size=200, num_layers=2, softmax="full", n_streams=20, steps=20,
                         optimizer="sgd", lr=1.0, lr_decay=0.5, decay_after=4, clip=5.0, epochs=13,
                         init_scale=0.1, loss="window")
"""Zaremba et al.'s small PTB model and recipe: 2 x 200 LSTM, full softmax, every weight uniform on
[-0.1, 0.1], SGD at rate 1 for 4 passes then halved every pass, 13 passes of 20 streams x 20 steps,
gradient norm (of the window's summed loss) clipped at 5, no dropout."""

ZAREMBA_SMALL_ADAM = LMConfig(embed_size=200, hidden_size=200, num_layers=2, softmax="class", epochs=13, steps=20,
                              n_streams=20, lr=2e-3)
"""The comparison run: the same network with a class-factored softmax, PyTorch's initialisation of the
recurrent layers and Adam at a constant rate 2e-3 (per-token loss), not the paper's recipe."""


def train_lm(ids: np.ndarray, vocab_size: int, config: LMConfig, seed, valid: np.ndarray | None = None,
             checkpoint: str | os.PathLike | None = None) -> tuple[RNNLM, dict]:
    """Train an :class:`RNNLM` on the token stream ``ids`` as ``config`` says.

    Returns the model and its history: ``train_loss`` (nats per token) and
    ``lr`` of each pass, and, when ``valid`` ids are given, ``valid_perplexity``
    after each pass (one stream, the state carried through the whole text).
    With a ``checkpoint`` path the model, the optimizer and the history are
    saved there after every pass, and a run that finds a checkpoint resumes
    after its last pass (passes start from a zero state and read the streams
    in order, so a resumed run continues exactly).
    """
    rng = as_generator(seed)
    model = RNNLM(vocab_size, config.embed_size, config.hidden_size, config.num_layers, cell=config.cell,
                  dropout=config.dropout, softmax=config.softmax, seed=rng, dtype=config.dtype)
    if config.init_scale is not None:
        init_uniform(model, config.init_scale, rng)
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), lr=config.lr)
    history = {"train_loss": [], "lr": [], "valid_perplexity": []}
    if checkpoint is not None and Path(checkpoint).with_suffix(".json").exists():
        history = load_checkpoint(checkpoint, model, optimizer)
    streams = batchify(ids, config.n_streams)
    for epoch in range(len(history["train_loss"]), config.epochs):
        optimizer.lr = config.rate(epoch)
        history["lr"].append(optimizer.lr)
        history["train_loss"].append(train_epoch(model, streams, config.steps, optimizer, config.clip,
                                                 config.max_windows, sum_steps=config.loss == "window"))
        if valid is not None:
            history["valid_perplexity"].append(perplexity_of(stream_logprobs(model, valid, n_streams=1,
                                                                             steps=100)))
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, history)
    return model, history


def save_checkpoint(path: str | os.PathLike, model, optimizer, history: dict) -> None:
    """Write ``model`` and ``optimizer`` state to ``path`` (``.npz``) and ``history`` beside it (``.json``).

    Both files are replaced atomically, arrays first, so a run killed while
    saving leaves the previous checkpoint whole.
    """
    path = Path(path)
    saved = optimizer.state_dict()
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optimizer/{i}/{k}": v for i, state in enumerate(saved["state"]) for k, v in state.items()})
    meta = {"history": history, **{k: saved[k] for k in ("param_groups", "step_count", "steps")}}
    for suffix, write in ((".npz", lambda f: np.savez(f, **arrays)),
                          (".json", lambda f: f.write(json.dumps(meta).encode()))):
        temporary = path.with_suffix(suffix + ".partial")
        with open(temporary, "wb") as f:
            write(f)
        os.replace(temporary, path.with_suffix(suffix))


def load_checkpoint(path: str | os.PathLike, model, optimizer) -> dict:
    """Restore what :func:`save_checkpoint` wrote into ``model`` and ``optimizer``; returns the history."""
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as arrays:
        model.load_state_dict({k.split("/", 1)[1]: arrays[k] for k in arrays.files if k.startswith("model/")})
        state = [{} for _ in meta["steps"]]
        for key in arrays.files:
            if key.startswith("optimizer/"):
                _, index, name = key.split("/", 2)
                state[int(index)][name] = arrays[key]
    optimizer.load_state_dict({**{k: meta[k] for k in ("param_groups", "step_count", "steps")}, "state": state})
    return meta["history"]


def checkpoint_path(name: str, config, seed) -> Path | None:
    """Where a long run ``name`` with ``config`` and ``seed`` keeps its checkpoint: under the folder named by
    the ``DEEPREF_CHECKPOINTS`` environment variable, or nowhere (``None``) when it is unset."""
    folder = os.environ.get("DEEPREF_CHECKPOINTS")
    if not folder:
        return None
    key = json.dumps({"config": config_to_dict(config), "seed": seed}, sort_keys=True)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder) / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass
class AgreementResult:
    floor: float  # perplexity of the true source on the test sample
    ngram: dict[int, float]  # Kneser-Ney perplexity by order
    rnn: float
    rnn_floor: float  # the floor on exactly the tokens the RNN scored
    seconds: float
    rnn_by_pass: list[float] = field(default_factory=list)  # after each pass, on the first curve_tokens test tokens
    curve_floor: float = math.nan  # the floor on exactly those tokens


@dataclass(frozen=True)
class AgreementConfig:
    """The agreement language, the n-gram orders and the recurrent LM compared on it, and the sample sizes."""

    source: AgreementSource = AgreementSource()
    lm: LMConfig = LMConfig(embed_size=16, hidden_size=32, epochs=3, steps=25, dtype="float64")
    train_tokens: int = 150_000
    test_tokens: int = 20_000
    orders: tuple[int, ...] = (2, 3, 5, 7)
    curve_tokens: int = 2_000

    def __post_init__(self):
        check_count("train_tokens", self.train_tokens)
        check_count("test_tokens", self.test_tokens)
        check_count("curve_tokens", self.curve_tokens, minimum=2)
        if not self.orders:
            raise ValueError("orders must name at least one n-gram order, got ()")
        for n in self.orders:
            check_count("order", n)


def agreement_experiment(config: AgreementConfig, seed) -> AgreementResult:
    """Kneser-Ney n-grams of several orders and a recurrent LM on the agreement language, against its floor.

    ``seed`` (an int or a generator) feeds three independent streams: the
    training sample, the test sample and the recurrent LM. The learning
    curve scores the first ``curve_tokens`` test tokens as one stream after
    every pass.
    """
    start = time.process_time()
    source = config.source
    words = source.words
    train_seed, test_seed, model_seed = spawn_seeds(seed, 3)
    train, test = source.sample(config.train_tokens, seed=train_seed), source.sample(config.test_tokens, seed=test_seed)
    train_words, test_words = [words[i] for i in train], [words[i] for i in test]
    vocab = Vocabulary(words, unk=None)
    ngram = {n: NGramLM(n).fit(train_words, vocab).perplexity(test_words) for n in config.orders}
    curve = test[: config.curve_tokens]
    model, history = train_lm(train, len(words), config.lm, model_seed, valid=curve)
    scored = stream_logprobs(model, test, n_streams=16, steps=200)
    truth = source.logprobs(test)
    return AgreementResult(perplexity_of(truth), ngram, perplexity_of(scored),
                           perplexity_of(truth[1 : 1 + scored.size]), time.process_time() - start,
                           history["valid_perplexity"], perplexity_of(truth[1 : curve.size]))


def agreement_run(config: AgreementConfig, seed) -> dict:
    """:func:`agreement_experiment` as a record of plain values (what ``python -m deepref reproduce`` stores)."""
    return asdict(agreement_experiment(config, seed))


def ptb_ids() -> tuple[Vocabulary, list[np.ndarray]]:
    """The PTB vocabulary (10,000 words by falling frequency) and the train / valid / test id streams."""
    splits = [load_ptb(s) for s in ("train", "valid", "test")]
    vocab = Vocabulary.build(splits[0], specials=())
    return vocab, [vocab.encode(s) for s in splits]


@functools.lru_cache(maxsize=1)
def ptb_kn5() -> NGramLM:
    """Interpolated modified Kneser-Ney 5-gram model of the PTB training text (fitted once per process)."""
    return NGramLM(5).fit(load_ptb("train"))


@dataclass(frozen=True)
class PTBConfig:
    """A recurrent LM trained on PTB, how its texts are scored, and how many validation tokens fit the
    interpolation weight (all: None).

    The default is the chapter's budget run: one LSTM layer of 128 units with
    a class-factored softmax, 250 windows of 35 steps of 32 streams, scored
    in 32 parallel streams. ``eval_streams = 1`` scores each text as one
    stream, the state carried from its first word to its last (as Zaremba et
    al. do), and records the validation perplexity after every pass.
    """

    lm: LMConfig = LMConfig(softmax="class", max_windows=250)
    valid_tokens: int | None = 20_000
    eval_streams: int = 32

    def __post_init__(self):
        check_count("eval_streams", self.eval_streams)


@dataclass
class PTBResult:
    rnn_valid: float
    rnn_test: float
    kn5_test: float  # on the same tokens as the RNN
    mixed_test: float
    weight: float  # of the RNN in the mixture, fitted on validation text
    train_tokens: int
    seconds: float
    history: dict = field(default_factory=dict)  # per pass: train_loss, lr, valid_perplexity (one stream only)
    model: RNNLM | None = field(default=None, repr=False)


def ptb_rnn_experiment(config: PTBConfig, seed, kn5: NGramLM, vocab: Vocabulary,
                       ids: list[np.ndarray]) -> PTBResult:
    """Train an RNN LM on PTB, score valid and test, and interpolate it with ``kn5``.

    ``vocab`` and ``ids`` are those of :func:`ptb_ids`. The interpolation
    weight is fitted by EM on (the first ``config.valid_tokens`` of) the
    validation text; the test perplexities are all on the same tokens. Each
    text is read after an end-of-sentence token, so its first word is scored.
    """
    start = time.process_time()
    lm_config = config.lm
    eos = vocab.index[EOS]
    valid = ids[1] if config.valid_tokens is None else ids[1][: config.valid_tokens]
    texts = {name: np.concatenate([[eos], stream]) for name, stream in (("valid", valid), ("test", ids[2]))}
    per_pass = texts["valid"] if config.eval_streams == 1 else None
    model, history = train_lm(ids[0], len(vocab), lm_config, seed, valid=per_pass,
                              checkpoint=checkpoint_path("ptb_rnn", config, seed))
    scores = {}
    for name, text in texts.items():
        rnn = stream_logprobs(model, text, n_streams=config.eval_streams, steps=100)
        scores[name] = (rnn, kn5.logprobs(vocab.decode(text[1:]))[: rnn.size])
    weight = fit_interpolation_weight(*scores["valid"])
    rnn_test, kn_test = scores["test"]
    trained = lm_config.n_streams * lm_config.steps * (lm_config.max_windows or 0) or ids[0].size * lm_config.epochs
    return PTBResult(perplexity_of(scores["valid"][0]), perplexity_of(rnn_test), perplexity_of(kn_test),
                     perplexity_of(interpolate_logprobs(rnn_test, kn_test, weight)), weight, trained,
                     time.process_time() - start, history, model)


def ptb_run(config: PTBConfig, seed: int) -> dict:
    """:func:`ptb_rnn_experiment` against :func:`ptb_kn5`, as a record of plain values (no model)."""
    vocab, ids = ptb_ids()
    result = ptb_rnn_experiment(config, seed, ptb_kn5(), vocab, ids)
    return {f.name: getattr(result, f.name) for f in fields(result) if f.name != "model"}


@dataclass
class WordCharResult:
    word_bpc: float  # bits per character of the word model, <unk> spellings included
    word_bpc_without_unk_spelling: float
    char_bpc: float
    word_vocab: int
    char_vocab: int
    unk_rate: float
    word_seconds: float
    char_seconds: float


@dataclass(frozen=True)
class WordCharConfig:
    """The word-level and character-level LMs of :func:`word_vs_char`; words seen fewer than ``min_count``
    times in training are ``<unk>``."""

    word: LMConfig = LMConfig(embed_size=64, hidden_size=64, softmax="class", n_streams=16)
    char: LMConfig = LMConfig(embed_size=32, hidden_size=64, n_streams=32, steps=50)
    min_count: int = 2

    def __post_init__(self):
        check_count("min_count", self.min_count)


def word_vs_char(config: WordCharConfig, seed) -> WordCharResult:
    """The Python documentation text modelled word by word and character by character, in bits per character.

    The text is the token sequence joined by single spaces, so a word
    sequence determines the characters exactly. A word model cannot spell
    the words it maps to ``<unk>``; it pays for each with a character unigram
    model (letters and an end mark) fitted on the training text, which makes
    the comparison fair. The last 10% of the tokens are the test text, which
    is that of the running Python's ``pydoc_data`` (it changes between
    CPython versions). ``seed`` (an int or a generator) gives the two models
    independent streams.
    """
    word_seed, char_seed = spawn_seeds(seed, 2)
    tokens = tokenize(load_python_docs())
    cut = int(0.9 * len(tokens))
    train, test = tokens[:cut], tokens[cut:]
    start = time.process_time()
    vocab = Vocabulary.build(train, min_count=config.min_count)
    train_ids, test_ids = vocab.encode(train), vocab.encode(test)
    model, _ = train_lm(train_ids, len(vocab), config.word, word_seed)
    word_lp = stream_logprobs(model, np.concatenate([train_ids[-1:], test_ids]), n_streams=8, steps=100)
    scored = test[: word_lp.size]
    chars = sum(len(w) + 1 for w in scored)  # each word and the space after it
    letters = letter_probabilities(train)
    spelling = sum(_spelling_bits(w, letters) for w, i in zip(scored, test_ids) if i == vocab.index[vocab.unk])
    word_bits = -float(np.sum(word_lp)) / math.log(2)
    word_seconds = time.process_time() - start

    start = time.process_time()
    text_train, text_test = " ".join(train), " ".join(test)
    char_vocab = Vocabulary.build(text_train)
    char_model, _ = train_lm(char_vocab.encode(text_train), len(char_vocab), config.char, char_seed)
    char_lp = stream_logprobs(char_model, char_vocab.encode(text_test), n_streams=16, steps=200)
    return WordCharResult((word_bits + spelling) / chars, word_bits / chars, -float(np.mean(char_lp)) / math.log(2),
                          len(vocab), len(char_vocab), float(np.mean(test_ids == vocab.index[vocab.unk])),
                          word_seconds, time.process_time() - start)


def word_char_run(config: WordCharConfig, seed) -> dict:
    """:func:`word_vs_char` as a record of plain values (what ``python -m deepref reproduce`` stores), with the
    version of the Python whose documentation was the text."""
    return {**asdict(word_vs_char(config, seed)), "python_version": platform.python_version()}


def letter_probabilities(words) -> dict[str, float]:
    """Laplace-smoothed letter probabilities of ``words``, with ``""`` the end-of-word mark."""
    counts: dict[str, float] = {"": float(len(words))}
    for w in words:
        for ch in w:
            counts[ch] = counts.get(ch, 0.0) + 1.0
    total = sum(counts.values()) + len(counts) + 1  # one unseen-letter slot
    probs = {ch: (c + 1) / total for ch, c in counts.items()}
    probs[None] = 1 / total
    return probs


def _spelling_bits(word: str, letters: dict) -> float:
    """Bits to spell ``word`` letter by letter under :func:`letter_probabilities` probabilities, end mark included."""
    return -sum(math.log2(letters.get(ch, letters[None])) for ch in [*word, ""])


@dataclass
class ReviewResult:
    nb_unigram: list[float] = field(default_factory=list)
    nb_bigram: list[float] = field(default_factory=list)
    rnn: list[float] = field(default_factory=list)
    rnn_seconds: float = 0.0


@dataclass(frozen=True)
class ReviewConfig:
    """Cross-validation on the movie reviews: ``folds`` folds for Naive Bayes, the first ``rnn_folds`` of
    them for the GRU classifier (a budget cut when smaller than ``folds``), and the GRU's size and passes."""

    folds: int = 10
    rnn_folds: int = 2
    embed_size: int = 50
    hidden_size: int = 50
    epochs: int = 2
    dtype: str = "float32"

    def __post_init__(self):
        check_count("folds", self.folds, minimum=2)
        check_count("rnn_folds", self.rnn_folds, minimum=0)
        if self.rnn_folds > self.folds:
            raise ValueError(f"rnn_folds must be at most folds={self.folds}, got {self.rnn_folds}")
        for name in ("embed_size", "hidden_size", "epochs"):
            check_count(name, getattr(self, name))
        check_choice("dtype", self.dtype, ("float32", "float64"))


def movie_review_cv(config: ReviewConfig, seed) -> ReviewResult:
    """Cross-validated accuracy of binarised MNB (unigrams, uni+bigrams) and a GRU classifier, per fold.

    ``seed`` (an int or a generator) feeds independent streams: one shuffles
    the folds (:func:`deepref.data.kfold_indices`), and each GRU fold gets
    one for its initialisation and one for its batch order. Fold ``k`` of
    every model is the same test set, so ``rnn[k]`` and ``nb_*[k]`` compare
    on the same sentences. The GRU's vocabulary is the training folds' words
    seen at least twice.
    """
    texts, labels = load_movie_reviews()
    tokens = [tokenize(t) for t in texts]
    fold_seed, *gru_seeds = spawn_seeds(seed, 1 + 2 * config.rnn_folds)
    splits = kfold_indices(len(tokens), config.folds, shuffle=True, seed=fold_seed)
    result = ReviewResult()
    features = {n: [ngram_features(t, n) for t in tokens] for n in (1, 2)}
    for k, (train, test) in enumerate(splits):
        for n, record in ((1, result.nb_unigram), (2, result.nb_bigram)):
            nb = MultinomialNB().fit([features[n][i] for i in train], labels[train])
            record.append(float(np.mean(nb.predict([features[n][i] for i in test]) == labels[test])))
        if k < config.rnn_folds:
            start = time.process_time()
            vocab = Vocabulary.build([w for i in train for w in tokens[i]], min_count=2)
            seqs = [vocab.encode(t) for t in tokens]
            model = SequenceClassifier(len(vocab), config.embed_size, config.hidden_size, seed=gru_seeds[2 * k],
                                       dtype=config.dtype)
            fit_classifier(model, [seqs[i] for i in train], labels[train], epochs=config.epochs,
                           seed=gru_seeds[2 * k + 1])
            result.rnn.append(float(np.mean(predict_classes(model, [seqs[i] for i in test]) == labels[test])))
            result.rnn_seconds += time.process_time() - start
    return result


def movie_review_run(config: ReviewConfig, seed: int) -> dict:
    """:func:`movie_review_cv` as a record: the per-fold accuracies and, under ``mean``, their means."""
    record = asdict(movie_review_cv(config, seed))
    folds = {name: values for name, values in record.items() if isinstance(values, list) and values}
    return {**record, "mean": {name: float(np.mean(values)) for name, values in folds.items()}}


MONTHS = tuple("january february march april may june july august september october november december".split())
WEEKDAYS = tuple("monday tuesday wednesday thursday friday".split())


@dataclass(frozen=True)
class SkipGramConfig:
    """Skip-gram with negative sampling on the first ``tokens`` PTB training tokens (:func:`train_skipgram`'s
    settings), and how many random word pairs measure the cosine of unrelated words."""

    tokens: int = 150_000
    dim: int = 32
    window: int = 2
    negatives: int = 3
    batch_size: int = 4096
    lr: float = 0.02
    epochs: int = 1
    random_pairs: int = 5000
    neighbours: int = 5

    def __post_init__(self):
        for name in ("tokens", "dim", "window", "negatives", "batch_size", "epochs", "random_pairs", "neighbours"):
            check_count(name, getattr(self, name))
        check_positive("lr", self.lr)


def group_cosine(unit: np.ndarray, rows) -> float:
    """Mean cosine between two different words of ``rows`` (ids into the unit-length ``unit`` table)."""
    sims = unit[rows] @ unit[rows].T
    return float(sims[~np.eye(len(rows), dtype=bool)].mean())


def skipgram_run(config: SkipGramConfig, seed) -> dict:
    """Train skip-gram on PTB and measure its word classes: a record of plain values.

    The record holds the mean centred cosine between two months, between two
    weekdays and between ``random_pairs`` random word pairs (centred and
    raw), how often each weekday occurs in the training tokens, and the
    nearest neighbours of "monday" with how many of them are weekdays.
    ``seed`` (an int or a generator) feeds two independent streams: the
    training, and the random pairs.
    """
    train_seed, pair_seed = spawn_seeds(seed, 2)
    vocab, ids = ptb_ids()
    tokens = ids[0][: config.tokens]
    vectors, losses = train_skipgram(tokens, len(vocab), dim=config.dim, window=config.window,
                                     negatives=config.negatives, epochs=config.epochs,
                                     batch_size=config.batch_size, lr=config.lr, seed=train_seed)
    unit = centred_unit_vectors(vectors)
    raw = to_numpy(vectors).astype(np.float64)
    raw = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
    pairs = np.random.default_rng(pair_seed).integers(0, len(vocab), size=(config.random_pairs, 2))
    neighbours, sims = nearest_neighbours(vectors, vocab.index["monday"], k=config.neighbours)
    counts = np.bincount(tokens, minlength=len(vocab))
    return {
        "months": group_cosine(unit, vocab.encode(MONTHS)),
        "weekdays": group_cosine(unit, vocab.encode(WEEKDAYS)),
        "random": float(np.mean(np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=1))),
        "random_raw": float(np.mean(np.sum(raw[pairs[:, 0]] * raw[pairs[:, 1]], axis=1))),
        "weekday_counts": [int(c) for c in counts[vocab.encode(WEEKDAYS)]],
        "monday_neighbours": vocab.decode(neighbours),
        "monday_similarities": [float(s) for s in sims],
        "monday_weekdays": len(set(vocab.decode(neighbours)) & set(WEEKDAYS)),
        "final_loss": float(np.mean(losses[-10:])),
    }
