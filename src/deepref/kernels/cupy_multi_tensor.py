"""Multi-tensor optimizer steps on CuPy: one launch for all parameters of a group.

:mod:`deepref.kernels.cupy_optim` fuses an optimizer step into one launch
per parameter. A model of 100 parameter tensors then costs 100 launches per
step, and for tensors of 100k elements the launches, not the memory traffic,
set the time. Here the whole group goes in one launch, as torch's
``_foreach``/fused optimizers do: the host packs, per tensor, the argument
list that :func:`cupy_optim.arguments` builds (pointers, flags and size into
one ``int64`` table, the scalars into one table of the arrays' dtype) and, per
block of :data:`CHUNK` elements, the tensor and the first element it updates;
one host-to-device copy of the three tables and one launch follow.

The kernel does not repeat the update rules: it is the per-parameter kernels'
own source (:data:`cupy_optim.SOURCE`) compiled as device functions, with a
loop macro ``FOR_EACH`` that walks the block's chunk instead of the whole
array, and called by a generated wrapper per rule (:func:`wrappers`) with the
block's tensor's arguments. Each element is therefore computed by the same
code, in the same order, as the per-parameter step (and, on the host, the
NumPy chain): bit for bit the same numbers (``tests/test_cupy_kernels.py``).

A group runs in one launch when every array of every parameter is a
C-contiguous CuPy array of one dtype, float32 or float64 (:func:`group_applies`);
any other group goes to :mod:`cupy_optim`'s per-parameter step.
"""

from __future__ import annotations

import functools

import numpy as np

from . import cupy_optim, register

CHUNK = 4 * cupy_optim.THREADS
"""Elements per block: each of its threads takes four."""

LAYOUT = {"sgd": (3, 4, 2), "adagrad": (3, 3, 0), "rmsprop": (5, 6, 0), "adam": (5, 7, 0)}
"""Per rule: how many arrays, scalars (of the arrays' dtype) and ``int`` flags its kernel takes, in that order,
before the element count (the order of :func:`cupy_optim.arguments`)."""

CHUNK_PRELUDE = r"""
__shared__ long long chunk_begin;
#define FOR_EACH(i, n) \
    for (long long i = chunk_begin + threadIdx.x, i##_end = min((long long)(n), chunk_begin + CHUNK); \
         i < i##_end; i += blockDim.x)
"""
"""The loop of the rules as device functions: the elements of the block's chunk, one per thread at a time."""


def wrappers() -> str:
    """The multi-tensor kernels ``<rule>_multi(ints, reals, blocks)``, one per rule of :data:`LAYOUT`.

    ``ints`` holds per tensor its array pointers, flags and element count;
    ``reals`` its scalars; ``blocks`` per block the tensor index and the
    chunk's first element.
    """
    kernels = []
    for name, (arrays, scalars, flags) in LAYOUT.items():
        width = arrays + flags + 1
        call = [f"(T*)p[{k}]" for k in range(arrays)] + [f"s[{k}]" for k in range(scalars)]
        call += [f"(int)p[{arrays + k}]" for k in range(flags)] + [f"p[{arrays + flags}]"]
        kernels.append(f"""
extern "C" __global__ void {name}_multi(const long long* ints, const T* reals, const long long* blocks) {{
    const long long tensor = blocks[2 * blockIdx.x];
    if (threadIdx.x == 0) chunk_begin = blocks[2 * blockIdx.x + 1];
    __syncthreads();
    const long long* p = ints + tensor * {width};
    const T* s = reals + tensor * {max(scalars, 1)};
    {name}({", ".join(call)});
}}
""")
    return "".join(kernels)


def source(dtype, prelude: str = "") -> str:
    """The multi-tensor kernels for ``dtype``: ``prelude``, the rules as device functions, the wrappers."""
    rules = cupy_optim.SOURCE.replace("__global__", "__device__")
    return f"typedef {cupy_optim.C_TYPES[np.dtype(dtype)]} T;\n#define CHUNK {CHUNK}\n{prelude}{CHUNK_PRELUDE}" + (
        rules + wrappers()
    )


