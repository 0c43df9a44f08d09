"""The recorded sweeps of the language-model chapter, read back for its pages.

``python -m deepref reproduce language_models --full`` writes every run of an
experiment to ``<folder>/<name>/runs.jsonl`` (the book's record is
``results/language_models-full``). Each page of the chapter that states a
training outcome reads the sweep it needs with :func:`recorded_sweep` and
summarises it with :func:`column` and :func:`mean_interval`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats

from ..experiments import RUNS_FILE, config_to_dict, read_rows


def recorded_sweep(folder, name: str) -> tuple[object, list[dict]]:
    """The registered full configuration of sweep ``name`` and its recorded result for every full seed.

    Parameters
    ----------
    folder : str or Path
        The output of ``python -m deepref reproduce language_models --full``.
    name : str
        A registered experiment of the chapter (``"agreement"``, ``"ptb_budget"``, ...).

    Returns
    -------
    config, list of dict
        The configuration, and one recorded result per seed of the registered
        full seeds, in their order.

    Raises ``ValueError`` naming the missing seeds if a run is not recorded.

    >>> recorded_sweep("no-such-folder", "agreement")
    Traceback (most recent call last):
    ...
    ValueError: no-such-folder/agreement has no finished run of the full config for seeds [0, 1, ...
    """
    from ..reproduce import experiments  # the registry imports this package

    (registered,) = experiments("language_models", [name])
    (config,) = registered.full
    key = json.dumps(config_to_dict(config), sort_keys=True)  # as JSON reads it back
    runs = {row["seed"]: row["result"] for row in read_rows(Path(folder) / name / RUNS_FILE)
            if row["status"] == "ok" and json.dumps(row["config"], sort_keys=True) == key}
    missing = [seed for seed in registered.full_seeds if seed not in runs]
    if missing:
        raise ValueError(f"{folder}/{name} has no finished run of the full config for seeds {missing}; "
                         "run python -m deepref reproduce language_models --full")
    return config, [runs[seed] for seed in registered.full_seeds]


def column(results: list[dict], key: str) -> np.ndarray:
    """One recorded value of every run, shape ``(runs,)``.

    >>> column([{"ppl": 120}, {"ppl": 130.5}], "ppl")
    array([120. , 130.5])
    """
    return np.array([result[key] for result in results], dtype=float)


def mean_interval(values, level: float = 0.95):
    """Percentile-bootstrap interval at ``level`` of the mean of ``values`` ``(n,)`` (resampling seeded).

    Returns scipy's ``ConfidenceInterval`` ``(low, high)``.

    >>> low, high = mean_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> bool(1.0 <= low < 2.5 < high <= 4.0)
    True
    """
    result = stats.bootstrap((np.asarray(values, dtype=float),), np.mean, confidence_level=level,
                             method="percentile", random_state=0)
    return result.confidence_interval
