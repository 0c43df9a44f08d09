"""Execution time of each chapter of the book.

By default the times come from the execution cache of the last book build
(``build/.jupyter_cache``, written by ``nox -s docs``), so the benchmark run
stays short. With ``--book`` every chapter is executed here, one after the
other, in a fresh kernel, and its CPU time (user + system of the kernel) and
wall time are measured; that takes as long as the book build itself.
"""

from __future__ import annotations

import pathlib
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / ".jupyter_cache"
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


def _from_cache() -> dict[str, float]:
    try:
        from jupyter_cache import get_cache
    except ImportError:
        return {}
    if not CACHE.exists():
        return {}
    times = {}
    for record in get_cache(CACHE).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:
            chapter = _chapter_of(pathlib.Path(record.uri).resolve())
            times[chapter] = times.get(chapter, 0.0) + float(seconds)  # a split chapter: its pages' total
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
    cached = _from_cache()
    if not cached:
        return [], "no execution cache found (build the book with `nox -s docs`, or pass --book)"
    rows = [{"chapter": name, "wall_s": round(seconds, 1)} for name, seconds in sorted(cached.items())]
    return rows, f"execution times recorded by the last book build in {CACHE.relative_to(ROOT)}"
