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
from ..backend import asarray, current_namespace
from ..optim import Adam
from ..train import evaluate, fit
from ..validation import check_choice, check_count, check_in_range
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


def digits_run(config: DigitsConfig, seed: int) -> dict:
    """Train one network from initialisation ``seed``; its test accuracy (and hidden spike rate).

    The split of the 1797 digits (seed 0) and the spike code (seed 1) are the
    same for every run, so seeds differ only in weights and batch order.

    Returns
    -------
    dict
        ``{"test_accuracy": float, "spike_rate": float}`` (the fraction of
        steps in which a hidden neuron spikes on the test set; 0 for ReLU).
    """
    from sklearn.datasets import load_digits

    check_choice("model", config.model, ("spiking", "relu"))
    check_count("hidden", config.hidden)
    check_in_range("n_train", config.n_train, 1, 1797)
    xp = current_namespace()
    digits = load_digits()
    split = np.random.default_rng(0).permutation(len(digits.target))
    train, test = asarray(split[: config.n_train]), asarray(split[config.n_train :])
    labels = asarray(digits.target)
    pixels = asarray(digits.data / 16.0)
    if config.model == "spiking":
        inputs = rate_encode(pixels, config.steps, config.max_prob, seed=1)
        model = SpikingClassifier(64, config.hidden, 10, input_scale=3.0, seed=seed)
    else:
        inputs = pixels
        model = nn.Sequential(nn.Linear(64, config.hidden, seed=seed), nn.ReLU(),
                              nn.Linear(config.hidden, 10, seed=seed + 100))
    loss = nn.SoftmaxCrossEntropy()
    fit(model, loss, Adam(model.parameters(), lr=config.lr),
        xp.take(inputs, train, axis=0), xp.take(labels, train),
        epochs=config.epochs, batch_size=config.batch_size, seed=seed)
    metrics = evaluate(model, loss, xp.take(inputs, test, axis=0),
                       xp.take(labels, test), batch_size=4096)
    spike_rate = model.firing_rate() if config.model == "spiking" else 0.0
    return {"test_accuracy": metrics["accuracy"], "spike_rate": spike_rate}


HOPFIELD_LOADS = tuple(round(0.10 + 0.02 * k, 2) for k in range(10))
"""Loads ``P / N`` of the chapter's capacity scan, 0.10 to 0.28 (below 0.10 every pattern is kept)."""


@dataclass(frozen=True)
class HopfieldConfig:
    """``round(load * n)`` random patterns stored in a Hopfield network of ``n`` neurons.

    A pattern counts as retrieved when recall started from it ends with an
    overlap above ``overlap``.
    """

    n: int = 400
    load: float = 0.14
    overlap: float = 0.95


def hopfield_retrieval_run(config: HopfieldConfig, seed: int) -> dict:
    """Store random patterns (drawn with ``seed``), recall from each, and return the fraction retrieved."""
    check_count("n", config.n, 2)
    check_in_range("load", config.load, 0.0, 1.0, closed="right")
    rng = np.random.default_rng(seed)
    count = max(1, int(round(config.load * config.n)))
    patterns = asarray(rng.choice([-1.0, 1.0], size=(count, config.n)))
    final = hopfield_recall(hopfield_weights(patterns), patterns, seed=seed)
    overlaps = hopfield_overlaps(final, patterns)
    xp = current_namespace()
    return {"retrieved_fraction": float(xp.mean(xp.astype(overlaps > config.overlap, overlaps.dtype)))}
