"""Launching element-wise CUDA kernels from CuPy: one compiled module per dtype, one thread per element."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .cupy_optim import MAX_BLOCKS, OPTIONS, THREADS


def launcher(source: Callable) -> Callable:
    """``launch(name, size, *args)`` for the kernels of ``source(dtype)``.

    The source is compiled by NVRTC (through CuPy, imported here only when a
    kernel is first launched) once per dtype, the dtype of the first array
    among ``args``; Python ints among ``args`` are passed as ``long long``,
    NumPy scalars as they are. ``size`` elements get one thread each (a
    grid-stride loop past :data:`MAX_BLOCKS` blocks); nothing is launched for
    ``size == 0``.
    """

    @functools.cache
    def module(dtype):
        import cupy

        return cupy.RawModule(code=source(dtype), options=OPTIONS)

    @functools.cache
    def kernel(dtype, name: str):
        return module(dtype).get_function(name)

    def launch(name: str, size: int, *args) -> None:
        if size == 0:
            return
        dtype = next(a.dtype for a in args if not isinstance(a, (int, np.generic)))
        blocks = min(-(-size // THREADS), MAX_BLOCKS)
        kernel(dtype, name)((blocks,), (THREADS,), tuple(np.int64(a) if isinstance(a, int) else a for a in args))

    return launch
