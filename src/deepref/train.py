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

from .backend import get_namespace, is_integer_array, to_numpy
from .data import minibatch_indices
from .nn.module import check_inputs
from .optim.clip import clip_grad_norm
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
    """What callbacks see at the end of each epoch; setting ``stop = True`` ends training.

    ``recorded`` names the history keys :func:`fit` will record each epoch
    (with those callbacks declare in their ``records`` attribute), so that a
    callback can check in ``on_train_begin`` that the key it watches exists.
    """

    model: object
    optimizer: object
    history: History
    epoch: int = 0
    stop: bool = False
    recorded: tuple[str, ...] = ()

    def check_key(self, key: str, who: str) -> None:
        """Raise ``KeyError`` before training if ``who`` watches a history key that will not be recorded."""
        if self.recorded and key not in self.recorded:
            raise KeyError(f"{who} watches {key!r}, which fit will not record; it records "
                           f"{', '.join(map(repr, self.recorded))}" +
                           ("" if "val_loss" in self.recorded else " (val_* keys need validation_data)"))


class Callback:
    """Hook called by :func:`fit` after every epoch (override ``on_epoch_end``).

    A callback that appends its own history keys names them in ``records``.
    """

    records: tuple[str, ...] = ()

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
        state.check_key(self.monitor, "EarlyStopping")
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


def _count_correct(pred, y):
    """How many rows of ``pred`` have their largest entry at label ``y``: a 0-D integer array, left on the device."""
    xp = get_namespace(pred)
    return xp.sum(xp.astype(xp.argmax(pred, axis=1) == y, xp.int64))


def _epoch_metrics(xp, losses: list, sizes: list, corrects: list, where) -> dict[str, float]:
    """Mean loss (and accuracy, where ``corrects``) over the steps of an epoch, from values left on the device.

    The steps' losses and correct counts are read back together, once (on a
    GPU, one synchronisation per epoch instead of two per step); the loss is
    then summed in double precision, step by step. Raises
    ``FloatingPointError`` naming the first step whose loss is not finite
    (``where(step)``).
    """
    values = [float(v) for v in to_numpy(xp.stack([xp.asarray(loss) for loss in losses]))]
    for step, value in enumerate(values):
        check_finite_loss(value, where(step))
    n = sum(sizes)
    metrics = {"loss": sum(value * size for value, size in zip(values, sizes)) / n}
    if corrects:
        metrics["accuracy"] = int(to_numpy(xp.sum(xp.stack(corrects)))) / n
    return metrics


def check_data(model, x, y, what: str = "") -> None:
    """Raise before any step unless ``x`` and ``y`` are arrays that ``model`` can take.

    Checked: both are arrays (not lists), with the same number of examples,
    at least one, on the backend of the model's parameters, and ``x`` (and
    floating targets ``y``) in the parameters' dtype (see
    :func:`deepref.nn.module.check_inputs`). ``what`` names the data in the
    message (``"validation_data"``).
    """
    prefix = f"{what} " if what else ""
    for name, a in (("x", x), ("y", y)):
        if not (hasattr(a, "shape") and hasattr(a, "dtype")):
            raise TypeError(f"{prefix}{name} must be an array, got a {type(a).__name__}; convert it with "
                            f"deepref.backend.asarray({name}) (and dtype=... to match the model)")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{prefix}x has no examples (shape {tuple(x.shape)}); pass at least one")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{prefix}x and y must have the same number of examples, got {x.shape[0]} and {y.shape[0]}")
    check_inputs(model, x, y)


def evaluate(model, loss_fn, x, y, batch_size: int = 1024) -> dict[str, float]:
    """Mean loss (and accuracy for integer labels) of ``model`` in eval mode on ``(x, y)``.

    The data are checked first (:func:`check_data`); the model's training
    mode is restored afterwards.
    """
    check_data(model, x, y)
    batch_size = check_count("batch_size", batch_size)
    was_training = model.training
    model.eval()
    losses, sizes, corrects = [], [], []
    for idx in minibatch_indices(x.shape[0], batch_size):
        xb, yb = _take_batch(x, y, idx)
        pred = model.forward(xb)
        losses.append(loss_fn.forward(pred, yb))
        sizes.append(idx.shape[0])
        if _is_classification(pred, yb):
            corrects.append(_count_correct(pred, yb))
    model.train(was_training)
    return _epoch_metrics(get_namespace(x), losses, sizes, corrects, lambda step: f"evaluation batch {step}")


