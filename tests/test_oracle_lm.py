"""deepref.lm against PyTorch: an embedding + LSTM + linear language model with the same weights."""

import numpy as np
import pytest

from deepref import lm
from deepref.backend import asarray, to_numpy

pytestmark = pytest.mark.oracle
torch = pytest.importorskip("torch")

V, E, H, LAYERS = 11, 5, 6, 2


class TorchLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, num_layers=LAYERS, batch_first=True)
        self.decoder = torch.nn.Linear(H, V)

    def forward(self, ids, state):
        out, final = self.lstm(self.embedding(ids), state)
        return self.decoder(out), final


def _copy_weights(ours: lm.RNNLM, theirs: TorchLM) -> None:
    """Our one-layer stacks hold torch's layer k as ``l{k}.l0``; weights transposed as in deepref.rnn."""
    def host(t):
        return t.detach().numpy().copy()

    ours.embedding.weight.data = asarray(host(theirs.embedding.weight))
    for k, stack in enumerate(ours.layers):
        layer = stack.layers[0]
        layer.w_x.data = asarray(host(getattr(theirs.lstm, f"weight_ih_l{k}")).T.copy())
        layer.w_h.data = asarray(host(getattr(theirs.lstm, f"weight_hh_l{k}")).T.copy())
        layer.b_x.data = asarray(host(getattr(theirs.lstm, f"bias_ih_l{k}")))
        layer.b_h.data = asarray(host(getattr(theirs.lstm, f"bias_hh_l{k}")))
    ours.decoder.weight.data = asarray(host(theirs.decoder.weight).T.copy())
    ours.decoder.bias.data = asarray(host(theirs.decoder.bias))


def test_language_model_logits_loss_and_gradients_match_torch(on_numpy):
    torch.manual_seed(0)
    theirs = TorchLM().double()
    ours = lm.RNNLM(V, E, H, num_layers=LAYERS, cell="lstm", seed=1)
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, size=(3, 7))
    targets = rng.integers(0, V, size=(3, 7))
    h0, c0 = 0.3 * rng.normal(size=(LAYERS, 3, H)), 0.3 * rng.normal(size=(LAYERS, 3, H))

    logits_t, _ = theirs(torch.tensor(ids), (torch.tensor(h0), torch.tensor(c0)))
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, V), torch.tensor(targets).reshape(-1))
    loss_t.backward()

    state = [(asarray(h0[k : k + 1]), asarray(c0[k : k + 1])) for k in range(LAYERS)]
    ours.zero_grad()
    loss = ours.loss_forward(asarray(ids), asarray(targets), state)
    ours.loss_backward()
    np.testing.assert_allclose(float(loss), loss_t.item(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(ours.forward(asarray(ids), state)), logits_t.detach().numpy(), rtol=1e-11,
                               atol=1e-13)
    pairs = {"embedding.weight": theirs.embedding.weight.grad.numpy(),
             "decoder.weight": theirs.decoder.weight.grad.numpy().T, "decoder.bias": theirs.decoder.bias.grad.numpy()}
    for k in range(LAYERS):
        pairs[f"l{k}.l0.w_x"] = getattr(theirs.lstm, f"weight_ih_l{k}").grad.numpy().T
        pairs[f"l{k}.l0.w_h"] = getattr(theirs.lstm, f"weight_hh_l{k}").grad.numpy().T
        pairs[f"l{k}.l0.b_x"] = getattr(theirs.lstm, f"bias_ih_l{k}").grad.numpy()
        pairs[f"l{k}.l0.b_h"] = getattr(theirs.lstm, f"bias_hh_l{k}").grad.numpy()
    grads = {name: to_numpy(p.grad) for name, p in ours.named_parameters()}
    assert set(grads) == set(pairs)
    for name, expected in pairs.items():
        np.testing.assert_allclose(grads[name], expected, rtol=1e-9, atol=1e-13, err_msg=name)


def test_class_softmax_log_probs_match_torch_factorisation(on_numpy):
    rng = np.random.default_rng(1)
    h, u, a = rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    w, b = rng.normal(size=(3, 8)), rng.normal(size=8)
    ours = to_numpy(lm.class_softmax_log_probs(asarray(h), asarray(u), asarray(a), asarray(w), asarray(b)))
    lsm = torch.nn.functional.log_softmax
    class_lp = lsm(torch.tensor(h @ u + a), dim=1)
    blocks = [lsm(torch.tensor(h @ w[:, c * 3 : (c + 1) * 3] + b[c * 3 : (c + 1) * 3]), dim=1) + class_lp[:, c : c + 1]
              for c in range(3)]
    np.testing.assert_allclose(ours, torch.cat(blocks, dim=1).numpy(), rtol=1e-12)
