"""First-order optimizers with the interface and update rules of ``torch.optim``.

Each optimizer holds a list of :class:`~deepref.nn.Parameter` and per-parameter
state (momentum buffers, running averages). ``step()`` applies one update from
the parameters' ``.grad``; ``zero_grad()`` clears the gradients. The
hyperparameters are attributes (``opt.lr`` is what a schedule changes), and
``state_dict()`` / ``load_state_dict()`` save and restore everything needed
to continue a run exactly.

The update rules, with ``g`` the gradient (plus ``weight_decay * w`` where
that option is an L2 penalty), are the ones ``torch.optim`` documents; where
they differ from other common formulations the book shows both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..backend import get_namespace, to_numpy
from ..nn.module import Parameter
from ..validation import check_in_range, check_positive


class Optimizer:
    """Base class: parameter bookkeeping, ``zero_grad``, ``step`` and saved state.

    Subclasses list their hyperparameter names in ``hyperparameters`` and
    implement ``_update(param, grad, state)``, which returns the new value of
    ``param.data`` and updates the ``state`` dict of that parameter.
    """

    hyperparameters: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Parameter], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"parameter {i} is a {type(p).__name__}, expected a deepref.nn.Parameter")
        check_positive("lr", lr, allow_zero=True)
        self.lr = lr
        self.state: list[dict] = [{} for _ in self.params]
        self.step_count = 0

    def zero_grad(self) -> None:
        """Clear the gradients of all parameters (``grad = None``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter once from its ``.grad``."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                raise ValueError(
                    f"parameter {i} of shape {p.shape} has no gradient: run the backward pass before step()"
                )
            if tuple(p.grad.shape) != p.shape:
                raise ValueError(f"parameter {i} has shape {p.shape} but its gradient {tuple(p.grad.shape)}")
        self.step_count += 1
        for p, state in zip(self.params, self.state):
            p.data = self._update(p.data, p.grad, state)

    def _update(self, w, g, state: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyperparameters, the step count and per-parameter state (host NumPy arrays)."""
        return {
            "hyperparameters": {name: getattr(self, name) for name in self.hyperparameters},
            "step_count": self.step_count,
            "state": [{k: to_numpy(v).copy() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, saved: dict) -> None:
        """Restore a :meth:`state_dict`; the parameter count and shapes must match."""
        if len(saved["state"]) != len(self.params):
            raise ValueError(f"saved state has {len(saved['state'])} parameters, this optimizer {len(self.params)}")
        for i, (p, s) in enumerate(zip(self.params, saved["state"])):
            for key, value in s.items():
                if tuple(np.shape(value)) != p.shape:
                    raise ValueError(
                        f"saved {key} of parameter {i} has shape {np.shape(value)}, the parameter {p.shape}"
                    )
        for name, value in saved["hyperparameters"].items():
            setattr(self, name, value)
        self.step_count = int(saved["step_count"])
        self.state = []
        for p, s in zip(self.params, saved["state"]):
            xp = get_namespace(p.data)
            self.state.append({k: xp.asarray(np.array(v, copy=True)) for k, v in s.items()})

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.hyperparameters)
        return f"{type(self).__name__}({args})"


def _check_weight_decay(weight_decay: float) -> None:
    check_positive("weight_decay", weight_decay, allow_zero=True)


def _check_betas(betas) -> tuple[float, float]:
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    check_in_range("beta1", betas[0], 0.0, 1.0)
    check_in_range("beta2", betas[1], 0.0, 1.0)
    return float(betas[0]), float(betas[1])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's form).

    ``g <- g + weight_decay * w``; with momentum ``mu``, a buffer
    ``b <- mu b + (1 - dampening) g`` (``b = g`` on the first step), then
    ``g <- g + mu b`` (Nesterov) or ``g <- b``; finally ``w <- w - lr g``.
    """

    hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        check_positive("momentum", momentum, allow_zero=True)
        check_positive("dampening", dampening, allow_zero=True)
        _check_weight_decay(weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, w, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            buf = state.get("momentum_buffer")
            buf = g if buf is None else self.momentum * buf + (1.0 - self.dampening) * g
            state["momentum_buffer"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        return w - self.lr * g


class Adagrad(Optimizer):
    """AdaGrad: ``s <- s + g**2``; ``w <- w - lr_t g / (sqrt(s) + eps)``, ``lr_t = lr / (1 + (t - 1) lr_decay)``."""

    hyperparameters = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(params, lr)
        check_positive("lr_decay", lr_decay, allow_zero=True)
        _check_weight_decay(weight_decay)
        check_positive("initial_accumulator_value", initial_accumulator_value, allow_zero=True)
        check_positive("eps", eps)
        self.lr_decay, self.weight_decay = lr_decay, weight_decay
        self.initial_accumulator_value, self.eps = initial_accumulator_value, eps

    def _update(self, w, g, state):
        xp = get_namespace(w)
        if self.weight_decay:
            g = g + self.weight_decay * w
        total = state.get("sum", xp.full_like(w, self.initial_accumulator_value)) + g * g
        state["sum"] = total
        lr_t = self.lr / (1.0 + (self.step_count - 1) * self.lr_decay)
        return w - lr_t * g / (xp.sqrt(total) + self.eps)


class RMSprop(Optimizer):
    """RMSProp (Hinton's lecture 6e), in PyTorch's form.

    ``v <- alpha v + (1 - alpha) g**2``; the denominator is
    ``sqrt(v) + eps`` (eps *outside* the root), or, when ``centered``,
    ``sqrt(v - m**2) + eps`` with ``m <- alpha m + (1 - alpha) g``. Without
    momentum ``w <- w - lr g / denom``; with it ``b <- mu b + g / denom`` and
    ``w <- w - lr b``.
    """

    hyperparameters = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, lr)
        check_in_range("alpha", alpha, 0.0, 1.0, closed="both")
        check_positive("eps", eps)
        _check_weight_decay(weight_decay)
        check_positive("momentum", momentum, allow_zero=True)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered

    def _update(self, w, g, state):
        xp = get_namespace(w)
        if self.weight_decay:
            g = g + self.weight_decay * w
        square_avg = self.alpha * state.get("square_avg", xp.zeros_like(w)) + (1.0 - self.alpha) * g * g
        state["square_avg"] = square_avg
        if self.centered:
            grad_avg = self.alpha * state.get("grad_avg", xp.zeros_like(w)) + (1.0 - self.alpha) * g
            state["grad_avg"] = grad_avg
            denom = xp.sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            denom = xp.sqrt(square_avg) + self.eps
        if self.momentum:
            buf = self.momentum * state.get("momentum_buffer", xp.zeros_like(w)) + g / denom
            state["momentum_buffer"] = buf
            return w - self.lr * buf
        return w - self.lr * g / denom


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, in PyTorch's form.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g**2``,
    ``w <- w - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.
    With ``amsgrad`` the running maximum of ``v`` replaces ``v`` in the
    denominator. ``weight_decay`` is an L2 penalty added to ``g`` (see
    :class:`AdamW` for decoupled decay).
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay", "amsgrad")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, lr)
        self.betas = _check_betas(betas)
        check_positive("eps", eps)
        _check_weight_decay(weight_decay)
        self.eps, self.weight_decay, self.amsgrad = eps, weight_decay, amsgrad

    def _gradient(self, w, g):
        return g + self.weight_decay * w if self.weight_decay else g

    def _update(self, w, g, state):
        xp = get_namespace(w)
        g = self._gradient(w, g)
        beta1, beta2 = self.betas
        t = self.step_count
        m = beta1 * state.get("exp_avg", xp.zeros_like(w)) + (1.0 - beta1) * g
        v = beta2 * state.get("exp_avg_sq", xp.zeros_like(w)) + (1.0 - beta2) * g * g
        state["exp_avg"], state["exp_avg_sq"] = m, v
        if self.amsgrad:
            v = xp.maximum(state.get("max_exp_avg_sq", xp.zeros_like(w)), v)
            state["max_exp_avg_sq"] = v
        denom = xp.sqrt(v) / math.sqrt(1.0 - beta2**t) + self.eps
        return self._decay(w) - (self.lr / (1.0 - beta1**t)) * m / denom

    def _decay(self, w):
        return w


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    ``w <- w (1 - lr weight_decay)`` and then the Adam step on the plain
    gradient; PyTorch's default ``weight_decay`` is 0.01.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _gradient(self, w, g):
        return g

    def _decay(self, w):
        return w * (1.0 - self.lr * self.weight_decay)
