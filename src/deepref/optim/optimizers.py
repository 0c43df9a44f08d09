"""First-order optimizers with the interface and update rules of ``torch.optim``.

An optimizer holds *parameter groups*, as ``torch.optim`` does: a list of
dicts, each with its ``"params"`` and its own hyperparameters (``lr``,
``momentum``, ...), defaulting to the constructor's. ``Adam(model.parameters(),
lr=1e-3)`` makes one group; ``Adam([{"params": body}, {"params": head, "lr":
1e-2}], lr=1e-3)`` gives the head its own learning rate. ``opt.lr`` reads a
hyperparameter shared by all groups and setting it sets it in every group;
schedules act on each group. A parameter listed twice is stepped once.

``step()`` updates every parameter that has a gradient (parameters whose
``.grad`` is ``None`` are skipped, as in PyTorch); ``zero_grad()`` clears the
gradients; ``state_dict()`` / ``load_state_dict()`` save and restore
everything needed to continue a run exactly.

``p.data`` and the optimizer's state are **updated in place**, as in PyTorch:
an array you hold that *is* ``p.data`` changes with each step (take a copy to
keep a snapshot). Parameters keep their dtype: float32 parameters, gradients
and state stay float32.

Each rule is written once, as a function of one parameter's arrays that
reads like its equation (:func:`sgd_update`, :func:`adagrad_update`,
:func:`rmsprop_update`, :func:`adam_update`; ``g`` is the gradient, plus
``weight_decay * w`` where that option is an L2 penalty, see
:mod:`deepref.optim.weight_decay`). A class's step hands each parameter group
to a group function (:func:`sgd_step`, ...), which asks :mod:`deepref.kernels`
for a faster way to apply the same rule to the whole group (on NumPy, the
rule chained in place over cache-sized chunks; on CuPy, one fused CUDA
kernel) and otherwise applies the update function parameter by parameter.
The rules are the ones ``torch.optim`` documents; where they differ from
other common formulations the book shows both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np

from .. import kernels
from ..backend import get_namespace, to_numpy
from ..nn.module import Parameter
from ..validation import check_in_range, check_positive
from .weight_decay import decay_weights, weight_decay_gradient


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``step`` and saved state.

    Subclasses pass their hyperparameter defaults to ``__init__``, check a
    group's values in :meth:`check_group` and implement
    ``_step_group(params, grads, states, steps, group)``, which updates the
    arrays ``params`` and those in the dicts ``states`` in place (one entry
    per parameter of ``group`` that has a gradient); ``steps`` count the
    updates each parameter has had, this one included.

    Attributes
    ----------
    param_groups : list of dict
        ``{"params": [Parameter, ...], "lr": ..., ...}``.
    state : list of dict
        Per-parameter state arrays, in the order of :attr:`params`.
    step_count : int
        Number of calls to :meth:`step`.
    """

    def __init__(self, params: Iterable, defaults: dict):
        object.__setattr__(self, "defaults", dict(defaults))
        self.param_groups: list[dict] = []
        self._params: list[Parameter] = []
        self.state: list[dict] = []
        self.steps: list[int] = []
        self.step_count = 0
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def check_group(self, group: dict) -> None:
        """Raise ``ValueError`` if a hyperparameter of ``group`` is out of range."""
        check_positive("lr", group["lr"], allow_zero=True)

    def add_param_group(self, group: dict) -> None:
        """Add a group ``{"params": [...], option: value, ...}``; missing options take the defaults.

        A parameter repeated within the group is kept once; one that already
        belongs to another group is an error (it would be stepped twice).
        """
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group is a dict with a 'params' list, got {group!r}")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(
                f"unknown option(s) {sorted(unknown)} in a parameter group; expected {sorted(self.defaults)}"
            )
        known = {id(p) for p in self._params}
        unique, seen = [], set()
        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(f"parameter {len(known) + len(unique)} is a {type(p).__name__}, "
                                "expected a deepref.nn.Parameter")
            if id(p) in known:
                raise ValueError(f"a parameter of shape {p.shape} appears in more than one parameter group")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        full = {**self.defaults, **group, "params": unique}
        self.check_group(full)
        self.param_groups.append(full)
        self._params.extend(unique)
        self.state.extend({} for _ in unique)
        self.steps.extend(0 for _ in unique)

    @property
    def params(self) -> list[Parameter]:
        """All parameters, group after group, each once."""
        return self._params

    def __getattr__(self, name):
        defaults = self.__dict__.get("defaults", {})
        if name not in defaults or "param_groups" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        values = [group[name] for group in self.param_groups]
        if any(v != values[0] for v in values[1:]):
            raise AttributeError(
                f"the parameter groups have different {name} values {values}; read param_groups[i][{name!r}]"
            )
        return values[0]

    def __setattr__(self, name, value):
        if name in self.__dict__.get("defaults", {}):
            for group in self.param_groups:
                self.check_group({**group, name: value})
                group[name] = value
        else:
            object.__setattr__(self, name, value)

    def zero_grad(self) -> None:
        """Clear the gradients of all parameters (``grad = None``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update, in place, every parameter that has a ``.grad`` (the others are skipped)."""
        for index, p in enumerate(self.params):
            if p.grad is None:
                continue
            if tuple(p.grad.shape) != p.shape:
                raise ValueError(f"parameter {index} has shape {p.shape} but its gradient {tuple(p.grad.shape)}")
            if p.grad.dtype != p.data.dtype:
                raise TypeError(
                    f"parameter {index} is {p.data.dtype} but its gradient {p.grad.dtype}: "
                    "parameters keep their dtype, so the gradient must have it too"
                )
        if all(p.grad is None for p in self.params):
            warnings.warn(
                f"{type(self).__name__}.step() found no gradient on any of its {len(self.params)} parameters and "
                "changed nothing: run the backward pass first, model.backward(loss_fn.backward())",
                UserWarning, stacklevel=2,
            )
        self.step_count += 1
        index = 0
        for group in self.param_groups:
            params, grads, states, steps = [], [], [], []
            for p in group["params"]:
                if p.grad is not None:
                    self.steps[index] += 1
                    params.append(p.data)
                    grads.append(p.grad)
                    states.append(self.state[index])
                    steps.append(self.steps[index])
                index += 1
            if params:
                self._step_group(params, grads, states, steps, group)

    def _step_group(self, params: list, grads: list, states: list, steps: list, group: dict) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    @staticmethod
    def _buffer(state: dict, key: str, like, fill: float = 0.0):
        """``state[key]``, created (filled with ``fill``) only when missing."""
        if key not in state:
            xp = get_namespace(like)
            state[key] = xp.full(like.shape, fill, dtype=like.dtype)
        return state[key]

    @staticmethod
    def _buffers(states: list, key: str, params: list, fill: float = 0.0, wanted: bool = True) -> list:
        """Each parameter's ``state[key]``, created and filled with ``fill`` where missing.

        A list of ``None`` where not ``wanted``.
        """
        if not wanted:
            return [None] * len(params)
        return [Optimizer._buffer(state, key, w, fill) for state, w in zip(states, params)]

    def state_dict(self) -> dict:
        """Group hyperparameters, step counts and per-parameter state (host NumPy arrays)."""
        return {
            "optimizer": type(self).__name__,
            "param_groups": [{k: v for k, v in g.items() if k != "params"} | {"size": len(g["params"])}
                             for g in self.param_groups],
            "step_count": self.step_count,
            "steps": list(self.steps),
            "state": [{k: to_numpy(v).copy() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, saved: dict) -> None:
        """Restore a :meth:`state_dict`; optimizer type, groups, parameter count, shapes and dtypes must match."""
        saver = saved.get("optimizer", type(self).__name__)
        options = [sorted(set(g) - {"size"}) for g in saved["param_groups"]]
        if saver != type(self).__name__ or any(keys != sorted(self.defaults) for keys in options):
            raise ValueError(f"this state was saved by {saver} (options {options[0] if options else []}); "
                             f"it cannot be loaded into {type(self).__name__} (options {sorted(self.defaults)})")
        params = self.params
        if len(saved["state"]) != len(params):
            raise ValueError(f"saved state has {len(saved['state'])} parameters, this optimizer {len(params)}")
        sizes = [g["size"] for g in saved["param_groups"]]
        if sizes != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(f"saved parameter groups have sizes {sizes}, this optimizer's "
                             f"{[len(g['params']) for g in self.param_groups]}")
        for i, (p, s) in enumerate(zip(params, saved["state"])):
            for key, value in s.items():
                if tuple(np.shape(value)) != p.shape:
                    raise ValueError(
                        f"saved {key} of parameter {i} has shape {np.shape(value)}, the parameter {p.shape}"
                    )
                if np.asarray(value).dtype != to_numpy(p.data).dtype:
                    raise TypeError(f"saved {key} of parameter {i} is {np.asarray(value).dtype}, "
                                    f"the parameter {to_numpy(p.data).dtype}")
        for group, values in zip(self.param_groups, saved["param_groups"]):
            group.update({k: v for k, v in values.items() if k != "size"})
        self.step_count = int(saved["step_count"])
        self.steps = [int(n) for n in saved["steps"]]
        self.state = []
        for p, s in zip(params, saved["state"]):
            xp = get_namespace(p.data)
            self.state.append({k: xp.asarray(np.array(v, copy=True)) for k, v in s.items()})

    def __repr__(self) -> str:
        """The current hyperparameters (a list where the groups differ), not the constructor's."""
        args = []
        for name in self.defaults:
            values = [group[name] for group in self.param_groups]
            args.append(f"{name}={values[0] if all(v == values[0] for v in values) else values!r}")
        groups = f", {len(self.param_groups)} parameter groups" if len(self.param_groups) > 1 else ""
        return f"{type(self).__name__}({', '.join(args)}{groups})"


def _check_betas(betas) -> tuple[float, float]:
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    check_in_range("beta1", betas[0], 0.0, 1.0)
    check_in_range("beta2", betas[1], 0.0, 1.0)
    return float(betas[0]), float(betas[1])



# --- the update rules: one parameter, in place ---------------------------------------------------


def sgd_update(w, g, buf, *, lr: float, weight_decay: float, momentum: float,
               dampening: float, nesterov: bool, first: bool) -> None:
    """One SGD step of parameter ``w`` with gradient ``g``, in place (PyTorch's form).

    Parameters
    ----------
    w, g : arrays of one shape
        The parameter (updated) and its gradient (left as it is).
    buf : array shaped like ``w``, or None
        The momentum buffer ``b`` (updated); ``None`` without momentum.
    lr, weight_decay, momentum, dampening : float
    nesterov : bool
        Step along ``g + momentum * b`` instead of ``b``.
    first : bool
        ``b`` starts as ``g`` (this parameter's first step with momentum).
    """
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g)
    if buf is not None:
        if first:
            buf[...] = g
        else:
            buf[...] = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    w -= lr * g


def adagrad_update(w, g, total, *, lr: float, weight_decay: float, eps: float) -> None:
    """One AdaGrad step in place; ``total`` sums the squared gradients.

    Parameters
    ----------
    w, g, total : arrays of one shape
        The parameter and ``total`` are updated, ``g`` is left as it is.
    lr, weight_decay, eps : float
        ``lr`` is this step's rate.
    """
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g)
    xp = get_namespace(w)
    total += g * g
    w -= g / (xp.sqrt(total) + eps) * lr


