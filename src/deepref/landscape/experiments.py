"""The non-convexity chapter's width-versus-spread study, as a function of a config and a seed.

A one-hidden-layer ReLU network is trained full-batch with Adam on the digits
downsampled to 4x4 pixels; over many seeds, the spread of its final losses
narrows as the hidden layer widens (Choromanska et al. 2015). The chapter
calls :func:`width_spread_run` for 20 seeds per width;
``python -m deepref reproduce nonconvex --full`` runs more seeds and widths.

>>> record = width_spread_run(WidthSpreadConfig(width=4, steps=5), seed=0)
>>> sorted(record)
['test_loss', 'train_loss']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data, nn
from ..backend import asarray
from ..diagnostics import mlp
from ..optim import Adam
from ..train import evaluate, fit
from ..validation import check_count, check_positive


def pooled_digits(n_train: int = 300):
    """The digits averaged over 2x2 blocks (16 inputs), standardised with the first ``n_train`` images.

    Returns ``((x_train, y_train), (x_test, y_test))`` on the current backend:
    the first ``n_train`` digits for training and digits 1000 to 1499 for
    testing, pixels float32 of shape (N, 16).
    """
    check_count("n_train", n_train)
    if n_train > 1000:
        raise ValueError(f"n_train must be at most 1000 (the test digits start there), got {n_train}")
    x, y = data.load_digits()
    pooled = (x / 16.0).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    train = pooled[:n_train]
    pooled = ((pooled - train.mean(0)) / (train.std(0) + 1e-8)).astype(np.float32)
    return ((asarray(pooled[:n_train]), asarray(y[:n_train])),
            (asarray(pooled[1000:1500]), asarray(y[1000:1500])))


@dataclass(frozen=True)
class WidthSpreadConfig:
    """A 16-``width``-10 ReLU network, ``steps`` full-batch Adam steps at rate ``lr`` on ``n_train`` digits."""

    width: int = 4
    steps: int = 300
    lr: float = 0.01
    n_train: int = 300

    def __post_init__(self):
        for name in ("width", "steps", "n_train"):
            check_count(name, getattr(self, name))
        check_positive("lr", self.lr)


def width_spread_run(config: WidthSpreadConfig, seed) -> dict:
    """Train one network from the initialisation ``seed``; its final training and test losses.

    ``seed`` (an int or a generator) draws the hidden layer's weights, then
    the output layer's, from one stream; training is full-batch, so nothing
    else is random. Returns ``{"train_loss": float, "test_loss": float}``.
    """
    train, test = pooled_digits(config.n_train)
    model = mlp([16, config.width, 10], nn.ReLU, seed=seed, dtype="float32")
    loss = nn.SoftmaxCrossEntropy()
    optimizer = Adam(model.parameters(), lr=config.lr)
    fit(model, loss, optimizer, *train, epochs=config.steps, batch_size=config.n_train,
        shuffle=False)
    return {
        "train_loss": evaluate(model, loss, *train)["loss"],
        "test_loss": evaluate(model, loss, *test)["loss"],
    }
