"""The array backend: NumPy by default, CuPy on a GPU, array-api-strict for testing.

Functions that receive arrays take their namespace from the inputs
(:func:`get_namespace`); functions that create arrays from nothing (parameters,
masks, random draws) use the *current* backend, chosen by the environment
variable ``DEEPREF_BACKEND`` or by :func:`set_backend` / :func:`use_backend`.

Everything the array API standard lacks lives here and nowhere else: random
numbers (:func:`default_rng`), scatter-add with repeated indices
(:func:`scatter_add`) and the move back to the host (:func:`to_numpy`).

>>> with use_backend("numpy"):
...     xp = get_namespace()
...     x = xp.asarray([1.0, 2.0])
>>> to_numpy(scatter_add(xp.zeros(3), xp.asarray([0, 0, 2]), xp.asarray([1.0, 2.0, 3.0])))
array([3., 0., 3.])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import ModuleType

import array_api_compat
import numpy as np

BACKENDS = ("numpy", "cupy", "array_api_strict")
"""Names accepted by :func:`set_backend` and ``DEEPREF_BACKEND``."""

_GPU_HINT = 'install the GPU extra with `pip install "deepref[gpu]"`'


def _check_name(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(
            f"unknown array backend {name!r}; expected one of {', '.join(BACKENDS)}"
        )
    return name


def _load_namespace(name: str) -> ModuleType:
    """Import the array namespace for backend ``name`` (raises a clear error if unusable)."""
    _check_name(name)
    if name == "numpy":
        import array_api_compat.numpy as xp_numpy

        return xp_numpy
    if name == "array_api_strict":
        try:
            import array_api_strict
        except ImportError as err:  # pragma: no cover - part of the test extra
            raise ImportError(
                "the 'array_api_strict' backend needs the array-api-strict package; "
                'install it with `pip install "deepref[test]"`'
            ) from err
        return array_api_strict
    try:
        import cupy
    except ImportError as err:
        raise ImportError(
            f"the 'cupy' backend needs CuPy, which is not installed; {_GPU_HINT}"
        ) from err
    try:
        gpu_count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise RuntimeError(
            f"the 'cupy' backend needs a CUDA GPU, but CuPy cannot see one ({err}); "
            f"on a GPU machine, {_GPU_HINT}"
        ) from err
    if gpu_count == 0:
        raise RuntimeError(f"the 'cupy' backend needs a CUDA GPU and none is visible; {_GPU_HINT}")
    import array_api_compat.cupy as xp_cupy

    return xp_cupy


_current_name = _check_name(os.environ.get("DEEPREF_BACKEND", "numpy") or "numpy")
_current_xp: ModuleType | None = None


def get_backend() -> str:
    """Name of the current backend (one of :data:`BACKENDS`)."""
    return _current_name


def set_backend(name: str) -> None:
    """Make ``name`` the current backend for arrays created from nothing.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`BACKENDS`.
    ImportError, RuntimeError
        If the backend's library is missing or (for CuPy) no GPU is visible.
    """
    global _current_name, _current_xp
    namespace = _load_namespace(name)
    _current_name, _current_xp = name, namespace


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[ModuleType]:
    """Context manager: switch to backend ``name`` and restore the previous one after.

    Yields the backend's array namespace.
    """
    previous = _current_name
    set_backend(name)
    try:
        yield current_namespace()
    finally:
        set_backend(previous)


def current_namespace() -> ModuleType:
    """The array namespace of the current backend."""
    global _current_xp
    if _current_xp is None:
        _current_xp = _load_namespace(_current_name)
    return _current_xp


def get_namespace(*arrays) -> ModuleType:
    """Array namespace of ``arrays`` (``None`` and Python scalars are ignored).

    With no arrays, the current backend's namespace. Mixing arrays of two
    libraries (NumPy with CuPy, say) raises a ``TypeError``.
    """
    present = [a for a in arrays if a is not None and not isinstance(a, (int, float, complex, bool))]
    if not present:
        return current_namespace()
    return array_api_compat.array_namespace(*present)


def default_float():
    """The floating dtype used for arrays created from nothing: float64 of the current backend."""
    return current_namespace().float64


def asarray(data, dtype=None):
    """Move host data (lists, NumPy arrays, scalars) onto the current backend."""
    return current_namespace().asarray(data, dtype=dtype)


def to_numpy(x) -> np.ndarray:
    """Copy an array of any backend to a NumPy array on the host (for plotting and interop)."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_numpy_array(x) or np.isscalar(x):
        return np.asarray(x)
    return np.asarray(np.from_dlpack(x))


