"""Weight penalties (L1, L2, elastic net) and the proximal step for L1.

With strength ``lam`` and mixing ``l1_ratio = a`` the elastic-net penalty of a
weight array ``w`` is

.. math:: R(w) = \\lambda \\Big( a \\lVert w \\rVert_1 + \\frac{1 - a}{2} \\lVert w \\rVert_2^2 \\Big),

so ``a = 1`` is the lasso (L1) and ``a = 0`` is ridge (L2), whose gradient
``lam * w`` is exactly PyTorch's ``weight_decay = lam``. The L1 term is not
differentiable at 0; its sub-gradient ``lam * sign(w)`` makes weights
oscillate around zero rather than reach it. The *proximal* step instead
solves, after an ordinary gradient step with learning rate ``eta``,

.. math::

   \\begin{aligned}
   \\operatorname{prox}(v) &= \\arg\\min_w \\tfrac{1}{2}\\lVert w - v\\rVert^2 + \\eta\\lambda a\\lVert w\\rVert_1 \\\\
                           &= \\operatorname{sign}(v) \\max(|v| - \\eta\\lambda a, 0),
   \\end{aligned}

the soft threshold, which sets small weights exactly to zero.

:class:`Penalized` plugs a penalty into any optimizer (and so into
:func:`deepref.train.fit`): its ``step()`` adds the penalty's gradient to each
penalised parameter's ``.grad``, calls the optimizer, then applies the
proximal step if asked.

>>> import numpy as np
>>> soft_threshold(np.array([-2.0, -0.5, 0.25, 3.0]), 1.0).tolist()
[-1.0, -0.0, 0.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Iterable

from ..backend import get_namespace
from ..nn.module import Parameter
from ..optim.weight_decay import weight_decay_gradient, weight_decay_penalty
from ..validation import check_in_range, check_positive


def _check(strength: float, l1_ratio: float) -> None:
    check_positive("strength", strength, allow_zero=True)
    check_in_range("l1_ratio", l1_ratio, 0.0, 1.0, closed="both")


def elastic_net_penalty(w, strength: float, l1_ratio: float = 0.5) -> float:
    """``strength * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||_2^2)`` of an array ``w`` (any shape)."""
    _check(strength, l1_ratio)
    xp = get_namespace(w)
    l1 = float(xp.sum(xp.abs(w)))
    return strength * l1_ratio * l1 + weight_decay_penalty(w, strength * (1.0 - l1_ratio))


def elastic_net_gradient(w, strength: float, l1_ratio: float = 0.5):
    """(Sub-)gradient of :func:`elastic_net_penalty`: ``strength * (l1_ratio * sign(w) + (1 - l1_ratio) * w)``.

    Returns an array shaped like ``w`` (the sub-gradient 0 is taken at ``w = 0``).
    """
    _check(strength, l1_ratio)
    xp = get_namespace(w)
    return weight_decay_gradient(w, strength * (1.0 - l1_ratio), strength * l1_ratio * xp.sign(w))


def l1_penalty(w, strength: float) -> float:
    """Lasso penalty ``strength * ||w||_1``."""
    return elastic_net_penalty(w, strength, l1_ratio=1.0)


def l2_penalty(w, strength: float) -> float:
    """Ridge penalty ``strength / 2 * ||w||_2^2`` (its gradient is PyTorch's ``weight_decay``)."""
    return elastic_net_penalty(w, strength, l1_ratio=0.0)


def soft_threshold(v, threshold: float):
    """Proximal operator of ``threshold * ||w||_1``: ``sign(v) * max(|v| - threshold, 0)`` element-wise."""
    check_positive("threshold", threshold, allow_zero=True)
    xp = get_namespace(v)
    return xp.sign(v) * xp.maximum(xp.abs(v) - threshold, 0.0)


def weight_parameters(params: Iterable[Parameter]) -> list[Parameter]:
    """The parameters with at least 2 dimensions: weights, not biases or normalisation scales."""
    return [p for p in params if len(p.shape) >= 2]


class Penalized:
    """An optimizer with an elastic-net penalty on some of its parameters.

    ``step()`` adds the penalty's gradient to each penalised parameter's
    ``.grad``, calls ``optimizer.step()`` and, with ``proximal=True``, replaces
    the L1 part of the gradient by the soft-threshold step
    ``w <- soft_threshold(w, lr * strength * l1_ratio)``. It is exact for SGD
    (proximal gradient descent, ISTA); with adaptive optimizers it is the usual
    heuristic, which still produces exact zeros.

    Parameters
    ----------
    optimizer : Optimizer
        From :mod:`deepref.optim`; its ``lr`` is used for the proximal threshold.
    strength : float
        ``lambda >= 0``.
    l1_ratio : float
        Share of L1 in ``[0, 1]``: 0 is L2 (ridge), 1 is L1 (lasso).
    proximal : bool
        Treat the L1 part with the soft threshold instead of its sub-gradient.
    params : iterable of Parameter, optional
        Penalised parameters; by default :func:`weight_parameters` of the optimizer's.
    """

    def __init__(self, optimizer, strength: float, l1_ratio: float = 0.0, proximal: bool = False, params=None):
        _check(strength, l1_ratio)
        self.optimizer = optimizer
        self.strength, self.l1_ratio, self.proximal = strength, l1_ratio, proximal
        self.penalized = weight_parameters(optimizer.params) if params is None else list(params)
        known = {id(p) for p in optimizer.params}
        if any(id(p) not in known for p in self.penalized):
            raise ValueError("every penalised parameter must be one of the optimizer's parameters")

    @property
    def params(self) -> list[Parameter]:
        return self.optimizer.params

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def penalty(self) -> float:
        """Current value of the penalty summed over the penalised parameters."""
        return sum(elastic_net_penalty(p.data, self.strength, self.l1_ratio) for p in self.penalized)

    def step(self) -> None:
        """Penalty gradients, the optimizer's step, then the proximal step if enabled."""
        if self.proximal:  # only the L2 part goes through the gradient
            strength, ratio = self.strength * (1.0 - self.l1_ratio), 0.0
        else:
            strength, ratio = self.strength, self.l1_ratio
        for p in self.penalized:
            if p.grad is None:
                raise ValueError(
                    f"parameter of shape {p.shape} has no gradient: "
                    "run the backward pass before step()"
                )
            p.grad = p.grad + elastic_net_gradient(p.data, strength, ratio)
        self.optimizer.step()
        if self.proximal:
            threshold = self.optimizer.lr * self.strength * self.l1_ratio
            for p in self.penalized:
                p.data = soft_threshold(p.data, threshold)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, saved: dict) -> None:
        self.optimizer.load_state_dict(saved)
