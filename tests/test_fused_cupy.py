"""The fused CUDA optimizer kernels (:mod:`deepref.kernels.cupy_optim`), checked three ways.

* Wherever a C++ compiler is installed: the kernels' source, compiled on the
  host (contraction off, the grid-stride loop replaced by a plain loop) and
  called with the arguments that :func:`cupy_optim.arguments` builds, steps
  the NumPy optimizers bit for bit like their update functions, for every
  option, over several steps, in float32 and float64.
* Wherever CuPy's NVRTC loads (no GPU needed): the source compiles for the
  H200's sm_90, and its PTX holds no fused multiply-add.
* On the CuPy backend (``--backend-cupy``, a GPU): the fused step equals the
  update functions on the GPU and agrees with ``torch.optim``; arrays the
  kernels do not take run the update functions.
"""

import ctypes
import itertools
import shutil
import subprocess

import numpy as np
import pytest

from deepref import backend, kernels, nn, optim
from deepref.backend import asarray, to_numpy
from deepref.kernels import cupy_multi_tensor, cupy_optim
from nvrtc_support import nvrtc_compile

GRID = {
    "SGD": dict(lr=[0.01], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True], weight_decay=[0.0, 0.01]),
    "Adagrad": dict(lr=[0.1], lr_decay=[0.0, 0.01], weight_decay=[0.0, 0.01], initial_accumulator_value=[0.0, 0.1]),
    "RMSprop": dict(lr=[0.001], alpha=[0.9], eps=[1e-6], centered=[False, True], momentum=[0.0, 0.5],
                    weight_decay=[0.0, 0.01]),
    "Adam": dict(lr=[0.01], betas=[(0.8, 0.99)], amsgrad=[False, True], weight_decay=[0.0, 0.01]),
    "AdamW": dict(lr=[0.01], amsgrad=[False, True], weight_decay=[0.0, 0.1]),
}
"""Every combination of these options is a case (SGD's Nesterov only with momentum and no dampening)."""


def _cases() -> dict:
    cases = {}
    for name, grid in GRID.items():
        for values in itertools.product(*grid.values()):
            options = dict(zip(grid, values))
            if options.get("nesterov") and (not options["momentum"] or options["dampening"]):
                continue
            label = ",".join(f"{k}={v}" for k, v in options.items() if len(grid[k]) > 1)
            cases[f"{name}[{label}]"] = (name, options)
    return cases


CASES = _cases()
DTYPES = ("float32", "float64")
STEPS = 6
SHAPES = ((40, 25), (7,))


def _data(dtype):
    """Starting parameters and ``STEPS`` gradients for each of two tensors (host arrays)."""
    rng = np.random.default_rng(3)
    start = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    grads = [[rng.normal(size=shape).astype(dtype) for shape in SHAPES] for _ in range(STEPS)]
    return start, grads


