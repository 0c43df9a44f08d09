"""Single operations, forward and backward, against PyTorch: linear, softmax cross-entropy,
embedding backward, affine_grid + grid_sample, batch norm, and a tiny MLP's whole training step."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from harness import Case, relative_error

from deepref import lm, nn, optim, stn
from deepref.backend import asarray, to_numpy

CLOSE_TO_TORCH = 1.3
AT_OR_AHEAD = 1.0


def _pair(ctx, host, dtype, grad=False):
    """``host`` as a deepref array and as a torch tensor on the peer's device."""
    ours = asarray(host, dtype=dtype)
    theirs = torch.tensor(np.asarray(host, dtype=dtype), device=ctx.device, requires_grad=grad)
    return ours, theirs


def _grads(tensors):
    out = [t.grad.detach().cpu().numpy() for t in tensors]
    for t in tensors:
        t.grad = None
    return out


def linear(ctx, dtype, n=256, d=1024, m=1024):
    def setup():
        rng = np.random.default_rng(0)
        x, tx = _pair(ctx, rng.normal(size=(n, d)), dtype, grad=True)
        w, tw = _pair(ctx, rng.normal(size=(d, m)) / 32, dtype, grad=True)
        b, tb = _pair(ctx, rng.normal(size=m), dtype, grad=True)
        dout, tdout = _pair(ctx, rng.normal(size=(n, m)), dtype)

        def ours():
            out, cache = nn.linear_forward(x, w, b)
            return [to_numpy(g) for g in nn.linear_backward(dout, cache)]

        def theirs():
            (tx @ tw + tb).backward(tdout)
            return _grads([tx, tw, tb])

        return ours, theirs, relative_error

    return Case("linear fwd+bwd", f"{n}x{d} @ {d}x{m}", dtype, setup, target=AT_OR_AHEAD,
                note="matrix products: both call a BLAS GEMM")


def cross_entropy(ctx, dtype, n=700, c=10_000):
    def setup():
        rng = np.random.default_rng(0)
        z, tz = _pair(ctx, 3 * rng.normal(size=(n, c)), dtype, grad=True)
        labels = rng.integers(0, c, size=n)
        y, ty = asarray(labels), torch.tensor(labels, device=ctx.device)

        def ours():
            loss, cache = nn.softmax_cross_entropy_forward(z, y)
            return to_numpy(nn.softmax_cross_entropy_backward(1.0, cache))

        def theirs():
            F.cross_entropy(tz, ty).backward()
            return _grads([tz])[0]

        return ours, theirs, relative_error

    return Case("softmax cross-entropy fwd+bwd", f"({n}, {c})", dtype, setup, target=CLOSE_TO_TORCH,
                bytes_moved=4 * n * c * np.dtype(dtype).itemsize,
                note="we keep exp(z - max) for the backward (one exp); torch recomputes it there, but "
                     "fuses max, exp and sum into one pass over each row")


def embedding_backward(ctx, dtype, vocab=10_000, tokens=20 * 35, width=200):
    def setup():
        rng = np.random.default_rng(0)
        ids_host = rng.zipf(1.3, size=tokens) % vocab  # repeated words, as in text
        ids, tids = asarray(ids_host), torch.tensor(ids_host, device=ctx.device)
        dout, tdout = _pair(ctx, rng.normal(size=(tokens, width)), dtype)
        weight = torch.zeros((vocab, width), dtype=getattr(torch, dtype), device=ctx.device, requires_grad=True)
        _, cache = lm.embedding_forward(ids, asarray(np.zeros((vocab, width)), dtype=dtype))

        def ours():
            return to_numpy(lm.embedding_backward(dout, cache))

        def theirs():
            F.embedding(tids, weight).backward(tdout)
            return _grads([weight])[0]

        return ours, theirs, relative_error

    return Case("embedding backward", f"{tokens} ids, {vocab}x{width}", dtype, setup, target=CLOSE_TO_TORCH,
                note="a dense (vocab, width) gradient: its zeros cost about as much as the scatter; "
                     "ours sums into fresh zero pages (np.zeros) and one flat np.add.at")


