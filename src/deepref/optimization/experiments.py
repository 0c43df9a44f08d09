"""The optimization chapter's experiments on the 8x8 digits, as functions of a config and a seed.

- :func:`softmax_regression_run`: Kingma and Ba's optimizer comparison, redone
  as softmax regression with an ``InverseSqrtDecay`` schedule;
- :func:`practice_project_run`: the practice project, a 64-64-10 ReLU network
  trained with one optimizer, learning rate, batch size and initialisation,
  with early stopping and ``ReduceLROnPlateau``.

The chapter calls them with its small configs; ``python -m deepref reproduce
optimization --full`` runs them with more epochs and seeds (see
:mod:`deepref.reproduce`).

>>> record = softmax_regression_run(SoftmaxRegressionConfig(optimizer="Adam", lr=0.3, epochs=2), seed=0)
>>> len(record["loss"]), record["final_loss"] < record["loss"][0]
(2, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import data, nn
from ..backend import asarray
from ..diagnostics import mlp
from ..nn.init import INITIALIZERS
from ..optim import optimizers, schedules
from ..seeds import spawn_seeds
from ..train import EarlyStopping, evaluate, fit
from ..validation import check_choice, check_count, check_in_range, check_positive

OPTIMIZERS = {
    "SGD": lambda params, lr: optimizers.SGD(params, lr=lr),
    "SGD + momentum": lambda params, lr: optimizers.SGD(params, lr=lr, momentum=0.9),
    "SGD + Nesterov": lambda params, lr: optimizers.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda params, lr: optimizers.Adagrad(params, lr=lr),
    "RMSProp": lambda params, lr: optimizers.RMSprop(params, lr=lr),
    "Adam": lambda params, lr: optimizers.Adam(params, lr=lr),
}
"""Optimizers by the names the chapter uses, each made from ``(parameters, lr)``."""


def make_optimizer(name: str, params, lr: float):
    """The optimizer called ``name`` (a key of :data:`OPTIMIZERS`) over ``params`` at rate ``lr``."""
    check_choice("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name](params, lr)


def digits_pixels() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as float32 pixels in [0, 1], shape (1797, 64), and their labels (1797,)."""
    x, y = data.load_digits()
    return (x / 16.0).astype(np.float32), y


def digits_splits():
    """The practice project's fixed split of the digits: 1,200 train, 297 validation, 300 test.

    Returns ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` as
    arrays of the current backend (pixels float32, shape (N, 64)).
    """
    x, y = digits_pixels()
    order = np.random.default_rng(0).permutation(len(y))
    parts = order[:1200], order[1200:1497], order[1497:]
    return tuple((asarray(x[part]), asarray(y[part])) for part in parts)


LR_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
"""Learning rates tried for each optimizer in :func:`softmax_regression_grid`."""

PAPER_OPTIMIZERS = ("Adam", "SGD + Nesterov", "AdaGrad")
"""The optimizers of Kingma and Ba's logistic-regression comparison."""


@dataclass(frozen=True)
class SoftmaxRegressionConfig:
    """Softmax regression on all 1,797 digits with one optimizer at one learning rate."""

    optimizer: str = "Adam"
    lr: float = 1.0
    epochs: int = 15
    batch_size: int = 128

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("lr", self.lr)
        check_count("epochs", self.epochs)
        check_count("batch_size", self.batch_size)


def softmax_regression_run(config: SoftmaxRegressionConfig, seed) -> dict:
    """Train softmax regression with ``InverseSqrtDecay``; the training loss after each epoch.

    ``seed`` (an int or a generator) gives the initialisation and the
    mini-batch order independent streams. Returns ``{"loss": [epochs floats],
    "final_loss": float}``.
    """
    x, y = digits_pixels()
    init_seed, order_seed = spawn_seeds(seed, 2)
    model = nn.Sequential(nn.Linear(64, 10, seed=init_seed, dtype="float32"))
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr)
    schedule = schedules.LRScheduleCallback(schedules.InverseSqrtDecay(opt))
    history = fit(model, nn.SoftmaxCrossEntropy(), opt, asarray(x), asarray(y), epochs=config.epochs,
                  batch_size=config.batch_size, callbacks=[schedule], seed=order_seed)
    return {"loss": history["loss"], "final_loss": history.last("loss")}


