"""Run a grid of experiment configurations x seeds through any executor, resumably.

An *experiment* is a function ``f(config, seed) -> record``: a config (a
dataclass or a dict of plain values) and an integer seed in, a record of
results (a dict or a dataclass instance of plain values and arrays) out.
Every chapter's experiments are such functions (for example
:func:`deepref.optimization.experiments.practice_project_run`); the chapter calls
them with small configs, and :func:`run_sweep` runs the same functions at full size
over many configs and seeds:

- through any :class:`concurrent.futures.Executor`: a process pool sized to
  the machine by default, or a Dask cluster's (:func:`dask_executor`);
- with a progress bar (tqdm, when installed);
- writing one JSON line per finished run to ``runs.jsonl`` as soon as it
  finishes (flushed and synced), so that a sweep killed half-way resumes
  without redoing the runs already recorded;
- recording a run that raises as a row with ``status = "error"`` and the
  error's message, instead of stopping the sweep;
- starting the runs seed by seed (every config's first seed, then every
  config's second ...), so that an interrupted sweep has compared all
  configs on its first seeds;
- keeping ``table.csv`` up to date after every run: one row per finished
  run in grid order, the config, the seed and the scalar results (durations
  left out, so that the table is identical whichever executor produced it).

A worker computes on the backend and default dtype that were current where
the sweep was started, so the same seed and backend give the same numbers on a
process pool, a Dask cluster or in the calling process.

>>> import tempfile
>>> runs = grid("demo", "deepref.experiments:demo_experiment", [{"n": 3}, {"n": 5}], seeds=[0, 1])
>>> with tempfile.TemporaryDirectory() as out:
...     rows = run_sweep(runs, out, executor=SerialExecutor(), progress=False).rows
>>> [(row["config"]["n"], row["seed"], row["status"]) for row in rows]
[(3, 0, 'ok'), (3, 1, 'ok'), (5, 0, 'ok'), (5, 1, 'ok')]
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import dataclasses
import importlib
import io
import itertools
import json
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from . import backend
from .validation import check_count, check_in_range

RUNS_FILE = "runs.jsonl"
"""Name of the incremental results file (one JSON object per line) in a sweep's folder."""

