"""The non-convex chapter's network: a one-hidden-layer tanh MLP trained on 500 of the 8x8 digits.

Several sections of the chapter probe the same trained network (its
permutation symmetry, its Hessian, lines and planes through its loss); each
page rebuilds it with :func:`train_digits_network`, which is deterministic.

>>> problem = digits_problem()
>>> tuple(problem.x_train.shape), tuple(problem.x_test.shape)
((500, 64), (500, 64))
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import data, nn, optim
from ..backend import asarray
from ..diagnostics import mlp
from ..nn.utils import parameters_to_vector
from ..seeds import spawn_seeds
from ..train import fit
from ..validation import check_count


@dataclass(frozen=True)
class DigitsProblem:
    """Training set (the first 500 digits) and test set (digits 1000 to 1499), pixels scaled to [0, 1].

    ``x_*`` are ``(500, 64)`` float64 arrays, ``y_*`` ``(500,)`` integer labels.
    """

    x_train: object
    y_train: object
    x_test: object
    y_test: object


def digits_problem() -> DigitsProblem:
    """The chapter's digits: see :class:`DigitsProblem`."""
    x, y = data.load_digits()
    x = x / 16.0
    return DigitsProblem(asarray(x[:500]), asarray(y[:500]), asarray(x[1000:1500]), asarray(y[1000:1500]))


def digits_network(hidden: int = 16, seed=0) -> nn.Sequential:
    """``64 -> hidden`` tanh ``-> 10`` logits; ``seed`` (an int or a generator) draws both layers in turn."""
    return mlp([64, check_count("hidden", hidden), 10], nn.Tanh, seed=seed)


def train_digits_network(problem: DigitsProblem, hidden: int = 16, seed=0,
                         epochs: int = 30):
    """Train :func:`digits_network` on ``problem``: Adam (lr 0.01), batches of 50.

    Parameters
    ----------
    problem : DigitsProblem
    hidden : int
        Hidden units.
    seed : int or Generator
        Gives the initial weights and the batches' order independent streams.
    epochs : int

    Returns
    -------
    net : Sequential
        The trained network.
    theta_init, theta_trained : (P,) arrays
        Its parameters before and after training, as one vector.
    """
    init_seed, order_seed = spawn_seeds(seed, 2)
    net = digits_network(hidden, init_seed)
    theta_init = parameters_to_vector(net)
    adam = optim.Adam(net.parameters(), lr=0.01)
    fit(net, nn.SoftmaxCrossEntropy(), adam, problem.x_train, problem.y_train,
        epochs=check_count("epochs", epochs), batch_size=50, seed=order_seed)
    return net, theta_init, parameters_to_vector(net)
