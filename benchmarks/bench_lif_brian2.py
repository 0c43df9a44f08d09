"""A sparse network of LIF neurons: deepref.neuro against Brian2's NumPy runtime.

``python benchmarks/bench_lif_brian2.py [--n 10000] [--duration 1000] [--repeats 3] [--out DIR]``
(``nox -s bench_brian2`` runs it in an environment of its own: Brian2 2.9 does not
import with NumPy >= 2.4).

Both simulators run the same network: the current-based benchmark network of
Vogels & Abbott (2005) in the form of Brian2's CUBA example (80% excitatory,
20% inhibitory LIF neurons, exponential synaptic currents, 5 ms refractory
period), with the same random targets (2% of the neurons, fixed fan-out, from
:func:`deepref.neuro.cuba_initial_state`), the same initial potentials, the
same 0.1 ms step and exact integration of the linear equations. One thread
each; the runs alternate. The table (and the raw numbers as JSON) go to
``DIR/brian2.md`` and ``DIR/brian2.json``; the ratio is deepref's wall time
over Brian2's (lower is better). Brian2's time is that of ``Network.run``
(its code generation included, as a user meets it); building the network
objects is reported apart.

The network is chaotic: after some tens of milliseconds, round-off
differences between the two implementations change individual spike times, so
the check compares the spikes of the first milliseconds exactly and the
total spike counts within a few percent.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

from deepref import neuro  # noqa: E402
from deepref.backend import to_numpy  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def run_deepref(targets, v0, duration: float, dt: float):
    """Time one deepref run; returns ((wall s, CPU s), spike steps, spike neurons) on the host."""
    start, start_cpu = time.perf_counter(), time.process_time()
    run = neuro.simulate_cuba_network(targets, v0, duration, dt)
    seconds = (time.perf_counter() - start, time.process_time() - start_cpu)
    return seconds, to_numpy(run.spike_step), to_numpy(run.spike_neuron)


def run_brian2(targets_host, v0_host, duration: float, dt: float):
    """Build and run the same network in Brian2 (NumPy target).

    Returns (build s, (run wall s, run CPU s), spike steps, spike neurons).
    """
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    params = neuro.CUBAParameters()
    build = time.perf_counter()
    b2.defaultclock.dt = dt * b2.ms
    n = v0_host.shape[0]
    n_exc = int(round(params.excitatory_fraction * n))
    namespace = {
        "taum": params.tau_m * b2.ms, "taue": params.tau_e * b2.ms, "taui": params.tau_i * b2.ms,
        "Vt": params.v_th * b2.mV, "Vr": params.v_reset * b2.mV, "El": params.e_l * b2.mV,
    }
    equations = b2.Equations("""
        dv/dt  = (ge + gi - (v - El)) / taum : volt (unless refractory)
        dge/dt = -ge / taue : volt
        dgi/dt = -gi / taui : volt
    """)
    group = b2.NeuronGroup(n, equations, threshold="v > Vt", reset="v = Vr",
                           refractory=params.t_ref * b2.ms, method="exact", namespace=namespace)
    group.v = v0_host * b2.mV
    pre = np.repeat(np.arange(n), targets_host.shape[1])
    post = targets_host.ravel()
    excitatory = pre < n_exc
    synapses_e = b2.Synapses(group, group, on_pre=f"ge += {params.w_e!r}*mV")
    synapses_e.connect(i=pre[excitatory], j=post[excitatory])
    synapses_i = b2.Synapses(group, group, on_pre=f"gi += {params.w_i!r}*mV")
    synapses_i.connect(i=pre[~excitatory], j=post[~excitatory])
    monitor = b2.SpikeMonitor(group)
    network = b2.Network(group, synapses_e, synapses_i, monitor)
    built = time.perf_counter() - build
    start, start_cpu = time.perf_counter(), time.process_time()
    network.run(duration * b2.ms)
    seconds = (time.perf_counter() - start, time.process_time() - start_cpu)
    steps = np.round(np.asarray(monitor.t / b2.ms) / dt).astype(np.int64)
    return built, seconds, steps, np.asarray(monitor.i, dtype=np.int64)


def compare(ours, theirs, n: int, dt: float, exact_ms: float = 10.0) -> dict:
    """Agreement of two spike lists: identical early spikes, total counts, per-neuron count correlation."""
    (our_steps, our_neurons), (their_steps, their_neurons) = ours, theirs
    early = int(round(exact_ms / dt))
    our_early = sorted(zip(our_steps[our_steps < early].tolist(), our_neurons[our_steps < early].tolist()))
    their_mask = their_steps < early
    their_early = sorted(zip(their_steps[their_mask].tolist(), their_neurons[their_mask].tolist()))
    our_counts = np.bincount(our_neurons, minlength=n)
    their_counts = np.bincount(their_neurons, minlength=n)
    return {
        "early_window_ms": exact_ms,
        "early_spikes_ours": len(our_early),
        "early_spikes_identical": our_early == their_early,
        "spikes_ours": int(our_counts.sum()),
        "spikes_brian2": int(their_counts.sum()),
        "count_ratio": float(our_counts.sum() / max(their_counts.sum(), 1)),
        "per_neuron_count_correlation": float(np.corrcoef(our_counts, their_counts)[0, 1]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="number of neurons")
    parser.add_argument("--duration", type=float, default=1000.0, help="biological time, ms")
    parser.add_argument("--dt", type=float, default=0.1, help="time step, ms")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    try:
        import brian2
    except ImportError as err:
        print(f"Brian2 is not importable here ({err}); run this benchmark with `nox -s bench_brian2`, "
              "which installs Brian2 2.9 with NumPy < 2.4 in an environment of its own", file=sys.stderr)
        return 2

    targets, v0, targets_host, v0_host = neuro.cuba_initial_state(args.n, seed=args.seed)
    rounds = []
    for r in range(args.repeats):
        order = ("deepref", "brian2") if r % 2 == 0 else ("brian2", "deepref")
        record = {}
        for side in order:
            if side == "deepref":
                record["deepref_s"], *ours = run_deepref(targets, v0, args.duration, args.dt)
            else:
                record["brian2_build_s"], record["brian2_s"], *theirs = run_brian2(
                    targets_host, v0_host, args.duration, args.dt)
        (record["deepref_s"], record["deepref_cpu_s"]) = record["deepref_s"]
        (record["brian2_s"], record["brian2_cpu_s"]) = record["brian2_s"]
        record["ratio"] = record["deepref_s"] / record["brian2_s"]
        record["cpu_ratio"] = record["deepref_cpu_s"] / record["brian2_cpu_s"]
        rounds.append(record)
    agreement = compare(ours, theirs, args.n, args.dt)
    summary = {
        "case": f"CUBA LIF network, {args.n} neurons, {targets_host.shape[1]} targets each, "
                f"{args.duration:g} ms at dt {args.dt:g} ms",
        "deepref_s_median": statistics.median(r["deepref_s"] for r in rounds),
        "brian2_s_median": statistics.median(r["brian2_s"] for r in rounds),
        "brian2_build_s_median": statistics.median(r["brian2_build_s"] for r in rounds),
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
        "ratio_min": min(r["ratio"] for r in rounds),
        "cpu_ratio_median": statistics.median(r["cpu_ratio"] for r in rounds),
        "agreement": agreement,
        "rounds": rounds,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "brian2": brian2.__version__},
    }
    table = "\n".join([
        "| case | deepref (s) | Brian2 run (s) | Brian2 build (s) | ratio median | ratio min "
        "| CPU-time ratio median | spikes deepref / Brian2 |",
        "|---|---|---|---|---|---|---|---|",
        f"| {summary['case']} | {summary['deepref_s_median']:.2f} | {summary['brian2_s_median']:.2f} | "
        f"{summary['brian2_build_s_median']:.2f} | {summary['ratio_median']:.3f} | {summary['ratio_min']:.3f} | "
        f"{summary['cpu_ratio_median']:.3f} | "
        f"{agreement['spikes_ours']} / {agreement['spikes_brian2']} |",
        "",
        f"First {agreement['early_window_ms']:g} ms: {agreement['early_spikes_ours']} spikes, identical: "
        f"{agreement['early_spikes_identical']}; per-neuron spike-count correlation "
        f"{agreement['per_neuron_count_correlation']:.3f}. Ratio = deepref time / Brian2 time (lower is better); "
        "the CPU-time ratio is the steadier one on a shared machine.",
    ])
    print(table)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "brian2.md").write_text(table + "\n")
    (out / "brian2.json").write_text(json.dumps(summary, indent=2) + "\n")
    ok = agreement["early_spikes_identical"] and abs(agreement["count_ratio"] - 1.0) < 0.1
    if not ok:
        print("the two simulators disagree: see the agreement record", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
