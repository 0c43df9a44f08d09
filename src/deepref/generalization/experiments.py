"""The generalization chapter's random-label experiment, as a function of a config and a seed.

Zhang et al. (2017) showed that a network that generalises on true labels
also fits randomly relabelled data perfectly, only more slowly.
:func:`memorisation_run` trains a one-hidden-layer ReLU network on a few
hundred standardised digits, with their true labels or with uniformly random
ones, until it classifies every training example correctly. The chapter calls
it once per labelling; ``python -m deepref reproduce generalization --full``
runs it over many seeds and training-set sizes.

>>> record = memorisation_run(MemorisationConfig(labels="true", n_train=50, hidden=32, max_epochs=3), seed=0)
>>> sorted(record)
['epochs', 'memorised', 'test_accuracy', 'train_accuracy']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data, nn
from ..backend import asarray
from ..diagnostics import mlp
from ..optim import Adam
from ..seeds import spawn_seeds
from ..train import Callback, evaluate, fit
from ..validation import check_choice, check_count, check_positive

LABELINGS = ("true", "random")
"""The labels a :class:`MemorisationConfig` can train on."""


def standardized_digits():
    """The digits split 60/20/20 (seed 0) and standardised with the training split's statistics.

    Returns ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` on the
    current backend, pixels of shape (N, 64) in the default float dtype.
    """
    x, y = data.load_digits()
    splits = data.train_val_test_split(x, y, val_fraction=0.2, test_fraction=0.2, seed=0)
    scaler = data.Standardizer().fit(splits[0][0])
    return tuple((asarray(scaler.transform(xs)), asarray(ys)) for xs, ys in splits)


class StopWhenMemorised(Callback):
    """Stop as soon as the model (in eval mode) classifies all of ``(x, y)`` correctly."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def on_epoch_end(self, state) -> None:
        state.stop = evaluate(state.model, nn.SoftmaxCrossEntropy(), self.x, self.y)["accuracy"] == 1.0


@dataclass(frozen=True)
class MemorisationConfig:
    """Train a 64-``hidden``-10 ReLU network on the first ``n_train`` digits with ``labels`` labels.

    Random labels are drawn uniformly from the ten classes with ``label_seed``.
    """

    labels: str = "random"
    n_train: int = 300
    hidden: int = 512
    lr: float = 1e-3
    batch_size: int = 32
    max_epochs: int = 300
    label_seed: int = 9

    def __post_init__(self):
        check_choice("labels", self.labels, LABELINGS)
        for name in ("n_train", "hidden", "batch_size", "max_epochs"):
            check_count(name, getattr(self, name))
        check_positive("lr", self.lr)


def memorisation_run(config: MemorisationConfig, seed) -> dict:
    """Train with Adam until every training example is classified correctly (or ``max_epochs``).

    ``seed`` (an int or a generator) gives the He-uniform initialisation and
    the mini-batch order independent streams.

    Returns
    -------
    dict
        ``epochs`` trained, ``train_accuracy`` on the labels trained on,
        ``test_accuracy`` on the true labels of the test split, and
        ``memorised`` (whether the training accuracy reached 1).
    """
    (x_train, y_train), _, (x_test, y_test) = standardized_digits()
    x, y = x_train[:config.n_train, ...], y_train[:config.n_train]
    if config.labels == "random":
        rng = np.random.default_rng(config.label_seed)
        y = asarray(rng.integers(0, 10, config.n_train))
    init_seed, order_seed = spawn_seeds(seed, 2)
    model = mlp([64, config.hidden, 10], nn.ReLU, seed=init_seed, init="he_uniform")
    loss = nn.SoftmaxCrossEntropy()
    optimizer = Adam(model.parameters(), lr=config.lr)
    history = fit(model, loss, optimizer, x, y, epochs=config.max_epochs,
                  batch_size=config.batch_size, seed=order_seed,
                  callbacks=[StopWhenMemorised(x, y)])
    train_accuracy = evaluate(model, loss, x, y)["accuracy"]
    return {
        "epochs": history.epochs,
        "train_accuracy": train_accuracy,
        "test_accuracy": evaluate(model, loss, x_test, y_test)["accuracy"],
        "memorised": train_accuracy == 1.0,
    }
