"""The RNN chapter's adding-problem experiment, as a function of a config and a seed.

An LSTM or a tanh RNN, followed by a linear read-out of its last state, learns
the adding problem (:func:`deepref.rnn.adding_problem`) on fresh mini-batches
along a curriculum of sequence lengths, with Adam and gradient clipping, and is
scored by test MSE and by Hochreiter and Schmidhuber's criterion (the fraction
of sequences with an absolute error above 0.04). The chapter calls
:func:`train_adding` and :func:`wrong_fraction` with its small curriculum;
:func:`adding_run` combines them into one record for
``python -m deepref reproduce rnn --full``.

>>> config = AddingConfig(kind="RNN", hidden=4, curriculum=(((5,), 20),), chunk=10, n_test=20, n_criterion=20)
>>> record = adding_run(config, seed=0)
>>> record["steps"], sorted(record["final_mse"])
([10, 20], ['100', '50'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..backend import to_numpy
from ..optim import Adam
from ..seeds import spawn_seeds
from ..train import check_data, evaluate, train_step
from ..validation import check_choice, check_count, check_positive
from .layers import LSTM, RNN, LastTimeStep
from .tasks import adding_problem

KINDS = ("LSTM", "RNN")
"""The recurrent layers :class:`AddingConfig` can use."""

ERROR_THRESHOLD = 0.04
"""Absolute error above which Hochreiter and Schmidhuber count a sequence as wrong."""


@dataclass(frozen=True)
class AddingConfig:
    """One adding-problem run: model, curriculum, optimisation and test sets.

    ``curriculum`` is a sequence of stages ``(lengths, steps)``; a stage with
    several lengths alternates them from one step to the next. The learning
    rate is ``lr`` and falls geometrically to ``final_lr`` over the last stage.
    Every ``chunk`` steps the model is tested on ``n_test`` sequences of each
    of ``test_lengths`` (seed ``test_seed``); at the end the criterion is
    counted on ``n_criterion`` further sequences (seed ``criterion_seed``).
    """

    kind: str = "LSTM"
    hidden: int = 32
    batch: int = 32
    curriculum: tuple = (((10,), 300), ((20,), 200), ((50,), 200), ((100, 50), 1800))
    lr: float = 1e-2
    final_lr: float = 1e-4
    clip_norm: float = 1.0
    chunk: int = 100
    test_lengths: tuple = (50, 100)
    n_test: int = 500
    test_seed: int = 7
    n_criterion: int = 2560
    criterion_seed: int = 8

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        for name in ("hidden", "batch", "chunk", "n_test", "n_criterion"):
            check_count(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_positive("final_lr", self.final_lr)
        check_positive("clip_norm", self.clip_norm)
        if not self.curriculum:
            raise ValueError("curriculum must hold at least one stage (lengths, steps)")
        for lengths, steps in self.curriculum:
            check_count("curriculum steps", steps)
            if steps % self.chunk:
                raise ValueError(f"each stage's steps must be a multiple of chunk={self.chunk}, got {steps}")
            if not lengths:
                raise ValueError("each curriculum stage needs at least one sequence length")
            for length in lengths:
                check_count("curriculum length", length, 2)
        for length in self.test_lengths:
            check_count("test length", length, 2)


def adding_model(config: AddingConfig, seed=0) -> nn.Sequential:
    """The recurrent layer of ``config.kind`` (LSTM with forget bias 1), last time step, linear read-out; float32.

    ``seed`` (an int or a generator) feeds the recurrent layer and the read-out
    independent streams (:func:`deepref.seeds.spawn_seeds`).
    """
    layer_seed, readout_seed = spawn_seeds(seed, 2)
    if config.kind == "LSTM":
        layer = LSTM(2, config.hidden, forget_bias=1.0, seed=layer_seed, dtype="float32")
    else:
        layer = RNN(2, config.hidden, seed=layer_seed, dtype="float32")
    return nn.Sequential(layer, LastTimeStep(), nn.Linear(config.hidden, 1, seed=readout_seed, dtype="float32"))


def adding_test_sets(config: AddingConfig) -> dict:
    """``{length: (x, y)}``: ``config.n_test`` test sequences of each of ``config.test_lengths``, float32."""
    return {length: adding_problem(config.n_test, length, seed=config.test_seed, dtype="float32")
            for length in config.test_lengths}


def train_adding(config: AddingConfig, seed=0):
    """Train on fresh sequences along the curriculum; the model and its test MSEs every ``chunk`` steps.

    ``seed`` (an int or a generator) sets the initialisation and the training
    sequences, as independent streams: every chunk of every stage draws its
    sequences from a seed of its own.

    Returns
    -------
    model : nn.Sequential
    curve : list of (steps, lengths, {test length: MSE})
        One entry every ``chunk`` steps: steps done so far, the lengths of the
        stage being trained, and the test MSE on each test length.
    """
    model_seed, data_seed = spawn_seeds(seed, 2)
    model = adding_model(config, model_seed)
    chunks = sum(steps // config.chunk for _, steps in config.curriculum)
    chunk_seeds = iter(spawn_seeds(data_seed, chunks))
    optimizer = Adam(model.parameters(), lr=config.lr)
    tests = adding_test_sets(config)
    curve, done, batch, loss = [], 0, config.batch, nn.MSELoss()
    for stage, (lengths, steps) in enumerate(config.curriculum):
        last_stage = stage == len(config.curriculum) - 1
        for start in range(0, steps, config.chunk):
            per_length = batch * config.chunk // len(lengths)
            seeds = spawn_seeds(next(chunk_seeds), len(lengths))
            sets = [
                adding_problem(per_length, n, seed=s, dtype="float32")
                for n, s in zip(lengths, seeds)
            ]
            for x, y in sets:
                check_data(model, x, y)
            for step in range(config.chunk):
                if last_stage:
                    decay = (config.final_lr / config.lr) ** ((start + step) / steps)
                    optimizer.lr = config.lr * decay
                x, y = sets[step % len(lengths)]
                row = batch * (step // len(lengths))
                rows = slice(row, row + batch)
                train_step(model, loss, optimizer, x[rows, ...], y[rows, ...],
                           clip=config.clip_norm)
            done += config.chunk
            mse = {n: evaluate(model, loss, *xy)["loss"] for n, xy in tests.items()}
            curve.append((done, lengths, mse))
    return model, curve


def wrong_fraction(model, length: int, n: int = 2560, seed: int = 8) -> float:
    """Fraction of ``n`` fresh sequences of ``length`` whose absolute error exceeds :data:`ERROR_THRESHOLD`."""
    x, y = adding_problem(n, length, seed=seed, dtype="float32")
    model.eval()
    errors = np.abs(to_numpy(model.forward(x)) - to_numpy(y))
    return float(np.mean(errors > ERROR_THRESHOLD))


def adding_run(config: AddingConfig, seed: int) -> dict:
    """Train with :func:`train_adding` and score the model; one record.

    Returns
    -------
    dict
        ``steps`` (list), ``curve_mse`` ({test length: list of MSEs, one per
        entry of ``steps``}), ``final_mse`` and ``wrong`` ({test length:
        float}), with test lengths as strings.
    """
    model, curve = train_adding(config, seed)
    return {
        "steps": [done for done, _, _ in curve],
        "curve_mse": {str(n): [mse[n] for _, _, mse in curve] for n in config.test_lengths},
        "final_mse": {str(n): curve[-1][2][n] for n in config.test_lengths},
        "wrong": {str(n): wrong_fraction(model, n, config.n_criterion, config.criterion_seed)
                  for n in config.test_lengths},
    }
