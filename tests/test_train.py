"""The training loop: history, shuffling by seed, early stopping, divergence, progress bar."""

import io

import numpy as np
import pytest

from deepref import nn, optim
from deepref.backend import asarray, to_numpy
from deepref.train import Callback, EarlyStopping, ProgressBar, evaluate, fit


def _blobs(rng, n=80):
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, size=n)
    x = centers[y] + rng.normal(size=(n, 2))
    return asarray(x), asarray(y)


def _model(seed=0):
    return nn.Sequential(nn.Linear(2, 8, seed=seed), nn.Tanh(), nn.Linear(8, 3, seed=seed + 1))


def test_fit_records_training_and_validation_history(rng):
    x, y = _blobs(rng)
    xv, yv = _blobs(rng, 40)
    model = _model()
    history = fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.2), x, y, epochs=15,
                  batch_size=16, validation_data=(xv, yv))
    assert set(history.records) == {"loss", "accuracy", "lr", "val_loss", "val_accuracy"}
    assert history.epochs == 15 and all(len(v) == 15 for v in history.records.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history.last("val_accuracy") > 0.8
    final = evaluate(model, nn.SoftmaxCrossEntropy(), xv, yv)
    assert final["loss"] == pytest.approx(history.last("val_loss"))


def test_epoch_loss_is_the_mean_over_examples_for_full_batch_training(rng):
    x, y = _blobs(rng, 30)
    model = _model()
    loss_before = evaluate(model, nn.SoftmaxCrossEntropy(), x, y)["loss"]
    history = fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1,
                  batch_size=30)
    assert history["loss"][0] == pytest.approx(loss_before)  # recorded before the single update


def _weights(model):
    return [to_numpy(p.data).copy() for p in model.parameters()]


def test_same_seed_same_run_and_other_seed_other_run(rng):
    x, y = _blobs(rng)
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        model = _model()
        fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=3, batch_size=8,
            seed=seed)
        runs[name] = _weights(model)
    assert all(np.array_equal(a, b) for a, b in zip(runs["a"], runs["b"]))
    assert not all(np.array_equal(a, c) for a, c in zip(runs["a"], runs["c"]))


def test_early_stopping_stops_and_restores_the_best_weights(rng):
    x, y = _blobs(rng, 60)
    xv, yv = _blobs(rng, 60)
    yv = asarray((to_numpy(yv) + 1) % 3)  # validation labels scrambled: val_loss rises as training fits
    model = _model()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, state):
            snapshots.append(_weights(state.model))

    history = fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.3), x, y, epochs=50,
                  batch_size=20, validation_data=(xv, yv), callbacks=[Snapshot(), stopper])
    best = int(np.argmin(history["val_loss"]))
    assert history.stopped_epoch == best + 2 < 49
    assert history.best_epoch == best
    assert all(np.array_equal(a, b) for a, b in zip(_weights(model), snapshots[best]))


def test_non_finite_loss_raises_naming_the_epoch_and_step(rng):
    x, y = _blobs(rng)
    corrupt = to_numpy(x).copy()
    corrupt[40, 1] = np.nan  # in the third batch of 16 without shuffling
    model = _model()
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 0, step 2: training diverged"):
        fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1), asarray(corrupt), y,
            epochs=2, batch_size=16, shuffle=False)


def test_mismatched_data_and_bad_epochs_raise(rng):
    x, y = _blobs(rng)
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="same number of examples"):
        fit(model, nn.SoftmaxCrossEntropy(), opt, x, y[:10], epochs=1)
    with pytest.raises(ValueError, match="epochs must be"):
        fit(model, nn.SoftmaxCrossEntropy(), opt, x, y, epochs=0)


def test_quiet_by_default_and_progress_bar_when_verbose(rng, capsys):
    x, y = _blobs(rng, 20)
    model = _model()
    fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=8)
    assert capsys.readouterr().out == ""
    fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=8,
        verbose=True)
    out = capsys.readouterr().out
    assert "epoch 2/2 [########################] 3/3 loss=" in out and out.count("\n") == 2


def test_progress_bar_renders_partial_progress():
    stream = io.StringIO()
    bar = ProgressBar(4, "epoch 1/1", stream=stream, width=8)
    bar.update(1)
    assert stream.getvalue() == "\repoch 1/1 [##......] 1/4"
    bar.close("loss=1")
    assert stream.getvalue().endswith("[########] 4/4 loss=1\n")
