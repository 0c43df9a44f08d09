"""The speed rewrites keep their results: scatter-add, softmax cross-entropy, batch norm, grid_sample.

Each rewritten operation is compared with a plain reference computation, in
float64 and float32, and checked not to modify its inputs or its cache.
"""

import numpy as np
import pytest

from deepref import backend, nn, stn
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64


@pytest.mark.parametrize("columns", [(), (1,), (3,), (40,)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scatter_add_sums_repeated_indices_exactly(columns, dtype, rng):
    base_host = rng.normal(size=(7, *columns))
    index_host = rng.integers(0, 7, size=50)
    values_host = rng.normal(size=(50, *columns))
    expected = base_host.copy()
    np.add.at(expected, index_host, values_host)
    base = asarray(base_host, dtype=dtype)
    out = backend.scatter_add(base, asarray(index_host), asarray(values_host, dtype=dtype))
    assert out.dtype == base.dtype
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(to_numpy(out), expected, rtol=tol, atol=tol)
    np.testing.assert_array_equal(to_numpy(base), base_host.astype(dtype))  # base untouched


def test_scatter_add_wide_rows_equal_add_at_bitwise_for_any_layout(rng):
    """Rows wider than the bincount limit go through one flat ``np.add.at``: the same sums."""
    base_host = np.asfortranarray(rng.normal(size=(6, 30)))
    index_host = rng.integers(0, 6, size=80)
    values_host = rng.normal(size=(80, 30)).astype(np.float32)
    expected = base_host.astype(np.float32)
    np.add.at(expected, index_host, values_host)
    base = base_host.astype(np.float32, order="F")  # NumPy arrays: the NumPy path on any backend
    out = backend.scatter_add(base, index_host, values_host)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(base, base_host.astype(np.float32))  # base untouched


@pytest.mark.parametrize("columns", [(), (3,), (40,)])
def test_segment_sum_equals_scatter_add_into_zeros(columns, rng):
    index_host = rng.integers(0, 9, size=60)
    values_host = rng.normal(size=(60, *columns))
    expected = np.zeros((9, *columns))
    np.add.at(expected, index_host, values_host)
    out = backend.segment_sum(asarray(index_host), asarray(values_host), 9)
    assert tuple(out.shape) == (9, *columns)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-12)


def test_segment_sum_rejects_bad_rows_and_shapes():
    index, values = asarray(np.array([0, 2])), asarray(np.ones((2, 3)))
    with pytest.raises(ValueError, match="rows must be a non-negative integer"):
        backend.segment_sum(index, values, 2.5)
    with pytest.raises(ValueError, match="segment_sum expects index of shape"):
        backend.segment_sum(index, asarray(np.ones((3, 3))), 4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_matches_log_softmax_and_backward_is_repeatable(dtype, rng):
    z_host = 5.0 * rng.normal(size=(6, 9))
    y_host = rng.integers(0, 9, size=6)
    z, y = asarray(z_host, dtype=dtype), asarray(y_host)
    loss, cache = nn.softmax_cross_entropy_forward(z, y)
    log_p = z_host - z_host.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert float(loss) == pytest.approx(-log_p[np.arange(6), y_host].mean(), rel=tol)
    expected = np.exp(log_p)
    expected[np.arange(6), y_host] -= 1.0
    first = to_numpy(nn.softmax_cross_entropy_backward(0.5, cache)).copy()
    second = to_numpy(nn.softmax_cross_entropy_backward(0.5, cache))
    np.testing.assert_allclose(first, 0.5 * expected / 6, rtol=tol, atol=tol)
    np.testing.assert_array_equal(first, second)  # the cache is not consumed
    assert nn.softmax_cross_entropy_backward(1.0, cache).dtype == z.dtype
    np.testing.assert_array_equal(to_numpy(z), z_host.astype(dtype))  # logits untouched


def test_take_labels_gathers_each_rows_label():
    z = as_float64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(to_numpy(nn.losses.take_labels(z, asarray([2, 0]))), [3.0, 4.0])


# (64, 256) and (64, 512) are folded into rows of NumPy's 8192-element ufunc buffer
# (kernels.numpy_normalization.row_op), (8, 5) is not; "F" passes a Fortran-ordered input
SHAPES = [((8, 5), "C"), ((64, 256), "C"), ((64, 256), "F"), ((64, 512), "C")]


def _laid_out(host, dtype, order):
    x = asarray(host, dtype=dtype)
    if order == "F" and isinstance(x, np.ndarray):
        x = np.asfortranarray(x)
    return x


@pytest.mark.parametrize(("shape", "order"), SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batchnorm_closed_form_backward_matches_the_general_formula(dtype, shape, order, rng):
    x_host, dout_host = rng.normal(size=shape) * 3.0 + 1.0, rng.normal(size=shape)
    gamma_host, beta_host = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    x = _laid_out(x_host, dtype, order)
    out, cache = nn.normalization.batchnorm_forward(x, asarray(gamma_host, dtype=dtype),
                                                    asarray(beta_host, dtype=dtype))
    dx, dgamma, dbeta = nn.normalization.batchnorm_backward(asarray(dout_host, dtype=dtype), cache)
    assert out.dtype == dx.dtype == dgamma.dtype == x.dtype
    mean, var = x_host.mean(axis=0), x_host.var(axis=0)
    x_hat = (x_host - mean) / np.sqrt(var + 1e-5)
    g = dout_host * gamma_host
    m = x_host.shape[0]
    expected = (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0)) / (m * np.sqrt(var + 1e-5))
    tol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(to_numpy(out), gamma_host * x_hat + beta_host, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(dx), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(dgamma), (dout_host * x_hat).sum(axis=0), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(dbeta), dout_host.sum(axis=0), rtol=tol, atol=tol)
    np.testing.assert_array_equal(to_numpy(x), x_host.astype(dtype))  # input untouched


@pytest.mark.parametrize(("shape", "order"), SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layernorm_and_eval_batchnorm_match_the_formulas(dtype, shape, order, rng):
    x_host, dout_host = rng.normal(size=shape) * 3.0 + 1.0, rng.normal(size=shape)
    gamma_host, beta_host = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    mean_host, var_host = rng.normal(size=shape[1]), rng.uniform(0.5, 2.0, size=shape[1])
    x, gamma, beta = _laid_out(x_host, dtype, order), asarray(gamma_host, dtype=dtype), asarray(beta_host, dtype=dtype)
    norm = nn.normalization
    tol = 1e-10 if dtype == "float64" else 1e-4

    out, cache = norm.layernorm_forward(x, gamma, beta)
    dx, dgamma, _ = norm.layernorm_backward(asarray(dout_host, dtype=dtype), cache)
    std = np.sqrt(x_host.var(axis=1, keepdims=True) + 1e-5)
    x_hat = (x_host - x_host.mean(axis=1, keepdims=True)) / std
    g, m = dout_host * gamma_host, shape[1]
    expected_dx = (m * g - g.sum(axis=1, keepdims=True) - x_hat * (g * x_hat).sum(axis=1, keepdims=True)) / (m * std)
    np.testing.assert_allclose(to_numpy(out), gamma_host * x_hat + beta_host, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(dx), expected_dx, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(dgamma), (dout_host * x_hat).sum(axis=0), rtol=tol, atol=10 * tol)

    out, cache = norm.batchnorm_eval_forward(x, gamma, beta, asarray(mean_host, dtype=dtype),
                                             asarray(var_host, dtype=dtype))
    dx, _, _ = norm.batchnorm_backward(asarray(dout_host, dtype=dtype), cache)
    scale = gamma_host / np.sqrt(var_host + 1e-5)
    np.testing.assert_allclose(to_numpy(out), (x_host - mean_host) * scale + beta_host, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(dx), dout_host * scale, rtol=tol, atol=tol)
    np.testing.assert_array_equal(to_numpy(x), x_host.astype(dtype))  # input untouched


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_sample_keeps_dtype_and_matches_the_weighted_corners(dtype, rng):
    x_host = rng.normal(size=(2, 3, 5, 4))
    grid_host = rng.uniform(-1.2, 1.2, size=(2, 3, 3, 2))
    out, cache = stn.grid_sample_forward(asarray(x_host, dtype=dtype), asarray(grid_host, dtype=dtype))
    dx, dgrid = stn.grid_sample_backward(asarray(np.ones((2, 3, 3, 3)), dtype=dtype), cache)
    assert out.dtype == dx.dtype == dgrid.dtype
    px = ((grid_host[..., 0] + 1.0) * 4 - 1.0) / 2
    py = ((grid_host[..., 1] + 1.0) * 5 - 1.0) / 2
    expected = np.zeros((2, 3, 3, 3))
    for n in range(2):
        for i in range(3):
            for j in range(3):
                x0, y0 = int(np.floor(px[n, i, j])), int(np.floor(py[n, i, j]))
                a, b = px[n, i, j] - x0, py[n, i, j] - y0
                for dxo, dyo, weight in ((0, 0, (1 - a) * (1 - b)), (1, 0, a * (1 - b)), (0, 1, (1 - a) * b),
                                         (1, 1, a * b)):
                    if 0 <= x0 + dxo < 4 and 0 <= y0 + dyo < 5:
                        expected[n, :, i, j] += weight * x_host[n, :, y0 + dyo, x0 + dxo]
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(to_numpy(out), expected, rtol=tol, atol=tol)
