"""Benchmark: deepref conv2d forward+backward against PyTorch CPU on the same shapes.

Both run in this process with one thread (BLAS and torch), on the same data
and dtype, interleaved: each round times one deepref call and one torch call,
so that load from other processes hits both alike. Before timing, the script
checks that both computed the same output and gradients. It prints, per case,
the median time of each and the median and minimum of the per-round ratios
(deepref / torch; below 1 means deepref is faster).

    python benchmarks/bench_conv.py [--rounds 15] [--dtype float32 float64]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from typing import NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

from deepref.nn import conv2d_backward, conv2d_forward  # noqa: E402


class Case(NamedTuple):
    """A conv2d problem: input ``(N, C_in, H, W)``, ``C_out`` filters of ``k x k``, stride, padding."""

    name: str
    x: tuple
    c_out: int
    k: int
    stride: int
    padding: int


CASES = (
    Case("STN chapter CNN, layer 1", (64, 1, 42, 42), 8, 5, 2, 2),
    Case("STN chapter CNN, layer 2", (64, 8, 10, 10), 16, 3, 1, 1),
    Case("ST-CNN localisation", (64, 1, 21, 21), 8, 5, 1, 2),
    Case("ST-CNN classifier, layer 2", (64, 8, 8, 8), 16, 3, 1, 1),
    Case("MNIST-size, 5x5", (64, 8, 28, 28), 16, 5, 1, 2),
    Case("mid-size, 3x3", (32, 16, 28, 28), 32, 3, 1, 1),
)


def _median_and_min(times: list[float]) -> tuple[float, float]:
    return float(np.median(times)), float(np.min(times))


def bench_case(case: Case, dtype: str, rounds: int, torch) -> dict:
    """Time deepref and torch on ``case`` (forward and backward with every gradient), interleaved."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=case.x).astype(dtype)
    w = rng.normal(size=(case.c_out, case.x[1], case.k, case.k)).astype(dtype)
    b = rng.normal(size=case.c_out).astype(dtype)
    x_t, w_t, b_t = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

    def ours(dout=None):
        out, cache = conv2d_forward(x, w, b, case.stride, case.padding)
        return out, conv2d_backward(out if dout is None else dout, cache)

    def theirs(dout=None):
        x_t.grad = w_t.grad = b_t.grad = None
        out = torch.nn.functional.conv2d(x_t, w_t, b_t, case.stride, case.padding)
        out.backward(out.detach() if dout is None else torch.tensor(dout))
        return out

    out, _ = ours()
    dout = rng.normal(size=out.shape).astype(dtype)
    _, (dx, dw, db) = ours(dout)
    out_t = theirs(dout)
    tol = 1e-3 if dtype == "float32" else 1e-9
    for name, a, t in (("out", out, out_t), ("dx", dx, x_t.grad), ("dw", dw, w_t.grad), ("db", db, b_t.grad)):
        expected = t.detach().numpy()
        error = np.max(np.abs(a - expected)) / max(np.max(np.abs(expected)), 1e-30)
        if error > tol:
            raise AssertionError(f"{case.name} ({dtype}): {name} differs from torch by {error:.2e} (relative)")
    times = {"deepref": [], "torch": []}
    for _ in range(rounds):
        for key, call in (("deepref", ours), ("torch", theirs)):
            start = time.perf_counter()
            call(dout)
            times[key].append(time.perf_counter() - start)
    ratios = [a / t for a, t in zip(times["deepref"], times["torch"])]
    return {
        "case": case.name,
        "dtype": dtype,
        "deepref_ms": 1e3 * _median_and_min(times["deepref"])[0],
        "torch_ms": 1e3 * _median_and_min(times["torch"])[0],
        "ratio_median": float(np.median(ratios)),
        "ratio_min": float(np.min(ratios)),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    print(f"{'case':28s} {'dtype':8s} {'deepref ms':>10s} {'torch ms':>9s} {'ratio med':>9s} {'ratio min':>9s}")
    for dtype in args.dtype:
        for case in CASES:
            row = bench_case(case, dtype, args.rounds, torch)
            rows.append(row)
            print(f"{row['case']:28s} {dtype:8s} {row['deepref_ms']:10.2f} {row['torch_ms']:9.2f} "
                  f"{row['ratio_median']:9.2f} {row['ratio_min']:9.2f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
