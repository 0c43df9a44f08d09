"""Weight initialisation.

For a linear layer ``y = x @ W`` with ``W`` of shape ``(fan_in, fan_out)``, and
independent zero-mean weights and inputs, ``Var(y_j) = fan_in Var(W) Var(x)``.
Keeping the variance of activations equal going forward asks for
``Var(W) = 1 / fan_in``; keeping that of gradients equal going backward asks for
``1 / fan_out``. Glorot and Bengio (2010) compromise with
``Var(W) = 2 / (fan_in + fan_out)``; He et al. (2015) double ``1 / fan_in`` for
ReLU, which zeroes half of its inputs: ``Var(W) = 2 / fan_in``. A uniform
distribution on ``[-a, a]`` has variance ``a**2 / 3``, which fixes the bound.

>>> w = he_normal((1000, 500), rng=0)
>>> round(float(w.std() ** 2 * 1000), 1)
2.0
"""

from __future__ import annotations

import math

from ..backend import Generator, default_rng, get_namespace, resolve_dtype


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``.

    2-D weights are ``(fan_in, fan_out)`` as in :func:`deepref.nn.linear_forward`.
    Weights of 3 or more dimensions follow the convolution layout
    ``(out_channels, in_channels, *kernel)``: ``fan_in = in_channels * prod(kernel)``,
    ``fan_out = out_channels * prod(kernel)``.
    """
    if len(shape) < 2:
        raise ValueError(
            f"fans need a weight of at least 2 dimensions, got shape {tuple(shape)}"
        )
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = math.prod(shape[2:])
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def as_generator(rng: Generator | int | None) -> Generator:
    """A :class:`~deepref.backend.Generator` from a generator, a seed or ``None``."""
    return rng if isinstance(rng, Generator) else default_rng(rng)


def zeros(shape, dtype=None):
    """All-zero array (biases; for weights it keeps hidden units identical)."""
    xp = get_namespace()
    return xp.zeros(tuple(shape), dtype=resolve_dtype(dtype, xp))


def uniform(shape, bound: float, rng=None, dtype=None):
    """Draws from ``U(-bound, bound)``."""
    return as_generator(rng).uniform(-bound, bound, tuple(shape), dtype=dtype)


def normal(shape, std: float, rng=None, dtype=None):
    """Draws from ``N(0, std**2)``."""
    return as_generator(rng).normal(0.0, std, tuple(shape), dtype=dtype)


def glorot_uniform(shape, rng=None, gain: float = 1.0, dtype=None):
    """Glorot/Xavier uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def glorot_normal(shape, rng=None, gain: float = 1.0, dtype=None):
    """Glorot/Xavier normal: ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    return normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def he_uniform(shape, rng=None, dtype=None):
    """He/Kaiming uniform for ReLU: ``U(-a, a)`` with ``a = sqrt(6 / fan_in)``."""
    fan_in, _ = fans(shape)
    return uniform(shape, math.sqrt(6.0 / fan_in), rng, dtype)


def he_normal(shape, rng=None, dtype=None):
    """He/Kaiming normal for ReLU: ``std = sqrt(2 / fan_in)``."""
    fan_in, _ = fans(shape)
    return normal(shape, math.sqrt(2.0 / fan_in), rng, dtype)


def fan_in_uniform(shape, rng=None, dtype=None):
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``: the default of :class:`~deepref.nn.Linear` (as in PyTorch)."""
    fan_in, _ = fans(shape)
    return uniform(shape, 1.0 / math.sqrt(fan_in), rng, dtype)


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "fan_in_uniform": fan_in_uniform,
}
"""Weight initialisers by name (accepted by :class:`~deepref.nn.Linear`)."""
