"""Recurrent layers forward and backward through time, and a word-level language-model training
step, against ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` (batch-first, one layer)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from harness import Case, relative_error

from deepref import nn, optim, rnn
from deepref.backend import asarray, get_namespace, segment_sum, to_numpy

TORCH_CLASS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
OURS_CLASS = {"rnn": rnn.RNN, "gru": rnn.GRU, "lstm": rnn.LSTM}


def _peer_like(ours, kind: str, input_size: int, hidden: int, dtype: str, device: str):
    """A torch layer holding the same weights as our one-layer ``ours``."""
    peer = TORCH_CLASS[kind](input_size, hidden, batch_first=True).to(dtype=getattr(torch, dtype), device=device)
    layer = ours.layers[0]
    with torch.no_grad():
        peer.weight_ih_l0.copy_(torch.tensor(to_numpy(layer.w_x.data).T))
        peer.weight_hh_l0.copy_(torch.tensor(to_numpy(layer.w_h.data).T))
        peer.bias_ih_l0.copy_(torch.tensor(to_numpy(layer.b_x.data)))
        peer.bias_hh_l0.copy_(torch.tensor(to_numpy(layer.b_h.data)))
    return peer


def recurrent(ctx, kind: str, hidden: int, dtype: str, n=20, steps=35, input_size=200):
    def setup():
        rng = np.random.default_rng(0)
        ours = OURS_CLASS[kind](input_size, hidden, seed=0, dtype=dtype)
        peer = _peer_like(ours, kind, input_size, hidden, dtype, ctx.device)
        x_host, dout_host = rng.normal(size=(n, steps, input_size)), rng.normal(size=(n, steps, hidden))
        x = asarray(x_host, dtype=dtype)
        tx = torch.tensor(x_host.astype(dtype), device=ctx.device, requires_grad=True)
        dout, tdout = asarray(dout_host, dtype=dtype), torch.tensor(dout_host.astype(dtype), device=ctx.device)

        def run_ours():
            ours.forward(x)
            dx = ours.backward(dout)
            grad = to_numpy(ours.layers[0].w_h.grad)
            ours.zero_grad()
            return [to_numpy(dx), grad]

        def run_theirs():
            peer(tx)[0].backward(tdout)
            out = [tx.grad.cpu().numpy(), peer.weight_hh_l0.grad.cpu().numpy().T]
            tx.grad = None
            peer.zero_grad()
            return out

        return run_ours, run_theirs, relative_error

    target = 1.1 if (kind == "lstm" and dtype == "float32") else 1.0
    return Case(f"{kind.upper()} fwd+bwd", f"{n}x{steps}x{input_size}, H {hidden}", dtype, setup, target=target,
                note=RECURRENT_NOTES[kind])


_ONEDNN = "torch runs the whole layer in oneDNN's RNN primitive (aten::mkldnn_rnn_layer); "
RECURRENT_NOTES = {
    "lstm": _ONEDNN + "our LSTM runs about 15 NumPy calls per step forward and 20 backward into preallocated "
                      "buffers (deepref.kernels.numpy_recurrent); its matrix products alone (OpenBLAS, one thread, "
                      "the recurrent ones cut into small-kernel blocks) take about 14.3 of its 17.6 ms at H 200 "
                      "(torch's whole fwd+bwd: 16.4) and 98 of 107 ms at H 650 (torch: 100)",
    "gru": _ONEDNN + "ours is the specification (deepref.rnn.layers.sequence_forward, no registered NumPy "
                     "kernel): one matrix product for the inputs of all steps, then per step one recurrent "
                     "product for the three gate blocks and the gates' elementwise NumPy calls",
    "rnn": _ONEDNN + "ours is the specification (deepref.rnn.layers.sequence_forward, no registered NumPy "
                     "kernel): one matrix product for the inputs of all steps, then per step one recurrent "
                     "product, a bias and a tanh",
}


def lm_step(ctx, dtype, vocab=10_000, width=200, n=20, steps=35):
    """Embedding, LSTM, output layer, softmax cross-entropy over the vocabulary, clipping and SGD."""

    def setup():
        rng = np.random.default_rng(0)
        ids_host = rng.zipf(1.3, size=(n, steps + 1)) % vocab
        emb_host = rng.uniform(-0.1, 0.1, size=(vocab, width))
        ours_lstm = rnn.LSTM(width, width, seed=0, dtype=dtype)
        decoder = nn.Linear(width, vocab, seed=1, dtype=dtype)
        embedding = nn.Parameter(asarray(emb_host, dtype=dtype))
        params = [embedding, *ours_lstm.parameters(), *decoder.parameters()]
        opt = optim.SGD(params, lr=1.0)
        inputs, targets = asarray(ids_host[:, :-1]), asarray(ids_host[:, 1:].reshape(-1))

        peer_lstm = _peer_like(ours_lstm, "lstm", width, width, dtype, ctx.device)
        peer_decoder = torch.nn.Linear(width, vocab).to(dtype=getattr(torch, dtype), device=ctx.device)
        peer_embedding = torch.nn.Embedding(vocab, width).to(dtype=getattr(torch, dtype), device=ctx.device)
        with torch.no_grad():
            peer_decoder.weight.copy_(torch.tensor(to_numpy(decoder.weight.data).T))
            peer_decoder.bias.copy_(torch.tensor(to_numpy(decoder.bias.data)))
            peer_embedding.weight.copy_(torch.tensor(emb_host.astype(dtype)))
        peer_params = [*peer_embedding.parameters(), *peer_lstm.parameters(), *peer_decoder.parameters()]
        peer_opt = torch.optim.SGD(peer_params, lr=1.0)
        tinputs = torch.tensor(ids_host[:, :-1], device=ctx.device)
        ttargets = torch.tensor(ids_host[:, 1:].reshape(-1), device=ctx.device)
        xp = get_namespace(embedding.data)
        flat_ids = xp.reshape(inputs, (-1,))

        def run_ours():
            x = xp.reshape(xp.take(embedding.data, flat_ids, axis=0), (n, steps, width))
            hidden = ours_lstm.forward(x)
            logits = decoder.forward(xp.reshape(hidden, (n * steps, width)))
            loss, cache = nn.softmax_cross_entropy_forward(logits, targets)
            dh = decoder.backward(nn.softmax_cross_entropy_backward(1.0, cache))
            dx = ours_lstm.backward(xp.reshape(dh, (n, steps, width)))
            embedding.grad = segment_sum(flat_ids, xp.reshape(dx, (n * steps, width)), vocab)
            optim.clip_grad_norm(params, 0.25)
            opt.step()
            opt.zero_grad()
            return float(loss)

        def run_theirs():
            hidden = peer_lstm(peer_embedding(tinputs))[0]
            loss = F.cross_entropy(peer_decoder(hidden.reshape(n * steps, width)), ttargets)
            peer_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(peer_params, 0.25)
            peer_opt.step()
            return float(loss)

        return run_ours, run_theirs, relative_error

    return Case("language-model training step", f"{n}x{steps}, V {vocab}, H {width}", dtype, setup,
                target=1.3, note="the output layer and softmax over the vocabulary dominate both")


def cases(ctx):
    hiddens = (32,) if ctx.quick else (200, 650)
    for dtype in ("float32", "float64"):
        for kind in ("rnn", "gru", "lstm"):
            for hidden in hiddens:
                yield recurrent(ctx, kind, hidden, dtype, *((4, 5, 16) if ctx.quick else ()))
        yield lm_step(ctx, dtype, *((1000, 32, 4, 5) if ctx.quick else ()))