def _run(case, dtype):
    """The parameters and state (host arrays) after ``STEPS`` steps of ``case`` on the current backend."""
    name, kwargs = CASES[case]
    start, grads = _data(dtype)
    params = [nn.Parameter(asarray(w.copy())) for w in start]
    opt = getattr(optim, name)(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = asarray(g.copy())
        opt.step()
    return [to_numpy(p.data) for p in params], [{k: to_numpy(v) for k, v in s.items()} for s in opt.state]


def _assert_identical(ours, theirs):
    (params_a, state_a), (params_b, state_b) = ours, theirs
    for a, b in zip(params_a, params_b):
        np.testing.assert_array_equal(a, b)
    for sa, sb in zip(state_a, state_b):
        assert sa.keys() == sb.keys()
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


# --- the source compiled on the host --------------------------------------------------------

HOST_PRELUDE = """
#include <cmath>
using std::isnan;
using std::sqrt;
#define __global__
#define FOR_EACH(i, n) for (long long i = 0; i < (n); ++i)
"""
C_SCALARS = {np.float32: ctypes.c_float, np.float64: ctypes.c_double, np.int32: ctypes.c_int,
             np.int64: ctypes.c_longlong}


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    """The kernels compiled by the host's C++ compiler, one shared library per dtype."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++ or clang++) to build the kernels on the host")
    folder = tmp_path_factory.mktemp("fused")
    libraries = {}
    for dtype in DTYPES:
        src = folder / f"{dtype}.cpp"
        src.write_text(cupy_optim.source(dtype, HOST_PRELUDE))
        lib = folder / f"{dtype}.so"
        subprocess.run([compiler, "-O2", "-std=c++17", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
                        str(src), "-o", str(lib)], check=True, capture_output=True)
        libraries[np.dtype(dtype)] = ctypes.CDLL(str(lib))
    return libraries


def _c_argument(value):
    if value is None or isinstance(value, np.ndarray):
        return None if value is None else value.ctypes.data_as(ctypes.c_void_p)
    return C_SCALARS[type(value)](value)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_kernels_compiled_on_the_host_step_like_the_numpy_update_functions(case, dtype, host_kernels, monkeypatch,
                                                                            on_numpy):
    with kernels.disabled():
        specification = _run(case, dtype)
    launched = []

    def host_launch(name, args):
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        assert all(a.flags.c_contiguous for a in arrays)
        getattr(host_kernels[arrays[0].dtype], name)(*map(_c_argument, args))
        launched.append(name)

    # the per-parameter group steps (the registered ones step a group in one launch: tests/test_cupy_kernels.py)
    cupy_kernels = {f"{name}_step": getattr(cupy_optim, f"{name}_step") for name in cupy_optim.ARGUMENTS}
    monkeypatch.setattr(cupy_optim, "applies", lambda arrays: True)
    monkeypatch.setattr(cupy_optim, "launch", host_launch)
    monkeypatch.setattr(kernels, "lookup", lambda op, xp: cupy_kernels[op])
    fused = _run(case, dtype)
    assert len(launched) == STEPS * len(SHAPES)
    _assert_identical(fused, specification)


def test_arguments_name_the_kernels():
    with pytest.raises(ValueError, match="no fused kernel 'lamb'"):
        cupy_optim.arguments("lamb", {}, {})
    for name in cupy_optim.ARGUMENTS:
        assert (f"{name}_step", "cupy") in kernels.registered()


# --- the source compiled by NVRTC, without a GPU ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_compile_with_nvrtc_without_contraction(dtype):
    code = cupy_optim.source(dtype)
    assert len(nvrtc_compile(code, "sm_90")) > 0
    ptx = nvrtc_compile(code, "compute_90")
    for name in cupy_optim.ARGUMENTS:
        assert f".entry {name}(" in ptx
    assert "fma." not in ptx, "a multiply-add was contracted: the fused step would round differently"


# --- on a GPU ----------------------------------------------------------------------------------


@pytest.fixture
def on_cupy():
    if backend.get_backend() != "cupy":
        pytest.skip("needs the CuPy backend (--backend-cupy) and a GPU")


@pytest.fixture
def fused_launches(monkeypatch):
    """The names of the fused kernels launched during the test."""
    launched = []
    launch = cupy_optim.launch

    def counting_launch(name, args):
        launched.append(name)
        launch(name, args)

    monkeypatch.setattr(cupy_optim, "launch", counting_launch)
    # one launch per parameter, as counted here (not one per group: tests/test_cupy_kernels.py)
    monkeypatch.setattr(cupy_multi_tensor, "group_applies", lambda array_lists: False)
    return launched


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_fused_step_equals_the_update_functions_on_the_gpu(case, dtype, on_cupy, fused_launches):
    fused = _run(case, dtype)
    assert len(fused_launches) == STEPS * len(SHAPES)
    with kernels.disabled():
        specification = _run(case, dtype)
    assert len(fused_launches) == STEPS * len(SHAPES)
    # Both round each operation once, in the same order; allow a few ulp where CuPy's own kernels
    # would apply a Python scalar in higher precision.
    eps = np.finfo(dtype).eps
    for ours, theirs in zip(fused[0], specification[0]):
        np.testing.assert_allclose(ours, theirs, rtol=4 * eps, atol=4 * eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_every_backend_agrees_with_torch_in_float32_and_float64(case, dtype, fused_launches):
    """On CuPy through the fused kernels, elsewhere through the NumPy kernels or the specification."""
    torch = pytest.importorskip("torch")
    name, kwargs = CASES[case]
    ours = _run(case, dtype)[0]
    start, grads = _data(dtype)
    theirs = [torch.tensor(w.copy()) for w in start]
    opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step_grads in grads:
        for t, g in zip(theirs, step_grads):
            t.grad = torch.tensor(g.copy())
        opt.step()
    assert bool(fused_launches) == (backend.get_backend() == "cupy")
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t.detach().numpy(), **tolerance)


def test_arrays_the_kernels_do_not_take_run_the_update_functions(on_cupy, fused_launches):
    xp = backend.current_namespace()
    start, grads = _data("float64")
    results = []
    for to_array in (np.asarray, xp.asarray):
        p = nn.Parameter(to_array(start[0]).T)  # a transposed view: not C-contiguous
        opt = optim.Adam([p], lr=0.01)
        for step_grads in grads:
            p.grad = to_array(step_grads[0]).T
            opt.step()
        results.append(to_numpy(p.data))
    assert not fused_launches
    np.testing.assert_array_max_ulp(results[1], results[0], maxulp=2)
