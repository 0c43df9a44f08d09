"""Learning-rate schedules: closed forms, composition with optimizers and fit, bad input."""

import math

import numpy as np
import pytest

from deepref import nn, optim
from deepref.backend import asarray
from deepref.train import fit


def _optimizer(lr=0.1, kind=optim.SGD):
    return kind([nn.Parameter(nn.init.zeros((2,)))], lr=lr)


def _lrs(schedule, epochs, metrics=None):
    lrs = []
    for t in range(epochs):
        lrs.append(schedule.optimizer.lr)
        schedule.step(None if metrics is None else metrics[t])
    return lrs


@pytest.mark.parametrize(
    "make, formula",
    [
        (lambda o: optim.StepDecay(o, step_size=3, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 3)),
        (lambda o: optim.ExponentialDecay(o, gamma=0.8), lambda t: 0.8**t * 0.1),
        (lambda o: optim.ExponentialDecay(o, gamma=math.exp(-0.2)), lambda t: 0.1 * math.exp(-0.2 * t)),
        (lambda o: optim.InverseTimeDecay(o, decay=0.5), lambda t: 0.1 / (1 + 0.5 * t)),
        (lambda o: optim.InverseSqrtDecay(o, d=0.9), lambda t: 0.1 * 0.9 / math.sqrt(t + 1)),
    ],
)
def test_schedules_follow_their_formulas(make, formula):
    schedule = make(_optimizer(0.1))
    np.testing.assert_allclose(_lrs(schedule, 12), [formula(t) for t in range(12)], rtol=1e-14)


def test_cosine_with_warmup_rises_linearly_then_falls_to_min_lr():
    lrs = _lrs(optim.CosineWithWarmup(_optimizer(1.0), total_epochs=12, warmup_epochs=4, min_lr=0.1), 14)
    np.testing.assert_allclose(lrs[:4], [0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)
    assert lrs[8] == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the cosine
    assert all(a > b for a, b in zip(lrs[4:12], lrs[5:12]))
    assert lrs[12] == pytest.approx(0.1) and lrs[13] == pytest.approx(0.1)


@pytest.mark.parametrize("kind", [optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam, optim.AdamW])
def test_schedules_compose_with_every_optimizer(kind):
    opt = _optimizer(0.2, kind)
    schedule = optim.StepDecay(opt, step_size=1, gamma=0.5)
    schedule.step()
    schedule.step()
    assert opt.lr == pytest.approx(0.05)


def test_plateau_reduces_after_patience_and_respects_cooldown_and_min_lr():
    opt = _optimizer(1.0)
    plateau = optim.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    # one improvement, then flat: 2 bad epochs > patience 1 -> halve; cooldown skips one; and so on.
    lrs = _lrs(plateau, 9, [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    _lrs(plateau, 6, [0.5] * 6)
    assert opt.lr == pytest.approx(0.2)  # never below min_lr


def test_plateau_in_max_mode_watches_an_accuracy():
    opt = _optimizer(1.0)
    plateau = optim.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0)
    _lrs(plateau, 3, [0.5, 0.6, 0.7])
    assert opt.lr == 1.0
    plateau.step(0.65)
    assert opt.lr == pytest.approx(0.1)


def test_schedule_state_dict_resumes():
    first = optim.ExponentialDecay(_optimizer(0.1), gamma=0.5)
    _lrs(first, 3)
    second = optim.ExponentialDecay(_optimizer(0.1), gamma=0.5)
    second.load_state_dict(first.state_dict())
    assert second.optimizer.lr == first.optimizer.lr == pytest.approx(0.1 * 0.5**3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: optim.StepDecay(o, step_size=0), "step_size must be"),
        (lambda o: optim.ExponentialDecay(o, gamma=1.5), "gamma must be in"),
        (lambda o: optim.InverseTimeDecay(o, decay=-1.0), "decay must be"),
        (lambda o: optim.CosineWithWarmup(o, total_epochs=5, warmup_epochs=5), "warmup_epochs"),
        (lambda o: optim.ReduceLROnPlateau(o, factor=1.0), "factor must be in"),
        (lambda o: optim.ReduceLROnPlateau(o, mode="down"), "expected one of 'min', 'max'"),
    ],
)
def test_bad_schedule_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make(_optimizer())


def test_plateau_needs_the_metric():
    with pytest.raises(ValueError, match="needs the monitored metric"):
        optim.ReduceLROnPlateau(_optimizer()).step()


def test_schedule_callback_records_the_lr_of_each_epoch_in_fit(rng):
    x = asarray(rng.normal(size=(40, 3)))
    y = asarray(rng.integers(0, 2, size=40))
    model = nn.Sequential(nn.Linear(3, 2, seed=0))
    opt = optim.SGD(model.parameters(), lr=0.1)
    callback = optim.LRScheduleCallback(optim.StepDecay(opt, step_size=2, gamma=0.1))
    history = fit(model, nn.SoftmaxCrossEntropy(), opt, x, y, epochs=5, batch_size=8, callbacks=[callback])
    np.testing.assert_allclose(history["lr"], [0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-12)


def test_plateau_callback_reads_the_monitored_history_key(rng):
    x = asarray(rng.normal(size=(40, 3)))
    y = asarray(rng.integers(0, 2, size=40))
    model = nn.Sequential(nn.Linear(3, 2, seed=0))
    opt = optim.SGD(model.parameters(), lr=0.0)  # no learning: the loss is flat, a plateau
    plateau = optim.ReduceLROnPlateau(opt, patience=1)
    opt.lr = 1e-12
    history = fit(model, nn.SoftmaxCrossEntropy(), opt, x, y, epochs=4, batch_size=40, shuffle=False,
                  callbacks=[optim.LRScheduleCallback(plateau, monitor="loss")])
    assert history["lr"][-1] == pytest.approx(1e-13)
