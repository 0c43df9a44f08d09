"""Timing deepref against a peer library in one process, interleaved, and writing the results.

Conventions for every ``benchmarks/bench_*.py`` module (``run.py`` imports them):

* the module defines ``cases(ctx)``, a generator of :class:`Case` objects;
* a case's ``setup()`` builds the inputs once (host data from a seeded NumPy
  generator, moved to deepref's backend and to the peer's tensors) and returns
  ``(ours, theirs, error)``: two argument-less callables that run the same
  computation (forward and backward, or one optimizer step) and return what it
  produced, and ``error(ours_result, theirs_result) -> float``, the largest
  relative difference, which must stay below the dtype's tolerance;
* timing is :func:`measure`'s business: both callables run alternately in
  rounds, with the same thread count (1) and dtype, and the result is the
  median and minimum over rounds of the ratio ``deepref time / peer time``
  (lower is better; 1 means as fast as the peer); on the CPU the time is the
  process's CPU time, which other programs sharing the cores do not inflate
  (with one thread it equals the working time), on a GPU the wall time;
* a memory-bound case gives ``bytes_moved`` per call (the bytes its arrays
  must at least be read and written), reported as achieved bandwidth and as a
  fraction of the measured copy bandwidth (:func:`copy_bandwidth`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

TOLERANCE = {"float64": 1e-9, "float32": 2e-4}
"""Largest relative difference accepted between deepref's and the peer's results."""


@dataclass
class Context:
    """What the cases need to know about the run."""

    backend: str  # deepref backend: "numpy" or "cupy"
    device: str  # the peer's device: "cpu" or "cuda"
    quick: bool = False  # smaller problems and fewer rounds (a smoke test)
    sync: Callable[[], None] = lambda: None  # waits for queued GPU work (both libraries)
    clock: Callable[[], float] = time.process_time  # CPU time; wall time (perf_counter) on a GPU


@dataclass
class Case:
    """One comparison: ``setup() -> (ours, theirs, error)`` (see the module docstring)."""

    name: str
    shape: str
    dtype: str
    setup: Callable
    peer: str = "torch"
    bytes_moved: float | None = None
    target: float | None = None  # the ratio the issue asks for (median), if any
    note: str = ""  # why a target is out of reach, or what the peer does differently


@dataclass
class Result:
    name: str
    shape: str
    dtype: str
    peer: str
    ours_ms: float
    theirs_ms: float
    ratio_median: float
    ratio_min: float
    error: float
    bandwidth_gbs: float | None = None
    copy_fraction: float | None = None
    target: float | None = None
    note: str = ""
    rounds: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error > TOLERANCE[self.dtype]:
            return f"MISMATCH ({self.error:.1e})"
        if self.target is None:
            return ""
        if self.ratio_median <= self.target:
            return f"ok (<= {self.target:g})"
        return f"missed: {self.ratio_median / self.target:.2f}x over {self.target:g}"

    def as_dict(self) -> dict:
        return {**asdict(self), "status": self.status}


def _time(fn: Callable, number: int, sync: Callable, clock: Callable = time.process_time) -> float:
    sync()
    start = clock()
    for _ in range(number):
        fn()
    sync()
    return (clock() - start) / number


def measure(case: Case, ctx: Context, copy_gbs: float | None) -> Result:
    """Run ``case``: check agreement, then time both sides in alternating rounds."""
    ours, theirs, error = case.setup()
    err = float(error(ours(), theirs()))
    ctx.sync()
    once = max(_time(ours, 1, ctx.sync, ctx.clock), _time(theirs, 1, ctx.sync, ctx.clock), 1e-6)
    number = max(1, int((0.01 if ctx.quick else 0.04) / once))
    rounds = 3 if ctx.quick else 9
    pairs = []
    for r in range(rounds):
        if r % 2:
            t_theirs = _time(theirs, number, ctx.sync, ctx.clock)
            t_ours = _time(ours, number, ctx.sync, ctx.clock)
        else:
            t_ours = _time(ours, number, ctx.sync, ctx.clock)
            t_theirs = _time(theirs, number, ctx.sync, ctx.clock)
        pairs.append((t_ours, t_theirs))
    ratios = [a / b for a, b in pairs]
    ours_s = statistics.median(a for a, _ in pairs)
    result = Result(
        case.name, case.shape, case.dtype, case.peer,
        ours_ms=1e3 * ours_s, theirs_ms=1e3 * statistics.median(b for _, b in pairs),
        ratio_median=statistics.median(ratios), ratio_min=min(ratios), error=err,
        target=case.target, note=case.note, rounds=[round(r, 3) for r in ratios],
    )
    if case.bytes_moved:
        result.bandwidth_gbs = case.bytes_moved / min(a for a, _ in pairs) / 1e9
        if copy_gbs:
            result.copy_fraction = result.bandwidth_gbs / copy_gbs
    return result


def copy_bandwidth(xp=np, nbytes: int = 1 << 27, sync: Callable = lambda: None,
                   clock: Callable = time.process_time) -> float:
    """Single-thread copy bandwidth in GB/s (bytes read plus bytes written, best of several copies)."""
    src = xp.ones(nbytes // 8)
    dst = xp.empty_like(src)
    dst[...] = src  # touch every page first

    def copy():
        dst[...] = src

    best = min(_time(copy, 1, sync, clock) for _ in range(7))
    return 2 * nbytes / best / 1e9


def relative_error(a, b) -> float:
    """``max |a - b| / max(max |b|, tiny)`` over host copies of two arrays (or lists of arrays)."""
    if isinstance(a, (list, tuple)):
        return max(relative_error(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def markdown(results: list[Result], header: dict) -> str:
    """The results as a markdown document: a header list and one table row per case."""
    lines = ["# deepref benchmarks", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += [
        "",
        "Ratio = deepref time / peer time, per round of alternating runs (lower is better; "
        "below 1 deepref is faster). Bandwidth counts the bytes an operation must read and write "
        "at least; `of copy` compares it with a plain copy on this machine.",
        "",
        "| benchmark | shape | dtype | peer | deepref ms | peer ms | ratio (median) | ratio (min) "
        "| GB/s (of copy) | status |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        bandwidth = "" if r.bandwidth_gbs is None else f"{r.bandwidth_gbs:.1f}"
        if r.copy_fraction is not None:
            bandwidth += f" ({r.copy_fraction:.0%})"
        lines.append(
            f"| {r.name} | {r.shape} | {r.dtype} | {r.peer} | {r.ours_ms:.3g} | {r.theirs_ms:.3g} "
            f"| {r.ratio_median:.2f} | {r.ratio_min:.2f} | {bandwidth} | {r.status} |"
        )
    notes = [(r.name, r.peer, r.note) for r in results if r.note and not r.status.startswith("ok")]
    if notes:
        lines += ["", "## Notes", ""]
        seen = set()
        for name, peer, note in notes:
            if (name, note) not in seen:
                seen.add((name, note))
                lines.append(f"- **{name}** ({peer}): {note}")
    return "\n".join(lines) + "\n"
