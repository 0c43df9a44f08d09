"""The CUDA kernels of :mod:`deepref.kernels` ``cupy_recurrent``, ``cupy_multi_tensor`` and ``cupy_conv``.

* Wherever a C++ compiler is installed: the kernels' source, compiled for the
  host (contraction off, the grid-stride loop a plain loop) and driven over a
  sequence by the very drivers that run them on CuPy (with NumPy arrays and
  NumPy's matrix products), agrees with the specification
  (:func:`deepref.rnn.layers.sequence_forward` / ``sequence_backward``, run on
  array-api-strict, so the generic loop over the cell cores) in outputs, final
  states and every gradient: float64 to 1e-12, float32 to 2e-5 of each
  result's largest entry.
* Wherever CuPy's NVRTC loads (no GPU needed): the source compiles for the
  H200's sm_90, with every kernel in the PTX and no fused multiply-add.
* The multi-tensor optimizer kernels, compiled for the host and launched
  block by block over a group of tensors (several chunks each), step the
  optimizers bit for bit like the specification, for every rule and option.
* The window kernels (``im2col``, ``col2im``), compiled for the host, give
  the specification's columns and images bit for bit, for strides, padding,
  dilation and the max-pooling fill.
* On a GPU: the registered kernels agree with the specification on CuPy and
  with cuDNN (``torch.nn.LSTM``/``GRU``/``RNN`` on CUDA, TF32 off).
"""

import ctypes
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from deepref import kernels, nn, optim
from deepref.backend import to_numpy
from deepref.kernels import cupy_conv, cupy_launch, cupy_multi_tensor, cupy_optim, cupy_recurrent
from deepref.rnn.cells import CELLS
from deepref.rnn.layers import sequence_backward, sequence_forward
from nvrtc_support import nvrtc_compile

SHAPES = {"odd": (3, 5, 4, 6), "one row, one step": (1, 1, 2, 3), "wider": (8, 7, 5, 16)}
"""(N, T, D, H) of each case."""
TOLERANCE = {"float64": 1e-12, "float32": 2e-5}
"""Largest ``max |ours - theirs| / max |theirs|`` per result (sums over steps and rows cancel: no elementwise rtol)."""

HOST_PRELUDE = """
#include <cmath>
using std::tanh;
#define __global__
#define __device__
#define __forceinline__ inline
#define FOR_EACH(i, n) for (long long i = 0; i < (n); ++i)
"""


def _problem(cell: str, shape, dtype, final_gradients: bool):
    """Host arrays: inputs, initial state, weights, upstream gradients."""
    n, steps, d, hidden = shape
    rng = np.random.default_rng(sum(shape) + len(cell))
    width = CELLS[cell].gates * hidden

    def draw(*size, scale=1.0):
        return (scale * rng.normal(size=size)).astype(dtype)

    state = tuple(draw(n, hidden, scale=0.5) for _ in range(CELLS[cell].state_size))
    weights = (draw(d, width, scale=0.5), draw(hidden, width, scale=0.5), draw(width, scale=0.2),
               draw(width, scale=0.2))
    dstate = tuple(draw(n, hidden) if final_gradients else None for _ in state)
    return draw(n, steps, d), state, weights, draw(n, steps, hidden), dstate


def _specification(cell, x, state, weights, dout, dstate):
    """The specification's outputs and gradients (host arrays), run on array-api-strict."""
    xps = pytest.importorskip("array_api_strict")

    def strict(a):
        return None if a is None else xps.asarray(a)

    out, final, cache = sequence_forward(CELLS[cell], strict(x), tuple(map(strict, state)), *map(strict, weights))
    dx, dstate0, *dparams = sequence_backward(strict(dout), tuple(map(strict, dstate)), cache)
    return [to_numpy(a) for a in (out, *final, dx, *dstate0, *dparams)]


def _kernels(cell, xp, launch, x, state, weights, dout, dstate):
    out, final, cache = cupy_recurrent.FORWARD[cell](xp, launch, x, state, *weights)
    dx, dstate0, *dparams = cupy_recurrent.BACKWARD[cell](xp, launch, dout, dstate, cache)
    return [out, *final, dx, *dstate0, *dparams]


