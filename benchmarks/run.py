"""Run the benchmarks: ``python benchmarks/run.py [--quick] [--only TEXT] [--backend numpy|cupy] [--out DIR]``.

Every ``bench_*.py`` module beside this file contributes cases (see
``harness.py`` for the conventions). deepref and its peer run in this one
process with one thread each; the table goes to stdout and, with the raw
numbers, to ``DIR/latest.md`` and ``DIR/latest.json`` (``benchmarks/results``
by default).

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, which some machines set and
which slow NumPy's BLAS down, are removed from the environment (the script
restarts itself without them); the BLAS kernel in use is recorded.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import pathlib
import platform
import sys
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
UNWANTED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MODULES = ("bench_ops", "bench_rnn", "bench_optim", "bench_conv", "bench_gpu")


def _restart_without_unwanted_env() -> None:
    if any(name in os.environ for name in UNWANTED):
        env = {k: v for k, v in os.environ.items() if k not in UNWANTED}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds: a smoke test")
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    parser.add_argument("--book", action="store_true", help="execute every chapter and time it (slow)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    _restart_without_unwanted_env()
    sys.path.insert(0, str(HERE))

    import numpy as np
    import threadpoolctl
    import torch
    from harness import Context, copy_bandwidth, markdown, measure

    from deepref import backend

    threadpoolctl.threadpool_limits(1)
    torch.set_num_threads(1)
    backend.set_backend(args.backend)
    ctx = Context(args.backend, "cpu", quick=args.quick)
    xp = np
    if args.backend == "cupy":
        import cupy

        xp = cupy
        ctx.device = "cuda" if torch.cuda.is_available() else "cpu"

        def sync():
            cupy.cuda.get_current_stream().synchronize()
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        ctx.sync = sync
        ctx.clock = time.perf_counter  # the GPU works while the process waits
        # TF32 (on by default for cuDNN) multiplies float32 with 10-bit mantissas: the peer would
        # compute something else (LSTM outputs differ by about 4e-4) and faster
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    copy_gbs = copy_bandwidth(xp, sync=ctx.sync, clock=ctx.clock)
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} thread)"
            for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    header = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}",
        "backend": args.backend + (f" vs torch on {ctx.device}" if args.backend == "cupy" else " vs torch CPU"),
        "versions": f"numpy {np.__version__}, torch {torch.__version__}, Python {platform.python_version()}",
        "BLAS": "; ".join(blas) or "unknown",
        "threads": "1 (deepref and torch)",
        **({"peer TF32": "off (torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False)"}
           if args.backend == "cupy" else {}),
        "clock": "wall time" if args.backend == "cupy" else "CPU time of the process (unaffected by other load)",
        "allocator": ", ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("MALLOC_"))
        or "default (glibc returns large freed blocks to the OS)",
        "copy bandwidth": f"{copy_gbs:.1f} GB/s (read + write, one thread)",
        "mode": "quick" if args.quick else "full",
        "load average": f"{os.getloadavg()[0]:.2f} (1 min, {os.cpu_count()} CPUs) at the start",
    }
    print("\n".join(f"{k}: {v}" for k, v in header.items()), flush=True)
    results, failures, skipped, started = [], [], [], time.perf_counter()
    for module_name in MODULES:
        if not (HERE / f"{module_name}.py").exists():
            continue
        module = importlib.import_module(module_name)
        if not hasattr(module, "cases"):
            skipped.append(f"{module_name}.py defines no cases(ctx) (see harness.py): run it on its own")
            continue
        for case in module.cases(ctx):
            if args.only and args.only.lower() not in f"{case.name} {case.peer}".lower():
                continue
            try:
                result = measure(case, ctx, copy_gbs)
            except Exception as err:  # a broken case is reported, the others still run
                failures.append(f"{case.name} {case.shape} {case.dtype}: {err!r}")
                traceback.print_exc()
                continue
            results.append(result)
            print(f"{result.name:32s} {result.shape:16s} {result.dtype:8s} {result.peer:14s} "
                  f"{result.ours_ms:9.3f} ms {result.theirs_ms:9.3f} ms  ratio {result.ratio_median:5.2f} "
                  f"(min {result.ratio_min:5.2f}) {result.status}", flush=True)
    from bench_book import chapter_times

    chapters, source = chapter_times(args.book)
    header["total time"] = f"{time.perf_counter() - started:.0f} s"
    header["load average"] += f", {os.getloadavg()[0]:.2f} at the end"
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(results, header)
    text += "\n## Book: execution time per chapter\n\n" + source + "\n"
    if chapters:
        columns = list(chapters[0])
        text += "\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        text += "".join("| " + " | ".join(str(row[c]) for c in columns) + " |\n" for row in chapters)
    if skipped:
        text += "\n## Not included\n\n" + "\n".join(f"- {s}" for s in skipped) + "\n"
    if failures:
        text += "\n## Failed cases\n\n" + "\n".join(f"- {f}" for f in failures) + "\n"
    (out / "latest.md").write_text(text)
    (out / "latest.json").write_text(json.dumps(
        {"header": header, "results": [r.as_dict() for r in results], "book": chapters, "failures": failures},
        indent=1))
    print("\n" + text)
    print(f"wrote {out / 'latest.md'} and {out / 'latest.json'}")
    return 1 if failures or any(r.status.startswith("MISMATCH") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
