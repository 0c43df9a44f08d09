"""Full-batch L2-regularised logistic regression on a flat parameter vector.

The model of a single sigmoid neuron, ``p = sigmoid(x @ w + b)``, trained with
the mean binary cross-entropy plus an L2 penalty on the weights (not on the
bias):

``J(theta) = mean_n BCE(x_n @ w + b, y_n) + (l2 / 2) ||w||**2``, with
``theta = concat(w, b)`` of shape ``(D + 1,)``.

By the chain rule (:func:`~deepref.nn.bce_with_logits_backward`, then
:func:`~deepref.nn.linear_backward`) the gradient is
``grad_w = x.T @ (p - y) / N + l2 w`` and ``grad_b = mean(p - y)``; the
Hessian is ``X1.T @ diag(p (1 - p)) @ X1 / N + l2 diag(1, ..., 1, 0)`` with
``X1 = [x, 1]``. ``p (1 - p) > 0``, so the Hessian is positive semi-definite
(positive definite when ``l2 > 0`` and ``X1`` has full column rank): the
problem is convex, and strictly so with the penalty.

scikit-learn's ``LogisticRegression(C=C)`` minimises
``0.5 ||w||**2 + C sum_n BCE_n``, the same problem as ``l2 = 1 / (C N)``.

>>> import numpy as np
>>> from deepref.backend import asarray
>>> problem = LogisticRegressionProblem(asarray(np.array([[0.0], [1.0]])), asarray(np.array([0.0, 1.0])), l2=0.1)
>>> round(float(problem.value(asarray(np.zeros(2)))), 6)  # log 2 at theta = 0
0.693147
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import data
from ..backend import get_namespace
from ..nn.activations import sigmoid
from ..nn.linear import linear_backward, linear_forward
from ..nn.losses import bce_with_logits_backward, bce_with_logits_forward
from ..validation import check_choice, check_ndim, check_positive, check_shape


class LogisticRegressionProblem:
    """Loss, gradient and Hessian of L2-regularised logistic regression as functions of ``theta``.

    Parameters
    ----------
    x : (N, D) float array
        Features.
    y : (N,) float array
        Targets in ``{0, 1}`` (as floats of ``x``'s dtype).
    l2 : float
        Penalty on the weights, ``>= 0``; ``1 / (C N)`` for scikit-learn's ``C``.
    """

    def __init__(self, x, y, l2: float = 0.0):
        check_ndim("x", x, 2, "(N, D)")
        check_shape("y", y, (x.shape[0],))
        check_positive("l2", l2, allow_zero=True)
        self.x, self.y, self.l2 = x, y, l2

    @property
    def dim(self) -> int:
        """Length ``D + 1`` of ``theta``."""
        return self.x.shape[1] + 1

    def split(self, theta):
        """``theta`` (D + 1,) -> weight (D, 1) and bias (1,), the shapes of :func:`~deepref.nn.linear_forward`."""
        check_shape("theta", theta, (self.dim,))
        xp = get_namespace(theta)
        return xp.reshape(theta[:-1], (self.dim - 1, 1)), theta[-1:]

    def _forward(self, theta):
        w, b = self.split(theta)
        logits, linear_cache = linear_forward(self.x, w, b)
        loss, bce_cache = bce_with_logits_forward(logits[:, 0], self.y)
        return w, loss, linear_cache, bce_cache

    def value(self, theta) -> float:
        """``J(theta)``."""
        w, loss, _, _ = self._forward(theta)
        xp = get_namespace(theta)
        return float(loss + 0.5 * self.l2 * xp.sum(w * w))

    def gradient(self, theta):
        """``grad J(theta)``, shape (D + 1,): the backward passes of the BCE loss and the linear layer."""
        xp = get_namespace(theta)
        w, _, linear_cache, bce_cache = self._forward(theta)
        dlogits = bce_with_logits_backward(1.0, bce_cache)
        _, dw, db = linear_backward(xp.reshape(dlogits, (-1, 1)), linear_cache)
        return xp.concat([dw[:, 0] + self.l2 * w[:, 0], db])

    def hessian(self, theta):
        """``X1.T diag(p (1 - p)) X1 / N + l2 diag(1, ..., 1, 0)``, shape (D + 1, D + 1)."""
        xp = get_namespace(theta)
        x1 = self._with_ones()
        p = self.predict_proba(theta)
        curvature = p * (1.0 - p) / self.x.shape[0]
        weights = xp.full((self.dim - 1,), self.l2, dtype=theta.dtype)
        penalty = xp.concat([weights, xp.zeros(1, dtype=theta.dtype)])
        return x1.T @ (curvature[:, None] * x1) + _diag(xp, penalty)

    def predict_proba(self, theta, x=None):
        """``sigmoid(x @ w + b)`` for the training features (or ``x``, (M, D)): shape (N,) or (M,)."""
        w, b = self.split(theta)
        logits, _ = linear_forward(self.x if x is None else x, w, b)
        return sigmoid(logits[:, 0])

    def _with_ones(self):
        xp = get_namespace(self.x)
        return xp.concat([self.x, xp.ones((self.x.shape[0], 1), dtype=self.x.dtype)], axis=1)


def _diag(xp, v):
    """Diagonal matrix with ``v`` (K,) on its diagonal (the standard has no ``diag``)."""
    return xp.eye(v.shape[0], dtype=v.dtype) * v[None, :]


def iris_binary_task(negative_class: int, features: Sequence[int]):
    """One of the chapter's binary Iris problems: ``negative_class`` against virginica.

    Parameters
    ----------
    negative_class : {0, 1}
        The species labelled 0: 0 (setosa) or 1 (versicolor); virginica is labelled 1.
    features : sequence of int
        Columns of the measurements to keep, each in 0..3 (sepal length, sepal width,
        petal length, petal width, in cm).

    Returns
    -------
    x : (100, F) float64 ndarray
        The kept measurements of the two species, standardised: zero mean and unit
        standard deviation per column.
    y : (100,) float64 ndarray
        1.0 for virginica, 0.0 for the other species.
    scaling : tuple of two (F,) ndarrays
        ``(mean, std)`` of the raw measurements, to map ``x`` back to cm.

    >>> x, y, (mean, std) = iris_binary_task(0, [0, 1])
    >>> x.shape, int(y.sum()), bool(abs(x.mean(axis=0)).max() < 1e-12)
    ((100, 2), 50, True)
    """
    check_choice("negative_class", negative_class, (0, 1))
    features = list(features)
    for feature in features:
        check_choice("feature", feature, range(4))
    iris_x, iris_y = data.load_iris()
    keep = (iris_y == negative_class) | (iris_y == 2)
    x = iris_x[keep][:, features]
    mean, std = x.mean(axis=0), x.std(axis=0)
    return (x - mean) / std, (iris_y[keep] == 2).astype(np.float64), (mean, std)
