"""A model's parameters as one flat vector, and the loss gradient in that form.

Second-order and landscape tools (:mod:`deepref.landscape`) treat a network as
a function of a single vector :math:`\\theta \\in \\mathbb{R}^P`: the
parameters are concatenated in :meth:`~deepref.nn.Module.named_parameters`
order, each flattened row-major (C order).

>>> from deepref.nn import Linear
>>> layer = Linear(3, 2, seed=0)
>>> theta = parameters_to_vector(layer)
>>> tuple(theta.shape)
(8,)
>>> vector_to_parameters(theta * 0.0, layer)
>>> float(parameters_to_vector(layer)[0])
0.0
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..backend import get_namespace
from ..validation import check_finite_loss, check_ndim
from .module import Module, Parameter, size_of


def _parameters(model: Module | list[Parameter]) -> list[Parameter]:
    params = model.parameters() if isinstance(model, Module) else list(model)
    if not params:
        raise ValueError("the model has no parameters")
    return params


def num_elements(model: Module | list[Parameter]) -> int:
    """Length ``P`` of the flat parameter vector of ``model`` (a module or a list of parameters)."""
    return sum(size_of(p.shape) for p in _parameters(model))


def flatten_arrays(arrays) -> object:
    """Concatenate arrays, each flattened row-major, into one ``(P,)`` vector."""
    arrays = list(arrays)
    xp = get_namespace(*arrays)
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def parameters_to_vector(model: Module | list[Parameter]):
    """The parameters of ``model`` as one vector.

    Parameters
    ----------
    model : Module or list of Parameter

    Returns
    -------
    theta : (P,) array
        A copy: changing it does not change the model.
    """
    return flatten_arrays(p.data for p in _parameters(model))


def split_vector(vector, model: Module | list[Parameter]) -> list:
    """Cut a ``(P,)`` vector into arrays shaped like the parameters of ``model`` (the inverse of flattening)."""
    params = _parameters(model)
    check_ndim("vector", vector, 1, "(P,)")
    expected = num_elements(params)
    if vector.shape[0] != expected:
        shapes = ", ".join(str(p.shape) for p in params)
        raise ValueError(
            f"vector must have shape ({expected},) to fill parameters of shapes {shapes}, got {tuple(vector.shape)}"
        )
    xp = get_namespace(vector)
    pieces, start = [], 0
    for p in params:
        size = size_of(p.shape)
        pieces.append(xp.reshape(vector[start : start + size], p.shape))
        start += size
    return pieces


def vector_to_parameters(vector, model: Module | list[Parameter]) -> None:
    """Set the parameters of ``model`` from a ``(P,)`` vector (shapes and order as in flattening).

    Each parameter receives a copy, never a view of ``vector``: later in-place
    updates of the model cannot change the caller's vector, nor the reverse.
    """
    xp = get_namespace(vector)
    for param, piece in zip(_parameters(model), split_vector(vector, model), strict=True):
        param.data = xp.asarray(piece, copy=True)


@contextlib.contextmanager
def restoring(model: Module) -> Iterator[Module]:
    """Context manager that gives ``model`` back as it found it: parameters, buffers and mode.

    Tools that probe a model (Hessian-vector products, loss slices) run inside it,
    so a forward pass in training mode cannot leave batch-norm running statistics
    changed, and no parameter is left pointing at a probe vector.
    """
    params = [(p, p.data) for p in _parameters(model)]
    buffers = [(name, get_namespace(b).asarray(b, copy=True)) for name, b in model.named_buffers()]
    was_training = model.training
    try:
        yield model
    finally:
        for param, data in params:
            param.data = data
        for name, value in buffers:
            model._set_buffer(name, value)
        model.train(was_training)


def loss_and_gradient(model: Module, loss_fn, x, y) -> tuple[float, object]:
    """Loss of ``model`` on the batch ``(x, y)`` and its gradient as one vector.

    The model runs in its current mode (call ``model.eval()`` first for a
    deterministic function of the parameters when it has dropout). The
    parameters' ``.grad`` are overwritten.

    Parameters
    ----------
    model : Module
    loss_fn : Loss
        ``forward(pred, target)`` returning a 0-D array, and ``backward()``.
    x : (N, ...) array
    y : (N, ...) array

    Returns
    -------
    loss : float
    gradient : (P,) array
        :math:`\\nabla_\\theta L`, ordered as :func:`parameters_to_vector`.

    Raises
    ------
    FloatingPointError
        If the loss is NaN or infinite.
    """
    params = _parameters(model)
    model.zero_grad()
    loss = float(loss_fn.forward(model.forward(x), y))
    check_finite_loss(loss, "the evaluation of loss_and_gradient")
    model.backward(loss_fn.backward())
    xp = get_namespace(params[0].data)
    grads = [p.grad if p.grad is not None else xp.zeros_like(p.data) for p in params]
    model.zero_grad()
    return loss, flatten_arrays(grads)
