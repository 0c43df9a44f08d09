"""deepref.nn against PyTorch: same values and gradients for the first operations and losses."""

import numpy as np
import pytest

from deepref import nn
from deepref.backend import to_numpy

pytestmark = pytest.mark.oracle
torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(autouse=True)
def _numpy_only(on_numpy):
    """Compares host arrays with torch tensors directly."""


def _torch_grad(fn, *arrays, upstream):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def test_linear_matches_torch(rng):
    x, w, b = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    g = rng.normal(size=(5, 3))
    out, cache = nn.linear_forward(x, w, b)
    expected, (dx, dw, db) = _torch_grad(lambda x, w, b: F.linear(x, w.T, b), x, w, b, upstream=g)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    for ours, theirs in zip(nn.linear_backward(g, cache), (dx, dw, db)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize(
    ("pair", "reference"),
    [
        ((nn.sigmoid_forward, nn.sigmoid_backward), torch.sigmoid),
        ((nn.tanh_forward, nn.tanh_backward), torch.tanh),
        ((nn.relu_forward, nn.relu_backward), torch.relu),
        ((lambda x: nn.leaky_relu_forward(x, 0.2), nn.leaky_relu_backward), lambda t: F.leaky_relu(t, 0.2)),
    ],
    ids=["sigmoid", "tanh", "relu", "leaky_relu"],
)
def test_activations_match_torch(pair, reference, rng):
    x, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    out, cache = pair[0](x)
    expected, (dx,) = _torch_grad(reference, x, upstream=g)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(pair[1](g, cache), dx, rtol=1e-12)


def test_losses_match_torch(rng):
    z, labels = rng.normal(size=(6, 4)) * 3, rng.integers(0, 4, size=6)
    targets, y01 = rng.normal(size=(6, 4)), rng.uniform(size=(6, 4))
    cases = [
        (nn.softmax_cross_entropy_forward, nn.softmax_cross_entropy_backward, labels,
         lambda t: F.cross_entropy(t, torch.tensor(labels))),
        (nn.bce_with_logits_forward, nn.bce_with_logits_backward, y01,
         lambda t: F.binary_cross_entropy_with_logits(t, torch.tensor(y01))),
        (nn.mse_forward, nn.mse_backward, targets, lambda t: F.mse_loss(t, torch.tensor(targets))),
        (nn.l1_forward, nn.l1_backward, targets, lambda t: F.l1_loss(t, torch.tensor(targets))),
    ]
    for forward, backward, target, reference in cases:
        loss, cache = forward(z, target)
        expected, (dz,) = _torch_grad(reference, z, upstream=np.array(0.7))
        assert float(to_numpy(loss)) == pytest.approx(float(expected), rel=1e-12)
        np.testing.assert_allclose(backward(0.7, cache), dz, rtol=1e-11)
