"""Hessians of deepref.landscape against PyTorch's autograd (numpy backend only)."""

import numpy as np
import pytest

from deepref import landscape, nn
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import relative_error
from deepref.nn.utils import parameters_to_vector

pytestmark = pytest.mark.oracle


def test_full_hessian_and_extremes_match_torch_autograd(on_numpy):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x_host, labels = rng.normal(size=(20, 5)), rng.integers(0, 3, size=20)
    model = nn.Sequential(nn.Linear(5, 6, seed=0), nn.Tanh(), nn.Linear(6, 3, seed=1))
    for p in model.parameters():  # non-zero biases
        p.data = p.data + 0.1 * rng.normal(size=p.shape)
    shapes = [p.shape for p in model.parameters()]
    theta = to_numpy(parameters_to_vector(model))

    def torch_loss(flat):
        pieces, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            pieces.append(flat[start : start + size].reshape(shape))
            start += size
        w1, b1, w2, b2 = pieces
        logits = torch.tanh(torch.as_tensor(x_host) @ w1 + b1) @ w2 + b2
        return torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels))

    expected = torch.autograd.functional.hessian(torch_loss, torch.as_tensor(theta)).numpy()
    ours = to_numpy(landscape.full_hessian(model, nn.SoftmaxCrossEntropy(), asarray(x_host), asarray(labels)))
    assert relative_error(ours, expected) < 1e-8
    lowest, highest = landscape.hessian_extreme_eigenvalues(
        model, nn.SoftmaxCrossEntropy(), asarray(x_host), asarray(labels), num_steps=40
    )
    exact = np.linalg.eigvalsh(expected)
    assert lowest == pytest.approx(exact[0], rel=1e-6)
    assert highest == pytest.approx(exact[-1], rel=1e-7)
