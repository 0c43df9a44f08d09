"""GPU-scale cases, run only with ``--backend cupy``: the targets of the CuPy work, float32.

Every case name starts with ``GPU `` (``scripts/gpu_check.py`` runs them with
``--only "GPU "``). The peer is PyTorch on the same GPU with TF32 off
(``run.py`` sets ``torch.backends.cudnn.allow_tf32`` and
``torch.backends.cuda.matmul.allow_tf32`` to False for every CuPy run), so
that both sides multiply in full float32; the ST-CNN step is timed against
deepref itself on the CPU (NumPy, one thread), the comparison each chapter's
time makes.

* recurrent layers, forward and backward through time: LSTM at N 64 and 256,
  GRU and tanh RNN at N 64, T 35, 650 inputs and 650 units, against cuDNN
  (target: within 2x);
* an MLP training step, 4096 examples through 1024-2048-2048-10 with Adam
  (target: within 1.15x);
* Adam and SGD with momentum over 100 parameters of 100k elements against
  torch's default multi-tensor (``foreach``) step (target: within 1.5x);
* a training step of the spatial-transformer chapter's ST-CNN on a batch of
  256 distorted-digit canvases, against the same step on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from bench_optim import _case as optimizer_case
from bench_rnn import OURS_CLASS, _peer_like
from harness import Case, relative_error

from deepref import backend, nn, optim
from deepref.backend import asarray, to_numpy

RECURRENT_TARGET = 2.0
MLP_TARGET = 1.15
OPTIMIZER_TARGET = 1.5
DTYPE = "float32"


def recurrent(ctx, kind: str, n: int, steps: int = 35, hidden: int = 650, input_size: int = 650) -> Case:
    def setup():
        rng = np.random.default_rng(0)
        ours = OURS_CLASS[kind](input_size, hidden, seed=0, dtype=DTYPE)
        peer = _peer_like(ours, kind, input_size, hidden, DTYPE, ctx.device)
        x_host = rng.normal(size=(n, steps, input_size)).astype(DTYPE)
        dout_host = rng.normal(size=(n, steps, hidden)).astype(DTYPE)
        x, dout = asarray(x_host), asarray(dout_host)
        tx = torch.tensor(x_host, device=ctx.device, requires_grad=True)
        tdout = torch.tensor(dout_host, device=ctx.device)

        def run_ours():
            ours.zero_grad()
            ours.forward(x)
            return [ours.backward(dout), ours.layers[0].w_h.grad]

        def run_theirs():
            tx.grad = None
            peer.zero_grad()
            peer(tx)[0].backward(tdout)
            return [tx.grad, peer.weight_hh_l0.grad.T]

        def error(a, b):
            return relative_error([to_numpy(v) for v in a], [v.detach().cpu().numpy() for v in b])

        return run_ours, run_theirs, error

    return Case(f"GPU {kind.upper()} fwd+bwd", f"N {n}, T {steps}, {input_size}-{hidden}", DTYPE, setup,
                target=RECURRENT_TARGET,
                note="cuDNN runs the whole sequence in persistent kernels; ours launches one cuBLAS product "
                     "and one element-wise kernel per step and direction (deepref.kernels.cupy_recurrent)")


def _mlp_pair(ctx, sizes):
    """A deepref MLP and a torch copy of it (same weights) on the GPU."""
    layers, peer_layers = [], []
    for k, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(d_in, d_out, seed=k, dtype=DTYPE), nn.ReLU()]
        peer_layers += [torch.nn.Linear(d_in, d_out), torch.nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    peer = torch.nn.Sequential(*peer_layers[:-1]).to(device=ctx.device)
    with torch.no_grad():
        for ours, theirs in zip(model.layers[::2], peer[::2]):
            theirs.weight.copy_(torch.tensor(to_numpy(ours.weight.data).T))
            theirs.bias.copy_(torch.tensor(to_numpy(ours.bias.data)))
    return model, peer


def mlp_step(ctx, n: int = 4096, sizes=(1024, 2048, 2048, 10)) -> Case:
    def setup():
        rng = np.random.default_rng(0)
        x_host = rng.normal(size=(n, sizes[0])).astype(DTYPE)
        labels = rng.integers(0, sizes[-1], size=n)
        model, peer = _mlp_pair(ctx, sizes)
        x, y = asarray(x_host), asarray(labels)
        tx, ty = torch.tensor(x_host, device=ctx.device), torch.tensor(labels, device=ctx.device)
        loss_fn = nn.SoftmaxCrossEntropy()
        opt = optim.Adam(model.parameters(), lr=1e-4)
        topt = torch.optim.Adam(peer.parameters(), lr=1e-4)

        def run_ours():
            loss = loss_fn.forward(model.forward(x), y)
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
            return loss

        def run_theirs():
            loss = F.cross_entropy(peer(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()
            return loss

        return run_ours, run_theirs, lambda a, b: relative_error(to_numpy(a), b.detach().cpu().numpy())

    return Case("GPU MLP training step", f"{n} x " + "-".join(map(str, sizes)) + ", Adam", DTYPE, setup,
                target=MLP_TARGET, note="the loss is returned on the device on both sides (no host read per step)")


def optimizer_step(ctx, name: str) -> Case:
    case = optimizer_case(ctx, name, "foreach", 100, 10_000_000, DTYPE)
    case.name, case.target = f"GPU {case.name}", OPTIMIZER_TARGET
    case.note = ("one launch steps all 100 tensors (deepref.kernels.cupy_multi_tensor); torch's foreach step "
                 "runs a few multi-tensor launches of several tensors each")
    return case


def st_cnn_step(ctx, n: int = 256) -> Case:
    """The ST-CNN's training step on the GPU against the same step, same weights and data, on the CPU."""
    from deepref.stn.experiments import rts_model

    def setup():
        rng = np.random.default_rng(0)
        x_host = rng.random(size=(n, 1, 42, 42)).astype(DTYPE)
        labels = rng.integers(0, 10, size=n)
        sides = []
        for name in ("cupy", "numpy"):
            with backend.use_backend(name):
                model = rts_model("ST-CNN", seed=0)
                x, y, loss_fn = asarray(x_host), asarray(labels), nn.SoftmaxCrossEntropy()
                sides.append((model, x, y, loss_fn, optim.SGD(model.parameters(), lr=0.01, momentum=0.9)))

        def step(model, x, y, loss_fn, opt):
            loss = loss_fn.forward(model.forward(x), y)
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
            return loss

        return (lambda: step(*sides[0]), lambda: step(*sides[1]),
                lambda a, b: relative_error(to_numpy(a), to_numpy(b)))

    return Case("GPU ST-CNN training step", f"{n}x1x42x42, SGD momentum", DTYPE, setup, peer="deepref on the CPU",
                note="ratio below 1: the GPU step is faster than the same step with NumPy on one CPU thread")


def cases(ctx):
    if ctx.backend != "cupy":
        return
    for kind, n in (("lstm", 64), ("lstm", 256), ("gru", 64), ("rnn", 64)):
        yield recurrent(ctx, kind, n)
    yield mlp_step(ctx)
    yield optimizer_step(ctx, "Adam")
    yield optimizer_step(ctx, "SGD momentum")
    yield st_cnn_step(ctx)
