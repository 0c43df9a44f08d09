"""Data: the offline datasets and mini-batch iteration.

Nothing is downloaded: Iris and the 8x8 digits ship with scikit-learn (the
``book`` extra), and every generated dataset is seeded.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .validation import check_positive


def _sklearn_datasets():
    try:
        from sklearn import datasets
    except ImportError as err:
        raise ImportError(
            'the offline datasets come with scikit-learn; install it with `pip install "deepref[book]"`'
        ) from err
    return datasets


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's Iris: ``x`` (150, 4) float64 in cm, ``y`` (150,) int64 (0 setosa, 1 versicolor, 2 virginica)."""
    bunch = _sklearn_datasets().load_iris()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (UCI): ``x`` (1797, 64) float64 in [0, 16], ``y`` (1797,) int64 in 0..9."""
    bunch = _sklearn_datasets().load_digits()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def minibatch_indices(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays of consecutive mini-batches over ``range(n)``.

    Parameters
    ----------
    n : int
        Number of examples.
    batch_size : int
        Examples per batch; the last batch holds the remainder.
    rng : numpy.random.Generator, optional
        If given, the order is shuffled with it (once per call: once per epoch).

    Yields
    ------
    (B,) int64 numpy array
    """
    check_positive("batch_size", batch_size)
    if int(batch_size) != batch_size:
        raise ValueError(f"batch_size must be a whole number, got {batch_size!r}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, int(batch_size)):
        yield order[start : start + int(batch_size)]
