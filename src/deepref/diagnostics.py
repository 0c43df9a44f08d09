"""What to watch while a network trains: activations, dead units, update sizes, averages.

These are the measurements of the activation-functions and training-in-practice
chapters, written once so that any model of :mod:`deepref.nn` can use them:

* :func:`mlp` builds a fully connected network with a chosen nonlinearity
  (maxout included, whose linear layers are ``pieces`` times wider);
* :func:`layer_outputs` runs a :class:`~deepref.nn.Sequential` and keeps the
  output of every layer, and :func:`activation_statistics` summarises them;
* :func:`layer_gradients` runs the backward pass layer by layer and keeps
  every layer's output gradient (for per-layer histograms);
* :func:`dead_fraction` counts units that are never positive (a dead ReLU),
  :func:`zero_gradient_fraction` units that pass no gradient at all, and
  :class:`DeadUnitMonitor` records the dead fraction during :func:`~deepref.train.fit`;
  :func:`zero_gradient_units` counts them in a whole network, and
  :func:`one_piece_fraction` counts the units that act as one affine function
  on the data (a dead ReLU, an inactive leaky ReLU, a maxout unit whose piece
  always wins);
* :func:`relu_interpolant` builds the one-hidden-layer ReLU network of the
  universal approximation argument;
* :func:`update_ratios` measures ``||w_new - w_old|| / ||w_old||`` per
  parameter, the update-to-weight ratio (about ``1e-3`` for a healthy rate);
* :class:`ParameterAverage` keeps the Polyak (uniform) or exponential
  average of the iterates, and :func:`ensemble_probabilities` averages the
  predicted class probabilities of several models.

>>> from deepref import nn
>>> from deepref.backend import asarray
>>> net = mlp([3, 4, 2], nn.ReLU, seed=0)
>>> [type(layer).__name__ for layer in net.layers]
['Linear', 'ReLU', 'Linear']
>>> outs = layer_outputs(net, asarray([[1.0, -2.0, 0.5]]))
>>> [tuple(o.shape) for o in outs]
[(1, 4), (1, 4), (1, 2)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .backend import asarray, get_namespace, to_numpy
from .nn.activations import LeakyReLU, Maxout, ReLU
from .nn.init import as_generator
from .nn.linear import Linear
from .nn.losses import softmax
from .nn.module import Module, Sequential
from .train import Callback, TrainState
from .validation import check_count, check_in_range, check_ndim


def mlp(sizes: Sequence[int], activation: Callable[[], Module] | None, seed=0,
        init: str = "fan_in_uniform", pieces: int = 2, dtype=None) -> Sequential:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]`` with one nonlinearity.

    Parameters
    ----------
    sizes : sequence of int
        Input width, hidden widths, output width (at least two entries).
    activation : callable returning a Module, or ``nn.Maxout``, or None
        Put after every hidden linear layer (none after the output layer).
        With :class:`~deepref.nn.Maxout` each hidden linear layer has
        ``pieces`` times as many outputs, one per piece; ``None`` gives a
        linear network.
    seed : int or Generator
        One stream draws every layer's initial weights in turn (so ``mlp(...,
        seed=s)`` and ``mlp(..., seed=s + 1)`` share no layer's draw).
    init : str
        Weight initialiser of :class:`~deepref.nn.Linear`.
    pieces : int
        Pieces per maxout unit (ignored for other activations).
    dtype : dtype or str, optional

    Returns
    -------
    Sequential
    """
    sizes = [check_count(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(
            f"sizes needs the input and output widths at least, got {sizes!r}")
    rng, layers = as_generator(seed), []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        widen = pieces if hidden and activation is Maxout else 1
        layers.append(
            Linear(d_in, d_out * widen, init=init, seed=rng, dtype=dtype))
        if hidden and activation is not None:
            layers.append(Maxout(pieces) if activation is Maxout else activation())
    return Sequential(*layers)


def layer_outputs(model: Sequential, x) -> list:
    """The output of every layer of ``model`` on the batch ``x``, in order.

    Parameters
    ----------
    model : Sequential
    x : (N, D) array

    Returns
    -------
    list of arrays
        ``outputs[i]`` is what ``model.layers[i]`` returned; the last is the model's output.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"layer_outputs needs a deepref.nn.Sequential, got {type(model).__name__}")
    outputs = []
    for layer in model.layers:
        x = layer.forward(x)
        outputs.append(x)
    return outputs


def layer_gradients(model: Sequential, dout) -> list:
    """Run ``model``'s backward pass layer by layer and keep every layer's output gradient.

    Call it right after ``model.forward`` (or :func:`layer_outputs`); the
    parameters' ``.grad`` accumulate as in ``model.backward``.

    Parameters
    ----------
    model : Sequential
    dout : array
        Gradient of the loss with respect to the model's output.

    Returns
    -------
    list of arrays
        ``grads[i]`` is the gradient with respect to the output of
        ``model.layers[i]`` (so ``grads[-1]`` is ``dout``), shaped like that output.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"layer_gradients needs a deepref.nn.Sequential, got {type(model).__name__}")
    grads = [dout]
    for layer in reversed(model.layers[1:]):
        grads.append(layer.backward(grads[-1]))
    model.layers[0].backward(grads[-1])
    return grads[::-1]


def relu_interpolant(knots, values) -> Sequential:
    """A one-hidden-layer ReLU network equal to the piecewise-linear interpolant of ``values``.

    This is the construction behind the universal approximation theorem for
    ReLU networks: hidden unit ``i`` computes ``max(0, x - knots[i])`` and the
    output weight of unit ``i`` is the change of slope at ``knots[i]``, so the
    network is exact at every knot and linear in between. On
    ``[knots[0], knots[-1]]`` its error for a smooth ``f`` with equally spaced
    knots is at most ``h**2 / 8 * max |f''|`` (``h`` the spacing): it falls four
    times when the width doubles.

    Parameters
    ----------
    knots : (K,) host array, increasing, ``K >= 2``
    values : (K,) host array
        ``f(knots)``.

    Returns
    -------
    Sequential
        ``Linear(1, K - 1), ReLU, Linear(K - 1, 1)`` on the current backend.
    """
    knots = np.asarray(knots, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if knots.ndim != 1 or knots.shape != values.shape or knots.size < 2:
        raise ValueError("knots and values must be 1-D of the same length >= 2, "
                         f"got shapes {knots.shape} and {values.shape}")
    if np.any(np.diff(knots) <= 0):
        raise ValueError("knots must be strictly increasing")
    slopes = np.diff(values) / np.diff(knots)
    net = mlp([1, knots.size - 1, 1], ReLU)
    hidden, output = net.layers[0], net.layers[2]
    hidden.weight.data = asarray(np.ones((1, knots.size - 1)))
    hidden.bias.data = asarray(-knots[:-1])
    output.weight.data = asarray(np.diff(slopes, prepend=0.0)[:, None])
    output.bias.data = asarray(values[:1])
    return net


class ActivationStats(NamedTuple):
    """Summary of one layer's outputs over a batch (host floats)."""

    mean: float
    std: float
    zero_fraction: float
    """Fraction of entries exactly zero."""
    saturated_fraction: float
    """Fraction of entries within ``margin`` of the ends of the range ``(low, high)``."""


def activation_statistics(a, low: float = -1.0, high: float = 1.0, margin: float = 0.01) -> ActivationStats:
    """Mean, spread, zeros and saturation of the activations ``a`` (any shape).

    ``low`` and ``high`` are the limits of the nonlinearity's range: ``(0, 1)``
    for the sigmoid, ``(-1, 1)`` for tanh; an entry counts as saturated when it
    lies within ``margin`` of either limit.
    """
    xp = get_namespace(a)
    a = xp.astype(a, xp.float64)
    saturated = (a <= low + margin) | (a >= high - margin)
    return ActivationStats(
        mean=float(xp.mean(a)),
        std=float(xp.std(a)),
        zero_fraction=float(xp.mean(xp.astype(a == 0, xp.float64))),
        saturated_fraction=float(xp.mean(xp.astype(saturated, xp.float64))),
    )


def dead_fraction(pre_activations) -> float:
    """Fraction of units (columns) that are not positive on any example (row).

    A ReLU unit whose pre-activation is negative on every input outputs zero
    and receives no gradient on any of them: it is *dead* on this data. The
    same count on the pre-activations of a leaky ReLU gives the units that
    are *inactive* but, through the small negative slope, still learn.

    Parameters
    ----------
    pre_activations : (N, H) array
        A layer's pre-activations (or a ReLU layer's outputs) on a batch, the
        whole training set for the usual definition.
    """
    check_ndim("pre_activations", pre_activations, 2, "(N, H)")
    xp = get_namespace(pre_activations)
    alive = xp.any(pre_activations > 0, axis=0)
    return 1.0 - float(xp.mean(xp.astype(alive, xp.float64)))


def rectifier_pre_activations(model: Sequential, x) -> list:
    """Pre-activations ``(N, H)`` of every ReLU and leaky-ReLU layer of ``model`` on ``x``."""
    outputs = layer_outputs(model, x)
    return [out for out, after in zip(outputs, model.layers[1:]) if isinstance(after, (ReLU, LeakyReLU))]


class DeadUnitMonitor(Callback):
    """Record, after every epoch, the fraction of (leaky) ReLU units dead on ``x``.

    The units of all rectifier layers are pooled; the value goes to
    ``history["dead_fraction"]`` (see :func:`dead_fraction`). The model is
    run in eval mode on ``x`` and its mode restored.

    Parameters
    ----------
    x : (N, D) array
        The data on which a unit must be positive at least once to count as alive
        (the training set).
    """

    def __init__(self, x):
        self.x = x

    def measure(self, model: Sequential) -> float:
        """The pooled dead fraction of ``model``'s rectifier units on ``x``."""
        was_training = model.training
        model.eval()
        pre = rectifier_pre_activations(model, self.x)
        model.train(was_training)
        if not pre:
            raise ValueError("DeadUnitMonitor needs a model with ReLU or LeakyReLU layers")
        units = [p.shape[1] for p in pre]
        return sum(dead_fraction(p) * h for p, h in zip(pre, units)) / sum(units)

    def on_epoch_end(self, state: TrainState) -> None:
        state.history.append("dead_fraction", self.measure(state.model))


def zero_gradient_fraction(grad_rows) -> float:
    """Fraction of units whose gradient is exactly zero on every example.

    Parameters
    ----------
    grad_rows : (N, H) array
        Gradient of the loss with respect to a layer's pre-activations, one row per example.
    """
    check_ndim("grad_rows", grad_rows, 2, "(N, H)")
    xp = get_namespace(grad_rows)
    moving = xp.any(grad_rows != 0, axis=0)
    return 1.0 - float(xp.mean(xp.astype(moving, xp.float64)))


def zero_gradient_units(model: Sequential, loss_fn, x, y) -> float:
    """Fraction of ``model``'s hidden units whose gradient is zero on every example of ``(x, y)``.

    One forward and backward pass of the whole batch in eval mode (the mode is
    restored; the parameters' gradients are cleared afterwards). A unit's
    gradient is that of the loss with respect to its pre-activation; a maxout
    unit owns ``pieces`` pre-activations and counts as zero only if all are.
    The fraction is the mean over the hidden layers (:func:`zero_gradient_fraction`
    per layer).

    Parameters
    ----------
    model : Sequential
        Linear layers, each hidden one followed by its nonlinearity (as :func:`mlp` builds).
    loss_fn : loss module with ``forward(scores, y)`` and ``backward()``
    x : (N, D) array
    y : (N,) array
    """
    xp = get_namespace(x)
    was_training = model.training
    model.eval()
    loss_fn.forward(layer_outputs(model, x)[-1], y)
    grads = layer_gradients(model, loss_fn.backward())
    model.zero_grad()
    model.train(was_training)
    fractions = []
    for i, layer in enumerate(model.layers[:-1]):
        if isinstance(layer, Linear):  # grads[i]: w.r.t. its pre-activations
            pieces = getattr(model.layers[i + 1], "pieces", 1)
            n, columns = grads[i].shape
            per_piece = xp.reshape(xp.abs(grads[i]), (n, columns // pieces, pieces))
            fractions.append(zero_gradient_fraction(xp.sum(per_piece, axis=2)))
    if not fractions:
        raise ValueError("zero_gradient_units needs a model with a hidden layer")
    return float(np.mean(fractions))


def one_piece_fraction(model: Sequential, x) -> float:
    """Fraction of the piecewise-linear hidden units that stay on one piece for every row of ``x``.

    A (leaky) ReLU unit stays on one piece if its pre-activation has the same
    sign (positive, or not) on every example: on the data it is an affine
    function, and a dead ReLU is the case where that function is zero. A
    maxout unit stays on one piece if the same piece wins on every example.
    The units of all (leaky) ReLU and maxout layers are pooled; the model runs
    in eval mode and its mode is restored.

    Parameters
    ----------
    model : Sequential
    x : (N, D) array
    """
    xp = get_namespace(x)
    was_training = model.training
    model.eval()
    outputs = layer_outputs(model, x)
    model.train(was_training)
    stuck, units = 0, 0
    for z, after in zip(outputs, model.layers[1:]):
        if isinstance(after, Maxout):
            grouped = xp.reshape(z, (z.shape[0], z.shape[1] // after.pieces, after.pieces))
            regime = xp.argmax(grouped, axis=2)
        elif isinstance(after, (ReLU, LeakyReLU)):
            regime = z > 0
        else:
            continue
        stuck += int(xp.sum(xp.astype(xp.all(regime == regime[:1, ...], axis=0), xp.int64)))
        units += regime.shape[1]
    if not units:
        raise ValueError("one_piece_fraction needs a model with ReLU, LeakyReLU or Maxout layers")
    return stuck / units


def update_ratios(before: dict, model: Module) -> dict[str, float]:
    """``||w_after - w_before|| / ||w_before||`` for every parameter of ``model``.

    Parameters
    ----------
    before : dict of str to array
        ``model.state_dict()`` taken before the update (host arrays).
    model : Module
        The model after the update.

    Returns
    -------
    dict of str to float
        Keyed by the dotted parameter name; a parameter that was all zeros gets ``inf``
        if it moved and ``0`` if it did not.
    """
    ratios = {}
    for name, p in model.named_parameters():
        if name not in before:
            raise KeyError(f"no saved value for parameter {name!r}; "
                           "pass model.state_dict() from before the step")
        old = before[name]
        step = math.sqrt(float(((to_numpy(p.data) - old) ** 2).sum()))
        norm = math.sqrt(float((old**2).sum()))
        ratios[name] = step / norm if norm > 0 else (math.inf if step > 0 else 0.0)
    return ratios


class ParameterAverage:
    """Running average of a model's parameters over the iterates of training.

    With ``decay=None`` it is Polyak-Ruppert averaging, the uniform mean of
    every iterate given to :meth:`update`; with ``decay`` in ``[0, 1)`` it is
    the exponential moving average ``avg <- decay * avg + (1 - decay) * w``.
    The average lives on the parameters' backend; :meth:`state_dict` gives it
    in the form :meth:`deepref.nn.Module.load_state_dict` accepts (buffers
    such as batch-norm statistics are copied from the model as they are).

    Parameters
    ----------
    model : Module
    decay : float, optional
    """

    def __init__(self, model: Module, decay: float | None = None):
        if decay is not None:
            check_in_range("decay", decay, 0.0, 1.0)
        self.model, self.decay = model, decay
        self.count = 0
        self.average: dict[str, object] = {}

    def update(self) -> None:
        """Fold the model's current parameters into the average (call after each step)."""
        self.count += 1
        weight = 1.0 / self.count if self.decay is None else 1.0 - self.decay
        for name, p in self.model.named_parameters():
            if name not in self.average:
                self.average[name] = p.data * 1.0
            else:
                change = weight * (p.data - self.average[name])
                self.average[name] = self.average[name] + change

    def state_dict(self) -> dict:
        """The averaged parameters (and the model's buffers) as host arrays."""
        if not self.average:
            raise RuntimeError("ParameterAverage.update() has not been called yet: "
                               "there is nothing to average")
        state = self.model.state_dict()
        state.update({name: to_numpy(value).copy()
                      for name, value in self.average.items()})
        return state


def ensemble_probabilities(models: Sequence[Module], x):
    """Mean of the softmax class probabilities of ``models`` on ``x``.

    Parameters
    ----------
    models : sequence of Module
        Each maps ``x`` to class scores ``(N, C)``; each is run in eval mode
        and its mode restored afterwards.
    x : (N, D) array

    Returns
    -------
    (N, C) array
    """
    if not models:
        raise ValueError("ensemble_probabilities needs at least one model")
    total = None
    for model in models:
        was_training = model.training
        model.eval()
        probabilities = softmax(model.forward(x), axis=1)
        model.train(was_training)
        total = probabilities if total is None else total + probabilities
    return total / len(models)


__all__ = [
    "ActivationStats",
    "DeadUnitMonitor",
    "ParameterAverage",
    "activation_statistics",
    "dead_fraction",
    "ensemble_probabilities",
    "layer_gradients",
    "layer_outputs",
    "relu_interpolant",
    "mlp",
    "rectifier_pre_activations",
    "update_ratios",
    "zero_gradient_fraction",
]
