"""deepref.rnn against torch.nn.RNN / LSTM / GRU with the same weights: outputs, final states and all gradients."""

import numpy as np
import pytest

from deepref import rnn
from deepref.backend import asarray, to_numpy

pytestmark = pytest.mark.oracle
torch = pytest.importorskip("torch")

TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
OURS = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}
N, T, D, H = 3, 7, 4, 5


def _copy_torch_weights(ours, theirs):
    """Our ``l{k}.w_x`` is torch's ``weight_ih_l{k}.T``, ``w_h`` its ``weight_hh_l{k}.T``, biases unchanged."""
    for k, layer in enumerate(ours.layers):
        layer.w_x.data = asarray(getattr(theirs, f"weight_ih_l{k}").detach().numpy().T.copy())
        layer.w_h.data = asarray(getattr(theirs, f"weight_hh_l{k}").detach().numpy().T.copy())
        layer.b_x.data = asarray(getattr(theirs, f"bias_ih_l{k}").detach().numpy().copy())
        layer.b_h.data = asarray(getattr(theirs, f"bias_hh_l{k}").detach().numpy().copy())


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_outputs_and_gradients_match_torch(cell, num_layers, on_numpy):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, TORCH_CLASSES[cell])(D, H, num_layers=num_layers, batch_first=True).double()
    ours = OURS[cell](D, H, num_layers=num_layers, seed=1)
    _copy_torch_weights(ours, theirs)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D))
    states = [0.5 * rng.normal(size=(num_layers, N, H)) for _ in range(2 if cell == "lstm" else 1)]
    upstream = [rng.normal(size=(N, T, H))] + [rng.normal(size=(num_layers, N, H)) for _ in states]

    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s, requires_grad=True) for s in states]
    out_t, final_t = theirs(x_t, tuple(states_t) if cell == "lstm" else states_t[0])
    finals_t = list(final_t) if cell == "lstm" else [final_t]
    loss = sum((o * torch.tensor(u)).sum() for o, u in zip([out_t, *finals_t], upstream))
    loss.backward()

    as_state = (lambda arrays: tuple(arrays)) if cell == "lstm" else (lambda arrays: arrays[0])
    out = ours.forward(asarray(x), as_state([asarray(s) for s in states]))
    finals = list(ours.final_state) if cell == "lstm" else [ours.final_state]
    np.testing.assert_allclose(to_numpy(out), out_t.detach().numpy(), rtol=1e-12, atol=1e-13)
    for ours_final, their_final in zip(finals, finals_t):
        np.testing.assert_allclose(to_numpy(ours_final), their_final.detach().numpy(), rtol=1e-12, atol=1e-13)

    ours.zero_grad()
    dx = ours.backward(asarray(upstream[0]), as_state([asarray(u) for u in upstream[1:]]))
    np.testing.assert_allclose(to_numpy(dx), x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    state_grads = list(ours.initial_state_grad) if cell == "lstm" else [ours.initial_state_grad]
    for ours_grad, their_state in zip(state_grads, states_t):
        np.testing.assert_allclose(to_numpy(ours_grad), their_state.grad.numpy(), rtol=1e-10, atol=1e-12)
    for k, layer in enumerate(ours.layers):
        pairs = {
            "w_x": (layer.w_x, getattr(theirs, f"weight_ih_l{k}").grad.numpy().T),
            "w_h": (layer.w_h, getattr(theirs, f"weight_hh_l{k}").grad.numpy().T),
            "b_x": (layer.b_x, getattr(theirs, f"bias_ih_l{k}").grad.numpy()),
            "b_h": (layer.b_h, getattr(theirs, f"bias_hh_l{k}").grad.numpy()),
        }
        for name, (param, expected) in pairs.items():
            np.testing.assert_allclose(to_numpy(param.grad), expected, rtol=1e-10, atol=1e-12, err_msg=f"l{k}.{name}")
