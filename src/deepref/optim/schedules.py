"""Learning-rate schedules that drive any optimizer through its ``lr`` attribute.

A schedule is created around an optimizer, remembers the initial learning
rate ``lr0`` of each of its parameter groups and, each time
:meth:`LRSchedule.step` is called (once per epoch), sets every group's ``lr``
to the value of its formula at the new epoch ``t`` (``t = 0`` during the
first epoch), as ``torch.optim.lr_scheduler`` does:

* step decay: ``lr0 * gamma ** (t // step_size)``;
* exponential decay: ``lr0 * gamma ** t`` (the slides' ``d ** epoch * lr0``;
  ``lr0 * exp(-k t)`` is the same with ``gamma = exp(-k)``);
* 1/t decay: ``lr0 / (1 + k t)``;
* inverse square root: ``lr0 * d / sqrt(t + 1)`` (the slides'
  ``lr0 * d / sqrt(epoch)`` with epochs counted from 1);
* cosine with linear warm-up;
* :class:`ReduceLROnPlateau`, which watches a metric instead of the clock.

:class:`LRScheduleCallback` steps a schedule at the end of every epoch of
:func:`deepref.train.fit` (it has the callback methods ``fit`` calls, so this
module does not depend on :mod:`deepref.train`: ``train`` uses ``optim``,
never the reverse).

>>> from deepref import nn, optim
>>> opt = optim.SGD([nn.Parameter(nn.init.zeros((1,)))], lr=0.1)
>>> schedule = StepDecay(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(opt.lr)
...     schedule.step()
>>> lrs
[0.1, 0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math

from ..validation import check_choice, check_count, check_in_range, check_positive


def param_groups(optimizer) -> list[dict]:
    """The parameter groups a schedule acts on (a clear error for anything without them)."""
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        raise TypeError(f"a schedule needs an optimizer with `param_groups`, got {type(optimizer).__name__}")
    return groups


class LRSchedule:
    """Base class of the epoch-indexed schedules: each group's ``lr = lr_at(t, lr0)``.

    Subclasses implement :meth:`lr_at`, a pure function of the epoch ``t`` and
    of a group's initial learning rate (``self.base_lr``, the first group's,
    by default).
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in param_groups(optimizer)]
        self.epoch = 0
        self._apply()

    @property
    def base_lr(self) -> float:
        """Initial learning rate of the first parameter group."""
        return self.base_lrs[0]

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:  # pragma: no cover - abstract
        """Learning rate during epoch ``epoch`` (0-based) of a group that started at ``base_lr``."""
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base in zip(param_groups(self.optimizer), self.base_lrs):
            group["lr"] = self.lr_at(self.epoch, base)

    def step(self, metric: float | None = None) -> None:
        """Move to the next epoch and set each group's learning rate (``metric`` is ignored)."""
        self.epoch += 1
        self._apply()

    def state_dict(self) -> dict:
        """The epoch counter and base learning rates (enough to resume)."""
        return {"epoch": self.epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, saved: dict) -> None:
        """Restore :meth:`state_dict` and set the groups' learning rates to match."""
        self.epoch, self.base_lrs = int(saved["epoch"]), [float(v) for v in saved["base_lrs"]]
        self._apply()


class StepDecay(LRSchedule):
    """``lr0 * gamma ** (t // step_size)``: divide by ``1 / gamma`` every ``step_size`` epochs (``StepLR``)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        check_count("step_size", step_size)
        check_in_range("gamma", gamma, 0.0, 1.0, closed="right")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:
        return (self.base_lr if base_lr is None else base_lr) * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(LRSchedule):
    """``lr0 * gamma ** t`` (``ExponentialLR``; ``gamma = exp(-k)`` gives ``lr0 * exp(-k t)``)."""

    def __init__(self, optimizer, gamma: float):
        check_in_range("gamma", gamma, 0.0, 1.0, closed="right")
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:
        return (self.base_lr if base_lr is None else base_lr) * self.gamma**epoch


StepLR = StepDecay
"""PyTorch's name for :class:`StepDecay` (same arguments: ``step_size``, ``gamma``)."""
ExponentialLR = ExponentialDecay
"""PyTorch's name for :class:`ExponentialDecay` (same argument: ``gamma``)."""


class InverseTimeDecay(LRSchedule):
    """``lr0 / (1 + decay * t)``: the 1/t decay under which SGD provably converges on convex problems."""

    def __init__(self, optimizer, decay: float):
        check_positive("decay", decay, allow_zero=True)
        self.decay = decay
        super().__init__(optimizer)

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:
        return (self.base_lr if base_lr is None else base_lr) / (1.0 + self.decay * epoch)


class InverseSqrtDecay(LRSchedule):
    """``lr0 * d / sqrt(t + 1)``: the slides' ``lr0 * d / sqrt(epoch)`` with epochs counted from 1."""

    def __init__(self, optimizer, d: float = 1.0):
        check_positive("d", d)
        self.d = d
        super().__init__(optimizer)

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:
        return (self.base_lr if base_lr is None else base_lr) * self.d / math.sqrt(epoch + 1)