def _assert_agree(ours, theirs, dtype):
    names = ["out", "final state", "dx", "initial state gradient", "dw_x", "dw_h", "db_x", "db_h"]
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape and a.dtype == b.dtype
        error = float(np.max(np.abs(a - b), initial=0.0)) / max(float(np.max(np.abs(b), initial=0.0)), 1e-30)
        assert error <= TOLERANCE[dtype], f"result {k} ({names[min(k, 7)]}...): relative error {error:.2e}"


# --- the source compiled for the host -----------------------------------------------------------


def host_libraries(source, folder) -> dict:
    """``source(dtype)`` compiled by the host's C++ compiler (no contraction, no fast math), per dtype, loaded."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++ or clang++) to build the kernels on the host")
    libraries = {}
    for dtype in ("float32", "float64"):
        src, lib = folder / f"{dtype}.cpp", folder / f"{dtype}.so"
        src.write_text(source(dtype))
        subprocess.run([compiler, "-O2", "-std=c++17", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
                        str(src), "-o", str(lib)], check=True, capture_output=True)
        libraries[np.dtype(dtype)] = ctypes.CDLL(str(lib))
    return libraries


@pytest.fixture(scope="module")
def host_launch(tmp_path_factory):
    """``launch(name, size, *args)`` running the step kernels compiled by the host's C++ compiler."""
    libraries = host_libraries(lambda dtype: cupy_recurrent.source(dtype, HOST_PRELUDE),
                               tmp_path_factory.mktemp("recurrent"))

    def launch(name, size, *args):
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        assert all(a.flags.c_contiguous and a.dtype == arrays[0].dtype for a in arrays)
        assert size == args[-2] * args[-1]
        converted = [a.ctypes.data_as(ctypes.c_void_p) if isinstance(a, np.ndarray) else ctypes.c_longlong(a)
                     for a in args]
        getattr(libraries[arrays[0].dtype], name)(*converted)

    return launch


@pytest.mark.parametrize("final_gradients", [False, True], ids=["no final-state gradient", "final-state gradient"])
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_kernels_compiled_on_the_host_agree_with_the_specification(cell, dtype, shape, final_gradients,
                                                                   host_launch):
    x, state, weights, dout, dstate = _problem(cell, SHAPES[shape], dtype, final_gradients)
    theirs = _specification(cell, x, state, weights, dout, dstate)
    ours = _kernels(cell, np, host_launch, x, state, weights, dout, dstate)
    _assert_agree(ours, theirs, dtype)


def test_the_drivers_write_into_preallocated_buffers(host_launch):
    """One recurrent product and one kernel per step, the gates of all steps in one (T, N, 4H) buffer."""
    launched = []

    def counting(name, size, *args):
        launched.append(name)
        host_launch(name, size, *args)

    x, state, weights, dout, dstate = _problem("lstm", SHAPES["odd"], "float64", True)
    out, final, cache = cupy_recurrent.lstm_forward(np, counting, x, state, *weights)
    steps = x.shape[1]
    assert launched == ["lstm_forward_step"] * steps
    assert cache.gates.shape == (steps, x.shape[0], weights[1].shape[1])
    assert np.shares_memory(out, cache.hidden_states)
    cupy_recurrent.lstm_backward(np, counting, dout, dstate, cache)
    assert launched[steps:] == ["lstm_backward_step"] * steps


