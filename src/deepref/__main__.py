"""Command line: ``python -m deepref reproduce CHAPTER [--full] [--workers N] [--scheduler ADDRESS] [--out DIR]``.

``python -m deepref reproduce --list`` names what each chapter can reproduce
and how long it takes. See :mod:`deepref.reproduce`.
"""

from __future__ import annotations

import argparse
import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""BLAS thread counts set to 1 for the workers (unless already set): one run per core."""


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m deepref``."""
    main = argparse.ArgumentParser(prog="python -m deepref", description="deepref's command line.")
    commands = main.add_subparsers(dest="command", required=True)
    command = commands.add_parser(
        "reproduce", help="run a chapter's experiments and write their tables and figures",
        description="Run a chapter's experiments (the book's small size, or --full) through a process pool "
                    "or a Dask cluster; write per experiment runs.jsonl, table.csv and a figure under --out. "
                    "A rerun with the same --out resumes where the last one stopped.")
    command.add_argument("chapter", nargs="?", help="chapter name (see --list)")
    command.add_argument("--list", action="store_true", help="name each chapter's experiments and their run time")
    command.add_argument("--full", action="store_true", help="the full-size sweep instead of the book's")
    command.add_argument("--experiment", action="append", metavar="NAME",
                         help="only this experiment of the chapter (repeatable)")
    command.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all CPUs)")
    command.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler to run on, e.g. tcp://host:8786")
    command.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the scheduler (10)")
    command.add_argument("--out", metavar="DIR", help="output folder (default: results/CHAPTER[-full])")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    return main


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 if a run failed, 2 on bad input)."""
    args = parser().parse_args(argv)
    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    from . import reproduce

    if args.list:
        print(reproduce.listing())
        return 0
    if not args.chapter:
        print("error: name a CHAPTER or pass --list", file=sys.stderr)
        return 2
    out = args.out or os.path.join("results", args.chapter + ("-full" if args.full else ""))
    try:
        results = reproduce.reproduce(args.chapter, out, full=args.full, names=args.experiment,
                                      workers=args.workers, scheduler=args.scheduler, timeout=args.timeout,
                                      progress=not args.no_progress)
    except (ValueError, ConnectionError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(reproduce.describe(results))
    return 1 if any(result.failed for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
