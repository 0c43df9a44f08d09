"""Test configuration: the array backend under test and shared fixtures.

The backend comes from ``DEEPREF_BACKEND`` (numpy by default), or CuPy with
``--backend-cupy``; where CuPy or a GPU is missing, every test is skipped with
the reason. Tests create arrays through ``deepref.backend`` (or the ``xp``
fixture), so the same test runs on each backend.
"""

import os
import sys

# One BLAS thread, as in conf/conf.py: the matrices here are small, and chapter
# kernels started by the tests inherit this environment. Set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from deepref import backend  # noqa: E402

# Run chapter kernels with this environment's own Jupyter kernelspec first.
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    [os.path.join(sys.prefix, "share", "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])]
)


def pytest_addoption(parser):
    parser.addoption("--backend-cupy", action="store_true", help="run the suite on the CuPy backend (needs a GPU)")


def pytest_collection_modifyitems(config, items):
    # The chapter runs take minutes each where a unit test takes seconds: run
    # first, pytest-xdist deals them out evenly at the start instead of one
    # worker finishing the last of them while the other waits.
    items.sort(key=lambda item: item.get_closest_marker("chapter") is None)
    if not config.getoption("--backend-cupy"):
        return
    try:
        backend.set_backend("cupy")
    except (ImportError, RuntimeError) as err:
        skip = pytest.mark.skip(reason=f"CuPy backend unavailable: {err}")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def xp():
    """The current backend's array namespace."""
    return backend.current_namespace()


@pytest.fixture
def rng():
    """A seeded NumPy generator for host-side test data."""
    return np.random.default_rng(1234)


@pytest.fixture
def on_numpy():
    """Skip unless the backend under test is NumPy (for tests of NumPy-only interop)."""
    if backend.get_backend() != "numpy":
        pytest.skip("this test compares NumPy arrays directly")


def _refuse_implicit_numpy_conversion() -> None:
    """On array-api-strict, refuse ``np.asarray(backend_array)`` as CuPy does.

    array-api-strict stands in for CuPy on machines without a GPU; NumPy would
    silently convert its arrays, so code that forgot :func:`deepref.backend.to_numpy`
    would pass here and fail on a GPU. Chapters executed by the tests get the same
    rule (see ``test_chapters.STRICT_PRELUDE``).
    """
    from array_api_strict._array_object import Array

    def refuse(self, *args, **kwargs):
        raise TypeError(
            "implicit conversion of a backend array to a NumPy array is not allowed (CuPy refuses it too); "
            "convert explicitly with deepref.backend.to_numpy(x)"
        )

    Array.__array__ = refuse


if backend.get_backend() == "array_api_strict":
    _refuse_implicit_numpy_conversion()
