"""Command line: ``python -m deepref reproduce CHAPTER [--full] [--workers N] [--scheduler ADDRESS] [--out DIR]``.

``python -m deepref reproduce --list`` names what each chapter can reproduce
and how long it takes. See :mod:`deepref.reproduce`. Reinforcement learning
has its own command line, ``python -m deepref.rl``. Exit status: 0 done, 1 a
run failed, 2 bad input (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""BLAS thread counts set to 1 for the workers (unless already set): one run per core."""


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m deepref``."""
    main = argparse.ArgumentParser(
        prog="python -m deepref", description="deepref's command line: reproduce the book's experiments.",
        epilog="Reinforcement learning (train and evaluate DQN, PPO, A2C, REINFORCE on Gymnasium environments) "
               "has its own command line: python -m deepref.rl --help")
    commands = main.add_subparsers(dest="command", required=True)
    command = commands.add_parser(
        "reproduce", help="run a chapter's experiments and write their tables and figures",
        description="Run a chapter's experiments (the book's small size, or --full) through a process pool "
                    "or a Dask cluster; write per experiment runs.jsonl, table.csv and a figure under --out. "
                    "A rerun with the same --out resumes where the last one stopped: finished runs found "
                    "there are reused (--fresh runs everything again). Ctrl-C stops; rerun to resume.")
    command.add_argument("chapter", nargs="?", help="chapter name (see --list)")
    command.add_argument("--list", action="store_true", help="name each chapter's experiments and their run time")
    command.add_argument("--full", action="store_true", help="the full-size sweep instead of the book's")
    command.add_argument("--experiment", action="append", metavar="NAME",
                         help="only this experiment of the chapter (repeatable)")
    command.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all CPUs)")
    command.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler to run on, e.g. tcp://host:8786")
    command.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the scheduler (10)")
    command.add_argument("--out", metavar="DIR", help="output folder (default: results/CHAPTER[-full])")
    command.add_argument("--fresh", action="store_true",
                         help="delete the runs already recorded under --out and run every run again")
    command.add_argument("--no-figures", action="store_true", help="write the tables only (no matplotlib needed)")
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
        _prepare(reproduce, args, out)
        results = reproduce.reproduce(args.chapter, out, full=args.full, names=args.experiment,
                                      workers=args.workers, scheduler=args.scheduler, timeout=args.timeout,
                                      progress=not args.no_progress, figures=not args.no_figures)
    except (ValueError, ConnectionError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished runs are saved under {out}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print(reproduce.describe(results))
    return 1 if any(result.failed for result in results.values()) else 0


def _prepare(reproduce, args, out: str) -> None:
    """With ``--fresh``, forget the recorded runs; otherwise say loudly which finished runs will be reused."""
    if args.fresh:
        reproduce.forget_runs(args.chapter, out, args.experiment)
        return
    found = {name: n for name, n in reproduce.recorded_runs(args.chapter, out, args.experiment).items() if n}
    if found:
        in_clone = os.path.exists("pyproject.toml") and os.path.abspath(out).startswith(os.path.abspath("results"))
        where = " (in a clone of deepref: the results committed with it)" if in_clone else ""
        counts = ", ".join(f"{name}: {n}" for name, n in found.items())
        print(f"NOTE: {out}{where} already holds finished runs ({counts}); they are reused, not run again. "
              "Pass --fresh to run them again, or --out DIR to write elsewhere.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
