"""The weight-decay rule, shared by the optimizers, :mod:`deepref.generalization` and :mod:`deepref.landscape`.

Weight decay ``lam`` as an L2 penalty adds

.. math:: R(w) = \\frac{\\lambda}{2} \\lVert w \\rVert_2^2, \\qquad \\nabla R(w) = \\lambda w

to the loss: the gradient becomes ``g + lam * w``. This is what
``weight_decay`` means in ``torch.optim.SGD``, ``Adam``, ``RMSprop`` and
``Adagrad``. *Decoupled* decay (AdamW, Loshchilov & Hutter 2019) instead
shrinks the weights directly, ``w <- (1 - lr * lam) w``, outside the adaptive
scaling; for plain SGD the two coincide.

>>> import numpy as np
>>> w, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
>>> weight_decay_gradient(w, 0.1, g).tolist()
[0.6, 0.3]
>>> weight_decay_penalty(w, 0.1)
0.25
"""

from __future__ import annotations

from ..backend import get_namespace


def weight_decay_penalty(w, weight_decay: float) -> float:
    """``weight_decay / 2 * ||w||_2^2`` of an array ``w`` of any shape."""
    xp = get_namespace(w)
    return 0.5 * weight_decay * float(xp.sum(w * w))


def weight_decay_gradient(w, weight_decay: float, grad=None):
    """``grad + weight_decay * w`` (``grad`` defaults to zero), the gradient with the L2 penalty.

    Parameters
    ----------
    w : array
    weight_decay : float
    grad : array shaped like ``w``, optional
        Left as it is.

    Returns
    -------
    array shaped like ``w``
    """
    return weight_decay * w if grad is None else grad + weight_decay * w


def decay_weights(w, lr: float, weight_decay: float) -> None:
    """Decoupled weight decay in place: ``w *= 1 - lr * weight_decay`` (AdamW)."""
    w *= 1.0 - lr * weight_decay
