"""The RTS benchmark of the spatial transformer chapter, as a function of a config and a seed.

Four classifiers of the distorted digits (:func:`~deepref.stn.distorted_digits`,
recipe ``"rts"``), after Table 1 of Jaderberg et al. (2015), built at the
book's scale (:func:`rts_model`):

* ``"FCN"``: the flattened 42x42 image, a hidden layer of 64 ReLU units, 10 logits;
* ``"ST-FCN"``: an affine spatial transformer with a fully connected
  localisation network (32 hidden units) sampling a 16x16 view, then a hidden
  layer of 200 ReLU units and 10 logits;
* ``"CNN"``: :func:`~deepref.stn.cnn.small_cnn` on the 42x42 image: a 5x5
  convolution with stride 2 (the source digits have only 8x8 pixels of
  detail) and a 3x3 one, of 8 and 16 channels, each followed by ReLU and 2x2
  max pooling, then a hidden layer of 128 ReLU units and 10 logits;
* ``"ST-CNN"``: an affine spatial transformer with a convolutional
  localisation network (:class:`~deepref.stn.cnn.ConvLocalisation`: 2x2 max
  pooling, a 5x5 convolution of 8 channels, ReLU, 2x2 max pooling, 32 hidden
  ReLU units) sampling a 16x16 view, then a small CNN with two 3x3
  convolutions of 8 and 16 channels and a linear read-out.

Each is trained with Adam on ``n_train`` RTS images of the training digits
and scored on ``n_test`` RTS images of the held-out digits, in float32.
:func:`rts_run` returns the trained model with its record (the chapter uses
the models); :func:`rts_benchmark` returns the record alone (for
``python -m deepref reproduce``). Both go through the same code.

>>> record = rts_benchmark(RTSConfig(model="CNN", n_train=64, n_test=32, epochs=1), seed=0)
>>> sorted(record)
['model', 'parameters', 'seconds', 'test_error', 'train_error']
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

from .. import nn, optim
from ..backend import asarray, current_namespace
from ..seeds import spawn_seeds
from ..train import evaluate, fit
from ..validation import check_choice, check_count, check_positive
from .cnn import conv_spatial_transformer, small_cnn
from .distort import DistortedDigits, distorted_digits
from .transformer import SpatialTransformer

MODELS = ("FCN", "ST-FCN", "CNN", "ST-CNN")
"""The classifiers of the RTS benchmark, in the order of the paper's Table 1."""

CANVAS, VIEW = 42, 16
"""Side of the distorted images, and of the view a transformer samples from them (pixels)."""


@dataclass(frozen=True)
class RTSConfig:
    """One RTS run: which model, how much data, how long to train.

    ``train_seed`` and ``test_seed`` fix the two data sets, so that every model
    and every seed of a sweep sees the same images; the run's own seed sets
    the initial weights and the order of the mini-batches.
    """

    model: str = "ST-CNN"
    n_train: int = 3000
    n_test: int = 1000
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    train_seed: int = 1
    test_seed: int = 2

    def __post_init__(self):
        check_choice("model", self.model, MODELS)
        for name in ("n_train", "n_test", "epochs", "batch_size"):
            check_count(name, getattr(self, name))
        check_positive("lr", self.lr)


def chapter_setting(full: bool = False) -> tuple[RTSConfig, tuple[int, ...]]:
    """The RTS setting of the chapter: the data and training shared by its models, and their seeds.

    Parameters
    ----------
    full : bool
        The book's size (3000 training and 1000 test images, 12 epochs, seeds 0-2) when false; the size of
        ``python -m deepref reproduce stn --full`` (20000 and 5000 images, 30 epochs, seeds 0-4) when true.

    Returns
    -------
    config : RTSConfig
        With the default model; each page sets its own with :func:`dataclasses.replace`.
    seeds : tuple of int
    """
    if full:
        return RTSConfig(n_train=20000, n_test=5000, epochs=30), tuple(range(5))
    return RTSConfig(n_train=3000, n_test=1000, epochs=12), (0, 1, 2)


class RTSData(NamedTuple):
    """The RTS images on the current backend (float32) and the host :class:`DistortedDigits` behind them."""

    x_train: object  # (n_train, 1, 42, 42)
    y_train: object  # (n_train,)
    x_test: object  # (n_test, 1, 42, 42)
    y_test: object  # (n_test,)
    train_set: DistortedDigits
    test_set: DistortedDigits