def test_the_launcher_compiles_once_per_dtype_and_passes_ints_as_long_long(monkeypatch):
    """With a stand-in for CuPy: what reaches the kernel, on how many blocks of how many threads."""
    compiled, launched = [], []

    class Module:
        def __init__(self, code, options):
            compiled.append((code, options))

        def get_function(self, name):
            return lambda grid, block, args: launched.append((name, grid, block, args))

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(RawModule=Module))
    launch = cupy_launch.launcher(lambda dtype: f"// {np.dtype(dtype).name}")
    x, y = np.zeros(3, dtype=np.float32), np.zeros(3, dtype=np.float64)
    launch("step", 1000, 7, x, np.float32(0.5))
    launch("step", 10**9, x, 2)
    launch("other", 5, y)
    launch("step", 0, x)
    assert compiled == [("// float32", cupy_optim.OPTIONS), ("// float64", cupy_optim.OPTIONS)]
    threads = cupy_optim.THREADS
    assert [(name, grid, block) for name, grid, block, _ in launched] == [
        ("step", (-(-1000 // threads),), (threads,)), ("step", (cupy_optim.MAX_BLOCKS,), (threads,)),
        ("other", (1,), (threads,))]
    first = launched[0][3]
    assert type(first[0]) is np.int64 and first[1] is x and type(first[2]) is np.float32


# --- the source compiled by NVRTC, without a GPU ------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_recurrent_kernels_compile_with_nvrtc_for_sm_90(dtype):
    code = cupy_recurrent.source(dtype)
    assert len(nvrtc_compile(code, "sm_90")) > 0
    ptx = nvrtc_compile(code, "compute_90")
    for name in cupy_recurrent.KERNELS:
        assert f".entry {name}(" in ptx
    # CUDA's tanh is written with explicit multiply-adds; with it opaque (an external function), the
    # kernels' own arithmetic must hold none: no a * b + c contracted into one rounding
    opaque = cupy_recurrent.source(dtype, cupy_recurrent.DEVICE_PRELUDE + OPAQUE_TANH)
    ptx = nvrtc_compile(opaque, "compute_90", (*cupy_optim.OPTIONS, "--relocatable-device-code=true"))
    assert "opaque_tanh" in ptx
    assert "fma." not in ptx, "a multiply-add was contracted: the kernels would round otherwise than the host build"


OPAQUE_TANH = """
extern "C" __device__ T opaque_tanh(T);
#define tanh opaque_tanh
"""


# --- on a GPU ---------------------------------------------------------------------------------------


@pytest.fixture
def cupy_gpu():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("no CUDA GPU is visible")
    except Exception as err:  # noqa: BLE001 - no driver, no device
        pytest.skip(f"CuPy cannot see a GPU: {err}")
    return cupy


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_registered_kernels_agree_with_the_specification_on_the_gpu(cell, dtype, cupy_gpu):
    from deepref import kernels

    x, state, weights, dout, dstate = _problem(cell, SHAPES["wider"], dtype, True)
    theirs = _specification(cell, x, state, weights, dout, dstate)
    forward = kernels.lookup(f"{cell}_sequence_forward", cupy_gpu)
    backward = kernels.lookup(f"{cell}_sequence_backward", cupy_gpu)
    on = cupy_gpu.asarray
    out, final, cache = forward(on(x), tuple(map(on, state)), *map(on, weights))
    dx, dstate0, *dparams = backward(on(dout), tuple(map(on, dstate)), cache)
    ours = [cupy_gpu.asnumpy(a) for a in (out, *final, dx, *dstate0, *dparams)]
    _assert_agree(ours, theirs, dtype)


TORCH_LAYERS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_registered_kernels_agree_with_cudnn(cell, cupy_gpu):
    """float32 against torch's cuDNN layers with TF32 off (with it on they differ by about 1e-3)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    from deepref import kernels

    x, state, weights, dout, dstate = _problem(cell, SHAPES["wider"], "float32", True)
    w_x, w_h, b_x, b_h = weights
    layer = getattr(torch.nn, TORCH_LAYERS[cell])(x.shape[2], w_h.shape[0], batch_first=True).cuda()
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_x.T), ("weight_hh_l0", w_h.T), ("bias_ih_l0", b_x),
                            ("bias_hh_l0", b_h)):
            getattr(layer, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    tx = torch.tensor(x, device="cuda", requires_grad=True)
    ts = tuple(torch.tensor(s[None], device="cuda", requires_grad=True) for s in state)
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        out, final = layer(tx, ts if cell == "lstm" else ts[0])
        final = final if cell == "lstm" else (final,)
        total = (out * torch.tensor(dout, device="cuda")).sum()
        total = total + sum((f[0] * torch.tensor(g, device="cuda")).sum() for f, g in zip(final, dstate))
        total.backward()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous
    on = cupy_gpu.asarray
    ours_out, ours_final, cache = kernels.lookup(f"{cell}_sequence_forward", cupy_gpu)(
        on(x), tuple(map(on, state)), *map(on, weights))
    dx, dstate0, dw_x, dw_h, db_x, db_h = kernels.lookup(f"{cell}_sequence_backward", cupy_gpu)(
        on(dout), tuple(map(on, dstate)), cache)
    pairs = [(ours_out, out), (dx, tx.grad), (dw_x, layer.weight_ih_l0.grad.T), (dw_h, layer.weight_hh_l0.grad.T),
             (db_x, layer.bias_ih_l0.grad), (db_h, layer.bias_hh_l0.grad)]
    pairs += [(a, b[0]) for a, b in zip(ours_final, final)] + [(a, t.grad[0]) for a, t in zip(dstate0, ts)]
    for ours, theirs in pairs:
        theirs = theirs.detach().cpu().numpy()
        error = float(np.max(np.abs(cupy_gpu.asnumpy(ours) - theirs))) / max(float(np.max(np.abs(theirs))), 1e-30)
        assert error <= 1e-5, f"relative error {error:.2e} against cuDNN"


# --- multi-tensor optimizer steps ---------------------------------------------------------------------

OPTIMIZER_CASES = {
    "SGD": dict(lr=0.01),
    "SGD momentum, dampening, decay": dict(lr=0.01, momentum=0.9, dampening=0.3, weight_decay=0.01),
    "SGD Nesterov": dict(lr=0.01, momentum=0.9, nesterov=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop centred, momentum": dict(lr=0.001, alpha=0.9, eps=1e-6, centered=True, momentum=0.5,
                                      weight_decay=0.01),
    "RMSprop": dict(lr=0.001),
    "Adam amsgrad, decay": dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01),
    "Adam": dict(lr=0.01),
    "AdamW": dict(lr=0.01, weight_decay=0.1),
}
TENSOR_SHAPES = ((40, 25), (7,), (3000,), (1,))
"""Sizes below, at and across several :data:`cupy_multi_tensor.CHUNK` chunks."""

MULTI_HOST_PRELUDE = """
#include <algorithm>
#include <cmath>
using std::isnan;
using std::min;
using std::sqrt;
#define __global__
#define __device__
#define __shared__
struct HostDim { long long x; };
extern "C" { HostDim blockIdx = {0}; }
static const HostDim threadIdx = {0}, blockDim = {1};
static inline void __syncthreads() {}
"""
"""One host thread plays each block in turn (``blockIdx`` set from Python), one element at a time."""


@pytest.fixture(scope="module")
def multi_host_launch(tmp_path_factory):
    """``launch(name, argument_lists)`` running the multi-tensor kernels compiled for the host, block by block."""
    libraries = host_libraries(lambda dtype: cupy_multi_tensor.source(dtype, MULTI_HOST_PRELUDE),
                               tmp_path_factory.mktemp("multi"))
    launches = []

    def launch(name, argument_lists):
        ints, reals, blocks = cupy_multi_tensor.pack(name, argument_lists, pointer=lambda a: a.ctypes.data)
        library = libraries[reals.dtype]
        kernel, block = getattr(library, f"{name}_multi"), ctypes.c_longlong.in_dll(library, "blockIdx")
        tables = [t.ctypes.data_as(ctypes.c_void_p) for t in (ints, reals, blocks)]
        for b in range(blocks.shape[0]):
            block.value = b
            kernel(*tables)
        launches.append((name, len(argument_lists), blocks.shape[0]))

    launch.launches = launches
    return launch


def _optimize(case: str, dtype: str):
    """Parameters and state (host arrays) after three steps of ``case`` on two groups of tensors."""
    name = case.split()[0]
    rng = np.random.default_rng(7)
    params = [nn.Parameter(rng.normal(size=shape).astype(dtype)) for shape in TENSOR_SHAPES]
    groups = [{"params": params[:3]}, {"params": params[3:], "lr": 0.02}]
    opt = getattr(optim, name)(groups, **OPTIMIZER_CASES[case])
    for _ in range(3):
        for p in params:
            p.grad = rng.normal(size=p.data.shape).astype(dtype)
        opt.step()
    return [p.data for p in params] + [v for s in opt.state for v in s.values() if isinstance(v, np.ndarray)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_multi_tensor_kernels_compiled_on_the_host_step_like_the_specification(case, dtype, multi_host_launch,
                                                                               monkeypatch):
    with kernels.disabled():
        theirs = _optimize(case, dtype)
    group_ops = dict(cupy_multi_tensor.GROUP_STEPS)
    monkeypatch.setattr(kernels, "lookup", lambda op, xp: group_ops.get(op))
    monkeypatch.setattr(cupy_multi_tensor, "launch", multi_host_launch)
    monkeypatch.setattr(cupy_multi_tensor, "group_applies", lambda lists: True)
    multi_host_launch.launches.clear()
    ours = _optimize(case, dtype)
    # one launch per group and step, every chunk of every tensor a block
    blocks = [-(-int(np.prod(shape)) // cupy_multi_tensor.CHUNK) for shape in TENSOR_SHAPES]
    assert [n for _, n, _ in multi_host_launch.launches] == [3, 1] * 3
    assert [b for _, _, b in multi_host_launch.launches] == [sum(blocks[:3]), sum(blocks[3:])] * 3
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_pack_assigns_every_chunk_of_every_tensor_to_one_block():
    chunk = cupy_multi_tensor.CHUNK
    sizes = [chunk, 1, 0, 2 * chunk + 5]
    lists = [(np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32), None, np.float32(0.1),
              np.float32(0.0), np.float32(0.0), np.float32(1.0), np.int32(1), np.int32(0), np.int64(n))
             for n in sizes]
    ints, reals, blocks = cupy_multi_tensor.pack("sgd", lists, pointer=lambda a: a.ctypes.data)
    assert ints.shape == (4, 6) and reals.shape == (4, 4) and reals.dtype == np.float32
    assert blocks.tolist() == [[0, 0], [1, 0], [3, 0], [3, chunk], [3, 2 * chunk]]
    assert ints[:, 2].tolist() == [0] * 4  # no momentum buffer: a null pointer
    assert ints[:, -1].tolist() == sizes


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_tables_travel_in_one_copy_and_come_apart_unchanged(dtype):
    ints = np.arange(18, dtype=np.int64).reshape(3, 6)
    reals = np.linspace(0, 1, 21, dtype=dtype).reshape(3, 7)
    blocks = np.array([[0, 0], [1, 0], [2, 0], [2, 1024]], dtype=np.int64)
    moved = cupy_multi_tensor.device_tables(np, ints, reals, blocks)
    for original, table in zip((ints, reals, blocks), moved):
        assert table.dtype == original.dtype and table.ctypes.data % 8 == 0
        np.testing.assert_array_equal(table, original.ravel())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multi_tensor_kernels_compile_with_nvrtc_for_sm_90(dtype):
    ptx = nvrtc_compile(cupy_multi_tensor.source(dtype), "compute_90")
    for name in cupy_multi_tensor.LAYOUT:
        assert f".entry {name}_multi(" in ptx
    assert "fma." not in ptx, "a multiply-add was contracted: the step would round otherwise than the specification"
    assert len(nvrtc_compile(cupy_multi_tensor.source(dtype), "sm_90")) > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_multi_tensor_step_equals_the_per_parameter_step_on_the_gpu(case, dtype, cupy_gpu, monkeypatch):
    from deepref import backend

    def run():
        with backend.use_backend("cupy"):
            name = case.split()[0]
            rng = np.random.default_rng(7)
            params = [nn.Parameter(cupy_gpu.asarray(rng.normal(size=shape).astype(dtype))) for shape in TENSOR_SHAPES]
            opt = getattr(optim, name)(params, **OPTIMIZER_CASES[case])
            for _ in range(3):
                for p in params:
                    p.grad = cupy_gpu.asarray(rng.normal(size=p.data.shape).astype(dtype))
                opt.step()
            return [cupy_gpu.asnumpy(p.data) for p in params]

    group_ops = dict(cupy_multi_tensor.GROUP_STEPS)
    monkeypatch.setattr(kernels, "lookup", lambda op, xp: group_ops.get(op))
    ours = run()
    monkeypatch.setattr(cupy_multi_tensor, "group_applies", lambda lists: False)  # the per-parameter launches
    theirs = run()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_wrong_upstream_shape_fails_before_any_kernel_runs(cell):
    def launch(*args):
        raise AssertionError("a kernel was launched")

    x, state, weights, dout, dstate = _problem(cell, SHAPES["odd"], "float64", True)
    cache = cupy_recurrent.FORWARD[cell](np, lambda *args: None, x, state, *weights)[2]
    with pytest.raises(ValueError, match=r"dout must have shape \(3, 5, 6\)"):
        cupy_recurrent.BACKWARD[cell](np, launch, dout[:, :-1], dstate, cache)
    with pytest.raises(ValueError, match=r"final state 0 must have shape \(3, 6\)"):
        cupy_recurrent.BACKWARD[cell](np, launch, dout, (dstate[0][:, :-1], *dstate[1:]), cache)


# --- the convolution's windows ---------------------------------------------------------------------

CONV_CASES = {
    "3x3, padded": ((2, 3, 7, 6), 3, 1, 1, 1, 0.0),
    "5x5, stride 2": ((3, 1, 12, 12), 5, 2, 2, 1, 0.0),
    "dilated, uneven": ((2, 2, 9, 8), (3, 2), (2, 1), (1, 0), (2, 1), 0.0),
    "max-pooling fill": ((2, 2, 8, 8), 2, 2, 1, 1, -np.inf),
}
"""(N, C, H, W), kernel size, stride, padding, dilation, padding value."""


@pytest.fixture(scope="module")
def conv_host_launch(tmp_path_factory):
    """``launch(name, size, *args)`` running the window kernels compiled for the host."""
    libraries = host_libraries(lambda dtype: cupy_conv.source(dtype, HOST_PRELUDE), tmp_path_factory.mktemp("conv"))
    scalar = {np.dtype("float32"): ctypes.c_float, np.dtype("float64"): ctypes.c_double}

    def launch(name, size, *args):
        def converted(a):
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous
                return a.ctypes.data_as(ctypes.c_void_p)
            if isinstance(a, np.floating):
                return scalar[a.dtype](a)
            return ctypes.c_longlong(a)

        getattr(libraries[args[0].dtype], name)(*map(converted, args))

    return launch


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_window_kernels_compiled_on_the_host_equal_the_specification(case, dtype, conv_host_launch):
    from deepref.nn import conv

    shape, kernel, stride, padding, dilation, fill = CONV_CASES[case]
    geometry = conv.windows(shape[2:], kernel, stride, padding, dilation)
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape).astype(dtype)
    with kernels.disabled():
        cols = conv.im2col(x, geometry, fill)
        dcols = rng.normal(size=cols.shape).astype(dtype)
        image = conv.col2im(dcols, geometry, shape[1])
    np.testing.assert_array_equal(cupy_conv.im2col_driver(np, conv_host_launch, x, geometry, fill), cols)
    np.testing.assert_array_equal(cupy_conv.col2im_driver(np, conv_host_launch, dcols, geometry, shape[1]), image)


def test_window_kernels_refuse_other_dtypes(conv_host_launch):
    from deepref.nn import conv

    geometry = conv.windows((4, 4), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        cupy_conv.im2col_driver(np, conv_host_launch, np.zeros((1, 1, 4, 4), dtype=np.float16), geometry, 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_window_kernels_compile_with_nvrtc_for_sm_90(dtype):
    ptx = nvrtc_compile(cupy_conv.source(dtype), "compute_90")
    for name in cupy_conv.KERNELS:
        assert f".entry {name}(" in ptx
    assert len(nvrtc_compile(cupy_conv.source(dtype), "sm_90")) > 0


@pytest.mark.parametrize("case", CONV_CASES)
def test_window_kernels_equal_the_specification_on_the_gpu(case, cupy_gpu):
    from deepref.nn import conv

    shape, kernel, stride, padding, dilation, fill = CONV_CASES[case]
    geometry = conv.windows(shape[2:], kernel, stride, padding, dilation)
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape)
    with kernels.disabled():
        cols = conv.im2col(x, geometry, fill)
        dcols = rng.normal(size=cols.shape)
        image = conv.col2im(dcols, geometry, shape[1])
    on = cupy_gpu.asarray
    np.testing.assert_array_equal(cupy_gpu.asnumpy(kernels.lookup("im2col", cupy_gpu)(on(x), geometry, fill)), cols)
    ours = cupy_gpu.asnumpy(kernels.lookup("col2im", cupy_gpu)(on(dcols), geometry, shape[1]))
    np.testing.assert_allclose(ours, image, rtol=1e-15, atol=1e-15)
