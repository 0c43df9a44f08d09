"""In-place element-wise updates, run in cache-sized chunks on NumPy.

An optimizer step is a short chain of element-wise operations over a few
arrays of the parameter's size. Written naively, every operation allocates a
full-size temporary and streams it through main memory; for a 10M-parameter
model that is dozens of passes per step where the data only needs to be read
and written once. Two things fix it without changing a single rounding:

* every operation writes into an existing array: an in-place operator
  (``m *= beta1``) or :func:`into` (``into(s, xp.sqrt, v)``, which is
  ``xp.sqrt(v, out=s)`` where the library has ``out=``, NumPy and CuPy);
* on NumPy, :func:`run_chunked` applies the chain to consecutive slices of
  about :data:`CHUNK_BYTES` of every array, so the intermediate passes run
  on data that is still in the CPU's cache (L3 at this size) and only the
  inputs and outputs travel to and from main memory.

On CuPy, a kernel marked with :func:`fused_on_cupy` runs as one fused CUDA
kernel (:mod:`deepref.optim.fused_cupy`: every array read and written once,
one launch) when the arrays allow it; other kernels and arrays, and other
backends (array-api-strict), get the same chain on the whole arrays, with
scratch arrays allocated per call.
"""

from __future__ import annotations

from collections.abc import Callable

import array_api_compat
import numpy as np

from ..backend import get_namespace

CHUNK_BYTES = 1 << 20
"""Bytes per array in one chunk (1 MiB: a kernel's six arrays, 6 MiB, stay in a shared L3 cache).

Smaller chunks pay more Python overhead per element (about 5 microseconds a
chunk), larger ones spill the cache. Measured on a 2-core AMD EPYC (1 MiB L2
per core, 32 MiB L3), one thread, 10M float32 parameters: SGD with momentum
steps in 6.0 ms of CPU time with 1 MiB chunks, 8.8 ms with 128 KiB chunks
(which would fit L2) and 6.0 ms with 4 MiB chunks; Adam in 16.6, 19.6 and
17.6 ms."""


FUSE_ON_CUPY = True
"""Whether :func:`run_chunked` uses the fused CUDA kernels on CuPy (``False`` runs the chain, to compare)."""


def fused_on_cupy(name: str) -> Callable:
    """Mark an element-wise kernel as the Python chain of fused kernel ``name`` in :mod:`.fused_cupy`."""

    def mark(kernel: Callable) -> Callable:
        kernel.fused_name = name
        return kernel

    return mark


def has_out(x) -> bool:
    """Whether ``x``'s library accepts ``out=`` in its element-wise functions (NumPy, CuPy)."""
    return isinstance(x, np.ndarray) or array_api_compat.is_cupy_array(x)


def into(out, fn: Callable, *args) -> None:
    """``out[...] = fn(*args)``, without a temporary where ``out=`` is available."""
    if has_out(out):
        fn(*args, out=out)
    else:
        out[...] = fn(*args)


def copy_into(out, x) -> None:
    """``out[...] = x``."""
    out[...] = x


class Scratch:
    """Reusable chunk-sized NumPy work arrays, one set per dtype (never shared across threads)."""

    def __init__(self):
        self._arrays: dict = {}

    def get(self, dtype, count: int) -> list:
        """``count`` work arrays of :data:`CHUNK_BYTES` in ``dtype``."""
        arrays = self._arrays.setdefault(np.dtype(dtype), [])
        while len(arrays) < count:
            arrays.append(np.empty(CHUNK_BYTES // np.dtype(dtype).itemsize, dtype=dtype))
        return arrays[:count]


def _chunkable(arrays) -> bool:
    return all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays)


def _run_fused(kernel: Callable, arrays: dict, present: list, scalars: dict) -> bool:
    """Run ``kernel``'s fused CUDA kernel if it has one and the arrays are CuPy arrays it takes."""
    name = getattr(kernel, "fused_name", None)
    if not (FUSE_ON_CUPY and name and array_api_compat.is_cupy_array(present[0])):
        return False
    from . import fused_cupy

    if not fused_cupy.applies(present):
        return False
    fused_cupy.step(name, arrays, scalars)
    return True


def run_chunked(kernel: Callable, arrays: dict, scratch: int, cache: Scratch, **scalars) -> None:
    """Call ``kernel(**arrays, s=..., t=..., **scalars)`` on chunks of equally shaped arrays.

    On CuPy a kernel marked with :func:`fused_on_cupy` runs fused instead
    (:func:`deepref.optim.fused_cupy.step`, one launch on the whole arrays).

    Parameters
    ----------
    kernel : callable
        Updates its array arguments in place using only in-place operators,
        :func:`into` and :func:`copy_into`; it receives the work arrays as
        ``s`` (and ``t``), each shaped like the chunk.
    arrays : dict of str to array or None
        Arrays of one shape (``None`` entries are passed through).
    scratch : int
        Number of work arrays the kernel needs (0, 1 or 2).
    cache : Scratch
        Where the NumPy work arrays are kept between calls.
    """
    present = [a for a in arrays.values() if a is not None]
    if _run_fused(kernel, arrays, present, scalars):
        return
    names = ("s", "t")[:scratch]
    if not _chunkable(present):
        xp = get_namespace(*present)
        work = {name: xp.empty(present[0].shape, dtype=present[0].dtype) for name in names}
        kernel(**arrays, **work, **scalars)
        return
    flat = {k: None if a is None else a.reshape(-1) for k, a in arrays.items()}
    size, dtype = present[0].size, present[0].dtype
    work = dict(zip(names, cache.get(dtype, scratch)))
    step = CHUNK_BYTES // dtype.itemsize
    for start in range(0, size, step):
        stop = min(start + step, size)
        chunk = {k: None if a is None else a[start:stop] for k, a in flat.items()}
        kernel(**chunk, **{k: w[: stop - start] for k, w in work.items()}, **scalars)
