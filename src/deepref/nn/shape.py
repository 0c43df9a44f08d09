"""Shape-only layers."""

from __future__ import annotations

from ..backend import get_namespace
from .module import Module


class Flatten(Module):
    """``(N, ...)`` to ``(N, D)``; the backward pass restores the shape."""

    def forward(self, x):
        self._shape = tuple(x.shape)
        return get_namespace(x).reshape(x, (x.shape[0], -1))

    def backward(self, dout):
        return get_namespace(dout).reshape(dout, self._shape)
