"""The affine (fully connected) layer ``out = x @ w + b``.

Backward, from ``out_nm = sum_d x_nd w_dm + b_m``:

* ``dx = dout @ w.T``  (each input feeds every output through ``w``),
* ``dw = x.T @ dout``  (summed over the batch),
* ``db = dout.sum(axis=0)``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace
from ..validation import check_choice, check_count, check_ndim, check_shape
from .init import INITIALIZERS, as_generator, zeros
from .module import Module, Parameter, check_inputs


class LinearCache(NamedTuple):
    x: object
    w: object


def linear_forward(x, w, b=None):
    """Affine map ``x @ w + b`` (or ``x @ w`` without a bias).

    Parameters
    ----------
    x : (N, D) array
    w : (D, M) array
        Inputs along the rows, outputs along the columns: PyTorch's
        ``weight.T`` (see :mod:`deepref.interop` to convert).
    b : (M,) array or None

    Returns
    -------
    out : (N, M) array
    cache : LinearCache
    """
    get_namespace(x, w, b)  # one backend (or a clear error); a missing b is ignored
    check_ndim("x", x, 2, "(N, D)")
    check_shape("w", w, (x.shape[1], None))
    if b is None:
        return x @ w, LinearCache(x, w)
    check_shape("b", b, (w.shape[1],))
    return x @ w + b, LinearCache(x, w)


def linear_backward(dout, cache: LinearCache):
    """Gradients of :func:`linear_forward`.

    Parameters
    ----------
    dout : (N, M) array
    cache : LinearCache

    Returns
    -------
    dx : (N, D) array
    dw : (D, M) array
    db : (M,) array
        The bias's gradient (ignore it for a layer without bias).
    """
    xp = get_namespace(dout, cache.x)
    check_shape("dout", dout, (cache.x.shape[0], cache.w.shape[1]))
    return dout @ cache.w.T, cache.x.T @ dout, xp.sum(dout, axis=0)


class Linear(Module):
    """Fully connected layer ``out = x @ weight + bias``, weight ``(in_features, out_features)``.

    The weight is stored inputs-by-outputs, the transpose of PyTorch's
    ``(out_features, in_features)``, so that the layer reads like its
    equation; :func:`deepref.interop.to_torch` and
    :func:`~deepref.interop.from_torch` convert whole state dicts.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Whether the layer has a bias (``True``, as in PyTorch). Biases start at zero.
    init : str
        Weight initialiser, a key of :data:`deepref.nn.init.INITIALIZERS`
        (default ``"fan_in_uniform"``, PyTorch's default).
    seed : int or Generator, optional
        Source of the initial weights (``None``: the global seed of
        :func:`deepref.manual_seed`, or fresh entropy).
    dtype : str or dtype, optional
        Floating dtype of the parameters (default: :func:`deepref.backend.get_default_dtype`,
        float64 unless set); inputs must have it.

    Examples
    --------
    >>> from deepref.backend import asarray
    >>> layer = Linear(3, 2, bias=False, seed=0)
    >>> [name for name, _ in layer.named_parameters()]
    ['weight']
    >>> tuple(layer(asarray([[1.0, 2.0, 3.0]])).shape)
    (1, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "fan_in_uniform",
                 seed=None, dtype=None):
        check_count("in_features", in_features)
        check_count("out_features", out_features)
        check_choice("init", init, INITIALIZERS)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r} (the initialiser is init=...)")
        rng = as_generator(seed)
        self.weight = Parameter(INITIALIZERS[init]((in_features, out_features), rng=rng, dtype=dtype))
        self.bias = Parameter(zeros((out_features,), dtype=self.weight.data.dtype)) if bias else None
        self._cache = None

    def forward(self, x):
        """``x @ weight + bias``.

        Parameters
        ----------
        x : (N, in_features) array
            Of the parameters' dtype and backend.

        Returns
        -------
        (N, out_features) array
            The input is kept for :meth:`backward`.
        """
        check_inputs(self, x)
        out, self._cache = linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data)
        return out

    def backward(self, dout):
        """Add ``x.T @ dout`` to ``weight.grad`` (and ``dout.sum(0)`` to ``bias.grad``); return ``dx``.

        Parameters
        ----------
        dout : (N, out_features) array
            Gradient of the loss with respect to the output of the last :meth:`forward`.

        Returns
        -------
        dx : (N, in_features) array
            ``dout @ weight.T``. The forward pass's cache is used up: call
            ``forward`` again before another ``backward``.
        """
        dx, dw, db = linear_backward(dout, self.saved_cache(consume=True))
        self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def __repr__(self) -> str:
        d, m = self.weight.shape
        return f"Linear({d}, {m}" + (", bias=False)" if self.bias is None else ")")