TABLE_FILE = "table.csv"
"""Name of the final results table (one row per run, grid order) in a sweep's folder."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a sweep: experiment ``function`` (``"module:name"``) on ``config`` with ``seed``."""

    experiment: str
    function: str
    config: object
    seed: int

    @property
    def config_dict(self) -> dict:
        """The config as a dict of plain (JSON) values."""
        return config_to_dict(self.config)

    @property
    def key(self) -> str:
        """Identity of the run in a results file: experiment, config and seed, as canonical JSON."""
        return json.dumps({"experiment": self.experiment, "config": self.config_dict, "seed": self.seed},
                          sort_keys=True)


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` did: all ``rows`` in grid order, and how many runs it executed now."""

    rows: list[dict]
    executed: int
    resumed: int
    failed: int
    folder: Path


class SerialExecutor(cf.Executor):
    """An executor that runs each call at once in the calling process (for debugging and doctests).

    :func:`run_sweep` hands it one run at a time (``max_in_flight``), so that
    each row is written as soon as its run has finished.
    """

    max_in_flight = 1

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the caller through the future, like a pool does
            future.set_exception(err)
        return future


def demo_experiment(config: dict, seed: int) -> dict:
    """A tiny experiment for examples and tests: statistics of ``config["n"]`` seeded normal draws.

    Takes ``config.get("seconds", 0)`` seconds longer (to stand for real work),
    and raises ``ValueError`` when ``n`` is not positive, so that a failing run
    can be shown too.
    """
    n = config["n"]
    if n < 1:
        raise ValueError(f"n must be a positive number of draws, got {n}")
    time.sleep(config.get("seconds", 0))
    draws = np.random.default_rng(seed).normal(size=n)
    return {"mean": float(draws.mean()), "max": float(draws.max()), "draws": draws.tolist()}


def config_to_dict(config) -> dict:
    """A config (dataclass or mapping) as a dict of plain JSON values."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise TypeError(f"a config must be a dataclass instance or a dict, got {type(config).__name__}")
    return _plain(config)


def _plain(value):
    """``value`` with NumPy scalars/arrays, tuples and dataclasses turned into JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "__array_namespace__"):  # a backend array (CuPy, array-api-strict)
        return backend.to_numpy(value).tolist()
    raise TypeError(f"cannot record a value of type {type(value).__name__} in a results table")


def resolve(function: str):
    """The callable named ``"package.module:name"``; a clear error if it does not exist."""
    module_name, _, name = function.partition(":")
    if not module_name or not name:
        raise ValueError(f"an experiment function is named 'package.module:name', got {function!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"experiment function {function!r}: cannot import {module_name!r} ({err})") from err
    if not callable(getattr(module, name, None)):
        raise ValueError(f"experiment function {function!r}: {module_name} has no function {name!r}")
    return getattr(module, name)


def grid(experiment: str, function: str, configs: Iterable, seeds: Iterable[int]) -> list[Run]:
    """Every config with every seed (configs outer, seeds inner), checked before anything runs."""
    resolve(function)
    seeds = list(seeds)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seed!r}")
    runs = [Run(experiment, function, config, int(seed)) for config in configs for seed in seeds]
    keys = [run.key for run in runs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"experiment {experiment!r}: the grid repeats a config or a seed")
    for run in runs:
        config_to_dict(run.config)
    return runs


def execute(run: Run, backend_name: str, dtype_name: str) -> dict:
    """Run one experiment in a worker and return its row (``status`` "ok" or "error").

    The row holds ``experiment``, ``config``, ``seed``, ``backend``, ``status``,
    ``result`` (a dict) or ``error`` (the message) and ``traceback``, and
    ``cpu_seconds`` / ``wall_seconds`` of this run.
    """
    row = {"experiment": run.experiment, "config": run.config_dict, "seed": run.seed, "backend": backend_name}
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        with backend.use_backend(backend_name), backend.use_default_dtype(dtype_name):
            result = resolve(run.function)(run.config, run.seed)
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            result = dataclasses.asdict(result)
        if not isinstance(result, dict):
            raise TypeError(f"{run.function} returned {type(result).__name__}; an experiment returns a dict "
                            "or a dataclass instance")
        row.update(status="ok", result=_plain(result))
    except Exception as err:  # recorded in the table; the sweep goes on
        row.update(status="error", error=f"{type(err).__name__}: {err}",
                   traceback="".join(traceback.format_exception(err)))
    row.update(cpu_seconds=time.process_time() - cpu, wall_seconds=time.perf_counter() - wall)
    return row


def read_rows(path: Path) -> list[dict]:
    """The rows of a ``runs.jsonl`` file; a last line cut off by a kill is dropped from the file.

    Raises ``ValueError`` naming the line if a complete line is not valid JSON.
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]
    rows = []
    for number, line in enumerate(complete, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {number}: not a results row ({err}); remove the line to resume") from err
    if tail:  # written without its newline: the process stopped mid-write
        _write_atomically(path, "".join(line + "\n" for line in complete))
    return rows


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (a temporary file renamed over it)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _row_key(row: dict) -> str:
    return json.dumps({"experiment": row["experiment"], "config": row["config"], "seed": row["seed"]},
                      sort_keys=True)


def _append(stream: io.TextIOBase, row: dict) -> None:
    stream.write(json.dumps(row) + "\n")
    stream.flush()
    os.fsync(stream.fileno())


def default_workers() -> int:
    """Worker processes for this machine: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def process_pool(workers: int | None = None) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` fresh (spawned) processes, :func:`default_workers` by default."""
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


@contextlib.contextmanager
def dask_executor(address: str, timeout: float = 10.0) -> Iterator[cf.Executor]:
    """Connect to the Dask scheduler at ``address`` and yield its ``concurrent.futures`` executor.

    Start a cluster with ``dask scheduler`` and ``dask worker ADDRESS`` (one
    thread per worker: ``--nthreads 1``); every worker needs deepref installed.

    Raises
    ------
    ImportError
        If dask.distributed is not installed (the ``repro`` extra).
    ConnectionError
        If no scheduler answers at ``address`` within ``timeout`` seconds.
    """
    try:
        from distributed import Client
    except ImportError as err:
        raise ImportError(
            'a Dask cluster needs dask.distributed: pip install -e ".[repro]" in a clone of deepref') from err
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s: {err}") from err
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


def _progress_bar(total: int, initial: int, description: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is optional
        return None
    return tqdm(total=total, initial=initial, desc=description, unit="run")


def run_sweep(runs: Sequence[Run], out, executor: cf.Executor | None = None, workers: int | None = None,
              progress: bool = True, retry_failed: bool = True) -> SweepResult:
    """Run every run not yet recorded in ``out/runs.jsonl``, keeping ``out/table.csv`` up to date.

    Parameters
    ----------
    runs : sequence of Run
        From :func:`grid`.
    out : path
        Folder of the sweep; created if missing. Rows already in its
        ``runs.jsonl`` are kept and their runs skipped.
    executor : concurrent.futures.Executor, optional
        Where the runs execute; by default a :func:`process_pool` of
        ``workers`` processes, shut down at the end. All runs are submitted
        at once, unless the executor has a ``max_in_flight`` attribute.
    workers : int, optional
        Size of the default pool (ignored with ``executor``).
    progress : bool
        Show a tqdm progress bar.
    retry_failed : bool
        Run again the runs recorded with an error (their old rows are removed).

    Returns
    -------
    SweepResult
        ``rows`` in the order of ``runs``; ``executed`` runs executed now,
        ``resumed`` found finished, ``failed`` of all rows with an error.
    """
    runs = list(runs)
    for run in runs:
        resolve(run.function)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUNS_FILE
    wanted = {run.key for run in runs}
    rows = read_rows(path)
    if retry_failed and any(row.get("status") == "error" for row in rows):
        rows = [row for row in rows if row.get("status") != "error"]
        _write_atomically(path, "".join(json.dumps(row) + "\n" for row in rows))
    recorded = {_row_key(row): row for row in rows}
    seed_rank = {seed: rank for rank, seed in enumerate(dict.fromkeys(run.seed for run in runs))}
    pending = sorted((run for run in runs if run.key not in recorded), key=lambda run: seed_rank[run.seed])
    resumed = len(wanted) - len(pending)
    bar = _progress_bar(len(runs), resumed, folder.name, progress)
    own_pool = executor is None and pending
    if own_pool:
        executor = process_pool(min(workers or default_workers(), len(pending)))
    dtype = backend.get_default_dtype()
    name = backend.get_backend()
    window = getattr(executor, "max_in_flight", None) or len(pending)
    queue, futures = iter(pending), {}
    try:
        with path.open("a") as stream:
            for run in itertools.islice(queue, window):
                futures[executor.submit(execute, run, name, dtype)] = run
            while futures:
                finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    row = _row_of(future, futures.pop(future), name)
                    _append(stream, row)
                    recorded[_row_key(row)] = row
                    _write_atomically(folder / TABLE_FILE, table_csv([recorded[r.key] for r in runs
                                                                      if r.key in recorded]))
                    if bar is not None:
                        bar.update(1)
                for run in itertools.islice(queue, len(finished)):
                    futures[executor.submit(execute, run, name, dtype)] = run
    finally:
        for future in futures:
            future.cancel()
        if own_pool:
            executor.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    ordered = [recorded[run.key] for run in runs]
    _write_atomically(folder / TABLE_FILE, table_csv(ordered))
    failed = sum(row["status"] == "error" for row in ordered)
    return SweepResult(ordered, executed=len(pending), resumed=resumed, failed=failed, folder=folder)


def _row_of(future: cf.Future, run: Run, backend_name: str) -> dict:
    """The row a finished future returned, or an error row if its worker died."""
    try:
        return future.result()
    except Exception as err:  # the worker itself died (killed, out of memory)
        return {"experiment": run.experiment, "config": run.config_dict, "seed": run.seed, "backend": backend_name,
                "status": "error", "error": f"{type(err).__name__}: {err}"}


def _is_duration(name: str) -> bool:
    """Result fields named ``seconds`` or ``..._seconds`` are durations: kept in runs.jsonl, not in the table."""
    return name == "seconds" or name.endswith("_seconds")


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _scalars(record: dict) -> dict:
    """The scalar entries of ``record``, those of nested dicts too as ``"outer.inner"``."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in _scalars(value).items()})
        elif _scalar(value):
            flat[key] = value
    return flat


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return "" if value is None else str(value)


