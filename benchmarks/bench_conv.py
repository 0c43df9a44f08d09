"""Convolution and pooling, forward and backward with every gradient, against PyTorch.

The shapes are those of the spatial transformer chapter's CNN and ST-CNN and
two larger, more common layers. deepref builds the im2col matrix and calls one
GEMM per product (forward, weight gradient, input gradient); PyTorch's CPU
convolution (oneDNN for float32) works on blocked layouts without that copy.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from bench_ops import _grads, _pair
from harness import Case, relative_error

from deepref import nn
from deepref.backend import to_numpy

WITHIN_2X = 2.0  # issue 17: conv2d forward+backward within 2x of PyTorch CPU

# name, (N, C_in, H, W), C_out, kernel, stride, padding
CONV_SHAPES = (
    ("STN CNN layer 1", (64, 1, 42, 42), 8, 5, 2, 2),
    ("STN CNN layer 2", (64, 8, 10, 10), 16, 3, 1, 1),
    ("ST-CNN localisation", (64, 1, 21, 21), 8, 5, 1, 2),
    ("MNIST-size 5x5", (64, 8, 28, 28), 16, 5, 1, 2),
    ("mid-size 3x3", (32, 16, 28, 28), 32, 3, 1, 1),
)


def conv2d(ctx, dtype, label, x_shape, c_out, k, stride, padding):
    def setup():
        rng = np.random.default_rng(0)
        x, tx = _pair(ctx, rng.normal(size=x_shape), dtype, grad=True)
        w, tw = _pair(ctx, rng.normal(size=(c_out, x_shape[1], k, k)) / k, dtype, grad=True)
        b, tb = _pair(ctx, rng.normal(size=c_out), dtype, grad=True)
        out_shape = tuple(F.conv2d(tx, tw, tb, stride, padding).shape)
        dout, tdout = _pair(ctx, rng.normal(size=out_shape), dtype)

        def ours():
            out, cache = nn.conv2d_forward(x, w, b, stride, padding)
            return [to_numpy(out), *(to_numpy(g) for g in nn.conv2d_backward(dout, cache))]

        def theirs():
            out = F.conv2d(tx, tw, tb, stride, padding)
            out.backward(tdout)
            return [out.detach().cpu().numpy(), *_grads([tx, tw, tb])]

        return ours, theirs, relative_error

    shape = f"{x_shape} {c_out}x{k}x{k}/{stride}"
    return Case(f"conv2d fwd+bwd, {label}", shape, dtype, setup, target=WITHIN_2X,
                note="im2col copy + three GEMMs + col2im; torch's oneDNN kernels need no im2col copy "
                     "(float32), its float64 path is an im2col of its own")


def max_pool2d(ctx, dtype, x_shape=(64, 8, 42, 42), k=2):
    def setup():
        rng = np.random.default_rng(0)
        x, tx = _pair(ctx, rng.normal(size=x_shape), dtype, grad=True)
        out_shape = (*x_shape[:2], x_shape[2] // k, x_shape[3] // k)
        dout, tdout = _pair(ctx, rng.normal(size=out_shape), dtype)

        def ours():
            out, cache = nn.max_pool2d_forward(x, k)
            return [to_numpy(out), to_numpy(nn.max_pool2d_backward(dout, cache))]

        def theirs():
            out = F.max_pool2d(tx, k)
            out.backward(tdout)
            return [out.detach().cpu().numpy(), *_grads([tx])]

        return ours, theirs, relative_error

    return Case("max_pool2d fwd+bwd", f"{x_shape} k{k}", dtype, setup,
                note="window copy, running maximum and col2im; torch fuses them into one pass")


def cases(ctx):
    for dtype in ("float32", "float64"):
        for label, x_shape, c_out, k, stride, padding in CONV_SHAPES[: 2 if ctx.quick else None]:
            if ctx.quick:
                x_shape = (4, *x_shape[1:])
            yield conv2d(ctx, dtype, label, x_shape, c_out, k, stride, padding)
        yield max_pool2d(ctx, dtype, (4, 8, 42, 42) if ctx.quick else (64, 8, 42, 42))