def rmsprop_update(w, g, square_avg, grad_avg, buf, *, lr: float, alpha: float,
                   eps: float, weight_decay: float, momentum: float) -> None:
    """One RMSProp step in place (PyTorch's form: ``eps`` outside the root).

    Parameters
    ----------
    w, g, square_avg : arrays of one shape
        The parameter and the running mean ``v`` of ``g**2`` are updated.
    grad_avg : array shaped like ``w``, or None
        The running mean ``m`` of ``g`` (centred RMSProp), else ``None``.
    buf : array shaped like ``w``, or None
        The momentum buffer ``b``, else ``None``.
    lr, alpha, eps, weight_decay, momentum : float
    """
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g)
    xp = get_namespace(w)
    square_avg[...] = alpha * square_avg + (1 - alpha) * (g * g)
    if grad_avg is not None:
        # m = alpha m + (1 - alpha) g, rounded as torch's lerp
        grad_avg[...] = grad_avg + (1 - alpha) * (g - grad_avg)
        denominator = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        denominator = xp.sqrt(square_avg) + eps
    u = g / denominator
    if buf is not None:
        buf[...] = momentum * buf + u
        u = buf
    w -= lr * u


def adam_update(w, g, m, v, v_max, *, lr: float, beta1: float, beta2: float,
                eps: float, weight_decay: float, decoupled_weight_decay: float,
                step: int) -> None:
    """One Adam step in place, with bias correction (PyTorch's form).

    Parameters
    ----------
    w, g, m, v : arrays of one shape
        The parameter and the moment estimates ``m`` (of ``g``) and ``v`` (of
        ``g**2``) are updated, ``g`` is left as it is.
    v_max : array shaped like ``w``, or None
        AMSGrad's running maximum of ``v`` (it replaces ``v`` in the
        denominator), else ``None``.
    lr, beta1, beta2, eps : float
    weight_decay : float
        L2 penalty added to ``g``.
    decoupled_weight_decay : float
        AdamW's decay, applied to ``w`` before the step.
    step : int
        This parameter's step count ``t``, this step included.
    """
    if decoupled_weight_decay:
        decay_weights(w, lr, decoupled_weight_decay)
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g)
    xp = get_namespace(w)
    m[...] = m + (1 - beta1) * (g - m)  # beta1 m + (1 - beta1) g, as torch's lerp
    v[...] = beta2 * v + (1 - beta2) * (g * g)
    if v_max is not None:
        v_max[...] = xp.maximum(v_max, v)
        v = v_max
    # lr / (1 - beta1**t) * m / (sqrt(v) / c + eps) with c = sqrt(1 - beta2**t)
    # (the bias corrections), as m / (sqrt(v) + eps c) times lr c / (1 - beta1**t)
    c = math.sqrt(1 - beta2**step)
    w -= m / (xp.sqrt(v) + eps * c) * (lr / (1 - beta1**step) * c)


