"""Every optimizer at 10M parameters, as one tensor and as 100 tensors, against ``torch.optim``.

The peer is torch's default implementation (``foreach``, several fused
multi-tensor passes) and, where torch has one, its ``fused`` CPU kernel, which
reads and writes each array exactly once. Both sides step the same float
parameters with the same gradients; after the first step they must agree.
"""

from __future__ import annotations

import numpy as np
import torch
from harness import Case, relative_error

from deepref import nn, optim
from deepref.backend import asarray, to_numpy

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
SGD_NOTE = ("torch's fused kernel makes one pass; ours four NumPy passes per 1 MiB chunk (buf *= mu, "
            "buf += g, s = lr buf, w -= s): the same main-memory traffic, plus passes over cached data")
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


def _case(ctx, name: str, impl: str, tensors: int, size: int, dtype: str) -> Case:
    options, passes = OPTIMIZERS[name]
    per = size // tensors

    def setup():
        rng = np.random.default_rng(0)
        start = [rng.normal(size=per).astype(dtype) for _ in range(tensors)]
        grads = [rng.normal(size=per).astype(dtype) for _ in range(tensors)]
        ours = [nn.Parameter(asarray(w.copy())) for w in start]
        for p, g in zip(ours, grads):
            p.grad = asarray(g)
        theirs = [torch.tensor(w, device=ctx.device) for w in start]
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g, device=ctx.device)
        deepref_opt = getattr(optim, TORCH_NAME.get(name, name))(ours, **options)
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

    itemsize = np.dtype(dtype).itemsize
    target, note = TARGETS.get((name, impl, dtype), (None, ""))
    layout = "1 x 10M" if tensors == 1 else f"{tensors} x {per // 1000}k"
    return Case(f"{name} step", layout if not ctx.quick else f"{tensors} x {per}", dtype, setup,
                peer=f"torch {impl}", bytes_moved=(passes + 1) * size * itemsize, target=target, note=note)


def cases(ctx):
    size = 100_000 if ctx.quick else 10_000_000
    for dtype in ("float32", "float64"):
        for name in OPTIMIZERS:
            for tensors in (1, 100):
                yield _case(ctx, name, "foreach", tensors, size, dtype)
                if name in FUSED and tensors == 1:
                    yield _case(ctx, name, "fused", tensors, size, dtype)
