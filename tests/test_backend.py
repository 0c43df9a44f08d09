"""The array backend: selection, clear errors, random numbers, scatter-add, host copies."""

import os
import subprocess
import sys

import numpy as np
import pytest

from deepref import backend


def test_unknown_backend_lists_the_valid_names():
    with pytest.raises(ValueError, match="expected one of numpy, cupy, array_api_strict"):
        backend.set_backend("nonsense")


def test_unknown_backend_in_environment_fails_at_import():
    env = {**os.environ, "DEEPREF_BACKEND": "nonsense"}
    result = subprocess.run([sys.executable, "-c", "import deepref"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown array backend 'nonsense'" in result.stderr


def test_missing_cupy_names_the_gpu_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail as if not installed
    previous = backend.get_backend()
    with pytest.raises(ImportError, match=r'pip install -e "\.\[gpu\]"'):
        backend.set_backend("cupy")
    assert backend.get_backend() == previous


def test_use_backend_restores_the_previous_backend():
    previous = backend.get_backend()
    with backend.use_backend("numpy") as xp:
        assert backend.get_backend() == "numpy"
        assert xp is backend.current_namespace()
    assert backend.get_backend() == previous


def test_get_namespace_follows_the_inputs(xp):
    import array_api_strict

    assert backend.get_namespace() is xp
    assert backend.get_namespace(None, 3.0) is xp
    assert backend.get_namespace(array_api_strict.asarray([1.0])) is array_api_strict
    with pytest.raises(TypeError):
        backend.get_namespace(np.zeros(2), array_api_strict.asarray([1.0]))


def test_get_namespace_remembers_each_array_type_and_still_refuses_a_mix():
    import array_api_compat
    import array_api_strict

    host, strict = np.zeros(2), array_api_strict.asarray([1.0])
    for _ in range(2):  # the second round answers from what the first remembered
        assert backend.get_namespace(host, host) is array_api_compat.array_namespace(host)
        assert backend.get_namespace(strict, None, 2.0) is array_api_strict
        with pytest.raises(TypeError, match="cannot be mixed"):
            backend.get_namespace(host, strict)
        with pytest.raises(TypeError, match="cannot be mixed"):
            backend.get_namespace(strict, host)
    with pytest.raises(TypeError):
        backend.get_namespace([1.0, 2.0])  # a list is no array, and is not remembered as one


def test_to_numpy_round_trip(xp):
    host = np.arange(6.0).reshape(2, 3)
    moved = backend.asarray(host)
    assert backend.get_namespace(moved) is xp
    np.testing.assert_array_equal(backend.to_numpy(moved), host)


def test_scatter_add_sums_repeated_indices(xp, rng):
    index = rng.integers(0, 5, size=40)
    values = rng.normal(size=(40, 3))
    expected = np.ones((5, 3))
    np.add.at(expected, index, values)
    base = backend.asarray(np.ones((5, 3)))
    out = backend.scatter_add(base, backend.asarray(index), backend.asarray(values))
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(base), np.ones((5, 3)))  # not modified


@pytest.mark.parametrize("trailing", [(), (3,), (20,)])
def test_scatter_add_of_no_rows_returns_the_base(xp, trailing):
    base = backend.asarray(np.arange(5 * int(np.prod(trailing)), dtype=float).reshape((5, *trailing)))
    index = backend.asarray(np.zeros(0, dtype=np.int64))
    out = backend.scatter_add(base, index, backend.asarray(np.zeros((0, *trailing))))
    np.testing.assert_array_equal(backend.to_numpy(out), backend.to_numpy(base))


@pytest.mark.parametrize("trailing", [(), (3,), (20,)])
def test_segment_sum_into_no_rows_is_empty(xp, trailing):
    """An empty batch: no rows to sum into, none to add (the sampler's backward on N = 0)."""
    index = backend.asarray(np.zeros(0, dtype=np.int64))
    out = backend.segment_sum(index, backend.asarray(np.zeros((0, *trailing))), 0)
    assert tuple(out.shape) == (0, *trailing)


def test_segment_sum_fallback_matches_add_at(rng):
    """The sort-based path used by namespaces without a scatter primitive."""
    import array_api_strict as strict

    index = rng.integers(0, 7, size=100)
    values = rng.normal(size=100)
    expected = np.zeros(7)
    np.add.at(expected, index, values)
    out = backend.scatter_add(strict.zeros(7, dtype=strict.float64), strict.asarray(index), strict.asarray(values))
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12, atol=1e-12)


def test_scatter_add_rejects_mismatched_shapes(xp):
    with pytest.raises(ValueError, match="scatter_add expects index of shape"):
        backend.scatter_add(xp.zeros((3, 2)), xp.asarray([0, 1]), xp.zeros((3, 2)))


def test_random_generator_is_reproducible_and_on_the_backend(xp):
    a, b = backend.default_rng(7), backend.default_rng(7)
    draws = [a.normal(0.0, 2.0, (3, 4)), a.uniform(-1.0, 1.0, (5,)), a.integers(0, 10, (6,)), a.permutation(8)]
    again = [b.normal(0.0, 2.0, (3, 4)), b.uniform(-1.0, 1.0, (5,)), b.integers(0, 10, (6,)), b.permutation(8)]
    for x, y in zip(draws, again):
        assert backend.get_namespace(x) is xp
        np.testing.assert_array_equal(backend.to_numpy(x), backend.to_numpy(y))
    assert sorted(backend.to_numpy(draws[3]).tolist()) == list(range(8))
    ints = backend.to_numpy(draws[2])
    assert ints.min() >= 0 and ints.max() < 10


def test_bernoulli_rate_and_validation():
    mask = backend.to_numpy(backend.default_rng(0).bernoulli(0.3, (20000,)))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - 0.3) < 0.01
    with pytest.raises(ValueError, match=r"bernoulli probability must be in \[0, 1\]"):
        backend.default_rng(0).bernoulli(1.5, (3,))
