"""The sweep runner (deepref.experiments), the registry (deepref.reproduce) and the command line."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deepref import experiments, reproduce
from deepref.__main__ import main
from deepref.landscape.experiments import WidthSpreadConfig
from seed_streams import assert_runs_share_no_stream

DEMO = "deepref.experiments:demo_experiment"


def width_grid():
    """Four real (tiny) training runs: two widths, two seeds."""
    configs = [WidthSpreadConfig(width=w, steps=5, n_train=60) for w in (2, 3)]
    return experiments.grid("width_spread", "deepref.landscape.experiments:width_spread_run", configs, [0, 1])


def test_dask_local_cluster_and_process_pool_give_identical_tables(tmp_path):
    distributed = pytest.importorskip("distributed")
    runs = width_grid()
    pool = experiments.run_sweep(runs, tmp_path / "pool", workers=2, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with experiments.dask_executor(cluster.scheduler_address, timeout=30) as executor:
            dask = experiments.run_sweep(runs, tmp_path / "dask", executor=executor, progress=False)
    serial = experiments.run_sweep(runs, tmp_path / "serial", executor=experiments.SerialExecutor(), progress=False)
    assert pool.executed == dask.executed == serial.executed == 4 and pool.failed == 0
    table = (tmp_path / "pool" / experiments.TABLE_FILE).read_text()
    assert table == (tmp_path / "dask" / experiments.TABLE_FILE).read_text()
    assert table == (tmp_path / "serial" / experiments.TABLE_FILE).read_text()
    assert [row["result"] for row in pool.rows] == [row["result"] for row in dask.rows]
    assert len(table.splitlines()) == 5 and "train_loss" in table.splitlines()[0]


KILLABLE = """import os
import signal

from deepref import experiments


def run(config, seed):
    if str(seed) == os.environ.get("KILL_AT_SEED"):  # the sweep's process is killed, as by `kill -9`
        os.kill(os.getpid(), signal.SIGKILL)
    return experiments.demo_experiment(config, seed)
"""


def test_a_sweep_killed_half_way_resumes_with_the_remaining_runs_only(tmp_path, monkeypatch):
    (tmp_path / "killable_experiment.py").write_text(KILLABLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    runs = experiments.grid("demo", "killable_experiment:run", [{"n": 4}], seeds=range(8))
    out = tmp_path / "sweep"
    script = ("import sys; from deepref import experiments; "
              "runs = experiments.grid('demo', 'killable_experiment:run', [{'n': 4}], seeds=range(8)); "
              "experiments.run_sweep(runs, sys.argv[1], executor=experiments.SerialExecutor(), progress=False)")
    killed = subprocess.run([sys.executable, "-c", script, str(out)], cwd=tmp_path, env={**os.environ,
                            "KILL_AT_SEED": "5"})
    assert killed.returncode == -signal.SIGKILL
    rows_file = out / experiments.RUNS_FILE
    assert len(rows_file.read_text().splitlines()) == 5
    assert len((out / experiments.TABLE_FILE).read_text().splitlines()) == 1 + 5  # the table so far

    resumed = experiments.run_sweep(runs, out, executor=experiments.SerialExecutor(), progress=False)
    assert (resumed.executed, resumed.resumed) == (3, 5)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert [row["seed"] for row in rows] == list(range(8))  # every run once, none redone
    fresh = experiments.run_sweep(runs, tmp_path / "fresh", executor=experiments.SerialExecutor(), progress=False)
    assert (out / experiments.TABLE_FILE).read_text() == (tmp_path / "fresh" / experiments.TABLE_FILE).read_text()
    assert resumed.rows == [{**row, "cpu_seconds": r["cpu_seconds"], "wall_seconds": r["wall_seconds"]}
                            for row, r in zip(fresh.rows, resumed.rows)]


def test_a_line_cut_off_by_a_kill_is_dropped_and_its_run_redone(tmp_path):
    runs = experiments.grid("demo", DEMO, [{"n": 3}], seeds=[0, 1])
    experiments.run_sweep(runs, tmp_path, executor=experiments.SerialExecutor(), progress=False)
    rows_file = tmp_path / experiments.RUNS_FILE
    first, second = rows_file.read_text().splitlines()
    rows_file.write_text(first + "\n" + second[: len(second) // 2])
    assert len(experiments.read_rows(rows_file)) == 1
    assert rows_file.read_text() == first + "\n"
    result = experiments.run_sweep(runs, tmp_path, executor=experiments.SerialExecutor(), progress=False)
    assert (result.executed, result.resumed) == (1, 1)


def test_a_corrupt_complete_line_is_an_error_naming_it(tmp_path):
    (tmp_path / experiments.RUNS_FILE).write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        experiments.run_sweep(experiments.grid("demo", DEMO, [{"n": 3}], [0]), tmp_path, progress=False)


def test_a_failing_run_is_recorded_with_its_error_and_the_sweep_goes_on(tmp_path):
    runs = experiments.grid("demo", DEMO, [{"n": 0}, {"n": 2}], seeds=[0])
    result = experiments.run_sweep(runs, tmp_path, executor=experiments.SerialExecutor(), progress=False)
    assert [row["status"] for row in result.rows] == ["error", "ok"] and result.failed == 1
    assert result.rows[0]["error"] == "ValueError: n must be a positive number of draws, got 0"
    assert "Traceback" in result.rows[0]["traceback"]
    table = (tmp_path / experiments.TABLE_FILE).read_text().splitlines()
    assert table[0].split(",")[-1] == "error" and "n must be a positive" in table[1]
    again = experiments.run_sweep(runs, tmp_path, executor=experiments.SerialExecutor(), progress=False)
    assert (again.executed, again.resumed, again.failed) == (1, 1, 1)  # only the failed run is retried
    assert len((tmp_path / experiments.RUNS_FILE).read_text().splitlines()) == 2


def test_a_worker_that_dies_is_recorded_as_a_failed_run(tmp_path, monkeypatch):
    (tmp_path / "dying_experiment.py").write_text("import os\n\n\ndef run(config, seed):\n    os._exit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    runs = experiments.grid("demo", "dying_experiment:run", [{"n": 1}], seeds=[0])
    result = experiments.run_sweep(runs, tmp_path, workers=1, progress=False)
    assert result.failed == 1 and "BrokenProcessPool" in result.rows[0]["error"]


RECORDS = """import dataclasses