def grid_sample(ctx, dtype, n=64, size=42):
    def setup():
        rng = np.random.default_rng(0)
        x, tx = _pair(ctx, rng.normal(size=(n, 1, size, size)), dtype, grad=True)
        angle = rng.uniform(-0.8, 0.8, size=n)
        theta_host = np.zeros((n, 2, 3))
        theta_host[:, 0, 0], theta_host[:, 0, 1] = np.cos(angle), -np.sin(angle)
        theta_host[:, 1, 0], theta_host[:, 1, 1] = np.sin(angle), np.cos(angle)
        theta_host[:, :, 2] = rng.uniform(-0.2, 0.2, size=(n, 2))
        theta, ttheta = _pair(ctx, theta_host, dtype, grad=True)
        dout, tdout = _pair(ctx, rng.normal(size=(n, 1, size, size)), dtype)
        shape = (n, 1, size, size)

        def ours():
            grid, grid_cache = stn.affine_grid_forward(theta, shape)
            _, cache = stn.grid_sample_forward(x, grid)
            dx, dgrid = stn.grid_sample_backward(dout, cache)
            return [to_numpy(dx), to_numpy(stn.affine_grid_backward(dgrid, grid_cache))]

        def theirs():
            grid = F.affine_grid(ttheta, shape, align_corners=False)
            F.grid_sample(tx, grid, align_corners=False).backward(tdout)
            return _grads([tx, ttheta])

        return ours, theirs, relative_error

    return Case("affine_grid + grid_sample fwd+bwd", f"{n}x1x{size}x{size}", dtype, setup,
                target=CLOSE_TO_TORCH,
                note="torch runs one fused C++ loop per pixel; ours (deepref.kernels.numpy_sampling) is one "
                     "matrix product for the grid and about 30 NumPy calls per block of 8k-16k points into "
                     "workspaces reused across calls (no fresh temporaries: the only new arrays are the "
                     "results, as torch's), four gathers and four np.add.at scatters in double precision; "
                     "the specification alone, with fresh temporaries, was 3.3-4.3x torch")


def batch_norm(ctx, dtype, n=256, d=1024):
    def setup():
        rng = np.random.default_rng(0)
        x, tx = _pair(ctx, rng.normal(size=(n, d)) * 2 + 1, dtype, grad=True)
        gamma, tgamma = _pair(ctx, rng.normal(size=d), dtype, grad=True)
        beta, tbeta = _pair(ctx, rng.normal(size=d), dtype, grad=True)
        dout, tdout = _pair(ctx, rng.normal(size=(n, d)), dtype)

        def ours():
            _, cache = nn.normalization.batchnorm_forward(x, gamma, beta)
            return [to_numpy(g) for g in nn.normalization.batchnorm_backward(dout, cache)]

        def theirs():
            F.batch_norm(tx, None, None, tgamma, tbeta, training=True).backward(tdout)
            return _grads([tx, tgamma, tbeta])

        return ours, theirs, relative_error

    return Case("BatchNorm1d fwd+bwd", f"({n}, {d})", dtype, setup, target=CLOSE_TO_TORCH,
                bytes_moved=6 * n * d * np.dtype(dtype).itemsize,
                note="torch fuses each direction into one or two passes per feature column; ours makes "
                     "7 NumPy elementwise passes (3 into a new array) and 4 column sums (2 of them BLAS "
                     "products with a ones vector), the broadcast (D,) rows folded to NumPy's 8192-element "
                     "ufunc buffer, which it otherwise fills by copying (55 against 35 us per 256x1024 "
                     "float32 pass)")


def tiny_mlp_step(ctx, dtype, n=32, d=4, hidden=16, classes=3):
    def setup():
        rng = np.random.default_rng(0)
        x_host, labels = rng.normal(size=(n, d)), rng.integers(0, classes, size=n)
        model = nn.Sequential(nn.Linear(d, hidden, seed=0, dtype=dtype), nn.ReLU(),
                              nn.Linear(hidden, classes, seed=1, dtype=dtype))
        peer = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
        peer = peer.to(dtype=getattr(torch, dtype), device=ctx.device)
        with torch.no_grad():
            for ours_p, (w, b) in zip((model.layers[0], model.layers[2]), ((peer[0].weight, peer[0].bias),
                                                                             (peer[2].weight, peer[2].bias))):
                w.copy_(torch.tensor(to_numpy(ours_p.weight.data).T))
                b.copy_(torch.tensor(to_numpy(ours_p.bias.data)))
        x, tx = _pair(ctx, x_host, dtype)
        y, ty = asarray(labels), torch.tensor(labels, device=ctx.device)
        loss_fn = nn.SoftmaxCrossEntropy()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        topt = torch.optim.SGD(peer.parameters(), lr=0.1, momentum=0.9)

        def ours():
            loss = loss_fn.forward(model.forward(x), y)
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
            return float(loss)

        def theirs():
            loss = F.cross_entropy(peer(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()
            return float(loss)

        return ours, theirs, relative_error

    return Case("tiny MLP training step", f"{n}x{d}-{hidden}-{classes}", dtype, setup, target=AT_OR_AHEAD,
                note="per-call overhead: a few microseconds of Python per layer against torch's dispatcher")


def cases(ctx):
    small = ctx.quick
    for dtype in ("float32", "float64"):
        yield linear(ctx, dtype, *((32, 64, 64) if small else ()))
        yield cross_entropy(ctx, dtype, *((70, 1000) if small else ()))
        yield embedding_backward(ctx, dtype, *((1000, 100, 20) if small else ()))
        yield grid_sample(ctx, dtype, *((8, 12) if small else ()))
        yield batch_norm(ctx, dtype, *((32, 64) if small else ()))
        yield tiny_mlp_step(ctx, dtype)
