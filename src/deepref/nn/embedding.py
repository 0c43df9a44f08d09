"""Word embeddings: a lookup table trained by backpropagation.

An embedding maps word id ``i`` to row ``E[i]`` of a ``(V, D)`` matrix. It is
a linear layer applied to a one-hot vector, ``onehot(i) @ E``, computed as a
gather. The backward pass of the gather is a scatter-add: with
``out[n] = E[ids[n]]``,

``dE[v] = sum over n with ids[n] == v of dout[n]``

so a word that occurs several times in a batch receives the sum of its
gradients (repeated indices must add up, never overwrite: this is why
:func:`deepref.backend.segment_sum` and :func:`~deepref.backend.scatter_add`
exist).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace, segment_sum
from ..validation import check_ndim, check_positive, reads_values
from .init import as_generator, uniform
from .module import Module, Parameter


class EmbeddingCache(NamedTuple):
    ids: object  # (M,) flattened ids
    shape: tuple  # shape of the ids array
    vocab_size: int


def check_ids(name: str, ids, vocab_size: int) -> None:
    """Raise unless ``ids`` is an integer array with entries in ``[0, vocab_size)``.

    The range is read back only where :func:`~deepref.validation.reads_values`
    allows (not on a GPU, where it would wait for the queued work every step).
    """
    if "int" not in str(ids.dtype):
        raise TypeError(f"{name} must be an integer array of word ids, got dtype {ids.dtype}")
    xp = get_namespace(ids)
    if ids.size and reads_values(ids) and (int(xp.min(ids)) < 0 or int(xp.max(ids)) >= vocab_size):
        raise ValueError(
            f"{name} must lie in [0, {vocab_size}) (the vocabulary), got values in "
            f"[{int(xp.min(ids))}, {int(xp.max(ids))}]"
        )


def embedding_forward(ids, weight):
    """Look up the rows of ``weight`` for ``ids``.

    Parameters
    ----------
    ids : integer array, any shape ``S``
        Word ids in ``[0, V)``.
    weight : (V, D) array

    Returns
    -------
    out : array of shape ``S + (D,)``
    cache : EmbeddingCache
    """
    check_ndim("weight", weight, 2, "(V, D)")
    check_ids("ids", ids, weight.shape[0])
    xp = get_namespace(ids, weight)
    flat = xp.reshape(ids, (-1,))
    out = xp.take(weight, flat, axis=0)
    return xp.reshape(out, (*ids.shape, weight.shape[1])), EmbeddingCache(flat, tuple(ids.shape), weight.shape[0])


def embedding_backward(dout, cache: EmbeddingCache):
    """Gradient of :func:`embedding_forward` for ``weight``, repeated ids summed.

    ``dout`` has shape ``S + (D,)``; the result is ``(V, D)``; the ids get no
    gradient.
    """
    xp = get_namespace(dout)
    if tuple(dout.shape[:-1]) != cache.shape:
        raise ValueError(
            f"dout must have shape {cache.shape} + (D,), got {tuple(dout.shape)}"
        )
    rows = xp.reshape(dout, (-1, dout.shape[-1]))
    return segment_sum(cache.ids, rows, cache.vocab_size)


class Embedding(Module):
    """A ``(V, D)`` embedding table, initialised from ``U(-init_scale, init_scale)``.

    ``forward(ids)`` returns ``ids.shape + (D,)``; ``backward(dout)`` adds the
    scatter-added gradient to ``weight.grad`` and returns ``None`` (ids are
    not differentiable). The table has PyTorch's layout (``weight[i]`` is the
    vector of id ``i``), but not its initialisation (PyTorch draws from
    ``N(0, 1)``).

    Parameters
    ----------
    vocab_size : int
        ``V``, the number of ids (PyTorch's ``num_embeddings``).
    dim : int
        ``D``, the width of each vector (PyTorch's ``embedding_dim``).
    init_scale : float
    seed : int or Generator, optional
    dtype : str or dtype, optional
        Floating dtype of the table (the default dtype unless given).
    """

    def __init__(self, vocab_size: int, dim: int, init_scale: float = 0.1, seed=None, dtype=None):
        check_positive("vocab_size", vocab_size)
        check_positive("dim", dim)
        self.weight = Parameter(uniform((vocab_size, dim), check_positive("init_scale", init_scale),
                                        as_generator(seed), dtype))
        self._cache = None

    def forward(self, ids):
        out, self._cache = embedding_forward(ids, self.weight.data)
        return out

    def backward(self, dout):
        self.weight.accumulate(embedding_backward(dout, self.saved_cache(consume=True)))
        return None

    def __repr__(self) -> str:
        return f"Embedding({self.weight.shape[0]}, {self.weight.shape[1]})"
