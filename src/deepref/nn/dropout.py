"""Dropout: random zeroing of activations during training.

During training each activation is kept with probability ``q = 1 - p`` and
zeroed otherwise, independently: ``out = x * m`` with a random mask ``m``.
Two conventions keep the expected activation the same in training and at
test time:

* *vanilla* dropout keeps ``m`` in ``{0, 1}`` (so ``E[out] = q x``) and scales
  the activations by ``q`` at test time;
* *inverted* dropout divides the mask by ``q`` during training
  (``m`` in ``{0, 1/q}``, so ``E[out] = x``) and leaves test time untouched.
  This is what PyTorch does and what :class:`Dropout` uses by default.

The backward pass of ``out = x * m`` with a fixed mask is ``dx = dout * m``:
dropped units pass no gradient.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import Generator
from ..validation import check_in_range, check_same_shape
from .init import as_generator
from .module import Module


class DropoutCache(NamedTuple):
    mask: object


def dropout_mask(
    shape,
    p: float,
    rng: Generator | int | None = None,
    inverted: bool = True,
    dtype=None,
    like=None,
):
    """Random keep-mask for dropout probability ``p``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the activations, e.g. ``(N, D)``.
    p : float
        Probability of dropping a unit, in ``[0, 1)``.
    rng : Generator, int or None
        Source of randomness (a :class:`~deepref.backend.Generator` or a seed).
    inverted : bool
        If true the kept entries equal ``1 / (1 - p)``, otherwise ``1``.
    dtype : dtype, optional
        Floating dtype of the mask (the default float unless given).
    like : array, optional
        The mask is drawn on this array's backend and device (the current backend otherwise).

    Returns
    -------
    mask : array of ``shape``
    """
    check_in_range("dropout probability p", p, 0.0, 1.0)
    keep = 1.0 - p
    mask = as_generator(rng).bernoulli(keep, tuple(shape), dtype=dtype, like=like)
    return mask / keep if inverted else mask


def dropout_forward(x, mask):
    """Apply a dropout mask: ``out = x * mask``.

    Parameters
    ----------
    x : array, any shape
    mask : array, shape of ``x``
        From :func:`dropout_mask`.

    Returns
    -------
    out : array, shape of ``x``
    cache : DropoutCache
    """
    check_same_shape("x", x, "mask", mask)
    return x * mask, DropoutCache(mask)


def dropout_backward(dout, cache: DropoutCache):
    """``dx = dout * mask``, shaped like ``dout``."""
    check_same_shape("mask", cache.mask, "dout", dout)
    return dout * cache.mask


class Dropout(Module):
    """Dropout layer: random masks in training mode, deterministic in eval mode.

    Parameters
    ----------
    p : float
        Probability of dropping each unit, in ``[0, 1)``.
    inverted : bool
        Inverted dropout (default): scale by ``1 / (1 - p)`` during training and
        do nothing in eval mode. With ``False``, vanilla dropout: unscaled mask
        during training, activations multiplied by ``1 - p`` in eval mode.
    seed : int or Generator, optional
        Source of the masks (same seed, same masks).

    Examples
    --------
    >>> import numpy as np
    >>> layer = Dropout(0.5, seed=0).eval()
    >>> layer(np.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, inverted: bool = True, seed=None):
        check_in_range("dropout probability p", p, 0.0, 1.0)
        self.p, self.inverted = p, inverted
        self.rng = as_generator(seed)
        self._cache = None

    def forward(self, x):
        if self.training:
            mask = dropout_mask(
                x.shape, self.p, self.rng, self.inverted, dtype=x.dtype, like=x
            )
            out, self._cache = dropout_forward(x, mask)
            return out
        self._cache = None
        return x if self.inverted else x * (1.0 - self.p)

    def backward(self, dout):
        if self.training:
            return dropout_backward(dout, self.saved_cache())
        return dout if self.inverted else dout * (1.0 - self.p)

    def __repr__(self) -> str:
        kind = "inverted" if self.inverted else "vanilla"
        return f"Dropout(p={self.p}, {kind})"
