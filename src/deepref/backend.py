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
import math
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

import array_api_compat
import numpy as np

BACKENDS = ("numpy", "cupy", "array_api_strict")
"""Names accepted by :func:`set_backend` and ``DEEPREF_BACKEND``."""

_GPU_HINT = 'install the GPU extra: `pip install -e ".[gpu]"` in a clone of deepref (`.[gpu-cuda12]` for CUDA 12)'


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
                'install it with `pip install -e ".[test]"` in a clone of deepref'
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


_SCALARS = (int, float, complex, bool)


def get_namespace(*arrays) -> ModuleType:
    """Array namespace of ``arrays`` (``None`` and Python scalars are ignored).

    With no arrays, the current backend's namespace. Mixing arrays of two
    libraries (NumPy with CuPy, say) raises a ``TypeError``.

    The namespace of a single array type is looked up once and remembered:
    ``array_api_compat.array_namespace`` costs more than a small operation
    (on array-api-strict it resets the library's flags on every call), and
    deepref asks for the namespace in every forward and backward.
    """
    kind = None
    for a in arrays:
        if a is None or isinstance(a, _SCALARS):
            continue
        if kind is None:
            kind = type(a)
        elif type(a) is not kind:  # two array types: array_api_compat says whether they mix
            return _array_namespace([a for a in arrays if a is not None and not isinstance(a, _SCALARS)])
    if kind is None:
        return current_namespace()
    xp = _NAMESPACE_OF_TYPE.get(kind)
    if xp is None:
        xp = _NAMESPACE_OF_TYPE[kind] = _array_namespace([a for a in arrays if type(a) is kind])
    return xp


_NAMESPACE_OF_TYPE: dict[type, ModuleType] = {}


def _array_namespace(present: list) -> ModuleType:
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError as err:
        kinds = sorted({f"{type(a).__module__}.{type(a).__name__}" for a in present})
        raise TypeError(
            f"arrays of different backends cannot be mixed in one operation (got {', '.join(kinds)}); "
            "build modules and data under the backend of their inputs (deepref.backend.use_backend) "
            'or move a module with module.to("numpy" | "cupy" | "array_api_strict")'
        ) from err


DTYPES = ("float64", "float32")
"""Floating dtypes deepref computes in: float64 (the default, for gradient checks) and float32."""

_default_dtype_name = "float64"


def set_default_dtype(name: str) -> None:
    """Make ``name`` ("float64" or "float32") the dtype of floating arrays created from nothing.

    Parameters, generated data and random draws without an explicit ``dtype`` take
    it; arrays computed from inputs keep their inputs' dtype.
    """
    global _default_dtype_name
    if name not in DTYPES:
        raise ValueError(f"unknown default dtype {name!r}; expected one of {', '.join(DTYPES)}")
    _default_dtype_name = name


def get_default_dtype() -> str:
    """Name of the default floating dtype ("float64" unless :func:`set_default_dtype` changed it)."""
    return _default_dtype_name


@contextlib.contextmanager
def use_default_dtype(name: str) -> Iterator[None]:
    """Context manager: :func:`set_default_dtype` ``name`` and restore the previous default after."""
    previous = _default_dtype_name
    set_default_dtype(name)
    try:
        yield
    finally:
        set_default_dtype(previous)


def resolve_dtype(dtype=None, xp: ModuleType | None = None):
    """The floating dtype object of namespace ``xp`` that ``dtype`` names.

    ``dtype`` may be ``None`` (the default dtype, see :func:`set_default_dtype`),
    a name in :data:`DTYPES`, or a floating dtype of any backend (``np.float32``,
    ``xp.float64``); the result belongs to ``xp`` (the current backend's by default).
    This is the single source of the default float.

    >>> import numpy as np
    >>> resolve_dtype("float32", np) is np.float32 or resolve_dtype("float32", np) == np.float32
    True
    """
    xp = current_namespace() if xp is None else xp
    if dtype is None:
        return getattr(xp, _default_dtype_name)
    name = dtype if isinstance(dtype, str) else _dtype_name(dtype, xp)
    if name not in DTYPES:
        raise TypeError(f"expected a floating dtype, one of {', '.join(DTYPES)}; got {dtype!r}")
    return getattr(xp, name)