def table_csv(rows: Sequence[dict]) -> str:
    """Rows as CSV: experiment, seed, config fields, status, scalar results, error.

    Nested dicts of results become ``outer.inner`` columns; durations
    (:func:`_is_duration`) are left out, so that the table does not depend on
    the machine or the executor.
    """
    columns = ["experiment", "seed"]
    flat = []
    for row in rows:
        record = {"experiment": row["experiment"], "seed": row["seed"]}
        record.update(_scalars(row["config"]))
        record["status"] = row["status"]
        record.update({k: v for k, v in _scalars(row.get("result", {})).items()
                       if k not in record and not _is_duration(k)})
        record["error"] = row.get("error")
        flat.append(record)
        columns += [k for k in record if k not in columns]
    columns = [c for c in columns if c != "error"] + ["error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in flat:
        writer.writerow([_cell(record.get(c)) for c in columns])
    return buffer.getvalue()


# Reading a recorded sweep back, and summarising results over seeds: what a
# chapter does with a record of ``python -m deepref reproduce CHAPTER --full``.


def recorded_results(folder, name: str, config, seeds) -> list[dict]:
    """The recorded result of ``config`` for each of ``seeds``, from ``folder/<name>/runs.jsonl``.

    Parameters
    ----------
    folder : str or Path
        The output of a sweep (``python -m deepref reproduce CHAPTER --full``).
    name : str
        The experiment's name: the sub-folder that holds its ``runs.jsonl``.
    config : dataclass or dict
        The configuration whose runs are wanted (compared as plain JSON values).
    seeds : sequence of int

    Returns
    -------
    list of dict
        One result per seed, in the order of ``seeds``.

    Raises ``ValueError`` naming the missing seeds where a run is not recorded
    or did not finish.

    >>> recorded_results("no-such-folder", "demo", {"n": 3}, [0, 1])
    Traceback (most recent call last):
    ...
    ValueError: no-such-folder/demo has no finished run of {'n': 3} for seeds [0, 1]; record it with ...
    """
    key = json.dumps(config_to_dict(config), sort_keys=True)
    runs = {row["seed"]: row["result"] for row in read_rows(Path(folder) / name / RUNS_FILE)
            if row["status"] == "ok" and json.dumps(row["config"], sort_keys=True) == key}
    missing = [seed for seed in seeds if seed not in runs]
    if missing:
        raise ValueError(f"{folder}/{name} has no finished run of {config_to_dict(config)} for seeds {missing}; "
                         "record it with python -m deepref reproduce CHAPTER --full")
    return [runs[seed] for seed in seeds]


def column(results: Sequence[dict], key: str) -> np.ndarray:
    """One recorded value of every run, shape ``(runs,)``.

    >>> column([{"ppl": 120}, {"ppl": 130.5}], "ppl")
    array([120. , 130.5])
    """
    return np.array([result[key] for result in results], dtype=float)


def iqm(scores, axis=-1):
    """Interquartile mean: the mean of the middle half of ``scores`` along ``axis`` (Agarwal et al. 2021).

    With ``n`` scores it weights the sorted scores as a 25% trimmed mean does,
    giving the scores that straddle a quartile their fractional share.

    >>> float(iqm([1.0, 2.0, 3.0, 4.0]))
    2.5
    >>> float(iqm([0.0, 10.0, 10.0, 10.0, 1000.0]))
    10.0
    """
    scores = np.sort(np.asarray(scores, dtype=float), axis=axis)
    n = scores.shape[axis]
    check_count("number of scores", n)
    edges = np.arange(n + 1) / n  # score k covers [k/n, (k+1)/n) of the distribution
    weights = np.clip(np.minimum(edges[1:], 0.75) - np.maximum(edges[:-1], 0.25), 0.0, None) * 2.0
    shape = [1] * scores.ndim
    shape[axis] = n
    return np.sum(scores * weights.reshape(shape), axis=axis)


def bootstrap_ci(scores, statistic=iqm, level: float = 0.95, resamples: int = 2_000, seed=0):
    """Percentile bootstrap interval of ``statistic`` over the seeds (the last axis) of ``scores``.

    Parameters
    ----------
    scores : (S,) or (K, S) array
        Scores of ``S`` seeds (of each of ``K`` learners).
    statistic : callable
        ``statistic(samples, axis=-1)``: :func:`iqm`, or ``numpy.mean`` for an
        interval of the mean.
    level : float
        The interval's coverage, in (0, 1).
    resamples : int
    seed : int or numpy Generator
        The resampling's seed: the same scores give the same interval.

    Returns
    -------
    (low, high) : floats, or arrays of shape (K,)

    >>> low, high = bootstrap_ci([1.0, 2.0, 3.0, 4.0], np.mean)
    >>> bool(1.0 <= low < 2.5 < high <= 4.0)
    True
    """
    check_in_range("level", level, 0.0, 1.0, closed="neither")
    check_count("resamples", resamples)
    scores = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, scores.shape[-1], size=(resamples, scores.shape[-1]))
    stats = statistic(scores[..., index], axis=-1)  # (..., resamples)
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2], axis=-1)
    return low, high
