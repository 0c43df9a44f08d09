"""Tests of deepref.activations: the chapter's experiments and their configs."""

import pytest

from deepref.activations import ChoiceConfig, DyingConfig, choice_run, dying_run, standardised_digits
from seed_streams import assert_runs_share_no_stream


def test_standardised_digits_split():
    (x_train, y_train), (x_test, y_test) = standardised_digits()
    assert x_train.shape[1] == x_test.shape[1] == 64
    assert x_train.shape[0] == y_train.shape[0] and x_test.shape[0] == y_test.shape[0]
    assert x_train.shape[0] + x_test.shape[0] < 1797  # the validation fifth is left out


@pytest.mark.parametrize("bad, match", [
    (dict(activation="softplus"), "activation"),
    (dict(lr=0.0), "lr"),
    (dict(epochs=0), "epochs"),
    (dict(hidden=()), "hidden"),
    (dict(hidden=[100]), "hidden"),
    (dict(hidden=(100, 0)), r"hidden\[1\]"),
])
def test_configs_reject_bad_values(bad, match):
    for config in (DyingConfig, ChoiceConfig):
        with pytest.raises(ValueError, match=match):
            config(**bad)
    with pytest.raises(ValueError, match="momentum"):
        ChoiceConfig(momentum=-0.1)


def test_dying_run_is_repeatable_and_records_what_the_chapter_reads():
    config = DyingConfig(activation="leaky ReLU", epochs=2, hidden=(16, 16))
    first, second = dying_run(config, 3), dying_run(config, 3)
    assert first == second
    assert len(first["dead_fraction"]) == 2 and first["zero_gradient_units"] == 0.0
    assert 0.0 <= first["one_piece_fraction"] <= 1.0 and 0.0 <= first["test_accuracy"] <= 1.0
    maxout = dying_run(DyingConfig(activation="maxout", epochs=1, hidden=(8,)), 0)
    assert maxout["dead_fraction"] == []
    assert dying_run(DyingConfig(activation="tanh", epochs=1, hidden=(8,)), 0)["one_piece_fraction"] is None


def test_choice_run_records_loss_and_accuracy():
    record = choice_run(ChoiceConfig(activation="sigmoid", epochs=1, hidden=(8,)), 0)
    assert record["train_loss"] > 0 and 0.0 <= record["test_accuracy"] <= 1.0


@pytest.mark.parametrize("run, config", [
    (dying_run, DyingConfig(epochs=1, hidden=(8,))),
    (choice_run, ChoiceConfig(epochs=1, hidden=(8,))),
])
def test_runs_s_and_s_plus_1_share_no_stream(monkeypatch, run, config):
    from deepref.activations import experiments

    assert_runs_share_no_stream(monkeypatch, experiments, "_network", run, config)