def rts_data(config: RTSConfig) -> RTSData:
    """The training and test sets of ``config`` (the same for every model and seed)."""
    train_set = distorted_digits(config.n_train, "rts", split="train",
                                 seed=config.train_seed, canvas=CANVAS)
    test_set = distorted_digits(config.n_test, "rts", split="test", seed=config.test_seed,
                                canvas=CANVAS)
    f32 = current_namespace().float32
    return RTSData(asarray(train_set.images, dtype=f32), asarray(train_set.labels),
                   asarray(test_set.images, dtype=f32), asarray(test_set.labels), train_set, test_set)


def rts_model(name: str, seed: int = 0) -> nn.Sequential:
    """The float32 classifier ``name`` (one of :data:`MODELS`) with initial weights from ``seed``.

    ``seed`` (an int or a generator) is spawned into independent streams, one
    per part of the model, so that no two parts (and no two seeds' models)
    share a stream.
    """
    check_choice("model", name, MODELS)
    first, second, third = spawn_seeds(seed, 3)
    f32 = "float32"
    image = (1, CANVAS, CANVAS)
    if name == "FCN":
        return nn.Sequential(nn.Flatten(), nn.Linear(CANVAS * CANVAS, 64, seed=first, dtype=f32), nn.ReLU(),
                             nn.Linear(64, 10, seed=second, dtype=f32))
    if name == "ST-FCN":
        transformer = SpatialTransformer(image, out_size=(VIEW, VIEW), kind="affine", hidden=(32,), seed=first,
                                         dtype=f32)
        return nn.Sequential(transformer, nn.Flatten(), nn.Linear(VIEW * VIEW, 200, seed=second, dtype=f32),
                             nn.ReLU(), nn.Linear(200, 10, seed=third, dtype=f32))
    if name == "CNN":
        return small_cnn(image, channels=(8, 16), kernel_size=(5, 3), first_stride=2, hidden=(128,), seed=first,
                         dtype=f32)
    transformer = conv_spatial_transformer(image, out_size=(VIEW, VIEW), kind="affine", channels=(8,),
                                           kernel_size=5, hidden=32, downsample=2, seed=first, dtype=f32)
    classifier = small_cnn((1, VIEW, VIEW), channels=(8, 16), kernel_size=3, seed=second, dtype=f32)
    return nn.Sequential(transformer, *classifier.layers)


def _error_percent(model, data_x, data_y) -> float:
    return 100.0 * (1.0 - evaluate(model, nn.SoftmaxCrossEntropy(), data_x, data_y, batch_size=500)["accuracy"])


def rts_run(config: RTSConfig, seed: int,
            data: RTSData | None = None) -> tuple[nn.Sequential, dict]:
    """Train ``config.model`` with ``seed`` on the RTS digits; return the model and its record.

    Parameters
    ----------
    config : RTSConfig
    seed : int or generator
        Spawned into two independent streams: the initial weights and the
        mini-batch order.
    data : RTSData, optional
        :func:`rts_data` of ``config``, passed in to share it between runs.

    Returns
    -------
    model : Sequential
        Trained, in eval mode.
    record : dict
        ``model``, ``parameters``, ``train_error`` and ``test_error`` (percent)
        and ``seconds`` (wall time of the training).
    """
    data = rts_data(config) if data is None else data
    init_seed, order_seed = spawn_seeds(seed, 2)
    model = rts_model(config.model, init_seed)
    start = time.perf_counter()
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    fit(model, nn.SoftmaxCrossEntropy(), optimizer, data.x_train, data.y_train,
        epochs=config.epochs, batch_size=config.batch_size, seed=order_seed)
    seconds = time.perf_counter() - start
    model.eval()
    record = {
        "model": config.model,
        "parameters": model.num_parameters(),
        "train_error": _error_percent(model, data.x_train, data.y_train),
        "test_error": _error_percent(model, data.x_test, data.y_test),
        "seconds": seconds,
    }
    return model, record


def rts_benchmark(config: RTSConfig, seed: int) -> dict:
    """The record of :func:`rts_run` (for sweeps and ``python -m deepref reproduce``)."""
    return rts_run(config, seed)[1]
