"""Which experiments each chapter can reproduce, at the book's size and at full size.

Each :class:`Experiment` names a library function ``f(config, seed) ->
record`` (the one its chapter calls), the configs and seeds of the chapter's
small run and of the full run, and how long each took here.
:func:`reproduce` runs a chapter's experiments through
:func:`deepref.experiments.run_sweep` and writes, per experiment, the results
table and a figure; ``python -m deepref reproduce`` is its command line.

>>> [experiment.name for experiment in experiments("optimization")]
['softmax_regression', 'practice_project']
>>> experiments("optimization", ["adam"])
Traceback (most recent call last):
...
ValueError: unknown experiment 'adam' of chapter 'optimization'; expected one of 'softmax_regression', \
'practice_project'
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import experiments as sweeps
from .activations.experiments import NONLINEARITIES, ChoiceConfig, DyingConfig
from .generalization.experiments import MemorisationConfig
from .landscape.experiments import WidthSpreadConfig
from .lm.experiments import (
    ZAREMBA_SMALL,
    ZAREMBA_SMALL_ADAM,
    AgreementConfig,
    PTBConfig,
    ReviewConfig,
    SkipGramConfig,
    WordCharConfig,
)
from .neuro.experiments import (
    HOPFIELD_FULL_LOADS,
    HOPFIELD_LOADS,
    DigitsConfig,
    HopfieldConfig,
    ReceptiveFieldConfig,
)
from .optimization.experiments import practice_project_grid, softmax_regression_grid
from .rl.experiments import DQN_SOLVE, DQN_VARIANTS, NO_TARGET_SLOW, DQNRunConfig, LearnerConfig
from .rl.pg import ALGORITHMS as _PG_LEARNERS
from .rnn.experiments import AddingConfig
from .stn.experiments import MODELS, RTSConfig


@dataclass(frozen=True)
class Experiment:
    """A chapter's experiment: its function and its small (book) and full grids.

    ``metric`` is the result plotted per config (a dotted name reaches into a
    nested dict); ``cpu_seconds`` and ``full_cpu_seconds`` are the CPU time of
    the whole small and full sweeps, summed over the runs, on this project's
    2-core machine (measured with ``python -m deepref reproduce``, or
    estimated where ``timing`` says so).
    """

    name: str
    function: str
    description: str
    small: tuple
    small_seeds: tuple
    full: tuple
    full_seeds: tuple
    metric: str
    cpu_seconds: float
    full_cpu_seconds: float
    timing: str = "measured"

    def runs(self, full: bool = False) -> list[sweeps.Run]:
        """The grid of the small or the full sweep."""
        configs, seeds = (self.full, self.full_seeds) if full else (self.small, self.small_seeds)
        return sweeps.grid(self.name, self.function, configs, seeds)


_DYING = (DyingConfig("ReLU", lr=0.001), *(DyingConfig(k) for k in ("ReLU", "leaky ReLU", "maxout")))
_CHOICES = tuple(ChoiceConfig(k) for k in NONLINEARITIES)
_DQN_VARIANTS = tuple(DQNRunConfig(config) for config in DQN_VARIANTS.values())
_ADDING_SMALL = AddingConfig()
_ADDING_FULL = replace(_ADDING_SMALL, curriculum=(*_ADDING_SMALL.curriculum[:3], ((100, 50), 5400)))
_WORD_CHAR = WordCharConfig()
_LOADED = "book size measured; full measured: the sum of its CPU times on the machine shared with other jobs"

CHAPTERS: dict[str, tuple[Experiment, ...]] = {
    "activations": (
        Experiment(
            "dying_units", "deepref.activations.experiments:dying_run",
            "ReLU networks trained with Adam at the usual rate and at 50 times it, leaky ReLU and maxout at the "
            "large rate: dead units and test accuracy on the digits (the book: 12 seeds; full: 50)",
            _DYING, tuple(range(12)), _DYING, tuple(range(50)),
            metric="test_accuracy", cpu_seconds=21.0, full_cpu_seconds=88.0,
            timing="full measured; book size estimated from it"),
        Experiment(
            "choice", "deepref.activations.experiments:choice_run",
            "sigmoid, tanh, ReLU, leaky ReLU and maxout networks trained alike with SGD and momentum on the "
            "digits (the book: 12 seeds; full: tanh and ReLU, 50 seeds)",
            _CHOICES, tuple(range(12)), tuple(ChoiceConfig(k) for k in ("tanh", "ReLU")), tuple(range(50)),
            metric="test_accuracy", cpu_seconds=19.0, full_cpu_seconds=26.0,
            timing="full measured; book size estimated from it"),
    ),
    "optimization": (
        Experiment(
            "softmax_regression", "deepref.optimization.experiments:softmax_regression_run",
            "Kingma and Ba's comparison: softmax regression, Adam / SGD + Nesterov / AdaGrad over a rate grid",
            tuple(softmax_regression_grid(15)), (0,), tuple(softmax_regression_grid(45)), tuple(range(5)),
            metric="final_loss", cpu_seconds=2.0, full_cpu_seconds=14.0),
        Experiment(
            "practice_project", "deepref.optimization.experiments:practice_project_run",
            "the practice project: optimizers, rates, batch sizes and inits on the digits",
            tuple(practice_project_grid(20)), (0,), tuple(practice_project_grid(60)), tuple(range(5)),
            metric="best_val_accuracy", cpu_seconds=3.0, full_cpu_seconds=23.0),
    ),
    "nonconvex": (
        Experiment(
            "width_spread", "deepref.landscape.experiments:width_spread_run",
            "spread of final losses over seeds, narrow against wide networks",
            tuple(WidthSpreadConfig(width=w) for w in (4, 64)), tuple(range(20)),
            tuple(WidthSpreadConfig(width=w) for w in (4, 16, 64, 256)), tuple(range(50)),
            metric="test_loss", cpu_seconds=7.0, full_cpu_seconds=45.0),
    ),
    "generalization": (
        Experiment(
            "memorisation", "deepref.generalization.experiments:memorisation_run",
            "epochs to fit true against random labels (Zhang et al. 2017)",
            tuple(MemorisationConfig(labels=k) for k in ("true", "random")), (11,),
            tuple(MemorisationConfig(labels=k, n_train=n) for n in (300, 1000) for k in ("true", "random")),
            tuple(range(10)), metric="epochs", cpu_seconds=2.0, full_cpu_seconds=50.0),
    ),
    "rnn": (
        Experiment(
            "adding", "deepref.rnn.experiments:adding_run",
            "the adding problem with a curriculum, LSTM against tanh RNN",
            tuple(replace(_ADDING_SMALL, kind=k) for k in ("LSTM", "RNN")), (0,),
            tuple(replace(_ADDING_FULL, kind=k) for k in ("LSTM", "RNN")), tuple(range(5)),
            metric="final_mse.100", cpu_seconds=23.0, full_cpu_seconds=243.0),
    ),
    "stn": (
        Experiment(
            "rts_benchmark", "deepref.stn.experiments:rts_benchmark",
            "test error of FCN, ST-FCN, CNN and ST-CNN on the RTS-distorted digits (Jaderberg et al. 2015, Table 1)",
            tuple(RTSConfig(model=m, n_train=3000, n_test=1000, epochs=12) for m in MODELS), (0, 1, 2),
            tuple(RTSConfig(model=m, n_train=20000, n_test=5000, epochs=30) for m in MODELS), tuple(range(5)),
            metric="test_error", cpu_seconds=60.0, full_cpu_seconds=1774.0,
            timing="book size estimated from the recorded full run"),
    ),
    "language_models": (
        Experiment(
            "ptb_rnn", "deepref.lm.experiments:ptb_run",
            "PTB test perplexity of an LSTM LM alone and interpolated with KN5 (Mikolov 2012); --full trains "
            "Zaremba et al.'s small 2 x 200 LSTM with their recipe (SGD, halving schedule), and for comparison "
            "with Adam at a constant rate; resumable after every pass with DEEPREF_CHECKPOINTS=FOLDER",
            (PTBConfig(),), (0, 1),
            (PTBConfig(lm=ZAREMBA_SMALL, valid_tokens=None, eval_streams=1), PTBConfig(lm=ZAREMBA_SMALL_ADAM,
                                                                                   valid_tokens=None)), (0,),
            metric="rnn_test", cpu_seconds=23.0, full_cpu_seconds=4100.0,
            timing="book size measured; full measured: the SGD recipe 2,810 s, the Adam run 1,290 s"),
        Experiment(
            "ptb_budget", "deepref.lm.experiments:ptb_run",
            "the chapter's budget LSTM on PTB (250 windows, a third of one pass), alone and interpolated with KN5; "
            "full: 20 seeds",
            (PTBConfig(),), (0,), (PTBConfig(),), tuple(range(20)), metric="rnn_test",
            cpu_seconds=12.0, full_cpu_seconds=244.0,
            timing=_LOADED),
        Experiment(
            "agreement", "deepref.lm.experiments:agreement_run",
            "the agreement language: Kneser-Ney n-grams of orders 2-7 and an LSTM against the exact entropy floor; "
            "full: 20 seeds",
            (AgreementConfig(),), (0,), (AgreementConfig(),), tuple(range(20)), metric="rnn", cpu_seconds=3.0,
            full_cpu_seconds=64.0,
            timing=_LOADED),
        Experiment(
            "word_vs_char", "deepref.lm.experiments:word_char_run",
            "word-level against character-level LSTM on the Python documentation, in bits per character; "
            "full: 20 seeds",
            (_WORD_CHAR,), (0,), (_WORD_CHAR,), tuple(range(20)), metric="word_bpc",
            cpu_seconds=4.0, full_cpu_seconds=105.0,
            timing=_LOADED),
        Experiment(
            "skipgram", "deepref.lm.experiments:skipgram_run",
            "skip-gram on 150,000 PTB tokens: centred cosines of months, weekdays and random pairs, and the "
            "neighbours of monday; full: 20 seeds",
            (SkipGramConfig(),), (0,), (SkipGramConfig(),), tuple(range(20)), metric="weekdays",
            cpu_seconds=3.0, full_cpu_seconds=77.0,
            timing=_LOADED),
        Experiment(
            "movie_reviews", "deepref.lm.experiments:movie_review_run",
            "10-fold CV on the movie-review snippets: binarised MNB (Wang and Manning 2012) and a GRU on the same "
            "folds (the book: 2 folds of one shuffle; full: all 10 folds of 10 shuffles)",
            (ReviewConfig(),), (0,), (ReviewConfig(rnn_folds=10),), tuple(range(10)), metric="mean.rnn",
            cpu_seconds=11.0, full_cpu_seconds=504.0,
            timing=_LOADED),
    ),
    "neuroscience": (
        Experiment(
            "snn_digits", "deepref.neuro.experiments:digits_run",
            "a spiking network trained with a surrogate gradient against a ReLU network of the same size, "
            "on the digits (the book trains one seed of each); full: ten seeds, also 128 hidden units",
            tuple(DigitsConfig(model=m) for m in ("spiking", "relu")), (0,),
            tuple(DigitsConfig(model=m, hidden=h) for h in (64, 128) for m in ("spiking", "relu")),
            tuple(range(10)), metric="test_accuracy", cpu_seconds=8.0, full_cpu_seconds=190.0,
            timing="book size measured; full estimated from one seed of each config"),
        Experiment(
            "hopfield_capacity", "deepref.neuro.experiments:hopfield_retrieval_run",
            "fraction of random patterns a Hopfield network keeps against the load P / N, N = 100 to 400; "
            "full: N up to 800, loads in steps of 0.01 (to 0.28; to 0.22 for N = 800), ten pattern sets",
            tuple(HopfieldConfig(n=n, load=a) for n in (100, 200, 400) for a in HOPFIELD_LOADS), tuple(range(4)),
            tuple(HopfieldConfig(n=n, load=a) for n in (100, 200, 400, 800) for a in HOPFIELD_FULL_LOADS
                  if n < 800 or a <= 0.22),
            tuple(range(10)), metric="retrieved_fraction", cpu_seconds=4.0, full_cpu_seconds=110.0,
            timing="book size measured; full estimated from one seed of each config"),
        Experiment(
            "hopfield_capacity_1600", "deepref.neuro.experiments:hopfield_retrieval_run",
            "the Hopfield scan at N = 1600 (full only: loads 0.10 to 0.22 in steps of 0.01, five pattern sets; "
            "the book size is one load)",
            (HopfieldConfig(n=1600, load=0.15),), (0,),
            tuple(HopfieldConfig(n=1600, load=a) for a in HOPFIELD_FULL_LOADS if a <= 0.22), tuple(range(5)),
            metric="retrieved_fraction", cpu_seconds=6.0, full_cpu_seconds=350.0,
            timing="estimated from one seed of each config"),
        Experiment(
            "receptive_fields", "deepref.neuro.experiments:receptive_field_run",
            "FastICA on 10 x 10 patches of scikit-learn's two photographs against PCA and random filters, and "
            "the energy model built from the ICA Gabors that form quadrature pairs; the book: one draw of the "
            "patches and of ICA's start; full: 20 draws",
            (ReceptiveFieldConfig(),), (0,), (ReceptiveFieldConfig(),), tuple(range(20)),
            metric="ICA filters.orientation selectivity", cpu_seconds=17.0, full_cpu_seconds=251.0,
            timing="measured"),
    ),
    "deep_rl": (
        Experiment(
            "dqn", "deepref.rl.experiments:dqn_run",
            "DQN on CartPole-v1 with and without its target network or replay (12 000 steps); "
            "full: ten seeds, no target network also at Mnih et al.'s rate, and DQN trained until 100 "
            "evaluation episodes average 475 (the command line's run)",
            _DQN_VARIANTS, (0,), (*_DQN_VARIANTS, DQNRunConfig(NO_TARGET_SLOW), DQN_SOLVE), tuple(range(10)),
            metric="eval_mean", cpu_seconds=9.0, full_cpu_seconds=714.0),
        Experiment(
            "learners", "deepref.rl.experiments:learner_run",
            "REINFORCE, A2C and PPO on CartPole-v1 with DQN's 12 000 steps; full: ten seeds",
            tuple(LearnerConfig(learner=k) for k in _PG_LEARNERS), (0,),
            tuple(LearnerConfig(learner=k) for k in _PG_LEARNERS), tuple(range(10)),
            metric="eval_mean", cpu_seconds=3.0, full_cpu_seconds=25.0),
    ),
}
"""The experiments of each chapter, by chapter name (the chapter's file name in ``book/``)."""


def experiments(chapter: str, names: Sequence[str] | None = None) -> list[Experiment]:
    """The experiments of ``chapter`` (all, or those in ``names``); a clear error for unknown names."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; chapters with experiments: {', '.join(map(repr, CHAPTERS))}")
    known = {experiment.name: experiment for experiment in CHAPTERS[chapter]}
    for name in names or ():
        if name not in known:
            raise ValueError(f"unknown experiment {name!r} of chapter {chapter!r}; "
                             f"expected one of {', '.join(map(repr, known))}")
    return [known[name] for name in names] if names else list(known.values())


def recorded_sweep(chapter: str, folder, name: str) -> tuple[object, list[dict]]:
    """The full configuration of ``chapter``'s experiment ``name`` and its recorded result for every full seed.

    For an experiment with one full configuration (a sweep over seeds), as
    recorded by ``python -m deepref reproduce CHAPTER --full`` under ``folder``;
    see :func:`deepref.experiments.recorded_results` for several configurations.

    Returns
    -------
    config, list of dict
        The configuration, and one result per full seed, in their order.

    Raises ``ValueError`` naming the missing seeds if a run is not recorded.

    >>> recorded_sweep("language_models", "no-such-folder", "agreement")
    Traceback (most recent call last):
    ...
    ValueError: no-such-folder/agreement has no finished run of {...} for seeds [0, 1, ...
    """
    (experiment,) = experiments(chapter, [name])
    if len(experiment.full) != 1:
        raise ValueError(f"{chapter}'s {name} has {len(experiment.full)} full configurations; "
                         "read each with deepref.experiments.recorded_results")
    (config,) = experiment.full
    return config, sweeps.recorded_results(folder, name, config, experiment.full_seeds)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def listing() -> str:
    """What each chapter can reproduce: runs and CPU time of the small and full sweeps here."""
    lines = []
    for chapter, chapter_experiments in CHAPTERS.items():
        lines.append(chapter)
        for e in chapter_experiments:
            small, full = len(e.small) * len(e.small_seeds), len(e.full) * len(e.full_seeds)
            lines.append(f"  {e.name}: {e.description}")
            lines.append(f"    book size: {_runs(small)}, {_duration(e.cpu_seconds)} CPU;"
                         f" --full: {_runs(full)}, {_duration(e.full_cpu_seconds)} CPU ({e.timing})")
    lines.append("CPU times are summed over the runs on this project's 2-core machine; on an idle machine "
                 "the wall time is about the CPU time divided by the workers.")
    return "\n".join(lines)


def recorded_runs(chapter: str, out, names: Sequence[str] | None = None) -> dict[str, int]:
    """Per experiment, the finished runs already in ``out`` (``out/<experiment>/runs.jsonl``), which a run reuses."""
    counts = {}
    for e in experiments(chapter, names):
        rows = sweeps.read_rows(Path(out) / e.name / sweeps.RUNS_FILE)
        counts[e.name] = sum(row.get("status") == "ok" for row in rows)
    return counts


def forget_runs(chapter: str, out, names: Sequence[str] | None = None) -> None:
    """Delete the recorded runs and tables of ``chapter``'s experiments under ``out``, so that all run again."""
    for e in experiments(chapter, names):
        for file in (sweeps.RUNS_FILE, sweeps.TABLE_FILE):
            (Path(out) / e.name / file).unlink(missing_ok=True)


def _metric(row: dict, metric: str) -> float:
    value = row.get("result", {})
    for part in metric.split("."):
        value = value[part]
    return float(value)


def _flat(config: dict, prefix: str = "") -> dict:
    """``config`` with its nested configs spelled out as dotted fields (``lm.hidden_size``)."""
    flat = {}
    for key, value in config.items():
        flat.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


def _labels(rows: Sequence[dict]) -> tuple[str, list[str]]:
    """The config fields that vary across the sweep, and each row's values of them."""
    configs = [_flat(row["config"]) for row in rows]
    varying = [k for k in configs[0] if len({repr(c.get(k)) for c in configs}) > 1] or list(configs[0])[:1]
    return ", ".join(varying), [", ".join(str(c[k]) for k in varying) for c in configs]


def summary_figure(experiment: Experiment, rows: Sequence[dict]):
    """A figure of ``experiment.metric`` per config (one line each): a dot per seed, a bar at the mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [row for row in rows if row["status"] == "ok"]
    fields, labels = _labels(ok) if ok else ("", [])
    groups: dict[str, list[float]] = {}
    for label, row in zip(labels, ok):
        groups.setdefault(label, []).append(_metric(row, experiment.metric))
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(groups)))
    for i, values in enumerate(groups.values()):
        ax.plot(values, np.full(len(values), i), "o", color="tab:blue", alpha=0.6)
        ax.plot([np.mean(values)] * 2, [i - 0.3, i + 0.3], color="black")
    ax.set_yticks(range(len(groups)), list(groups), fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=experiment.metric, ylabel=fields)
    failed = len(rows) - len(ok)
    ax.set_title(f"{experiment.name}: {len(ok)} runs" + (f", {failed} failed" if failed else ""), fontsize=10)
    fig.tight_layout()
    return fig


def _executor(scheduler: str | None, timeout: float):
    return sweeps.dask_executor(scheduler, timeout) if scheduler else contextlib.nullcontext(None)


def reproduce(chapter: str, out, full: bool = False, names: Sequence[str] | None = None,
              workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0,
              progress: bool = True, figures: bool = True) -> dict[str, sweeps.SweepResult]:
    """Run ``chapter``'s experiments (small or ``full``) and write tables and figures under ``out``.

    Each experiment gets a folder ``out/<experiment>`` with ``runs.jsonl``,
    ``table.csv`` and ``<experiment>.png``; a rerun resumes. Names, the
    scheduler and matplotlib are checked before anything is written.

    Parameters
    ----------
    workers : int, optional
        Processes of the local pool (default: this machine's CPUs).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) to run on instead.
    timeout : float
        Seconds to wait for the scheduler.
    """
    chosen = experiments(chapter, names)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    grids = {e.name: e.runs(full) for e in chosen}
    results = {}
    with _executor(scheduler, timeout) as executor:
        if figures and importlib.util.find_spec("matplotlib") is None:
            raise ImportError('the figures need matplotlib: pip install -e ".[repro]" in a clone of deepref '
                              "(or pass --no-figures, figures=False in Python)")
        for e in chosen:
            result = sweeps.run_sweep(grids[e.name], Path(out) / e.name, executor=executor, workers=workers,
                                      progress=progress)
            if figures:
                import matplotlib.pyplot as plt

                fig = summary_figure(e, result.rows)
                fig.savefig(result.folder / f"{e.name}.png", dpi=120)
                plt.close(fig)
            results[e.name] = result
    return results


def describe(results: dict[str, sweeps.SweepResult]) -> str:
    """One line per experiment: runs executed, resumed and failed, and where the table is."""
    lines = []
    for name, result in results.items():
        cpu = sum(row.get("cpu_seconds", math.nan) for row in result.rows)
        lines.append(f"{name}: {len(result.rows)} runs ({result.executed} now, {result.resumed} resumed, "
                     f"{result.failed} failed), {cpu:.0f} s CPU in all -> {result.folder / sweeps.TABLE_FILE}")
    return "\n".join(lines)
