"""The GPU check: the unit suite, every chapter and the benchmarks on CuPy, in one report.

Run on a machine with a CUDA GPU (``nox -s gpu``, or directly with a Python
that has CuPy, pytest, matplotlib and scikit-learn: ``python scripts/gpu_check.py
--out DIR``). It needs no network and no Jupyter: chapters are executed as
scripts cut from their MyST code cells, with ``myst_nb.glue`` replaced by a
recorder when MyST-NB is not installed. Without a GPU it writes a report that
says why it skipped and exits 0.

The report, ``DIR/gpu_report.md`` (and ``gpu_report.json``), lists the GPU,
the unit suite's summary and failures, each chapter's status and time, and the
benchmark table. The whole check is bounded to about 8 minutes: chapters run
in parallel processes that share the GPU, each with its own time limit.
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

# What a chapter script runs before its cells: a headless matplotlib, and a
# stand-in for MyST-NB's glue (it only records values) where MyST-NB is absent.
PRELUDE = """\
import matplotlib
matplotlib.use("Agg")
import sys, types
try:
    import myst_nb  # noqa: F401
except ImportError:
    shim = types.ModuleType("myst_nb")
    shim.glued = {}
    def glue(name, value, display=True):
        shim.glued[name] = value
    shim.glue = glue
    sys.modules["myst_nb"] = shim
try:
    from IPython.display import display  # noqa: F401
except ImportError:
    ipython = types.ModuleType("IPython")
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = lambda *objects, **kwargs: None
    ipython.display = ipython_display
    sys.modules["IPython"], sys.modules["IPython.display"] = ipython, ipython_display
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
    return sorted(p for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))


def run(command: list[str], timeout: float, env: dict, cwd: pathlib.Path) -> tuple[int, float, str]:
    """Run ``command``; return exit code (124 on time-out), seconds and combined output."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return done.returncode, time.perf_counter() - start, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        output = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
        return 124, time.perf_counter() - start, output + f"\n[timed out after {timeout:.0f} s]"


def cupy_env() -> dict:
    env = {**os.environ, "DEEPREF_BACKEND": "cupy", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def unit_suite(timeout: float) -> dict:
    code, seconds, output = run(
        [sys.executable, "-m", "pytest", "tests", "-m", "not chapter and not oracle", "--backend-cupy", "-q",
         "-p", "no:cacheprovider"],
        timeout, cupy_env(), ROOT,
    )
    lines = [line for line in output.strip().splitlines() if line.strip()]
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return {"exit": code, "seconds": round(seconds, 1), "summary": lines[-1] if lines else "", "failures": failures}


def one_chapter(path: pathlib.Path, timeout: float, scratch: pathlib.Path) -> dict:
    script = scratch / f"chapter_{path.stem}.py"
    script.write_text(chapter_script(path))
    code, seconds, output = run([sys.executable, str(script)], timeout, cupy_env(), BOOK)
    tail = "\n".join(output.strip().splitlines()[-12:]) if code else ""
    return {"chapter": path.stem, "exit": code, "seconds": round(seconds, 1), "error": tail}


def chapters(timeout: float, workers: int, scratch: pathlib.Path) -> list[dict]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(one_chapter, path, timeout, scratch) for path in executable_chapters()]
        return [job.result() for job in jobs]


def benchmarks(timeout: float, out: pathlib.Path) -> dict:
    runner = ROOT / "benchmarks" / "run.py"
    if not runner.exists():
        return {"exit": None, "output": "benchmarks/run.py not found"}
    code, seconds, output = run(
        [sys.executable, str(runner), "--backend", "cupy", "--out", str(out)], timeout, cupy_env(), ROOT
    )
    return {"exit": code, "seconds": round(seconds, 1), "output": "\n".join(output.strip().splitlines()[-60:])}


def write_report(out: pathlib.Path, report: dict) -> pathlib.Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_report.json").write_text(json.dumps(report, indent=2))
    lines = ["# deepref GPU check", "", f"- when: {report['when']}", f"- GPU: {report['gpu']}", ""]
    if "unit" in report:
        unit = report["unit"]
        lines += ["## Unit suite on CuPy", "", f"`{unit['summary']}` (exit {unit['exit']}, {unit['seconds']} s)", ""]
        lines += [f"- {failure}" for failure in unit["failures"]] + [""]
    if "chapters" in report:
        lines += ["## Chapters on CuPy", "", "| chapter | status | seconds |", "|---|---|---|"]
        for row in report["chapters"]:
            status = "ok" if row["exit"] == 0 else ("timed out" if row["exit"] == 124 else "FAILED")
            lines.append(f"| {row['chapter']} | {status} | {row['seconds']} |")
        for row in report["chapters"]:
            if row["exit"]:
                lines += ["", f"### {row['chapter']}", "", "```", row["error"], "```"]
        lines.append("")
    if "bench" in report:
        lines += ["## Benchmarks on CuPy", "", "```", report["bench"]["output"], "```", ""]
    path = out / "gpu_report.md"
    path.write_text("\n".join(lines))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "gpu", help="report folder")
    parser.add_argument("--workers", type=int, default=6, help="chapters run at once")
    parser.add_argument("--chapter-timeout", type=float, default=300.0, help="seconds per chapter")
    parser.add_argument("--skip", nargs="*", default=[], choices=["unit", "chapters", "bench"])
    args = parser.parse_args(argv)
    available, gpu = gpu_status()
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "gpu": gpu}
    if not available:
        path = write_report(args.out, report | {"skipped": gpu})
        print(f"GPU check skipped: {gpu} (report: {path})")
        return 0
    scratch = args.out / "scripts"
    scratch.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        unit = None if "unit" in args.skip else pool.submit(unit_suite, 240.0)
        book = None if "chapters" in args.skip else pool.submit(chapters, args.chapter_timeout, args.workers, scratch)
        if unit is not None:
            report["unit"] = unit.result()
        if book is not None:
            report["chapters"] = book.result()
    if "bench" not in args.skip:
        report["bench"] = benchmarks(150.0, args.out)
    path = write_report(args.out, report)
    print(path.read_text())
    failed = (report.get("unit", {}).get("exit") not in (0, None)) or any(r["exit"] for r in report.get("chapters", []))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