def pack(name: str, argument_lists: list[tuple], pointer=lambda a: a.data.ptr):
    """The tables of one multi-tensor launch of rule ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`LAYOUT`.
    argument_lists : list of tuple
        Per tensor, what :func:`cupy_optim.arguments` returns (arrays or
        ``None``, scalars, flags, element count).
    pointer : callable
        An array's address (CuPy's by default; the tests pass NumPy's).

    Returns
    -------
    ints : (K, arrays + flags + 1) int64 ndarray
    reals : (K, max(scalars, 1)) ndarray of the arrays' dtype
    blocks : (B, 2) int64 ndarray
        Per block of :data:`CHUNK` elements: tensor index, first element.
    """
    arrays, scalars, flags = LAYOUT[name]
    dtype = next(a for a in argument_lists[0][:arrays] if a is not None).dtype
    # one array from lists of rows: about 1 us a tensor where row-by-row assignments took 5
    ints = np.array([[0 if a is None else pointer(a) for a in args[:arrays]] + [int(v) for v in args[arrays + scalars:]]
                     for args in argument_lists], dtype=np.int64).reshape(len(argument_lists), arrays + flags + 1)
    reals = np.array([args[arrays : arrays + scalars] or (0,) for args in argument_lists],
                     dtype=dtype).reshape(len(argument_lists), max(scalars, 1))
    sizes = ints[:, -1]
    chunks = -(-sizes // CHUNK)
    tensor = np.repeat(np.arange(len(sizes), dtype=np.int64), chunks)
    first_chunk = np.cumsum(chunks) - chunks
    begin = (np.arange(tensor.size, dtype=np.int64) - np.repeat(first_chunk, chunks)) * CHUNK
    return ints, reals, np.stack([tensor, begin], axis=1)


def group_applies(array_lists) -> bool:
    """Whether one launch can step a group: every array (``None`` entries aside) fused-kernel ready, one dtype."""
    arrays = [a for arrays in array_lists for a in arrays if a is not None]
    return bool(arrays) and cupy_optim.applies(arrays)


@functools.cache
def _module(dtype):
    import cupy

    return cupy.RawModule(code=source(dtype), options=cupy_optim.OPTIONS)


def launch(name: str, argument_lists: list[tuple]) -> None:
    """Step every tensor of ``argument_lists`` (see :func:`pack`; CuPy arrays) with rule ``name``, one launch."""
    import cupy

    ints, reals, blocks = pack(name, argument_lists)
    if blocks.shape[0] == 0:
        return
    kernel = _module(reals.dtype).get_function(f"{name}_multi")
    kernel((blocks.shape[0],), (cupy_optim.THREADS,), device_tables(cupy, ints, reals, blocks))


def device_tables(xp, ints, reals, blocks) -> tuple:
    """``(ints, reals, blocks)`` on ``xp``'s device, moved in one copy (each table starts 8-byte aligned), flat."""
    parts = [np.ascontiguousarray(t).view(np.uint8).ravel() for t in (ints, blocks, reals)]
    ends = np.cumsum([p.size for p in parts])
    device = xp.asarray(np.concatenate(parts))
    return (device[: ends[0]].view(xp.int64), device[ends[1] : ends[2]].view(reals.dtype),
            device[ends[0] : ends[1]].view(xp.int64))


def step(name: str, arrays: list[dict], options: list[dict], per_parameter) -> None:
    """One group step: one launch of rule ``name`` where :func:`group_applies`, else ``per_parameter()``.

    ``arrays[k]`` and ``options[k]`` are parameter ``k``'s arguments of
    :func:`cupy_optim.arguments`.
    """
    if not group_applies([list(a.values()) for a in arrays]):
        per_parameter()
        return
    launch(name, argument_lists(name, arrays, options))


def argument_lists(name: str, arrays: list[dict], options: list[dict]) -> list[tuple]:
    """:func:`cupy_optim.arguments` of every parameter, the scalars computed once per distinct set of options.

    In a group every parameter usually has the same options (and step), so
    the scalars of the first stand for all: a few microseconds of Python per
    parameter saved on every step.
    """
    scalars = {}
    lists = []
    for a, o in zip(arrays, options):
        key = tuple(o.values())
        if key not in scalars:
            scalars[key] = cupy_optim.arguments(name, a, o)[len(a) : -1]
        lists.append((*a.values(), *scalars[key], np.int64(a["w"].size)))
    return lists


def sgd_step(params, grads, momentum_buffers, firsts, **options) -> None:
    """:func:`deepref.optim.optimizers.sgd_step` in one launch."""
    arrays = [dict(w=w, g=g, buf=buf) for w, g, buf in zip(params, grads, momentum_buffers)]
    step("sgd", arrays, [dict(options, first=first) for first in firsts],
         lambda: cupy_optim.sgd_step(params, grads, momentum_buffers, firsts, **options))


def adagrad_step(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps) -> None:
    """:func:`deepref.optim.optimizers.adagrad_step` in one launch."""
    arrays = [dict(w=w, g=g, total=total) for w, g, total in zip(params, grads, sums)]
    options = [dict(lr=lr / (1 + (t - 1) * lr_decay), weight_decay=weight_decay, eps=eps) for t in steps]
    step("adagrad", arrays, options, lambda: cupy_optim.adagrad_step(
        params, grads, sums, steps, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps))


def rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, **options) -> None:
    """:func:`deepref.optim.optimizers.rmsprop_step` in one launch."""
    arrays = [dict(w=w, g=g, square_avg=s, grad_avg=a, buf=b)
              for w, g, s, a, b in zip(params, grads, square_avgs, grad_avgs, momentum_buffers)]
    step("rmsprop", arrays, [options] * len(arrays),
         lambda: cupy_optim.rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, **options))


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, **options) -> None:
    """:func:`deepref.optim.optimizers.adam_step` in one launch."""
    arrays = [dict(w=w, g=g, m=m, v=v, v_max=v_max)
              for w, g, m, v, v_max in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)]
    step("adam", arrays, [dict(options, step=t) for t in steps],
         lambda: cupy_optim.adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, **options))


GROUP_STEPS = {"sgd_step": sgd_step, "adagrad_step": adagrad_step, "rmsprop_step": rmsprop_step,
               "adam_step": adam_step}
"""The group ops these kernels implement, registered on CuPy."""

for _op, _function in GROUP_STEPS.items():
    register(_op, "cupy")(_function)