def _dtype_name(dtype, xp: ModuleType | None = None) -> str | None:
    """"float32" / "float64" for a floating dtype object of ``xp``, NumPy or array-api-strict, else ``None``."""
    strict = sys.modules.get("array_api_strict")
    for namespace in (xp, np, strict):
        if namespace is None:
            continue
        for name in DTYPES:
            with warnings.catch_warnings():  # array-api-strict warns on cross-library comparisons
                warnings.simplefilter("ignore")
                if dtype == getattr(namespace, name):
                    return name
    return None


def default_float(xp: ModuleType | None = None):
    """The default floating dtype, as a dtype of namespace ``xp`` (the current backend's by default)."""
    return resolve_dtype(None, xp)


def asarray(data, dtype=None):
    """Move host data (lists, NumPy arrays, scalars) onto the current backend.

    ``dtype`` may be a dtype name ("float32") or a dtype object; ``None`` keeps the data's own.
    """
    xp = current_namespace()
    if isinstance(dtype, str):
        dtype = getattr(xp, dtype)
    return xp.asarray(data, dtype=dtype)


def is_integer_array(x) -> bool:
    """Whether ``x`` holds integers (signed or unsigned), by the array API's ``isdtype``."""
    return bool(get_namespace(x).isdtype(x.dtype, "integral"))


def is_floating_array(x) -> bool:
    """Whether ``x`` holds real floating-point numbers, by the array API's ``isdtype``."""
    return bool(get_namespace(x).isdtype(x.dtype, "real floating"))


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
    NumPy runs one ``bincount`` per column for up to
    :data:`_BINCOUNT_COLUMNS` columns (several times faster than ``np.add.at``
    there) and one ``np.add.at`` over the flattened rows for wider ones (about
    seven times faster than ``np.add.at`` row by row, with the same additions
    in the same order; :func:`_numpy_scatter_add`); CuPy uses
    ``cupyx.scatter_add``. Other namespaces use a sort-based segment sum built
    only from standard functions: sort the indices, take cumulative sums of
    the values in that order, and read each row's total as the difference of
    the cumulative sum at the ends of its run (found with ``searchsorted``).
    It needs no one-hot matrix, so its memory is linear, but in float32 the
    differences of large cumulative sums can lose a few digits.
    """
    xp = get_namespace(base, index, values)
    _check_scatter("scatter_add", tuple(base.shape), index, values)
    if _scatters_in_place(base):
        out = base.copy()  # C-contiguous on NumPy, as _numpy_scatter_add needs
        _scatter_add_into(out, index, values)
        return out
    return base + _sorted_segment_sum(xp, index, values, base.shape[0])


def segment_sum(index, values, rows: int):
    """Sums of the rows of ``values`` grouped by ``index``: row ``r`` adds every ``values[k]`` with ``index[k] == r``.

    The same as ``scatter_add(zeros((rows, ...)), index, values)`` without
    copying a base of zeros (on NumPy and CuPy the sums go straight into a
    fresh zero array): the backward pass of a gather, such as an embedding
    lookup.

    Parameters
    ----------
    index : (K,) integer array
        Entries in ``[0, rows)``.
    values : (K, ...) array
    rows : int

    Returns
    -------
    (rows, ...) array, ``values``' dtype
    """
    xp = get_namespace(index, values)
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 0:
        raise ValueError(f"rows must be a non-negative integer, got {rows!r}")
    _check_scatter("segment_sum", (int(rows), *values.shape[1:]), index, values)
    if _scatters_in_place(values):
        out = xp.zeros((int(rows), *values.shape[1:]), dtype=values.dtype)
        _scatter_add_into(out, index, values)
        return out
    return _sorted_segment_sum(xp, index, values, int(rows))


def _check_scatter(name: str, shape: tuple, index, values) -> None:
    if index.ndim != 1 or values.shape[0] != index.shape[0] or values.shape[1:] != shape[1:]:
        raise ValueError(
            f"{name} expects index of shape (K,) and values of shape (K, {', '.join(map(str, shape[1:]))})"
            f" for a result of shape {shape}; got index {tuple(index.shape)} and values {tuple(values.shape)}"
        )


def _scatters_in_place(x) -> bool:
    """Whether ``x``'s library can add rows into an array in place (NumPy, CuPy)."""
    return array_api_compat.is_numpy_array(x) or array_api_compat.is_cupy_array(x)