@dataclasses.dataclass
class Record:
    seed: int


def as_dataclass(config, seed):
    return Record(seed)


def as_list(config, seed):
    return [seed]
"""


def test_a_record_is_a_dict_or_a_dataclass_anything_else_is_a_recorded_error(tmp_path, monkeypatch):
    (tmp_path / "record_experiments.py").write_text(RECORDS)
    monkeypatch.syspath_prepend(str(tmp_path))
    good, bad = (experiments.grid("r", f"record_experiments:{name}", [{"n": 1}], [3])[0]
                 for name in ("as_dataclass", "as_list"))
    assert experiments.execute(good, "numpy", "float64")["result"] == {"seed": 3}
    row = experiments.execute(bad, "numpy", "float64")
    assert row["status"] == "error" and "returned list" in row["error"]


def test_the_same_seed_gives_the_same_record_and_another_seed_another():
    runs = width_grid()
    first, again, other = (experiments.execute(run, "numpy", "float64") for run in (runs[0], runs[0], runs[1]))
    assert first["result"] == again["result"] != other["result"]
    assert first["status"] == "ok" and first["backend"] == "numpy"


def test_a_sweep_runs_on_the_backend_it_was_started_on(tmp_path):
    pytest.importorskip("array_api_strict")
    from deepref.backend import use_backend

    with use_backend("array_api_strict"):
        result = experiments.run_sweep(width_grid()[:1], tmp_path, workers=1, progress=False)
    assert result.rows[0]["status"] == "ok" and result.rows[0]["backend"] == "array_api_strict"


@pytest.mark.parametrize("function, message", [
    ("deepref.experiments", "package.module:name"),
    ("deepref.nowhere:run", "cannot import"),
    ("deepref.experiments:nothing", "has no function 'nothing'"),
])
def test_an_unknown_experiment_function_is_a_clear_error(function, message):
    with pytest.raises(ValueError, match=message):
        experiments.grid("x", function, [{"n": 1}], [0])


@pytest.mark.parametrize("seeds, configs, message", [
    ([-1], [{"n": 1}], "non-negative integers"),
    ([0, 0], [{"n": 1}], "repeats"),
    ([0], [3], "dataclass instance or a dict"),
    ([0], [{"n": object()}], "cannot record"),
])
def test_a_bad_grid_is_a_clear_error(seeds, configs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        experiments.grid("demo", DEMO, configs, seeds)


def test_unknown_chapter_or_experiment_names_the_valid_ones_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="unknown chapter 'optimisation'.*'optimization'"):
        reproduce.reproduce("optimisation", tmp_path / "out")
    with pytest.raises(ValueError, match="unknown experiment 'adam'.*'practice_project'"):
        reproduce.reproduce("optimization", tmp_path / "out", names=["adam"])
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        reproduce.reproduce("optimization", tmp_path / "out", workers=0)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_a_clear_error_and_writes_nothing(tmp_path):
    pytest.importorskip("distributed")
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' within 1 s"):
        reproduce.reproduce("nonconvex", tmp_path / "out", scheduler="tcp://127.0.0.1:9", timeout=1)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "out").exists()


def test_every_registered_experiment_builds_its_grids():
    for chapter, chapter_experiments in reproduce.CHAPTERS.items():
        for experiment in chapter_experiments:
            small, full = experiment.runs(), experiment.runs(full=True)
            assert small and full, (chapter, experiment.name)
            assert experiment.cpu_seconds < experiment.full_cpu_seconds, (chapter, experiment.name)


def test_reproduce_writes_tables_and_figures_and_resumes(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    tiny = reproduce.Experiment("demo", DEMO, "demo", ({"n": 3}, {"n": 5}), (0, 1), ({"n": 3},), (0,), metric="mean",
                                cpu_seconds=0.0, full_cpu_seconds=0.0)
    monkeypatch.setitem(reproduce.CHAPTERS, "demo", (tiny,))
    results = reproduce.reproduce("demo", tmp_path, progress=False, workers=1)
    assert results["demo"].executed == 4
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {"runs.jsonl", "table.csv", "demo.png"}
    assert reproduce.reproduce("demo", tmp_path, progress=False)["demo"].resumed == 4
    assert "4 runs (0 now, 4 resumed, 0 failed)" in reproduce.describe(
        reproduce.reproduce("demo", tmp_path, progress=False, figures=False))


def test_command_line_lists_and_rejects_bad_input(capsys):
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(chapter in listing for chapter in reproduce.CHAPTERS) and "--full" in listing
    assert main(["reproduce", "nowhere"]) == 2
    assert "unknown chapter 'nowhere'" in capsys.readouterr().err
    assert main(["reproduce"]) == 2


def test_practice_mlp_draws_both_layers_from_one_stream():
    from deepref.backend import to_numpy
    from deepref.optimization.experiments import practice_mlp

    zero_out, one_hidden = (to_numpy(practice_mlp(seed=s).layers[i].weight.data) for s, i in ((0, 2), (1, 0)))
    assert not np.allclose(zero_out.ravel(), one_hidden.ravel()[:zero_out.size])  # were equal with seed + 1


@pytest.mark.parametrize("module_name, builder, run_name, config", [
    ("deepref.optimization.experiments", "practice_mlp", "practice_project_run",
     ("PracticeConfig", dict(epochs=1, patience=1))),
    ("deepref.generalization.experiments", "mlp", "memorisation_run",
     ("MemorisationConfig", dict(n_train=20, hidden=8, max_epochs=1))),
])
def test_runs_s_and_s_plus_1_share_no_stream(monkeypatch, module_name, builder, run_name, config):
    import importlib

    module = importlib.import_module(module_name)
    config_class, fields = config
    assert_runs_share_no_stream(monkeypatch, module, builder, getattr(module, run_name),
                                getattr(module, config_class)(**fields))


def test_softmax_regression_runs_s_and_s_plus_1_share_no_stream(monkeypatch):
    from deepref import nn
    from deepref.backend import to_numpy
    from deepref.optimization import experiments as optim_experiments

    seen, fit = [], optim_experiments.fit

    def recording_fit(model, *args, **kwargs):
        seen.append((kwargs["seed"], to_numpy(model.layers[0].weight.data).copy()))
        return fit(model, *args, **kwargs)

    monkeypatch.setattr(optim_experiments, "fit", recording_fit)
    for seed in (0, 1):
        optim_experiments.softmax_regression_run(optim_experiments.SoftmaxRegressionConfig(epochs=1), seed)
    (order0, weights0), (order1, weights1) = seen
    assert len({0, 1, order0, order1}) == 4 and not np.allclose(weights0, weights1)
    for order in (order0, order1):  # the batch order's stream initialises neither run's weights
        drawn = to_numpy(nn.Linear(64, 10, seed=order, dtype="float32").weight.data)
        assert not np.allclose(drawn, weights0) and not np.allclose(drawn, weights1)


def test_iqm_and_bootstrap_intervals():
    assert experiments.iqm([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert experiments.iqm(np.arange(8.0)) == np.mean(np.arange(2.0, 6.0))
    np.testing.assert_allclose(experiments.iqm([[1.0, 2.0, 3.0, 100.0]] * 2), [2.5, 2.5])
    scores = np.random.default_rng(0).normal(size=10)
    low, high = experiments.bootstrap_ci(scores)
    assert low < experiments.iqm(scores) < high
    low, high = experiments.bootstrap_ci(scores, np.mean, level=0.9)
    assert low < scores.mean() < high
    assert experiments.bootstrap_ci(scores, np.mean) == experiments.bootstrap_ci(scores, np.mean)  # seeded
    with pytest.raises(ValueError, match="level"):
        experiments.bootstrap_ci(scores, level=1.0)


def test_recorded_results_read_a_sweep_back_by_config_and_seed(tmp_path):
    configs = [{"n": 3}, {"n": 5}]
    runs = experiments.grid("demo", "deepref.experiments:demo_experiment", configs, seeds=[0, 1, 2])
    out = tmp_path / "demo"  # reproduce writes each experiment's sweep to <folder>/<name>
    experiments.run_sweep(runs, out, executor=experiments.SerialExecutor(), progress=False)
    expected = [experiments.demo_experiment({"n": 5}, seed) for seed in (2, 0)]
    got = experiments.recorded_results(tmp_path, "demo", {"n": 5}, [2, 0])
    assert got == expected  # in the order of the seeds asked for
    np.testing.assert_array_equal(experiments.column(got, "mean"), [e["mean"] for e in expected])
    with pytest.raises(ValueError, match=r"for seeds \[7\]"):
        experiments.recorded_results(tmp_path, "demo", {"n": 5}, [0, 7])
    with pytest.raises(ValueError, match=r"for seeds \[0\]"):
        experiments.recorded_results(tmp_path, "demo", {"n": 4}, [0])
