"""The activation-functions chapter's training experiments, as functions of a config and a seed.

Both train the chapter's four-layer network (64 pixels, three hidden layers
of 100 units, 10 classes; :func:`deepref.diagnostics.mlp`) on the digits of
:func:`standardised_digits`:

* :func:`dying_run` trains with Adam and watches the units die (the dead
  fraction after every epoch), then counts the units that pass no gradient
  and those that stay on one linear piece;
* :func:`choice_run` trains with SGD and momentum, one rate for every
  nonlinearity, to check the usual advice on which one to use.

The chapter calls these functions on a few seeds; ``python -m deepref
reproduce activations --full`` records them on many.

>>> record = dying_run(DyingConfig(activation="ReLU", epochs=1, hidden=(8,)), seed=0)
>>> sorted(record)
['dead_fraction', 'one_piece_fraction', 'test_accuracy', 'train_loss', 'zero_gradient_units']
>>> len(record["dead_fraction"])
1
>>> sorted(choice_run(ChoiceConfig(activation="tanh", epochs=1, hidden=(8,)), seed=0))
['test_accuracy', 'train_loss']
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import nn
from ..backend import asarray
from ..data import Standardizer, load_digits, split_indices, take
from ..diagnostics import DeadUnitMonitor, mlp, one_piece_fraction, zero_gradient_units
from ..optim import SGD, Adam
from ..seeds import spawn_seeds
from ..train import evaluate, fit
from ..validation import check_choice, check_count, check_positive

NONLINEARITIES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "ReLU": nn.ReLU,
                  "leaky ReLU": nn.LeakyReLU, "maxout": nn.Maxout}
"""The hidden nonlinearities the experiments compare, by the names the chapter uses."""

RECTIFIERS = ("ReLU", "leaky ReLU")
"""The nonlinearities whose units can be dead (never positive on the data)."""


def standardised_digits():
    """The chapter's split of the 1,797 digits, standardised with the training statistics.

    The split is :func:`deepref.data.split_indices` with 20% validation (unused)
    and 20% test, seed 0. Returns ``((x_train, y_train), (x_test, y_test))`` on
    the current backend, pixels of shape (N, 64).
    """
    images, labels = load_digits()
    train_idx, _, test_idx = split_indices(len(labels), 0.2, 0.2, seed=0)
    images, labels = asarray(images), asarray(labels)
    scaler = Standardizer().fit(take(images, train_idx))
    return ((scaler.transform(take(images, train_idx)), take(labels, train_idx)),
            (scaler.transform(take(images, test_idx)), take(labels, test_idx)))


def _check_network(activation: str, hidden: tuple, epochs: int, batch_size: int, lr: float) -> None:
    check_choice("activation", activation, NONLINEARITIES)
    if not isinstance(hidden, tuple) or not hidden:
        raise ValueError(f"hidden must be a non-empty tuple of widths, got {hidden!r}")
    for i, width in enumerate(hidden):
        check_count(f"hidden[{i}]", width)
    check_count("epochs", epochs)
    check_count("batch_size", batch_size)
    check_positive("lr", lr)


def _network(activation: str, hidden: tuple, seed):
    return mlp([64, *hidden, 10], NONLINEARITIES[activation], seed=seed)


@dataclass(frozen=True)
class DyingConfig:
    """Adam at rate ``lr`` for ``epochs`` epochs of mini-batches of ``batch_size``.

    ``activation`` is a key of :data:`NONLINEARITIES`; ``hidden`` the widths of
    the hidden layers.
    """

    activation: str = "ReLU"
    lr: float = 0.05
    epochs: int = 8
    batch_size: int = 32
    hidden: tuple = (100, 100, 100)

    def __post_init__(self):
        _check_network(self.activation, self.hidden, self.epochs, self.batch_size, self.lr)


def dying_run(config: DyingConfig, seed) -> dict:
    """Train one network with Adam; ``seed`` (an int or a generator) gives the initialisation and the batch order.

    Returns
    -------
    dict
        ``dead_fraction``: list of the pooled fraction of hidden units never
        positive on the training set after each epoch (empty unless the
        nonlinearity is a rectifier); ``train_loss``: mean training loss of the
        last epoch; ``test_accuracy``; ``zero_gradient_units``:
        fraction of hidden units whose gradient is zero on every training
        example (:func:`~deepref.diagnostics.zero_gradient_units`);
        ``one_piece_fraction``: fraction of the piecewise-linear units that stay
        on one piece on the training set (None for sigmoid and tanh).
    """
    (x_train, y_train), (x_test, y_test) = standardised_digits()
    init_seed, order_seed = spawn_seeds(seed, 2)
    net = _network(config.activation, config.hidden, init_seed)
    monitor = [DeadUnitMonitor(x_train)] if config.activation in RECTIFIERS else []
    loss_fn = nn.SoftmaxCrossEntropy()
    adam = Adam(net.parameters(), lr=config.lr)
    history = fit(net, loss_fn, adam, x_train, y_train, epochs=config.epochs,
                  batch_size=config.batch_size, seed=order_seed, callbacks=monitor)
    piecewise = config.activation in (*RECTIFIERS, "maxout")
    return {
        "dead_fraction": list(history["dead_fraction"]) if monitor else [],
        "train_loss": history.last("loss"),
        "test_accuracy": evaluate(net, loss_fn, x_test, y_test)["accuracy"],
        "zero_gradient_units": zero_gradient_units(net, loss_fn, x_train, y_train),
        "one_piece_fraction": one_piece_fraction(net, x_train) if piecewise else None,
    }


@dataclass(frozen=True)
class ChoiceConfig:
    """SGD at rate ``lr`` with momentum ``momentum`` for ``epochs`` epochs of mini-batches of ``batch_size``."""

    activation: str = "ReLU"
    lr: float = 0.01
    momentum: float = 0.9
    epochs: int = 10
    batch_size: int = 32
    hidden: tuple = (100, 100, 100)

    def __post_init__(self):
        _check_network(self.activation, self.hidden, self.epochs, self.batch_size, self.lr)
        check_positive("momentum", self.momentum, allow_zero=True)


def choice_run(config: ChoiceConfig, seed) -> dict:
    """Train one network with SGD and momentum; ``seed`` as in :func:`dying_run`.

    Returns
    -------
    dict
        ``train_loss``: mean training loss of the last epoch; ``test_accuracy``.
    """
    (x_train, y_train), (x_test, y_test) = standardised_digits()
    init_seed, order_seed = spawn_seeds(seed, 2)
    net = _network(config.activation, config.hidden, init_seed)
    loss_fn = nn.SoftmaxCrossEntropy()
    sgd = SGD(net.parameters(), lr=config.lr, momentum=config.momentum)
    history = fit(net, loss_fn, sgd, x_train, y_train, epochs=config.epochs,
                  batch_size=config.batch_size, seed=order_seed)
    return {"train_loss": history.last("loss"),
            "test_accuracy": evaluate(net, loss_fn, x_test, y_test)["accuracy"]}
