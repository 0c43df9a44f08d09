"""Oracles: BatchNorm1d and LayerNorm against PyTorch, k-fold against scikit-learn."""

import numpy as np
import pytest

from deepref import data, nn
from deepref.backend import asarray, to_numpy

pytestmark = pytest.mark.oracle


def test_batchnorm_matches_torch_train_and_eval(on_numpy, rng):
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm1d(5, eps=1e-5, momentum=0.1)
    theirs = torch.nn.BatchNorm1d(5, eps=1e-5, momentum=0.1).double()
    gamma, beta = rng.uniform(0.5, 1.5, 5), rng.normal(size=5)
    ours.weight.data, ours.bias.data = asarray(gamma), asarray(beta)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))
    for _ in range(4):
        x = rng.normal(2.0, 3.0, size=(16, 5))
        upstream = rng.normal(size=(16, 5))
        xt = torch.from_numpy(x).requires_grad_(True)
        out_t = theirs(xt)
        out_t.backward(torch.from_numpy(upstream))
        ours.zero_grad()
        out = ours(asarray(x))
        dx = ours.backward(asarray(upstream))
        np.testing.assert_allclose(to_numpy(out), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(to_numpy(dx), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(to_numpy(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(to_numpy(ours.bias.grad), theirs.bias.grad.numpy(), rtol=1e-10)
        theirs.weight.grad = theirs.bias.grad = None
        np.testing.assert_allclose(to_numpy(ours.running_mean), theirs.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(to_numpy(ours.running_var), theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.normal(size=(3, 5))
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(to_numpy(ours(asarray(x))), expected, rtol=1e-12, atol=1e-12)


def test_layernorm_matches_torch(on_numpy, rng):
    torch = pytest.importorskip("torch")
    ours = nn.LayerNorm(6)
    theirs = torch.nn.LayerNorm(6).double()
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.normal(size=6)
    ours.weight.data, ours.bias.data = asarray(gamma), asarray(beta)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))
    x, upstream = rng.normal(1.0, 2.0, size=(4, 6)), rng.normal(size=(4, 6))
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = theirs(xt)
    out_t.backward(torch.from_numpy(upstream))
    out = ours(asarray(x))
    dx = ours.backward(asarray(upstream))
    np.testing.assert_allclose(to_numpy(out), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dx), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-10)


def test_dropout_keeps_torch_expectation_convention(on_numpy):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kept_values = set(torch.nn.functional.dropout(torch.ones(1000, dtype=torch.float64), 0.2).unique().tolist())
    ours = set(np.unique(to_numpy(nn.dropout_mask((1000,), 0.2, rng=0))).tolist())
    assert ours == kept_values  # both scale kept units by 1 / (1 - p)


@pytest.mark.parametrize("n, k, shuffle, seed", [(10, 3, False, None), (23, 5, True, 0), (50, 7, True, 42)])
def test_kfold_equals_sklearn(on_numpy, n, k, shuffle, seed):
    model_selection = pytest.importorskip("sklearn.model_selection")
    reference = model_selection.KFold(n_splits=k, shuffle=shuffle, random_state=seed).split(np.zeros(n))
    ours = data.kfold_indices(n, k, shuffle=shuffle, seed=seed)
    for (train, val), (train_ref, val_ref) in zip(ours, reference, strict=True):
        np.testing.assert_array_equal(train, train_ref)
        np.testing.assert_array_equal(val, val_ref)


def test_standardizer_equals_sklearn(on_numpy, rng):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    train, test = rng.normal(3.0, 2.0, size=(40, 4)), rng.normal(size=(5, 4))
    train[:, 2] = 1.0  # a constant feature
    reference = preprocessing.StandardScaler().fit(train)
    ours = data.Standardizer().fit(train)
    np.testing.assert_allclose(ours.transform(test), reference.transform(test), rtol=1e-12)