class CosineWithWarmup(LRSchedule):
    """Linear warm-up to ``lr0`` over ``warmup_epochs``, then a half cosine down to ``min_lr`` at ``total_epochs``.

    ``lr_t = lr0 (t + 1) / warmup_epochs`` for ``t < warmup_epochs``, then
    ``min_lr + (lr0 - min_lr) (1 + cos(pi s / S)) / 2`` with
    ``s = t - warmup_epochs`` and ``S = total_epochs - warmup_epochs``
    (``min_lr`` from then on). Without warm-up it is ``CosineAnnealingLR(T_max=total_epochs)``.
    """

    def __init__(self, optimizer, total_epochs: int, warmup_epochs: int = 0, min_lr: float = 0.0):
        check_count("total_epochs", total_epochs)
        check_count("warmup_epochs", warmup_epochs, minimum=0)
        check_positive("min_lr", min_lr, allow_zero=True)
        if warmup_epochs >= total_epochs:
            raise ValueError(f"warmup_epochs ({warmup_epochs}) must be smaller than total_epochs ({total_epochs})")
        self.total_epochs, self.warmup_epochs, self.min_lr = int(total_epochs), int(warmup_epochs), min_lr
        super().__init__(optimizer)

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:
        base_lr = self.base_lr if base_lr is None else base_lr
        if epoch < self.warmup_epochs:
            return base_lr * (epoch + 1) / self.warmup_epochs
        decay_epochs = self.total_epochs - self.warmup_epochs
        progress = min(1.0, (epoch - self.warmup_epochs) / decay_epochs)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr + (base_lr - self.min_lr) * cosine


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when a metric stops improving (``torch.optim`` semantics).

    After each epoch, :meth:`step` receives the monitored value. An epoch is an
    improvement if the value beats the best so far by more than ``threshold``
    (relative: ``best * (1 - threshold)`` in ``"min"`` mode; absolute:
    ``best - threshold``). After more than ``patience`` epochs without
    improvement, each group's ``lr <- max(lr * factor, min_lr)`` (changes smaller than
    ``eps`` are skipped) and ``cooldown`` epochs follow in which bad epochs are
    not counted.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}
        Whether the metric should fall (a loss) or rise (an accuracy).
    factor : float
        In ``(0, 1)``.
    patience : int
    threshold : float
    threshold_mode : {"rel", "abs"}
    cooldown : int
    min_lr : float
    eps : float
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        check_choice("mode", mode, ("min", "max"))
        check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        check_in_range("factor", factor, 0.0, 1.0, closed="neither")
        for name, value in (("patience", patience), ("threshold", threshold), ("cooldown", cooldown),
                            ("min_lr", min_lr), ("eps", eps)):
            check_positive(name, value, allow_zero=True)
        param_groups(optimizer)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, int(patience)
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = int(cooldown), min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs, self.cooldown_left, self.epoch = 0, 0, 0

    def is_better(self, value: float, best: float) -> bool:
        """Whether ``value`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold
            return value < bound
        bound = best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        return value > bound

    def step(self, metric: float | None = None) -> None:
        """Record the epoch's ``metric`` and reduce the learning rate after a plateau."""
        if metric is None:
            raise ValueError(
                "ReduceLROnPlateau.step needs the monitored metric, "
                "e.g. step(val_loss)"
            )
        metric = float(metric)
        self.epoch += 1
        if self.is_better(metric, self.best):
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            self._reduce()
            self.cooldown_left, self.bad_epochs = self.cooldown, 0

    def _reduce(self) -> None:
        for group in param_groups(self.optimizer):
            new_lr = max(group["lr"] * self.factor, self.min_lr)
            if group["lr"] - new_lr > self.eps:
                group["lr"] = new_lr

    def state_dict(self) -> dict:
        """Counters and the best value so far."""
        return {"best": self.best, "bad_epochs": self.bad_epochs, "cooldown_left": self.cooldown_left,
                "epoch": self.epoch}

    def load_state_dict(self, saved: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.best = float(saved["best"])
        self.bad_epochs, self.cooldown_left = int(saved["bad_epochs"]), int(saved["cooldown_left"])
        self.epoch = int(saved["epoch"])


class LRScheduleCallback:
    """Step ``schedule`` at the end of every epoch of :func:`~deepref.train.fit` (a ``fit`` callback).

    A :class:`ReduceLROnPlateau` receives the latest value of ``monitor``
    (a history key, ``"val_loss"`` by default); the other schedules ignore it.
    The learning rate used in each epoch is in ``history["lr"]``.
    """

    def __init__(self, schedule, monitor: str = "val_loss"):
        self.schedule, self.monitor = schedule, monitor

    def on_train_begin(self, state) -> None:
        """Check, before training, that a :class:`ReduceLROnPlateau`'s ``monitor`` will be recorded."""
        if isinstance(self.schedule, ReduceLROnPlateau) and hasattr(state, "check_key"):
            state.check_key(self.monitor, "LRScheduleCallback(ReduceLROnPlateau)")

    def on_epoch_end(self, state) -> None:
        """Step the schedule; ``state`` is fit's :class:`~deepref.train.TrainState`."""
        if isinstance(self.schedule, ReduceLROnPlateau):
            self.schedule.step(state.history.last(self.monitor))
        else:
            self.schedule.step()

    def on_train_end(self, state) -> None:
        """Nothing to finish."""
