"""Oracle: deepref.nn convolution and pooling against torch.nn.functional, values and every gradient, float64."""

import numpy as np
import pytest

from deepref import backend, nn

pytestmark = pytest.mark.oracle
torch = pytest.importorskip("torch")
F = torch.nn.functional

ATOL = 1e-12

# (N, C_in, H, W), (C_out, kH, kW), stride, padding, dilation
CONV_CASES = [
    ((2, 3, 7, 9), (4, 3, 3), 1, 0, 1),
    ((3, 2, 8, 5), (5, 3, 2), (2, 1), (1, 2), (1, 2)),
    ((1, 1, 5, 5), (2, 5, 5), 1, 0, 1),  # kernel as large as the input
    ((2, 4, 11, 10), (3, 3, 3), 3, 2, 2),
    ((4, 1, 13, 13), (6, 5, 5), 2, 2, 1),
    ((1, 2, 6, 7), (1, 1, 1), 2, 0, 1),
    ((2, 3, 9, 4), (2, 4, 1), (1, 3), (0, 1), (2, 1)),
]


def _case_id(case):
    shape, kernel, stride, padding, dilation = case
    return f"x{shape}-w{kernel}-s{stride}-p{padding}-d{dilation}"


def _assert_close(ours, theirs, what):
    np.testing.assert_allclose(backend.to_numpy(ours), theirs.detach().numpy(), rtol=0, atol=ATOL, err_msg=what)


def _tensors(*arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", CONV_CASES, ids=_case_id)
def test_conv2d_matches_torch(rng, case, with_bias):
    (n, c, h, w), (c_out, kh, kw), stride, padding, dilation = case
    x, weight, bias = rng.normal(size=(n, c, h, w)), rng.normal(size=(c_out, c, kh, kw)), rng.normal(size=c_out)
    out, cache = nn.conv2d_forward(backend.asarray(x), backend.asarray(weight),
                                   backend.asarray(bias) if with_bias else None, stride, padding, dilation)
    x_t, w_t, b_t = _tensors(x, weight, bias)
    out_t = F.conv2d(x_t, w_t, b_t if with_bias else None, stride, padding, dilation)
    _assert_close(out, out_t, "output")
    dout = rng.normal(size=tuple(out_t.shape))
    out_t.backward(torch.tensor(dout))
    dx, dw, db = nn.conv2d_backward(backend.asarray(dout), cache)
    _assert_close(dx, x_t.grad, "dx")
    _assert_close(dw, w_t.grad, "dw")
    if with_bias:
        _assert_close(db, b_t.grad, "db")
    else:
        assert db is None


# (N, C, H, W), kernel, stride, padding
POOL_CASES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((3, 2, 7, 9), 3, 2, 1),
    ((1, 4, 5, 6), (2, 3), (1, 2), (1, 0)),
    ((2, 1, 11, 7), 3, 1, 0),  # overlapping windows
    ((1, 2, 9, 9), 5, 3, 2),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"x{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}")
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(rng, case, kind):
    shape, kernel, stride, padding = case
    x = rng.normal(size=shape)  # continuous values: no ties in a window
    forward, backward = getattr(nn, f"{kind}_pool2d_forward"), getattr(nn, f"{kind}_pool2d_backward")
    out, cache = forward(backend.asarray(x), kernel, stride, padding)
    (x_t,) = _tensors(x)
    out_t = getattr(F, f"{kind}_pool2d")(x_t, kernel, stride, padding)
    _assert_close(out, out_t, "output")
    dout = rng.normal(size=tuple(out_t.shape))
    out_t.backward(torch.tensor(dout))
    _assert_close(backward(backend.asarray(dout), cache), x_t.grad, "dx")


def test_conv_layer_stack_matches_torch(rng):
    """Conv2d, ReLU, MaxPool2d, Conv2d, AvgPool2d in deepref and in torch with the same weights."""
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, seed=0), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 3, 3, stride=2, dilation=2, padding=2, seed=1), nn.AvgPool2d(2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Conv2d(4, 3, 3, stride=2, dilation=2, padding=2), torch.nn.AvgPool2d(2))
    theirs = theirs.double()
    for k in (0, 3):
        ours[k].bias.data = backend.asarray(rng.normal(size=ours[k].bias.shape))
        theirs[k].weight.data = torch.tensor(backend.to_numpy(ours[k].weight.data))
        theirs[k].bias.data = torch.tensor(backend.to_numpy(ours[k].bias.data))
    x = rng.normal(size=(3, 2, 15, 14))
    out = ours(backend.asarray(x))
    (x_t,) = _tensors(x)
    out_t = theirs(x_t)
    _assert_close(out, out_t, "output")
    dout = rng.normal(size=tuple(out_t.shape))
    out_t.backward(torch.tensor(dout))
    _assert_close(ours.backward(backend.asarray(dout)), x_t.grad, "dx")
    for k in (0, 3):
        _assert_close(ours[k].weight.grad, theirs[k].weight.grad, f"layer {k} weight")
        _assert_close(ours[k].bias.grad, theirs[k].bias.grad, f"layer {k} bias")