def train_step(model, loss_fn, optimizer, xb, yb, clip: float | None = None, dloss=1.0, **inputs):
    """One gradient step on the batch ``(xb, yb)``: the step every training loop of the book takes.

    ``forward``, the loss, ``loss_fn.backward(dloss)``, ``model.backward``,
    optional clipping of the gradients to global norm ``clip``,
    ``optimizer.step()``, ``optimizer.zero_grad()``. Nothing is checked and
    nothing is read back to the host: the caller checks its data once
    (:func:`check_data`). The gradients must be clear on entry (they are on
    exit).

    Parameters
    ----------
    model : Module
    loss_fn : Loss or None
        ``None`` for a model whose output layer is fused with its loss (the
        class-factored softmax, skip-gram's negative sampling): the step
        calls ``model.loss_forward(xb, yb, **inputs)`` and
        ``model.loss_backward(dloss)`` instead.
    optimizer : Optimizer
    xb, yb : arrays
        The batch's inputs and targets.
    clip : float, optional
    dloss : float
        Gradient of the objective with respect to the loss (a constant
        factor on every gradient; 1 when the loss is the objective).
    **inputs
        Further inputs of the model's forward pass (a recurrent state, the
        sequences' lengths).

    Returns
    -------
    loss : 0-D array
        The batch's loss before the step (on the device).
    pred : array or None
        The model's output for ``xb`` before the step (``None`` when
        ``loss_fn`` is ``None``).
    """
    if loss_fn is None:
        pred, loss = None, model.loss_forward(xb, yb, **inputs)
        model.loss_backward(dloss)
    else:
        pred = model.forward(xb, **inputs)
        loss = loss_fn.forward(pred, yb)
        model.backward(loss_fn.backward(dloss))
    if clip is not None:
        clip_grad_norm(optimizer.params, clip)
    optimizer.step()
    optimizer.zero_grad()
    return loss, pred


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

    Everything is checked before the first step, with a message naming the
    fix: the data (:func:`check_data`, for ``validation_data`` too, whose
    examples must have the training examples' shape), that ``optimizer``
    holds parameters of ``model``, and that every history key a callback
    watches will be recorded. The model trains in training mode and is left
    in the mode it had before (call ``model.eval()`` to predict, as in PyTorch).
    """
    check_data(model, x, y)
    epochs = check_count("epochs", epochs)
    batch_size = check_count("batch_size", batch_size)
    if clip_norm is not None:
        check_positive("clip_norm", clip_norm)
    _check_optimizer(model, optimizer)
    if validation_data is not None:
        _check_validation_data(model, x, validation_data)
    rng = np.random.default_rng(seed) if shuffle else None
    history = History()
    state = TrainState(model, optimizer, history, recorded=_recorded_keys(y, validation_data, callbacks))
    for callback in callbacks:
        callback.on_train_begin(state)
    was_training = model.training
    model.train()
    try:
        _train_epochs(state, loss_fn, x, y, epochs, batch_size, validation_data, callbacks, rng, clip_norm, verbose)
    finally:
        model.train(was_training)
    for callback in callbacks:
        callback.on_train_end(state)
    return history


def _check_optimizer(model, optimizer) -> None:
    """Raise unless ``optimizer`` steps at least one of ``model``'s parameters (part of them: fine-tuning)."""
    mine = {id(p) for p in model.parameters()}
    held = getattr(optimizer, "params", None)
    if held is None:
        raise TypeError(f"optimizer must be a deepref.optim optimizer, got {type(optimizer).__name__}")
    if mine and not mine & {id(p) for p in held}:
        raise ValueError("the optimizer holds none of the model's parameters (was it built for another model?); "
                         "build it with optim.X(model.parameters(), ...)")


def _check_validation_data(model, x, validation_data) -> None:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError("validation_data must be a pair (x_val, y_val)")
    x_val, y_val = validation_data
    check_data(model, x_val, y_val, "validation_data")
    if tuple(x_val.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(f"validation_data x has examples of shape {tuple(x_val.shape[1:])}, "
                         f"the training data {tuple(x.shape[1:])}")


def _recorded_keys(y, validation_data, callbacks) -> tuple[str, ...]:
    """The history keys fit records each epoch (accuracy: for integer labels), with the callbacks' own."""
    base = ["loss", "accuracy"] if y.ndim == 1 and is_integer_array(y) else ["loss"]
    keys = [*base, "lr"]
    if validation_data is not None:
        keys += ["val_" + k for k in base]
    for callback in callbacks:
        keys += list(getattr(callback, "records", ()))
    return tuple(keys)


def _train_epochs(state, loss_fn, x, y, epochs, batch_size, validation_data, callbacks, rng, clip_norm,
                  verbose) -> None:
    """The epochs of :func:`fit` (arguments checked there); stops early when a callback sets ``state.stop``."""
    model, optimizer, history = state.model, state.optimizer, state.history
    n = x.shape[0]
    for epoch in range(int(epochs)):
        state.epoch = epoch
        bar = ProgressBar(math.ceil(n / batch_size), f"epoch {epoch + 1}/{epochs}") if verbose else None
        # losses and correct counts stay on the device until the epoch ends (_epoch_metrics)
        losses, sizes, corrects = [], [], []
        for step, idx in enumerate(minibatch_indices(n, batch_size, rng)):
            xb, yb = _take_batch(x, y, idx)
            loss, pred = train_step(model, loss_fn, optimizer, xb, yb, clip_norm)
            losses.append(loss)
            sizes.append(idx.shape[0])
            if _is_classification(pred, yb):
                corrects.append(_count_correct(pred, yb))
            if bar is not None:
                bar.update(step + 1)
        for key, value in _epoch_metrics(get_namespace(x), losses, sizes, corrects,
                                         lambda step, epoch=epoch: f"epoch {epoch}, step {step}").items():
            history.append(key, value)
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
