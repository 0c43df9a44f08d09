"""Every optimizer at 10M parameters, as one tensor and as 100 tensors, against ``torch.optim``.

The peer is torch's default implementation (``foreach``, several fused
multi-tensor passes) and, where torch has one, its ``fused`` kernel, which
reads and writes each array exactly once. Both sides step the same float
parameters with the same gradients; after the first step they must agree.

With ``--backend cupy`` torch runs on the same GPU, and deepref steps each
parameter with its fused CUDA kernel (:mod:`deepref.kernels.cupy_optim`; a
case fails where the kernel would not take the arrays); a further case per optimizer
times that kernel against deepref's own unfused chain on the GPU. The
targets are for the CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from harness import Case, relative_error

from deepref import kernels, nn, optim
from deepref.backend import asarray, to_numpy
from deepref.kernels import cupy_optim

# (deepref name, options, arrays read + written per step besides the gradient read)
OPTIMIZERS = {
    "SGD": (dict(lr=0.01), 2),
    "SGD momentum": (dict(lr=0.01, momentum=0.9), 4),
    "Adagrad": (dict(lr=0.01), 4),
    "RMSprop": (dict(lr=0.01), 4),
    "Adam": (dict(lr=0.001), 6),
    "AdamW": (dict(lr=0.001), 6),
}
TORCH_NAME = {"SGD momentum": "SGD"}
FUSED = ("SGD", "SGD momentum", "Adam", "AdamW", "Adagrad")
SGD_NOTE = ("torch's fused kernel makes one pass that streams w, g and buf together; ours four NumPy passes "
            "per 1 MiB chunk (buf *= mu, buf += g, s = lr buf, w -= s): the same main-memory traffic, but three "
            "passes each stream one array (one core has fewer reads in flight) and one runs over cached data; "
            "each NumPy call rounds once, so four roundings take four calls (2 MiB float64 chunks: 1-3% "
            "faster here, Adam 1-3% slower)")
TARGETS = {
    ("Adam", "fused", "float32"): (3.0, "torch's fused kernel makes one pass over the four arrays; ours chains "
                                   "about 12 NumPy passes per cache-sized chunk, so only the chunk's first "
                                   "reads and last writes reach main memory"),
    ("Adam", "foreach", "float32"): (1.0, ""),
    ("SGD momentum", "fused", "float32"): (1.5, SGD_NOTE),
    ("SGD momentum", "fused", "float64"): (1.5, SGD_NOTE),
}


def _make(name: str, params, impl: str):
    options, _ = OPTIMIZERS[name]
    flag = {"fused": True} if impl == "fused" else {"foreach": True}
    return getattr(torch.optim, TORCH_NAME.get(name, name))(params, **options, **flag)


def _deepref(ctx, name: str, start: list, grads: list):
    """Parameters with gradients on deepref's backend, and the optimizer that steps them."""
    params = [nn.Parameter(asarray(w.copy())) for w in start]
    for p, g in zip(params, grads):
        p.grad = asarray(g)
    if ctx.backend == "cupy" and not all(cupy_optim.applies([p.data, p.grad]) for p in params):
        raise RuntimeError(f"{name}: the fused CUDA kernel would not run on these parameters")
    return params, getattr(optim, TORCH_NAME.get(name, name))(params, **OPTIMIZERS[name][0])


def _unfused_step(opt) -> None:
    """One step of ``opt`` through its update functions, without kernels (on CuPy: not fused)."""
    with kernels.disabled():
        opt.step()


def _data(dtype: str, tensors: int, per: int):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=per).astype(dtype) for _ in range(tensors)]
    return start, [rng.normal(size=per).astype(dtype) for _ in range(tensors)]


def _case(ctx, name: str, impl: str, tensors: int, size: int, dtype: str) -> Case:
    _, passes = OPTIMIZERS[name]
    per = size // tensors

    def setup():
        start, grads = _data(dtype, tensors, per)
        ours, deepref_opt = _deepref(ctx, name, start, grads)
        theirs = [torch.tensor(w, device=ctx.device) for w in start]
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g, device=ctx.device)
        torch_opt = _make(name, theirs, impl)

        def run_ours():
            deepref_opt.step()
            return ours[0].data

        def run_theirs():
            torch_opt.step()
            return theirs[0]

        def error(a, b):
            return relative_error(to_numpy(a), b.detach().cpu().numpy())

        return run_ours, run_theirs, error

    target, note = TARGETS.get((name, impl, dtype), (None, "")) if ctx.backend == "numpy" else (None, "")
    return Case(f"{name} step", _layout(ctx, tensors, per), dtype, setup, peer=f"torch {impl}",
                bytes_moved=(passes + 1) * size * np.dtype(dtype).itemsize, target=target, note=note)


def _fused_vs_chain_case(ctx, name: str, size: int, dtype: str) -> Case:
    """deepref's fused CUDA kernel against deepref's unfused element-wise chain, both on the GPU."""
    _, passes = OPTIMIZERS[name]

    def setup():
        start, grads = _data(dtype, 1, size)
        fused, fused_opt = _deepref(ctx, name, start, grads)
        chain, chain_opt = _deepref(ctx, name, start, grads)

        def run_fused():
            fused_opt.step()
            return fused[0].data

        def run_chain():
            _unfused_step(chain_opt)
            return chain[0].data

        def error(a, b):
            return relative_error(to_numpy(a), to_numpy(b))

        return run_fused, run_chain, error

    return Case(f"{name} step", _layout(ctx, 1, size), dtype, setup, peer="deepref unfused",
                bytes_moved=(passes + 1) * size * np.dtype(dtype).itemsize,
                note="deepref's fused CUDA kernel against its own chain of CuPy element-wise kernels")


def _layout(ctx, tensors: int, per: int) -> str:
    if ctx.quick:
        return f"{tensors} x {per}"
    return "1 x 10M" if tensors == 1 else f"{tensors} x {per // 1000}k"


def cases(ctx):
    size = 100_000 if ctx.quick else 10_000_000
    for dtype in ("float32", "float64"):
        for name in OPTIMIZERS:
            for tensors in (1, 100):
                yield _case(ctx, name, "foreach", tensors, size, dtype)
                if name in FUSED and tensors == 1:
                    yield _case(ctx, name, "fused", tensors, size, dtype)
            if ctx.backend == "cupy":
                yield _fused_vs_chain_case(ctx, name, size, dtype)
