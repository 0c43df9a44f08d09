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
from ..backend import asarray, current_namespace, default_rng, to_numpy
from ..optim import Adam
from ..seeds import spawn_seeds
from ..train import evaluate, fit
from ..validation import check_choice, check_count, check_in_range, check_positive
from .networks import hopfield_overlaps, hopfield_recall, hopfield_weights
from .receptive_fields import (
    energy_model_survey,
    fast_ica,
    fit_gabor,
    image_patches,
    pca_whitening,
    receptive_field_measures,
)
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


@dataclass(frozen=True)
class ReceptiveFieldConfig:
    """FastICA on patches of scikit-learn's two sample photographs, and the measures of its filters.

    Attributes
    ----------
    size : int
        Patch side, pixels.
    count : int
        Patches drawn.
    keep : int
        Principal components kept by the whitening, and independent components found.
    gabor_fits : int
        Filters of each set with a Gabor fit in the measures (the first ones).
    leakage : float
        Largest component of a Gabor's envelope at twice its carrier's
        frequency for it to count as a quadrature pair
        (:func:`deepref.neuro.forms_quadrature_pair`).
    """

    size: int = 10
    count: int = 20000
    keep: int = 60
    gabor_fits: int = 12
    leakage: float = 0.01

    def __post_init__(self):
        for name in ("size", "count", "keep", "gabor_fits"):
            check_count(name, getattr(self, name))
        check_in_range("keep", self.keep, 1, self.size * self.size)
        check_in_range("gabor_fits", self.gabor_fits, 1, self.keep)
        check_in_range("leakage", self.leakage, 0.0, 1.0, closed="right")


def natural_image_filters(config: ReceptiveFieldConfig, seed) -> dict:
    """ICA filters of natural-image patches, and two controls, as ``(keep, size * size)`` arrays.

    ``seed`` (an int or a generator) spawns three independent streams: the
    patches, FastICA's starting matrix and the random control.

    Returns
    -------
    dict
        ``"ICA filters"`` (the unmixing matrix taken back to pixels),
        ``"PCA components"`` (the whitening's rows: global gratings) and
        ``"random filters"`` (Gaussian noise).
    """
    from sklearn.datasets import load_sample_images

    patch_seed, ica_seed, control_seed = spawn_seeds(seed, 3)
    photos = [image.mean(axis=2) for image in load_sample_images().images]  # grey
    patches = image_patches(photos, config.size, config.count, seed=patch_seed)
    white = pca_whitening(patches, config.keep)
    unmixing = fast_ica(patches @ white.whiten, config.keep, seed=ica_seed)
    noise_rng = np.random.default_rng(control_seed)
    noise = noise_rng.normal(size=(config.keep, config.size**2))
    return {
        "ICA filters": unmixing @ white.whiten.T,  # receptive fields in pixel space
        "PCA components": white.whiten.T,
        "random filters": asarray(noise, dtype=patches.dtype),
    }


def receptive_field_run(config: ReceptiveFieldConfig, seed) -> dict:
    """One draw of patches and of FastICA's start: the measures of each filter set, and the energy model.

    Returns
    -------
    dict
        ``{set name: measures}`` (see :func:`deepref.neuro.receptive_field_measures`)
        for the three sets of :func:`natural_image_filters`, and under
        ``"energy model"`` the survey of :func:`deepref.neuro.energy_model_survey`
        over the Gabor fits of all ICA filters.
    """
    filter_sets = natural_image_filters(config, seed)
    record = {}
    for name, filters in filter_sets.items():
        record[name], fits = receptive_field_measures(filters, config.size, config.gabor_fits)
        if name == "ICA filters":
            rest = to_numpy(filters)[config.gabor_fits:]
            ica_fits = fits + [fit_gabor(f, config.size, starts=3) for f in rest]
    record["energy model"] = energy_model_survey(ica_fits, config.size, config.leakage)
    return record