def scatter_add(base, index, values):
    """Return ``base`` with ``values[k]`` added to row ``index[k]`` (repeated indices add up).

    Parameters
    ----------
    base : (M, ...) array
        The array added to (not modified).
    index : (K,) integer array
        Row of ``base`` that receives each row of ``values``; entries in ``[0, M)``.
    values : (K, ...) array
        Rows to add; trailing shape equal to ``base``'s.

    Returns
    -------
    (M, ...) array

    Notes
    -----
    NumPy uses ``np.add.at`` and CuPy ``cupyx.scatter_add``. Other namespaces
    use a sort-based segment sum built only from standard functions: sort the
    indices, take cumulative sums of the values in that order, and read each
    row's total as the difference of the cumulative sum at the ends of its run
    (found with ``searchsorted``). It needs no one-hot matrix, so its memory is
    linear, but in float32 the differences of large cumulative sums can lose a
    few digits.
    """
    xp = get_namespace(base, index, values)
    if index.ndim != 1 or values.shape[0] != index.shape[0] or values.shape[1:] != base.shape[1:]:
        raise ValueError(
            f"scatter_add expects index of shape (K,) and values of shape (K, {', '.join(map(str, base.shape[1:]))})"
            f" for base of shape {tuple(base.shape)}; got index {tuple(index.shape)} and values {tuple(values.shape)}"
        )
    if array_api_compat.is_numpy_array(base):
        out = np.array(base, copy=True)
        np.add.at(out, np.asarray(index), np.asarray(values))
        return out
    if array_api_compat.is_cupy_array(base):
        import cupyx

        out = base.copy()
        cupyx.scatter_add(out, index, values)
        return out
    return base + _segment_sum(xp, index, values, base.shape[0])


def _segment_sum(xp: ModuleType, index, values, rows: int):
    """Sum of ``values`` rows grouped by ``index`` into ``rows`` rows, by sorting (see scatter_add)."""
    order = xp.argsort(index)
    sorted_index = xp.take(index, order)
    sorted_values = xp.take(values, order, axis=0)
    zero_row = xp.zeros((1, *values.shape[1:]), dtype=values.dtype)
    running = xp.concat([zero_row, xp.cumulative_sum(sorted_values, axis=0)], axis=0)
    targets = xp.arange(rows, dtype=index.dtype)
    run_start = xp.searchsorted(sorted_index, targets, side="left")
    run_end = xp.searchsorted(sorted_index, targets, side="right")
    return xp.take(running, run_end, axis=0) - xp.take(running, run_start, axis=0)


class Generator:
    """Random numbers as arrays of the current backend, reproducible from a seed.

    NumPy and array-api-strict draw on the host with NumPy's ``default_rng``
    (the strict backend then moves the draw), so both give the same numbers for
    the same seed. CuPy draws on the GPU with ``cupy.random.default_rng``-style
    generators and gives its own (reproducible) stream.

    Parameters
    ----------
    seed : int or None
        Seed; ``None`` takes fresh entropy from the operating system.
    """

    def __init__(self, seed: int | None = None):
        self.backend = get_backend()
        if self.backend == "cupy":
            import cupy

            self._cupy = cupy.random.RandomState(seed)
        self._host = np.random.default_rng(seed)

    def _move(self, sample: np.ndarray, dtype=None):
        if self.backend == "numpy":
            return sample if dtype is None else sample.astype(np.dtype(dtype), copy=False)
        return asarray(sample, dtype=dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None):
        """Gaussian draws of shape ``size``."""
        if self.backend == "cupy":
            return self._cupy.normal(loc, scale, size, dtype=dtype or "float64")
        return self._move(self._host.normal(loc, scale, size), dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None):
        """Uniform draws on ``[low, high)`` of shape ``size``."""
        if self.backend == "cupy":
            return self._cupy.uniform(low, high, size, dtype=dtype or "float64")
        return self._move(self._host.uniform(low, high, size), dtype)

    def integers(self, low, high=None, size=None):
        """Integers on ``[low, high)`` (int64) of shape ``size``."""
        if high is None:
            low, high = 0, low
        if self.backend == "cupy":
            return self._cupy.randint(low, high, size, dtype="int64")
        return self._move(self._host.integers(low, high, size, dtype=np.int64))

    def permutation(self, n: int):
        """A random permutation of ``range(n)`` (int64)."""
        if self.backend == "cupy":
            return self._cupy.permutation(n).astype("int64")
        return self._move(self._host.permutation(n).astype(np.int64))

    def bernoulli(self, p: float, size=None, dtype=None):
        """Draws that are 1 with probability ``p`` and 0 otherwise (float by default)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bernoulli probability must be in [0, 1], got {p}")
        draws = self.uniform(0.0, 1.0, size)
        xp = get_namespace(draws)
        return xp.astype(draws < p, dtype or draws.dtype)


def default_rng(seed: int | None = None) -> Generator:
    """A :class:`Generator` on the current backend (like ``numpy.random.default_rng``)."""
    return Generator(seed)
