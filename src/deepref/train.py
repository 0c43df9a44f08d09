"""A small training loop: mini-batches, shuffling by seed, history, callbacks.

>>> import numpy as np
>>> from deepref import nn, optim
>>> from deepref.backend import asarray
>>> rng = np.random.default_rng(0)
>>> x = asarray(rng.normal(size=(64, 2)))
>>> y = asarray((np.asarray(x)[:, 0] > 0).astype(np.int64))
>>> model = nn.Sequential(nn.Linear(2, 2, seed=0))
>>> history = fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.5), x, y,
...               epochs=20, batch_size=16, seed=0)
>>> history.last("accuracy") > 0.9
True
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .backend import get_namespace, is_integer_array
from .data import minibatch_indices
from .validation import check_count, check_finite_loss, check_positive


@dataclass
class History:
    """Per-epoch records: ``history["loss"]`` is the list of mean training losses, and so on.

    Keys: ``loss``, ``accuracy`` (classification only), ``val_loss``,
    ``val_accuracy`` (with validation data), ``lr``, and anything callbacks add.
    """

    records: dict[str, list[float]] = field(default_factory=dict)
    stopped_epoch: int | None = None
    best_epoch: int | None = None

    def append(self, key: str, value: float) -> None:
        self.records.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.records:
            raise KeyError(f"no history for {key!r}; recorded: {', '.join(self.records)}")
        return self.records[key]

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def last(self, key: str) -> float:
        """The latest value of ``key``."""
        return self[key][-1]

    @property
    def epochs(self) -> int:
        return len(self.records.get("loss", []))


@dataclass
class TrainState:
    """What callbacks see at the end of each epoch; setting ``stop = True`` ends training."""

    model: object
    optimizer: object
    history: History
    epoch: int = 0
    stop: bool = False


class Callback:
    """Hook called by :func:`fit` after every epoch (override ``on_epoch_end``)."""

    def on_train_begin(self, state: TrainState) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, state: TrainState) -> None:
        """Called after each epoch, once the history has its values."""

    def on_train_end(self, state: TrainState) -> None:
        """Called once after the last epoch."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best`` the model's weights of the best epoch are loaded
    back at the end (its :meth:`~deepref.nn.Module.state_dict` is kept in memory).

    Parameters
    ----------
    monitor : str
        History key, ``"val_loss"`` by default; keys containing ``"accuracy"`` are maximised.
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        Smallest change that counts as an improvement.
    restore_best : bool
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, restore_best: bool = True):
        check_count("patience", patience, minimum=0)
        check_positive("min_delta", min_delta, allow_zero=True)
        self.monitor, self.patience, self.min_delta = monitor, int(patience), min_delta
        self.restore_best = restore_best
        self.sign = -1.0 if "accuracy" in monitor else 1.0

    def on_train_begin(self, state: TrainState) -> None:
        self.best, self.best_epoch, self.best_weights, self.wait = math.inf, None, None, 0

    def on_epoch_end(self, state: TrainState) -> None:
        value = self.sign * state.history.last(self.monitor)
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best:
                self.best_weights = state.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                state.stop = True

    def on_train_end(self, state: TrainState) -> None:
        state.history.best_epoch = self.best_epoch
        if self.restore_best and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)


class ProgressBar:
    """A text progress bar for one epoch, rewritten in place: ``epoch 3/20 [#####.....] 14/28``.

    Parameters
    ----------
    total : int
        Number of steps in the epoch.
    prefix : str
        Text before the bar.
    stream : file-like, optional
        Where to write (``sys.stdout`` by default).
    width : int
        Characters of the bar.
    """

    def __init__(self, total: int, prefix: str = "", stream=None, width: int = 24):
        self.total, self.prefix, self.width = max(int(total), 1), prefix, width
        self.stream = sys.stdout if stream is None else stream

    def render(self, done: int) -> str:
        """The bar after ``done`` steps."""
        filled = round(self.width * done / self.total)
        return f"{self.prefix} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"

    def update(self, done: int) -> None:
        """Redraw the bar after ``done`` steps (carriage return, no newline)."""
        self.stream.write("\r" + self.render(done))
        self.stream.flush()

    def close(self, summary: str) -> None:
        """Finish the line with ``summary`` (the epoch's metrics)."""
        self.stream.write("\r" + self.render(self.total) + " " + summary + "\n")
        self.stream.flush()


def _is_classification(pred, y) -> bool:
    return pred.ndim == 2 and y.ndim == 1 and is_integer_array(y)


def _take_batch(x, y, idx: np.ndarray):
    xp = get_namespace(x)
    index = xp.asarray(idx)
    return xp.take(x, index, axis=0), xp.take(y, index, axis=0)


