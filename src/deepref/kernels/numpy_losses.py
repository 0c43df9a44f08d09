"""NumPy kernels of softmax cross-entropy: ``exp`` and the gradient written into arrays already at hand.

The specification (:func:`deepref.nn.losses.softmax_cross_entropy_forward`
and ``_backward``) allocates ``exp(s)``, the probabilities, a one-hot matrix
and the gradient, each ``(N, C)``. The kernels take ``exp`` in place of the
shifted logits and build the gradient as one scaled copy of the cached
``exp(s)``, ``exp(s) * (dloss / (N sum))``, from which ``dloss / N`` is
subtracted at each row's label in place. The forward pass gives the
specification's numbers exactly; the gradient differs by rounding (one
division by ``N sum`` instead of a division by ``sum`` and then by ``N``).
"""

from __future__ import annotations

import numpy as np

from ..nn.losses import CrossEntropyCache, take_labels
from . import register


@register("softmax_cross_entropy_forward", "numpy")
def softmax_cross_entropy_forward(z, y):
    """:func:`deepref.nn.losses.softmax_cross_entropy_forward`, ``exp`` in place."""
    shifted = z - np.max(z, axis=1, keepdims=True)
    target = take_labels(shifted, y)
    exp_shifted = np.exp(shifted, out=shifted)
    row_sum = np.sum(exp_shifted, axis=1, keepdims=True)
    loss = (np.sum(np.log(row_sum)) - np.sum(target)) / z.shape[0]
    return loss, CrossEntropyCache(exp_shifted, row_sum, y)


@register("softmax_cross_entropy_backward", "numpy")
def softmax_cross_entropy_backward(dloss, cache: CrossEntropyCache):
    """:func:`deepref.nn.losses.softmax_cross_entropy_backward`, one new array."""
    n = cache.exp_shifted.shape[0]
    dz = cache.exp_shifted * (dloss / (n * cache.row_sum))
    dz[np.arange(n), cache.y] -= dloss / n
    return dz
