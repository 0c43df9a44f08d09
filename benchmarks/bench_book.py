"""Execution time of each chapter of the book.

By default the times come from the last book build: ``nox -s docs`` writes
each page's execution time to ``build/execution_times.json``
(``conf/_ext/exectimes.py``), so the benchmark run stays short. With
``--book`` every chapter is executed here, one after the other, in a fresh
kernel, and its CPU time (user + system of the kernel) and wall time are
measured; that takes as long as the book build itself.
"""

from __future__ import annotations

import json
import pathlib
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECORD = ROOT / "build" / "execution_times.json"
BUDGET_CPU_S = 60.0  # the per-chapter aim (90 s on an idle 2-core machine is the limit)


def _chapters() -> list[pathlib.Path]:
    """Every executable page: whole chapters, and the section pages of a chapter split into ``book/<chapter>/``."""
    book = ROOT / "book"
    return sorted(p for p in [*book.glob("*.md"), *book.glob("*/*.md")] if p.read_text().startswith("---\njupytext:"))


def _chapter_of(path: pathlib.Path) -> str:
    """The chapter a page belongs to: ``optimization`` for ``.../book/optimization/sgd.md``."""
    parts = path.parts
    below_book = parts[len(parts) - 1 - parts[::-1].index("book") + 1:] if "book" in parts else parts[-1:]
    return below_book[0].removesuffix(".md")


def _execute(path: pathlib.Path) -> tuple[float, float]:
    """Run one chapter in a fresh kernel; returns (CPU seconds of the kernel and client, wall seconds)."""
    code = ("import pathlib, sys; sys.path.insert(0, 'tests'); from test_chapters import execute_chapter; "
            f"execute_chapter(pathlib.Path({str(path)!r}))")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def _from_last_build() -> dict[str, float]:
    """Seconds per chapter from the last book build's record (a split chapter: its pages' total).

    Only pages that exist now are counted, so a record from before a chapter was
    split or renamed adds nothing stale.
    """
    if not RECORD.exists():
        return {}
    pages = {str(p.relative_to(ROOT / "book").with_suffix("")): p for p in _chapters()}
    times: dict[str, float] = {}
    for docname, seconds in json.loads(RECORD.read_text()).items():
        if docname in pages:
            chapter = _chapter_of(pages[docname])
            times[chapter] = times.get(chapter, 0.0) + float(seconds)
    return times


def chapter_times(execute: bool) -> tuple[list[dict], str]:
    """One row per chapter and a line saying where the numbers come from."""
    if execute:
        totals: dict[str, list[float]] = {}
        for path in _chapters():
            cpu, wall = _execute(path)
            total = totals.setdefault(_chapter_of(path), [0.0, 0.0])
            total[0], total[1] = total[0] + cpu, total[1] + wall
        rows = [{"chapter": name, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "within_aim": cpu <= BUDGET_CPU_S}
                for name, (cpu, wall) in sorted(totals.items())]
        return rows, f"executed here, one chapter at a time (aim: <= {BUDGET_CPU_S:.0f} s CPU each)"
    recorded = _from_last_build()
    if not recorded:
        return [], f"no {RECORD.relative_to(ROOT)} (build the book with `nox -s docs`, or pass --book)"
    rows = [{"chapter": name, "wall_s": round(seconds, 1)} for name, seconds in sorted(recorded.items())]
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(RECORD.stat().st_mtime))
    return rows, f"execution times of the book build of {built}, from {RECORD.relative_to(ROOT)}"
