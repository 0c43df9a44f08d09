"""NVRTC, CUDA's runtime compiler, for the tests that compile kernel sources without a GPU."""

import pytest

from deepref.kernels import cupy_optim


def load_nvrtc():
    """CuPy's NVRTC binding; skips the test where CuPy or the NVRTC library is missing."""
    nvrtc = pytest.importorskip("cupy_backends.cuda.libs.nvrtc", reason="CuPy is not installed")
    try:
        nvrtc.getVersion()
    except Exception as err:  # noqa: BLE001 - any failure to load the library means: not here
        pytest.skip(f"CuPy's NVRTC does not load: {err}")
    return nvrtc


def nvrtc_compile(code: str, arch: str, options=cupy_optim.OPTIONS):
    """``code`` compiled by NVRTC for ``arch``: PTX text for ``compute_XX``, a cubin for ``sm_XX``.

    Fails the test with NVRTC's log when the source does not compile.
    """
    nvrtc = load_nvrtc()
    program = nvrtc.createProgram(code, "kernels.cu", (), ())
    try:
        try:
            nvrtc.compileProgram(program, [*options, f"-arch={arch}"])
        except nvrtc.NVRTCError as err:
            pytest.fail(f"NVRTC rejected the kernels: {err}\n{nvrtc.getProgramLog(program)}")
        result = nvrtc.getPTX(program) if arch.startswith("compute") else nvrtc.getCUBIN(program)
    finally:
        nvrtc.destroyProgram(program)
    return result.decode() if isinstance(result, bytes) and arch.startswith("compute") else result
