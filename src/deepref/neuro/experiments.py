"""The neuroscience chapter's experiments, each a function of a config and a seed.

The chapter calls them at its own size; ``python -m deepref reproduce
neuroscience --full`` can run the same functions over more seeds and sizes.

>>> record = hopfield_retrieval_run(HopfieldConfig(n=50, load=0.1), seed=0)
>>> sorted(record)
['retrieved_fraction']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..backend import asarray, current_namespace, default_rng
from ..optim import Adam
from ..seeds import spawn_seeds
from ..train import evaluate, fit
from ..validation import check_choice, check_count, check_in_range, check_positive
from .networks import hopfield_overlaps, hopfield_recall, hopfield_weights
from .surrogate import SpikingClassifier, rate_encode


@dataclass(frozen=True)
class DigitsConfig:
    """A 64-``hidden``-10 network on the 8x8 digits: spiking (rate-coded input) or ReLU (pixels).

    Attributes
    ----------
    model : {"spiking", "relu"}
    hidden : int
        Hidden units (the same for both models: the same number of weights).
    steps : int
        Time steps of the spike code.
    max_prob : float
        Spike probability per step of the brightest pixel.
    epochs, batch_size, lr : training by Adam.
    n_train : int
        Training digits (a fixed random split; the rest are the test set).
    """

    model: str = "spiking"
    hidden: int = 64
    steps: int = 16
    max_prob: float = 0.5
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    n_train: int = 1400

    def __post_init__(self):
        check_choice("model", self.model, ("spiking", "relu"))
        for name in ("hidden", "steps", "epochs", "batch_size"):
            check_count(name, getattr(self, name))
        check_in_range("max_prob", self.max_prob, 0.0, 1.0, closed="right")
        check_positive("lr", self.lr)
        check_in_range("n_train", self.n_train, 1, 1797)


def digits_run(config: DigitsConfig, seed) -> dict:
    """Train one network from ``seed`` (an int or a generator); its test accuracy (and hidden spike rate).

    The split of the 1797 digits (seed 0) and the spike code (seed 1) are the
    same for every run, so seeds differ only in weights and batch order, two
    independent streams spawned from ``seed``.

    Returns
    -------
    dict
        ``{"test_accuracy": float, "spike_rate": float}`` (the fraction of
        steps in which a hidden neuron spikes on the test set; 0 for ReLU).
    """
    from sklearn.datasets import load_digits

    init_seed, order_seed = spawn_seeds(seed, 2)
    xp = current_namespace()
    digits = load_digits()
    split = np.random.default_rng(0).permutation(len(digits.target))
    train, test = asarray(split[: config.n_train]), asarray(split[config.n_train :])
    labels = asarray(digits.target)
    pixels = asarray(digits.data / 16.0)
    if config.model == "spiking":
        inputs = rate_encode(pixels, config.steps, config.max_prob, seed=1)
        model = SpikingClassifier(64, config.hidden, 10, input_scale=3.0,
                                  seed=init_seed)
    else:
        inputs = pixels
        init = default_rng(init_seed)
        model = nn.Sequential(nn.Linear(64, config.hidden, seed=init), nn.ReLU(),
                              nn.Linear(config.hidden, 10, seed=init))
    loss = nn.SoftmaxCrossEntropy()
    fit(model, loss, Adam(model.parameters(), lr=config.lr),
        xp.take(inputs, train, axis=0), xp.take(labels, train),
        epochs=config.epochs, batch_size=config.batch_size, seed=order_seed)
    metrics = evaluate(model, loss, xp.take(inputs, test, axis=0),
                       xp.take(labels, test), batch_size=4096)
    spike_rate = model.firing_rate() if config.model == "spiking" else 0.0
    return {"test_accuracy": metrics["accuracy"], "spike_rate": spike_rate}


HOPFIELD_LOADS = tuple(round(0.10 + 0.02 * k, 2) for k in range(10))
"""Loads ``P / N`` of the chapter's capacity scan, 0.10 to 0.28 (below 0.10 every pattern is kept)."""

HOPFIELD_FULL_LOADS = tuple(round(0.10 + 0.01 * k, 2) for k in range(19))
"""Loads of the recorded (full) scan, 0.10 to 0.28 in steps of 0.01; the two largest networks are scanned up to
0.22, beyond which they keep almost nothing."""


@dataclass(frozen=True)
class HopfieldConfig:
    """``round(load * n)`` random patterns stored in a Hopfield network of ``n`` neurons.

    A pattern counts as retrieved when recall started from it ends with an
    overlap above ``overlap``.
    """

    n: int = 400
    load: float = 0.14
    overlap: float = 0.95

    def __post_init__(self):
        check_count("n", self.n, 2)
        check_in_range("load", self.load, 0.0, 1.0, closed="right")
        check_in_range("overlap", self.overlap, -1.0, 1.0)


def hopfield_retrieval_run(config: HopfieldConfig, seed) -> dict:
    """Store random patterns, recall from each, and return the fraction retrieved.

    ``seed`` (an int or a generator) spawns two independent streams: the
    patterns and the order of the asynchronous updates.
    """
    pattern_seed, order_seed = spawn_seeds(seed, 2)
    rng = np.random.default_rng(pattern_seed)
    count = max(1, int(round(config.load * config.n)))
    patterns = asarray(rng.choice([-1.0, 1.0], size=(count, config.n)))
    final = hopfield_recall(hopfield_weights(patterns), patterns, seed=order_seed)
    overlaps = hopfield_overlaps(final, patterns)
    xp = current_namespace()
    return {"retrieved_fraction": float(xp.mean(xp.astype(overlaps > config.overlap, overlaps.dtype)))}
