"""Losses, each a forward/backward pair returning the mean over the batch.

Softmax cross-entropy from logits ``z`` (N, C) and labels ``y`` (N,):
``L = mean_n (logsumexp(z_n) - z_{n, y_n})``, computed after subtracting each
row's maximum so ``exp`` cannot overflow; ``dL/dz = (softmax(z) - onehot(y)) / N``.

Binary cross-entropy from logits: with ``p = sigmoid(z)``,
``-y log p - (1 - y) log(1 - p) = max(z, 0) - z y + log(1 + exp(-|z|))``
(the stable form); ``dL/dz = (p - y) / N``.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import kernels
from ..backend import get_namespace
from ..validation import check_choice, check_ndim, check_same_shape, check_shape, reads_values
from .activations import sigmoid
from .module import Module, size_of


def log_softmax(z, axis: int = -1):
    """``z - logsumexp(z)`` along ``axis``, stable for large logits."""
    xp = get_namespace(z)
    shifted = z - xp.max(z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def softmax(z, axis: int = -1):
    """Probabilities ``exp(z) / sum(exp(z))`` along ``axis``, stable for large logits."""
    return get_namespace(z).exp(log_softmax(z, axis))


def one_hot(y, num_classes: int, dtype):
    """``(N,)`` integer labels to an ``(N, num_classes)`` array of 0/1 in ``dtype``."""
    xp = get_namespace(y)
    return xp.astype(y[:, None] == xp.arange(num_classes, dtype=y.dtype)[None, :], dtype)


def take_labels(z, y):
    """``z[n, y[n]]`` for every row: the entry of each row's label, shape (N,), by a gather (no one-hot).

    Parameters
    ----------
    z : (N, C) array
    y : (N,) integer array
    """
    xp = get_namespace(z, y)
    return xp.take_along_axis(z, xp.reshape(y, (-1, 1)), axis=1)[:, 0]


class CrossEntropyCache(NamedTuple):
    exp_shifted: object
    """(N, C) ``exp(z - max_c z)``, the unnormalised probabilities."""
    row_sum: object
    """(N, 1) their row sums."""
    y: object


def _check_labels(z, y) -> None:
    check_ndim("logits", z, 2, "(N, C)")
    if z.shape[0] == 0:
        raise ValueError("cross-entropy of an empty batch: the logits have shape (0, C), and the mean over no "
                         "examples is undefined; pass at least one example")
    check_shape("labels", y, (z.shape[0],))
    xp = get_namespace(y)
    if not xp.isdtype(y.dtype, "integral"):
        raise TypeError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.shape[0] and reads_values(y) and (int(xp.min(y)) < 0 or int(xp.max(y)) >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got values in [{int(xp.min(y))}, {int(xp.max(y))}]")


def softmax_cross_entropy_forward(z, y):
    """Mean softmax cross-entropy.

    One pass of ``exp``: with ``s = z - max_c z`` per row,
    ``L = mean_n (log sum_c exp(s_n) - s_{n, y_n})``; the label's entry is
    gathered by index and ``exp(s)`` is kept for the backward pass.

    Parameters
    ----------
    z : (N, C) array
        Logits.
    y : (N,) integer array
        Class labels in ``[0, C)``.

    Returns
    -------
    loss : 0-D array
    cache : CrossEntropyCache
    """
    _check_labels(z, y)
    xp = get_namespace(z)
    kernel = kernels.lookup("softmax_cross_entropy_forward", xp)
    if kernel is not None:
        return kernel(z, y)
    shifted = z - xp.max(z, axis=1, keepdims=True)
    target = take_labels(shifted, y)
    exp_shifted = xp.exp(shifted)
    row_sum = xp.sum(exp_shifted, axis=1, keepdims=True)
    loss = (xp.sum(xp.log(row_sum)) - xp.sum(target)) / z.shape[0]
    return loss, CrossEntropyCache(exp_shifted, row_sum, y)


def softmax_cross_entropy_backward(dloss, cache: CrossEntropyCache):
    """``dz = dloss * (softmax(z) - onehot(y)) / N``, shape (N, C)."""
    xp = get_namespace(cache.exp_shifted)
    kernel = kernels.lookup("softmax_cross_entropy_backward", xp)
    if kernel is not None:
        return kernel(dloss, cache)
    n, classes = cache.exp_shifted.shape
    probs = cache.exp_shifted / cache.row_sum
    return dloss * (probs - one_hot(cache.y, classes, probs.dtype)) / n


class BCECache(NamedTuple):
    probs: object
    y: object


def bce_with_logits_forward(z, y):
    """Mean binary cross-entropy from logits.

    Parameters
    ----------
    z : array, any shape
        Logits.
    y : array, shape of ``z``
        Targets in ``[0, 1]``.

    Returns
    -------
    loss : 0-D array
    cache : BCECache
    """
    check_same_shape("logits", z, "targets", y)
    xp = get_namespace(z, y)
    if reads_values(y) and not bool(xp.all((y >= 0.0) & (y <= 1.0))):
        raise ValueError(
            f"BCE targets must lie in [0, 1] (probabilities or 0/1 labels); got values in "
            f"[{float(xp.min(y))}, {float(xp.max(y))}]"
        )
    per_element = xp.maximum(z, 0.0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
    return xp.mean(per_element), BCECache(sigmoid(z), y)


def bce_with_logits_backward(dloss, cache: BCECache):
    """``dz = dloss * (sigmoid(z) - y) / size``."""
    return dloss * (cache.probs - cache.y) / size_of(cache.y.shape)


class DifferenceCache(NamedTuple):
    diff: object


def mse_forward(pred, target):
    """Mean squared error ``mean((pred - target)**2)`` over all elements (shapes must match)."""
    check_same_shape("pred", pred, "target", target)
    diff = pred - target
    return get_namespace(diff).mean(diff**2), DifferenceCache(diff)


def mse_backward(dloss, cache: DifferenceCache):
    """``dpred = dloss * 2 (pred - target) / size``."""
    return dloss * 2.0 * cache.diff / size_of(cache.diff.shape)


def l1_forward(pred, target):
    """Mean absolute error ``mean(|pred - target|)`` over all elements."""
    check_same_shape("pred", pred, "target", target)
    diff = pred - target
    return get_namespace(diff).mean(get_namespace(diff).abs(diff)), DifferenceCache(diff)


def l1_backward(dloss, cache: DifferenceCache):
    """``dpred = dloss * sign(pred - target) / size`` (sub-gradient 0 at equality)."""
    return dloss * get_namespace(cache.diff).sign(cache.diff) / size_of(cache.diff.shape)


REDUCTIONS = ("mean", "sum")
"""What a loss module does with the per-example terms: their mean (the default) or their sum."""


class Loss(Module):
    """A loss as a module: ``forward(pred, target)`` returns a 0-D array, ``backward(dloss=1.0)`` returns ``dpred``.

    Parameters
    ----------
    reduction : {"mean", "sum"}
        The mean of the per-example terms (the default, as in PyTorch) or
        their sum (``mean`` times the number of terms).

    The backward pass takes no loss tensor: ``loss_fn.backward()`` returns
    the gradient with respect to ``pred`` of the last ``forward``, and
    ``model.backward(loss_fn.backward())`` carries it through the model (the
    two steps of PyTorch's ``loss.backward()``).
    """

    _pair: tuple

    def __init__(self, reduction: str = "mean"):
        check_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction

    def _terms(self, pred) -> int:
        """Number of terms the mean runs over (every element; classification losses override)."""
        return size_of(pred.shape)

    def forward(self, pred, target):
        """The loss of ``pred`` against ``target`` (shapes: see the class), a 0-D array.

        The values needed by :meth:`backward` are kept on the module.
        """
        loss, cache = type(self)._pair[0](pred, target)
        self._cache = (cache, self._terms(pred) if self.reduction == "sum" else 1)
        return loss * self._cache[1] if self.reduction == "sum" else loss

    def backward(self, dloss=1.0):
        """Gradient of the last :meth:`forward` with respect to ``pred`` (shaped like ``pred``).

        Parameters
        ----------
        dloss : float or 0-D array
            Gradient of the final objective with respect to this loss (1 when
            the loss is the objective).
        """
        cache, scale = self.saved_cache()
        return type(self)._pair[1](dloss * scale, cache)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + (f"reduction={self.reduction!r})" if self.reduction != "mean" else ")")


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy from logits ``pred`` (N, C) and integer labels ``target`` (N,).

    PyTorch's ``CrossEntropyLoss`` (also available under that name), with the
    mean over the ``N`` examples; an empty batch is an error.
    """

    _pair = (softmax_cross_entropy_forward, softmax_cross_entropy_backward)

    def _terms(self, pred) -> int:
        return pred.shape[0]


CrossEntropyLoss = SoftmaxCrossEntropy
"""PyTorch's name for :class:`SoftmaxCrossEntropy`."""


class BCEWithLogits(Loss):
    """Binary cross-entropy from logits ``pred`` and targets in [0, 1] of their shape (``BCEWithLogitsLoss``)."""

    _pair = (bce_with_logits_forward, bce_with_logits_backward)


class MSELoss(Loss):
    """Mean squared error between ``pred`` and ``target`` of the same shape, over all elements."""

    _pair = (mse_forward, mse_backward)


class L1Loss(Loss):
    """Mean absolute error between ``pred`` and ``target`` of the same shape, over all elements."""

    _pair = (l1_forward, l1_backward)
