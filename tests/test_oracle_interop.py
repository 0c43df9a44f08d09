"""State dicts crossing between deepref and PyTorch (:mod:`deepref.interop`): values equal, outputs equal."""

import numpy as np
import pytest

from deepref import nn, rnn
from deepref.backend import asarray, to_numpy
from deepref.interop import from_torch, to_torch, torch_state_dict

torch = pytest.importorskip("torch", reason="the PyTorch oracle needs torch (the oracle extra)")

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("on_numpy")]


def _mlp():
    return nn.Sequential(nn.Linear(4, 6, seed=0), nn.Tanh(), nn.Linear(6, 3, bias=False, seed=1))


def _torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3, bias=False)).double()


def _equal_states(ours: dict, theirs: dict) -> None:
    assert set(ours) == set(theirs)
    for name, value in theirs.items():
        np.testing.assert_array_equal(np.asarray(ours[name]), value.detach().numpy(), err_msg=name)


def test_mlp_round_trip_keeps_every_value():
    torch.manual_seed(0)
    reference = _torch_mlp()
    model = from_torch(_mlp(), reference.state_dict())
    back = _torch_mlp()
    back.load_state_dict(to_torch(model))
    _equal_states(back.state_dict(), reference.state_dict())
    np.testing.assert_array_equal(to_numpy(model[0].weight.data), reference[0].weight.detach().numpy().T)
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(to_numpy(model(asarray(x))), reference(torch.from_numpy(x)).detach().numpy(),
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_recurrent_round_trip_and_outputs(kind, batch_first):
    torch.manual_seed(1)
    reference = getattr(torch.nn, kind)(3, 5, num_layers=2, batch_first=batch_first).double()
    model = getattr(rnn, kind)(3, 5, num_layers=2, batch_first=batch_first, seed=0)
    from_torch(model, reference.state_dict())
    back = getattr(torch.nn, kind)(3, 5, num_layers=2, batch_first=batch_first).double()
    back.load_state_dict(to_torch(model))
    _equal_states(back.state_dict(), reference.state_dict())
    x = np.random.default_rng(2).normal(size=(4, 7, 3) if batch_first else (7, 4, 3))
    out, final = reference(torch.from_numpy(x))
    np.testing.assert_allclose(to_numpy(model(asarray(x))), out.detach().numpy(), rtol=0, atol=1e-12)
    h_n = final[0] if kind == "LSTM" else final
    ours_h = model.final_state[0] if kind == "LSTM" else model.final_state
    np.testing.assert_allclose(to_numpy(ours_h), h_n.detach().numpy(), rtol=0, atol=1e-12)


def test_float32_from_torch_is_exact_in_a_float32_model():
    torch.manual_seed(3)
    reference = torch.nn.LSTM(3, 4)
    model = from_torch(rnn.LSTM(3, 4, batch_first=False, dtype="float32", seed=0), reference.state_dict())
    _equal_states(torch_state_dict(model), reference.state_dict())


def test_same_layout_layers_and_batch_norm_counter():
    torch.manual_seed(4)
    reference = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(), torch.nn.Linear(8, 3),
                                    torch.nn.BatchNorm1d(3)).double()
    model = nn.Sequential(nn.Embedding(10, 4, seed=0), nn.Flatten(), nn.Linear(8, 3, seed=0), nn.BatchNorm1d(3))
    from_torch(model, reference.state_dict())  # num_batches_tracked ignored
    state = to_torch(model)
    assert int(state["3.num_batches_tracked"]) == 0
    reference.load_state_dict(state)  # strict: every key present


def test_mismatched_states_and_unknown_layers_are_errors():
    with pytest.raises(KeyError, match=r"missing \['2.weight'\]"):
        from_torch(_mlp(), {k: v for k, v in _torch_mlp().state_dict().items() if k != "2.weight"})
    with pytest.raises(ValueError, match="saved shape"):
        from_torch(nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3, bias=False)), _torch_mlp().state_dict())
    with pytest.raises(NotImplementedError, match="Maxout|RecurrentLayer|no known PyTorch counterpart"):
        torch_state_dict(nn.Sequential(rnn.RecurrentLayer("lstm", 2, 3, seed=0)))
