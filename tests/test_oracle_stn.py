"""Oracle: deepref.stn against torch.nn.functional.affine_grid / grid_sample, values and gradients."""

import numpy as np
import pytest

from deepref.stn import (
    SpatialTransformer,
    affine_grid_backward,
    affine_grid_forward,
    grid_sample_backward,
    grid_sample_forward,
)

pytestmark = pytest.mark.oracle
torch = pytest.importorskip("torch")
F = torch.nn.functional

ALIGN = [False, True]


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid behavior has changed:UserWarning")
@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", [(3, 2, 4, 5), (2, 1, 1, 6), (1, 3, 9, 9)])
def test_affine_grid_matches_torch(on_numpy, rng, align_corners, size):
    theta = rng.normal(size=(size[0], 2, 3))
    grid, cache = affine_grid_forward(theta, size, align_corners)
    theta_t = torch.tensor(theta, requires_grad=True)
    grid_t = F.affine_grid(theta_t, list(size), align_corners=align_corners)
    np.testing.assert_allclose(grid, grid_t.detach().numpy(), rtol=0, atol=1e-14)
    dgrid = rng.normal(size=grid.shape)
    grid_t.backward(torch.tensor(dgrid))
    np.testing.assert_allclose(affine_grid_backward(dgrid, cache), theta_t.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("shapes", [((2, 3, 5, 7), (4, 6)), ((1, 1, 8, 8), (16, 16)), ((3, 2, 6, 4), (2, 9))])
def test_grid_sample_matches_torch(on_numpy, rng, align_corners, shapes):
    (n, c, h, w), (h_out, w_out) = shapes
    x = rng.normal(size=(n, c, h, w))
    grid = rng.uniform(-1.3, 1.3, size=(n, h_out, w_out, 2))  # some points outside the image: zero padding
    out, cache = grid_sample_forward(x, grid, align_corners)
    x_t = torch.tensor(x, requires_grad=True)
    grid_t = torch.tensor(grid, requires_grad=True)
    out_t = F.grid_sample(x_t, grid_t, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-13)
    dout = rng.normal(size=out.shape)
    out_t.backward(torch.tensor(dout))
    dx, dgrid = grid_sample_backward(dout, cache)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dgrid, grid_t.grad.numpy(), rtol=0, atol=1e-12)


def test_grid_sample_float32_matches_torch(on_numpy, rng):
    x = rng.normal(size=(4, 1, 42, 42)).astype(np.float32)
    grid = rng.uniform(-1.1, 1.1, size=(4, 16, 16, 2)).astype(np.float32)
    out, _ = grid_sample_forward(x, grid)
    expected = F.grid_sample(torch.tensor(x), torch.tensor(grid), align_corners=False).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["translation", "translation_scale", "affine"])
def test_spatial_transformer_matches_a_torch_model(on_numpy, rng, kind):
    """The whole module against the same network written in PyTorch: output, input and parameter gradients."""
    st = SpatialTransformer((2, 7, 7), out_size=(5, 6), kind=kind, hidden=(8,), seed=0)
    regression = st.localisation[-1]
    regression.weight.data = rng.normal(0.0, 0.05, regression.weight.shape)
    x = rng.normal(size=(3, 2, 7, 7))
    out = st(x)
    dout = rng.normal(size=out.shape)
    st.zero_grad()
    dx = st.backward(dout)

    params = {name: torch.tensor(p.data, requires_grad=True) for name, p in st.named_parameters()}
    x_t = torch.tensor(x, requires_grad=True)
    hidden = torch.relu(x_t.reshape(3, -1) @ params["localisation.0.weight"] + params["localisation.0.bias"])
    regressed = hidden @ params["localisation.2.weight"] + params["localisation.2.bias"]
    if kind == "translation":
        one, zero = torch.ones(3, dtype=x_t.dtype), torch.zeros(3, dtype=x_t.dtype)
        rows = [one, zero, regressed[:, 0], zero, one, regressed[:, 1]]
    elif kind == "translation_scale":
        zero = torch.zeros(3, dtype=x_t.dtype)
        rows = [regressed[:, 0], zero, regressed[:, 1], zero, regressed[:, 0], regressed[:, 2]]
    else:
        rows = list(regressed.T)
    theta = torch.stack(rows, dim=1).reshape(3, 2, 3)
    out_t = F.grid_sample(x_t, F.affine_grid(theta, [3, 2, 5, 6], align_corners=False), align_corners=False)
    out_t.backward(torch.tensor(dout))

    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=0, atol=1e-12)
    for name, p in st.named_parameters():
        np.testing.assert_allclose(p.grad, params[name].grad.numpy(), rtol=0, atol=1e-12, err_msg=name)