@dataclass(frozen=True)
class PracticeConfig:
    """One configuration of the practice project (the chapter's base: Adam, 0.001, 64, He-normal)."""

    optimizer: str = "Adam"
    lr: float = 1e-3
    batch_size: int = 64
    init: str = "he_normal"
    epochs: int = 20
    patience: int = 5
    plateau_factor: float = 0.5
    plateau_patience: int = 2

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("init", self.init, INITIALIZERS)
        check_positive("lr", self.lr)
        for name in ("batch_size", "epochs", "patience", "plateau_patience"):
            check_count(name, getattr(self, name))
        check_in_range("plateau_factor", self.plateau_factor, 0.0, 1.0, closed="neither")


def softmax_regression_grid(epochs: int = 15) -> list[SoftmaxRegressionConfig]:
    """Each of :data:`PAPER_OPTIMIZERS` at each rate of :data:`LR_GRID`."""
    return [SoftmaxRegressionConfig(name, lr, epochs) for name in PAPER_OPTIMIZERS for lr in LR_GRID]


def practice_project_grid(epochs: int = 20) -> list[PracticeConfig]:
    """The practice project's one-factor-at-a-time design around the base configuration.

    Four optimizers at rates 0.01 and 0.001 (batch 64, He-normal), then Adam
    at 0.001 with batches of 32 and 128, then with Glorot-uniform weights:
    eleven configs.
    """
    base = PracticeConfig(epochs=epochs)
    configs = [replace(base, optimizer=name, lr=lr) for name in ("SGD", "SGD + momentum", "RMSProp", "Adam")
               for lr in (1e-2, 1e-3)]
    configs += [replace(base, batch_size=size) for size in (32, 128)]
    return [*configs, replace(base, init="glorot_uniform")]


def practice_mlp(init: str = "he_normal", seed=0) -> nn.Sequential:
    """The practice project's 64-64-10 ReLU network in float32; ``seed`` (an int or a generator) draws both layers."""
    return mlp([64, 64, 10], nn.ReLU, seed=seed, init=init, dtype="float32")


def practice_project_run(config: PracticeConfig, seed) -> dict:
    """Train the practice project's network on the digits with the callbacks.

    ``seed`` (an int or a generator) gives the initialisation and the
    mini-batch order independent streams. Early stopping
    watches the validation loss and restores the best weights, which the test
    accuracy is measured with.

    Returns
    -------
    dict
        ``loss``, ``val_loss``, ``val_accuracy``, ``lr``: per-epoch lists;
        ``epochs`` run, ``stopped_epoch`` (None if training ran to the end),
        ``best_val_accuracy``, ``test_accuracy``.
    """
    (x_tr, y_tr), validation, (x_te, y_te) = digits_splits()
    init_seed, order_seed = spawn_seeds(seed, 2)
    model = practice_mlp(config.init, init_seed)
    loss = nn.SoftmaxCrossEntropy()
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr)
    plateau = schedules.ReduceLROnPlateau(
        opt, factor=config.plateau_factor, patience=config.plateau_patience
    )
    callbacks = [
        EarlyStopping(monitor="val_loss", patience=config.patience),
        schedules.LRScheduleCallback(plateau),
    ]
    history = fit(
        model, loss, opt, x_tr, y_tr, epochs=config.epochs,
        batch_size=config.batch_size, validation_data=validation,
        callbacks=callbacks, seed=order_seed,
    )
    record = {key: history[key] for key in ("loss", "val_loss", "val_accuracy", "lr")}
    record.update(
        epochs=history.epochs, stopped_epoch=history.stopped_epoch,
        best_val_accuracy=max(history["val_accuracy"]),
        test_accuracy=evaluate(model, loss, x_te, y_te)["accuracy"],
    )
    return record
