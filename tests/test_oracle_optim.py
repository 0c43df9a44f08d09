"""deepref.optim against torch.optim and scikit-learn (the ``oracle`` extra).

Every optimizer and option runs 100 steps beside its ``torch.optim``
counterpart on the same float64 least-squares problem with the same starting
point; the parameters must agree to 1e-10 relative. Schedules are compared
with ``torch.optim.lr_scheduler`` where the two define the same sequence, and
full-batch logistic regression with ``sklearn.linear_model.LogisticRegression``.
"""

import numpy as np
import pytest

from deepref import nn, optim, optimization
from deepref.backend import asarray, to_numpy

pytestmark = pytest.mark.oracle
torch = pytest.importorskip("torch")

CASES = {
    "sgd": ("SGD", dict(lr=0.01)),
    "sgd_momentum": ("SGD", dict(lr=0.01, momentum=0.9)),
    "sgd_dampening_wd": ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    "sgd_nesterov": ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.001)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_options": ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1,
                                        eps=1e-6)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.001, alpha=0.9, momentum=0.9, weight_decay=0.01)),
    "rmsprop_centered": ("RMSprop", dict(lr=0.001, centered=True, eps=1e-6)),
    "rmsprop_centered_momentum": ("RMSprop", dict(lr=0.001, centered=True, momentum=0.5)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_options": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, betas=(0.85, 0.995))),
}


def _problem():
    """A float64 least-squares problem ``0.5 ||a w - b||^2 / n`` with two parameter tensors."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(20, 5))
    b = rng.normal(size=(20, 3))
    return a, b, rng.normal(size=(5, 3)), rng.normal(size=(3,))


def _grads(a, b, w, c):
    residual = (a @ w + c - b) / a.shape[0]
    return a.T @ residual, residual.sum(axis=0)


@pytest.mark.parametrize("case", CASES)
def test_optimizer_matches_torch_for_100_steps(case, on_numpy):
    name, kwargs = CASES[case]
    a, b, w0, c0 = _problem()
    ours = [nn.Parameter(asarray(w0.copy())), nn.Parameter(asarray(c0.copy()))]
    theirs = [torch.tensor(w0.copy(), requires_grad=True), torch.tensor(c0.copy(), requires_grad=True)]
    opt_ours = getattr(optim, name)(ours, **kwargs)
    opt_theirs = getattr(torch.optim, name)(theirs, **kwargs)
    a_t, b_t = torch.tensor(a), torch.tensor(b)
    for _ in range(100):
        ours[0].grad, ours[1].grad = _grads(a, b, to_numpy(ours[0].data), to_numpy(ours[1].data))
        opt_ours.step()
        opt_theirs.zero_grad()
        loss = 0.5 * ((a_t @ theirs[0] + theirs[1] - b_t) ** 2).sum() / a.shape[0]
        loss.backward()
        opt_theirs.step()
    for p, t in zip(ours, theirs):
        expected = t.detach().numpy()
        assert not np.allclose(expected, w0 if p is ours[0] else c0)  # the run did move
        np.testing.assert_allclose(to_numpy(p.data), expected, rtol=1e-10, atol=0)


def _torch_lrs(make_scheduler, lr0, epochs, metrics=None):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=lr0)
    scheduler = make_scheduler(opt)
    lrs = []
    for epoch in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step(*([] if metrics is None else [metrics[epoch]]))
    return lrs


def _our_lrs(make_schedule, lr0, epochs, metrics=None):
    opt = optim.SGD([nn.Parameter(asarray(np.zeros(1)))], lr=lr0)
    schedule = make_schedule(opt)
    lrs = []
    for epoch in range(epochs):
        lrs.append(opt.lr)
        schedule.step(None if metrics is None else metrics[epoch])
    return lrs


SCHEDULES = {
    "step": (lambda o: optim.StepDecay(o, step_size=3, gamma=0.5),
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    "exponential": (lambda o: optim.ExponentialDecay(o, gamma=0.9),
                    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "inverse_time": (lambda o: optim.InverseTimeDecay(o, decay=0.3),
                     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + 0.3 * t))),
    "cosine": (lambda o: optim.CosineWithWarmup(o, total_epochs=20, min_lr=0.001),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.001)),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_torch(name, on_numpy):
    ours, theirs = SCHEDULES[name]
    np.testing.assert_allclose(_our_lrs(ours, 0.1, 20), _torch_lrs(theirs, 0.1, 20), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("kwargs", [
    dict(patience=2, factor=0.5),
    dict(mode="max", patience=1, factor=0.3, threshold=0.05, cooldown=2, min_lr=0.01),
    dict(patience=0, threshold=0.1, threshold_mode="abs", cooldown=1),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs, on_numpy):
    metrics = list(1.0 + 0.1 * np.random.default_rng(3).normal(size=40))  # noise: plateaus everywhere
    ours = _our_lrs(lambda o: optim.ReduceLROnPlateau(o, **kwargs), 0.1, 40, metrics)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs), 0.1, 40, metrics)
    assert len(set(ours)) > 2  # the schedule did reduce, more than once
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_logistic_regression_matches_sklearn(on_numpy):
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    from deepref.data import load_iris

    x, y = load_iris()
    keep = y > 0  # versicolor vs virginica: not linearly separable
    x, target = x[keep], (y[keep] == 2).astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    c = 0.5
    reference = sklearn_lm.LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(x, target)
    problem = optimization.LogisticRegressionProblem(asarray(x), asarray(target), l2=1.0 / (c * x.shape[0]))
    for method in (
        lambda: optim.newton(problem.value, problem.gradient, problem.hessian, asarray(np.zeros(5))),
        lambda: optim.lbfgs(problem.value, problem.gradient, asarray(np.zeros(5))),
    ):
        result = method()
        assert result.converged
        expected = np.concatenate([reference.coef_[0], reference.intercept_])
        np.testing.assert_allclose(to_numpy(result.x), expected, rtol=1e-6, atol=1e-8)