def _count_correct(pred, y) -> int:
    xp = get_namespace(pred)
    return int(xp.sum(xp.astype(xp.argmax(pred, axis=1) == y, xp.int64)))


def evaluate(model, loss_fn, x, y, batch_size: int = 1024) -> dict[str, float]:
    """Mean loss (and accuracy for integer labels) of ``model`` in eval mode on ``(x, y)``.

    The model's training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, x.shape[0]
    classification = False
    for idx in minibatch_indices(n, batch_size):
        xb, yb = _take_batch(x, y, idx)
        pred = model.forward(xb)
        total_loss += float(loss_fn.forward(pred, yb)) * idx.shape[0]
        classification = _is_classification(pred, yb)
        if classification:
            correct += _count_correct(pred, yb)
    model.train(was_training)
    metrics = {"loss": total_loss / n}
    if classification:
        metrics["accuracy"] = correct / n
    return metrics


def fit(
    model,
    loss_fn,
    optimizer,
    x,
    y,
    epochs: int,
    batch_size: int = 32,
    validation_data: tuple | None = None,
    callbacks: Sequence[Callback] = (),
    seed: int | None = 0,
    shuffle: bool = True,
    clip_norm: float | None = None,
    verbose: bool = False,
) -> History:
    """Train ``model`` with mini-batch gradient steps and return its :class:`History`.

    Each step: ``forward``, the loss, ``loss_fn.backward()``, ``model.backward``,
    optional clipping to global norm ``clip_norm``, ``optimizer.step()``,
    ``optimizer.zero_grad()``. A non-finite loss stops training with a
    ``FloatingPointError`` naming the epoch and step. Callbacks run after each
    epoch, once the history holds its values: early stopping
    (:class:`EarlyStopping`) and learning-rate schedules
    (:class:`deepref.optim.LRScheduleCallback`); ``history["lr"]`` is the
    learning rate used during each epoch.

    Parameters
    ----------
    model : Module
    loss_fn : Loss
        ``forward(pred, target)`` and ``backward()``.
    optimizer : Optimizer
    x : (N, ...) array
    y : (N, ...) array
        Targets; integer class labels (N,) also record accuracy.
    epochs : int
    batch_size : int
    validation_data : (x_val, y_val), optional
    callbacks : sequence of Callback
    seed : int or None
        Seed of the shuffling order (same seed, same batches).
    shuffle : bool
    clip_norm : float, optional
    verbose : bool
        Show a progress bar and the metrics of each epoch (on stdout); quiet by
        default, as in the built book.
    """
    from .optim.clip import clip_grad_norm  # here, not at the top: deepref.optim imports this module

    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of examples, got {x.shape[0]} and {y.shape[0]}")
    epochs = check_count("epochs", epochs)
    batch_size = check_count("batch_size", batch_size)
    if clip_norm is not None:
        check_positive("clip_norm", clip_norm)
    rng = np.random.default_rng(seed) if shuffle else None
    history = History()
    state = TrainState(model, optimizer, history)
    for callback in callbacks:
        callback.on_train_begin(state)
    model.train()
    n = x.shape[0]
    for epoch in range(int(epochs)):
        state.epoch = epoch
        bar = ProgressBar(math.ceil(n / batch_size), f"epoch {epoch + 1}/{epochs}") if verbose else None
        total_loss, correct, classification = 0.0, 0, False
        for step, idx in enumerate(minibatch_indices(n, batch_size, rng)):
            xb, yb = _take_batch(x, y, idx)
            pred = model.forward(xb)
            loss = float(loss_fn.forward(pred, yb))
            check_finite_loss(loss, f"epoch {epoch}, step {step}")
            model.backward(loss_fn.backward())
            if clip_norm is not None:
                clip_grad_norm(optimizer.params, clip_norm)
            optimizer.step()
            optimizer.zero_grad()
            total_loss += loss * idx.shape[0]
            classification = _is_classification(pred, yb)
            if classification:
                correct += _count_correct(pred, yb)
            if bar is not None:
                bar.update(step + 1)
        history.append("loss", total_loss / n)
        if classification:
            history.append("accuracy", correct / n)
        history.append("lr", optimizer.lr)
        if validation_data is not None:
            for key, value in evaluate(model, loss_fn, *validation_data).items():
                history.append("val_" + key, value)
        for callback in callbacks:
            callback.on_epoch_end(state)
        if bar is not None:
            bar.close(" ".join(f"{k}={v[-1]:.4g}" for k, v in history.records.items()))
        if state.stop:
            history.stopped_epoch = epoch
            break
    for callback in callbacks:
        callback.on_train_end(state)
    return history