# --- a parameter group: a registered kernel, else the rule parameter by parameter ----------------


def sgd_step(params: list, grads: list, momentum_buffers: list, firsts: list, *, lr: float, weight_decay: float,
             momentum: float, dampening: float, nesterov: bool) -> None:
    """:func:`sgd_update` on every parameter of a group (lists of equal length; ``firsts`` of bools)."""
    kernel = kernels.lookup("sgd_step", get_namespace(*params))
    options = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, dampening=dampening, nesterov=nesterov)
    if kernel is not None:
        return kernel(params, grads, momentum_buffers, firsts, **options)
    for w, g, buf, first in zip(params, grads, momentum_buffers, firsts):
        sgd_update(w, g, buf, first=first, **options)


def adagrad_step(params: list, grads: list, sums: list, steps: list, *, lr: float, lr_decay: float,
                 weight_decay: float, eps: float) -> None:
    """:func:`adagrad_update` on every parameter of a group, at ``lr / (1 + (t - 1) lr_decay)`` for step ``t``."""
    kernel = kernels.lookup("adagrad_step", get_namespace(*params))
    if kernel is not None:
        return kernel(params, grads, sums, steps, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
    for w, g, total, step in zip(params, grads, sums, steps):
        adagrad_update(w, g, total, lr=lr / (1 + (step - 1) * lr_decay), weight_decay=weight_decay, eps=eps)


def rmsprop_step(params: list, grads: list, square_avgs: list, grad_avgs: list, momentum_buffers: list, *,
                 lr: float, alpha: float, eps: float, weight_decay: float, momentum: float) -> None:
    """:func:`rmsprop_update` on every parameter of a group (``None`` entries where a buffer is not used)."""
    kernel = kernels.lookup("rmsprop_step", get_namespace(*params))
    options = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    if kernel is not None:
        return kernel(params, grads, square_avgs, grad_avgs, momentum_buffers, **options)
    for w, g, square_avg, grad_avg, buf in zip(params, grads, square_avgs, grad_avgs, momentum_buffers):
        rmsprop_update(w, g, square_avg, grad_avg, buf, **options)


def adam_step(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: list, steps: list,
              *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
              decoupled_weight_decay: float) -> None:
    """:func:`adam_update` on every parameter of a group (``max_exp_avg_sqs``: ``None`` entries without amsgrad)."""
    kernel = kernels.lookup("adam_step", get_namespace(*params))
    options = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                   decoupled_weight_decay=decoupled_weight_decay)
    if kernel is not None:
        return kernel(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, **options)
    for w, g, m, v, v_max, step in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps):
        adam_update(w, g, m, v, v_max, step=step, **options)


