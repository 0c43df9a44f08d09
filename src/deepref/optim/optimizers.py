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
and state stay float32. On NumPy the update runs in cache-sized chunks with
reused work arrays (see :mod:`deepref.optim.inplace`), so a step reads and
writes each array about once and allocates nothing. On CuPy, SGD, Adagrad,
RMSprop, Adam and AdamW (every option) step each float32 or float64
parameter with one fused CUDA kernel that reads and writes each array once
and rounds as the chain does (:mod:`deepref.optim.fused_cupy`);
non-contiguous arrays and other dtypes run the chain.

The update rules, with ``g`` the gradient (plus ``weight_decay * w`` where
that option is an L2 penalty, see :mod:`deepref.optim.weight_decay`), are the
ones ``torch.optim`` documents; where they differ from other common
formulations the book shows both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..backend import get_namespace, to_numpy
from ..nn.module import Parameter
from ..validation import check_in_range, check_positive
from .inplace import Scratch, copy_into, fused_on_cupy, into, run_chunked
from .weight_decay import decay_weights, weight_decay_gradient


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``step`` and saved state.

    Subclasses pass their hyperparameter defaults to ``__init__``, check a
    group's values in :meth:`check_group` and implement
    ``_update(param, grad, state, group, step)``, which updates ``param``
    (an array) and the arrays in ``state`` in place; ``step`` counts the
    updates this parameter has had, this one included.

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
        self._scratch = Scratch()
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
        self.step_count += 1
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.steps[index] += 1
                    self._update(p.data, p.grad, self.state[index], group, self.steps[index])
                index += 1

    def _update(self, w, g, state: dict, group: dict, step: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, kernel, arrays: dict, **scalars) -> None:
        """Apply an element-wise ``kernel`` in place (in chunks on NumPy, see :func:`run_chunked`).

        The kernel gets the arrays, two work arrays ``s`` and ``t``, the
        namespace ``xp`` and the ``scalars``.
        """
        run_chunked(kernel, arrays, 2, self._scratch, xp=get_namespace(arrays["w"]), **scalars)

    @staticmethod
    def _buffer(state: dict, key: str, like, fill: float = 0.0):
        """``state[key]``, created (filled with ``fill``) only when missing."""
        if key not in state:
            xp = get_namespace(like)
            state[key] = xp.full(like.shape, fill, dtype=like.dtype)
        return state[key]

    def state_dict(self) -> dict:
        """Group hyperparameters, step counts and per-parameter state (host NumPy arrays)."""
        return {
            "param_groups": [{k: v for k, v in g.items() if k != "params"} | {"size": len(g["params"])}
                             for g in self.param_groups],
            "step_count": self.step_count,
            "steps": list(self.steps),
            "state": [{k: to_numpy(v).copy() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, saved: dict) -> None:
        """Restore a :meth:`state_dict`; the groups, parameter count, shapes and dtypes must match."""
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
        args = ", ".join(f"{n}={v!r}" for n, v in self.defaults.items())
        groups = f", {len(self.param_groups)} parameter groups" if len(self.param_groups) > 1 else ""
        return f"{type(self).__name__}({args}{groups})"


def _check_betas(betas) -> tuple[float, float]:
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    check_in_range("beta1", betas[0], 0.0, 1.0)
    check_in_range("beta2", betas[1], 0.0, 1.0)
    return float(betas[0]), float(betas[1])


@fused_on_cupy("sgd")
def _sgd_kernel(w, g, buf, s, t, *, xp, lr, weight_decay, momentum, dampening, nesterov, first):
    """One SGD step on (chunks of) arrays, in place; ``buf`` is ``None`` without momentum."""
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g, out=t)
    if buf is not None:
        if first:
            copy_into(buf, g)
        else:
            buf *= momentum
            if dampening:
                into(s, xp.multiply, g, 1.0 - dampening)
                buf += s
            else:
                buf += g
        if nesterov:
            into(s, xp.multiply, buf, momentum)
            s += g
            g = s
        else:
            g = buf
    into(s, xp.multiply, g, lr)
    w -= s


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's form).

    ``g <- g + weight_decay * w``; with momentum ``mu``, a buffer
    ``b <- mu b + (1 - dampening) g`` (``b = g`` on the first step), then
    ``g <- g + mu b`` (Nesterov) or ``g <- b``; finally ``w <- w - lr g``.
    """

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

    def _update(self, w, g, state, group, step):
        momentum = group["momentum"]
        first = momentum and "momentum_buffer" not in state
        buf = self._buffer(state, "momentum_buffer", w) if momentum else None
        self._run(
            _sgd_kernel, dict(w=w, g=g, buf=buf), lr=group["lr"],
            weight_decay=group["weight_decay"], momentum=momentum,
            dampening=group["dampening"], nesterov=group["nesterov"], first=first,
        )


@fused_on_cupy("adagrad")
def _adagrad_kernel(w, g, total, s, t, *, xp, lr, weight_decay, eps):
    """``total += g**2``; ``w -= lr g / (sqrt(total) + eps)``, in place."""
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g, out=t)
    into(s, xp.multiply, g, g)
    total += s
    into(s, xp.sqrt, total)
    s += eps
    into(s, xp.divide, g, s)
    s *= lr
    w -= s


class Adagrad(Optimizer):
    """AdaGrad: ``s <- s + g**2``; ``w <- w - lr_t g / (sqrt(s) + eps)``, ``lr_t = lr / (1 + (t - 1) lr_decay)``."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def check_group(self, group: dict) -> None:
        super().check_group(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value"):
            check_positive(name, group[name], allow_zero=True)
        check_positive("eps", group["eps"])

    def _update(self, w, g, state, group, step):
        total = self._buffer(state, "sum", w, group["initial_accumulator_value"])
        lr_t = group["lr"] / (1.0 + (step - 1) * group["lr_decay"])
        self._run(_adagrad_kernel, dict(w=w, g=g, total=total), lr=lr_t,
                  weight_decay=group["weight_decay"], eps=group["eps"])


@fused_on_cupy("rmsprop")
def _rmsprop_kernel(w, g, square_avg, grad_avg, buf, s, t, *, xp, lr, alpha, eps, weight_decay, momentum):
    """One RMSProp step in place; ``grad_avg`` is ``None`` unless centred, ``buf`` unless momentum."""
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g, out=t)
    square_avg *= alpha
    into(s, xp.multiply, g, g)
    s *= 1.0 - alpha
    square_avg += s
    if grad_avg is not None:
        into(s, xp.subtract, g, grad_avg)
        s *= 1.0 - alpha
        grad_avg += s
        into(s, xp.multiply, grad_avg, grad_avg)
        into(s, xp.subtract, square_avg, s)
        into(s, xp.sqrt, s)
    else:
        into(s, xp.sqrt, square_avg)
    s += eps
    into(s, xp.divide, g, s)
    if buf is not None:
        buf *= momentum
        buf += s
        copy_into(s, buf)
    s *= lr
    w -= s


class RMSprop(Optimizer):
    """RMSProp (Hinton's lecture 6e), in PyTorch's form.

    ``v <- alpha v + (1 - alpha) g**2``; the denominator is
    ``sqrt(v) + eps`` (eps *outside* the root), or, when ``centered``,
    ``sqrt(v - m**2) + eps`` with ``m <- alpha m + (1 - alpha) g``. Without
    momentum ``w <- w - lr g / denom``; with it ``b <- mu b + g / denom`` and
    ``w <- w - lr b``.
    """

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

    def _update(self, w, g, state, group, step):
        momentum = group["momentum"]
        arrays = dict(
            w=w, g=g,
            square_avg=self._buffer(state, "square_avg", w),
            grad_avg=self._buffer(state, "grad_avg", w) if group["centered"] else None,
            buf=self._buffer(state, "momentum_buffer", w) if momentum else None,
        )
        self._run(
            _rmsprop_kernel, arrays, lr=group["lr"], alpha=group["alpha"],
            eps=group["eps"], weight_decay=group["weight_decay"], momentum=momentum,
        )


@fused_on_cupy("adam")
def _adam_kernel(w, g, m, v, v_max, s, t, *, xp, lr, decoupled_weight_decay, beta1, beta2, step_size,
                 bias2_sqrt, eps, weight_decay):
    """One Adam step in place: AdamW's decay, then L2 ``weight_decay`` into ``g``; ``v_max`` for amsgrad."""
    if decoupled_weight_decay:
        decay_weights(w, lr, decoupled_weight_decay)
    if weight_decay:
        g = weight_decay_gradient(w, weight_decay, g, out=t)
    into(s, xp.subtract, g, m)  # m <- m + (1 - beta1) (g - m), torch's lerp
    s *= 1.0 - beta1
    m += s
    v *= beta2  # v <- beta2 v + (1 - beta2) g**2
    into(s, xp.multiply, g, g)
    s *= 1.0 - beta2
    v += s
    if v_max is not None:
        into(v_max, xp.maximum, v_max, v)
        v = v_max
    # lr / (1 - b1**t) * m / (sqrt(v) / c + eps) with c = sqrt(1 - b2**t), as (lr c / (1 - b1**t)) m / (sqrt(v) + eps c)
    into(s, xp.sqrt, v)
    s += eps * bias2_sqrt
    into(s, xp.divide, m, s)
    s *= step_size * bias2_sqrt
    w -= s


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, in PyTorch's form.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g**2``,
    ``w <- w - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.
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

    def _update(self, w, g, state, group, step):
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        amsgrad = group["amsgrad"]
        arrays = dict(
            w=w, g=g,
            m=self._buffer(state, "exp_avg", w),
            v=self._buffer(state, "exp_avg_sq", w),
            v_max=self._buffer(state, "max_exp_avg_sq", w) if amsgrad else None,
        )
        decoupled = self.decoupled_weight_decay
        self._run(
            _adam_kernel, arrays, lr=lr,
            decoupled_weight_decay=weight_decay if decoupled else 0.0,
            beta1=beta1, beta2=beta2,
            step_size=lr / (1.0 - beta1**step), bias2_sqrt=math.sqrt(1.0 - beta2**step),
            eps=group["eps"], weight_decay=0.0 if decoupled else weight_decay,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    ``w <- w (1 - lr weight_decay)`` and then the Adam step on the plain
    gradient; PyTorch's default ``weight_decay`` is 0.01.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