def _scatter_add_into(out, index, values) -> None:
    """``out[index[k]] += values[k]`` for every ``k``, in place, on NumPy or CuPy."""
    if array_api_compat.is_cupy_array(out):
        import cupyx

        cupyx.scatter_add(out, index, values)
    else:
        _numpy_scatter_add(out, np.asarray(index), np.asarray(values))


_BINCOUNT_COLUMNS = 8
"""Up to this many columns, NumPy's scatter-add runs one ``bincount`` per column."""


def _numpy_scatter_add(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """:func:`_scatter_add_into` on a C-contiguous NumPy ``out``, exact with repeated indices.

    With few columns, ``np.bincount(index, weights=column)`` sums each column
    (in double precision) in one fast pass over the rows. Wider rows go
    through one ``np.add.at`` on the flattened arrays, at the positions
    ``index[k] * width + j``: NumPy's one-dimensional ``add.at`` is fast, while
    its row-by-row form pays an overhead per row; both add the same numbers
    in the same order, so the result is bitwise the same.
    """
    width = math.prod(out.shape[1:])  # (no -1 to infer: out or index may have no rows)
    target = out.reshape(out.shape[0], width)
    flat = values.reshape(index.shape[0], width)
    if width > _BINCOUNT_COLUMNS:
        positions = np.add.outer(index.astype(np.intp) * width, np.arange(width))
        np.add.at(target.reshape(-1), positions.reshape(-1), flat.reshape(-1))
        return
    for column in range(width):
        target[:, column] += np.bincount(index, weights=flat[:, column], minlength=out.shape[0])


def _sorted_segment_sum(xp: ModuleType, index, values, rows: int):
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
    """Random numbers as arrays of any backend, reproducible from a seed.

    Every method takes ``like=``: an array whose namespace (and device) the draw
    follows, so a function that draws a mask for its input ``x`` calls
    ``rng.bernoulli(p, x.shape, like=x)`` and works on whatever backend ``x``
    lives. Without ``like`` the draw is on the current backend.

    NumPy and array-api-strict draw on the host with NumPy's ``default_rng``
    (the strict backend then moves the draw), so both give the same numbers for
    the same seed. CuPy draws on the GPU with its own generator, seeded with the
    same seed (its own reproducible stream).

    Parameters
    ----------
    seed : int or None
        Seed; ``None`` takes fresh entropy from the operating system.
    """

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._host = np.random.default_rng(seed)
        self._gpu = None

    def _target(self, like) -> ModuleType:
        return current_namespace() if like is None else get_namespace(like)

    def _cupy_generator(self):
        if self._gpu is None:
            import cupy

            self._gpu = cupy.random.RandomState(self.seed)
        return self._gpu

    def _draw(self, like, dtype, host_draw, gpu_draw):
        """``gpu_draw(cupy_rng, dtype_name)`` on CuPy, else ``host_draw(numpy_rng)`` moved to the target."""
        xp = self._target(like)
        if dtype is not None and not isinstance(dtype, str) and _dtype_name(dtype, xp) is None:
            return xp.asarray(host_draw(self._host), dtype=dtype)  # integer dtypes
        float_dtype = resolve_dtype(dtype, xp)
        if array_api_compat.is_cupy_namespace(xp):
            with _device_of(like):
                return gpu_draw(self._cupy_generator(), _dtype_name(float_dtype, xp))
        sample = host_draw(self._host)
        if array_api_compat.is_numpy_namespace(xp):
            return sample.astype(float_dtype, copy=False)
        return xp.asarray(sample, dtype=float_dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None, like=None):
        """Gaussian draws of shape ``size`` (default floating dtype unless ``dtype``)."""
        return self._draw(
            like, dtype, lambda g: g.normal(loc, scale, size), lambda g, d: g.normal(loc, scale, size, dtype=d)
        )

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None, like=None):
        """Uniform draws on ``[low, high)`` of shape ``size``."""
        return self._draw(
            like, dtype, lambda g: g.uniform(low, high, size), lambda g, d: g.uniform(low, high, size, dtype=d)
        )

    def integers(self, low, high=None, size=None, like=None):
        """Integers on ``[low, high)`` (int64) of shape ``size``."""
        if high is None:
            low, high = 0, low
        xp = self._target(like)
        if array_api_compat.is_cupy_namespace(xp):
            with _device_of(like):
                return self._cupy_generator().randint(low, high, size, dtype="int64")
        sample = self._host.integers(low, high, size, dtype=np.int64)
        return sample if array_api_compat.is_numpy_namespace(xp) else xp.asarray(sample)

    def permutation(self, n: int, like=None):
        """A random permutation of ``range(n)`` (int64)."""
        xp = self._target(like)
        if array_api_compat.is_cupy_namespace(xp):
            with _device_of(like):
                return self._cupy_generator().permutation(n).astype("int64")
        sample = self._host.permutation(n).astype(np.int64)
        return sample if array_api_compat.is_numpy_namespace(xp) else xp.asarray(sample)

    def bernoulli(self, p: float, size=None, dtype=None, like=None):
        """Draws that are 1 with probability ``p`` and 0 otherwise (default floating dtype unless ``dtype``)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bernoulli probability must be in [0, 1], got {p}")
        draws = self.uniform(0.0, 1.0, size, dtype=dtype, like=like)
        xp = get_namespace(draws)
        return xp.astype(draws < p, draws.dtype)


def _device_of(like):
    """Context manager selecting the CUDA device of ``like`` (a no-op without one)."""
    device = getattr(like, "device", None)
    return device if hasattr(device, "__enter__") else contextlib.nullcontext()


_GLOBAL_SEEDS: np.random.Generator | None = None
"""Source of the seeds of unseeded generators after :func:`manual_seed` (``None``: fresh entropy)."""


def manual_seed(seed: int) -> None:
    """Make every later draw without a seed reproducible (PyTorch's ``torch.manual_seed``).

    After ``manual_seed(s)``, each :func:`default_rng` call without a seed
    (a layer built without ``seed=``, a dropout layer's masks) gets the next
    seed of a stream started from ``s``: the same program gives the same
    numbers. Explicit seeds are unaffected.

    >>> from deepref import nn
    >>> manual_seed(0); a = nn.Linear(3, 2).weight.data
    >>> manual_seed(0); b = nn.Linear(3, 2).weight.data
    >>> bool((a == b).all())
    True
    """
    global _GLOBAL_SEEDS
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _GLOBAL_SEEDS = np.random.default_rng(int(seed))


def default_rng(seed: int | None = None) -> Generator:
    """A seeded :class:`Generator` (like ``numpy.random.default_rng``); draws follow ``like=``.

    Without ``seed``, the next seed of the :func:`manual_seed` stream if one
    was set, else fresh entropy.
    """
    if seed is None and _GLOBAL_SEEDS is not None:
        seed = int(_GLOBAL_SEEDS.integers(2**63))
    return Generator(seed)