# --- the optimizers ------------------------------------------------------------------------------


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's form, :func:`sgd_update`)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        check_positive("momentum", group["momentum"], allow_zero=True)
        check_positive("dampening", group["dampening"], allow_zero=True)
        check_positive("weight_decay", group["weight_decay"], allow_zero=True)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def _step_group(self, params, grads, states, steps, group):
        momentum = group["momentum"]
        firsts = [bool(momentum) and "momentum_buffer" not in state for state in states]
        sgd_step(
            params, grads, self._buffers(states, "momentum_buffer", params, wanted=bool(momentum)), firsts,
            lr=group["lr"], weight_decay=group["weight_decay"], momentum=momentum,
            dampening=group["dampening"], nesterov=group["nesterov"],
        )


class Adagrad(Optimizer):
    """AdaGrad (:func:`adagrad_update`) with PyTorch's learning-rate decay ``lr / (1 + (t - 1) lr_decay)``."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value"):
            check_positive(name, group[name], allow_zero=True)
        check_positive("eps", group["eps"])

    def _step_group(self, params, grads, states, steps, group):
        sums = self._buffers(states, "sum", params, group["initial_accumulator_value"])
        adagrad_step(params, grads, sums, steps, lr=group["lr"], lr_decay=group["lr_decay"],
                     weight_decay=group["weight_decay"], eps=group["eps"])


class RMSprop(Optimizer):
    """RMSProp (Hinton's lecture 6e) in PyTorch's form (:func:`rmsprop_update`), optionally centred."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        check_in_range("alpha", group["alpha"], 0.0, 1.0, closed="both")
        check_positive("eps", group["eps"])
        check_positive("weight_decay", group["weight_decay"], allow_zero=True)
        check_positive("momentum", group["momentum"], allow_zero=True)

    def _step_group(self, params, grads, states, steps, group):
        momentum = group["momentum"]
        rmsprop_step(
            params, grads,
            self._buffers(states, "square_avg", params),
            self._buffers(states, "grad_avg", params, wanted=group["centered"]),
            self._buffers(states, "momentum_buffer", params, wanted=bool(momentum)),
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=momentum,
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, in PyTorch's form (:func:`adam_update`).

    With ``amsgrad`` the running maximum of ``v`` replaces ``v`` in the
    denominator. ``weight_decay`` is an L2 penalty added to ``g`` (see
    :class:`AdamW` for decoupled decay).
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        group["betas"] = _check_betas(group["betas"])
        check_positive("eps", group["eps"])
        check_positive("weight_decay", group["weight_decay"], allow_zero=True)

    def _step_group(self, params, grads, states, steps, group):
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        decoupled = self.decoupled_weight_decay
        adam_step(
            params, grads,
            self._buffers(states, "exp_avg", params),
            self._buffers(states, "exp_avg_sq", params),
            self._buffers(states, "max_exp_avg_sq", params, wanted=group["amsgrad"]),
            steps, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=0.0 if decoupled else weight_decay,
            decoupled_weight_decay=weight_decay if decoupled else 0.0,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    The weights shrink by ``1 - lr weight_decay`` before the Adam step on the
    plain gradient; PyTorch's default ``weight_decay`` is 0.01.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
