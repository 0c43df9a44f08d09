"""The prepared GPU check, exercised without a GPU.

The check runs on a machine that has CuPy, PyTorch, pytest, matplotlib, SciPy
and scikit-learn but no IPython, Jupyter or Sphinx, plus the wheels
``scripts/gpu_wheels.sh`` brings (``gpu_check.GPU_MACHINE_PACKAGES``,
``gpu_check.WHEELS``). These tests run its paths here, on NumPy, in
subprocesses where every module of any other distribution fails to import (a
meta-path finder, :data:`HIDE`), so that an import the GPU machine cannot
satisfy shows up here and not when a GPU is finally lent.
"""

import ast
import importlib.metadata
import importlib.util
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

HIDE = '''
import importlib.abc, importlib.metadata, re, sys
_ALLOWED = {ALLOWED!r}
_DISTRIBUTIONS = importlib.metadata.packages_distributions()

def _normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()

class _GPUMachine(importlib.abc.MetaPathFinder):
    """Fail the import of any module whose distribution the GPU machine lacks."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        owners = _DISTRIBUTIONS.get(top)
        if owners and not any(_normal(owner) in _ALLOWED for owner in owners):
            raise ModuleNotFoundError(f"{{fullname}} ({{owners[0]}}) is not on the GPU machine", name=fullname)
        return None

sys.meta_path.insert(0, _GPUMachine())
'''
"""Source of a module that makes this Python look like the GPU machine's ({ALLOWED}: distributions there)."""


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed(gpu_check) -> set[str]:
    wheels = {w.partition("==")[0] for w in gpu_check.WHEELS}
    return {_normal(name) for name in gpu_check.GPU_MACHINE_PACKAGES | wheels | {"deepref"}}


@pytest.fixture(scope="module")
def gpu_check():
    return _load()


@pytest.fixture(scope="module")
def as_on_the_gpu_machine(gpu_check, tmp_path_factory):
    """A command prefix: ``python -c`` code that hides what the GPU machine lacks, then runs ``{code}``."""
    folder = tmp_path_factory.mktemp("hide")
    (folder / "gpu_machine.py").write_text(HIDE.format(ALLOWED=sorted(_allowed(gpu_check))))

    def command(code: str) -> list[str]:
        return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(folder)!r}); import gpu_machine\n{code}"]

    return command


def _run(command, cwd, env=None, timeout=600):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def test_every_chapter_becomes_a_script_that_compiles(gpu_check):
    chapters = gpu_check.executable_chapters()
    assert chapters, "no executable chapter found"
    for path in chapters:
        script = gpu_check.chapter_script(path)
        assert "import" in script
        compile(script, str(path), "exec")


def test_the_hiding_works(as_on_the_gpu_machine):
    code = "import IPython"
    status, output = _run(as_on_the_gpu_machine(code), ROOT)
    if importlib.util.find_spec("IPython") is None:
        pytest.skip("IPython is not installed here: nothing to hide")
    assert status != 0 and "is not on the GPU machine" in output


def _imports(script: str) -> list[str]:
    """Every import statement of ``script`` (at any depth), as source lines."""
    return sorted({ast.unparse(node) for node in ast.walk(ast.parse(script))
                   if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)})


def test_every_chapters_imports_resolve_with_the_gpu_machines_packages(gpu_check, as_on_the_gpu_machine):
    pytest.importorskip("matplotlib", reason="the chapters need the book's packages: pip install -e '.[book]'")
    statements = sorted({line for path in gpu_check.executable_chapters()
                         for line in _imports(gpu_check.chapter_script(path))})
    code = gpu_check.PRELUDE + "\n".join(f"{line}  # noqa" for line in statements) + "\nprint('imported')"
    status, output = _run(as_on_the_gpu_machine(code), ROOT / "book", env=gpu_check.backend_env("numpy"))
    assert status == 0 and "imported" in output, output[-3000:]


def test_the_intro_chapter_runs_as_a_script_with_the_gpu_machines_packages(gpu_check, as_on_the_gpu_machine,
                                                                               tmp_path):
    pytest.importorskip("matplotlib", reason="the chapters need the book's packages: pip install -e '.[book]'")
    script = tmp_path / "intro.py"
    script.write_text(gpu_check.chapter_script(gpu_check.BOOK / "intro.md"))
    code = f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    status, output = _run(as_on_the_gpu_machine(code), gpu_check.BOOK, env=gpu_check.backend_env("numpy"))
    assert status == 0, output[-3000:]


DATA_LOADS = """
from deepref import data
from deepref.lm import corpus
from sklearn.datasets import load_sample_images
import gymnasium
data.load_iris(), data.load_digits(), load_sample_images()
corpus.load_ptb("valid"), corpus.load_movie_reviews(), corpus.load_python_docs()
gymnasium.make("CartPole-v1").reset(seed=0)
print("loaded")
"""
"""Every data set the chapters read (sklearn's, the Penn Treebank, the movie reviews, Python's docs, CartPole)."""


def test_the_chapters_data_load_with_the_gpu_machines_packages(as_on_the_gpu_machine):
    status, output = _run(as_on_the_gpu_machine(DATA_LOADS), ROOT)
    assert status == 0 and "loaded" in output, output[-3000:]


def test_the_unit_suite_collects_with_the_gpu_machines_packages(gpu_check, as_on_the_gpu_machine):
    ignored = [f"--ignore=tests/{name}" for name in gpu_check.BOOK_TESTS]
    for name in gpu_check.BOOK_TESTS:
        assert (ROOT / "tests" / name).exists(), f"{name} is gone: drop it from gpu_check.BOOK_TESTS"
    arguments = ["tests", "--collect-only", "-q", "-p", "no:cacheprovider", *ignored]
    code = f"import pytest; sys.exit(pytest.main({arguments!r}))"
    status, output = _run(as_on_the_gpu_machine(code), ROOT, env=gpu_check.backend_env("numpy"))
    assert status == 0, output[-3000:]


def _requirements(distribution: str) -> list[str]:
    """The distributions ``distribution`` (installed here) needs on Python 3.12 / Linux, extras left out."""
    from packaging.requirements import Requirement

    environment = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
    needed = []
    for line in importlib.metadata.requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            needed.append(requirement.name)
    return needed


def test_the_wheels_bring_what_they_need(gpu_check):
    script = (ROOT / "scripts" / "gpu_wheels.sh").read_text()
    assert "gpu_check.py --list-wheels" in script, "gpu_wheels.sh must download gpu_check.WHEELS"
    allowed = _allowed(gpu_check)
    for wheel in gpu_check.WHEELS:
        name = wheel.partition("==")[0]
        if name in gpu_check.DATA_ONLY:
            continue
        try:
            needed = _requirements(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: its imports are not tested either
        missing = [n for n in needed if _normal(n) not in allowed]
        assert not missing, f"{name} needs {missing}, which neither the GPU machine nor gpu_check.WHEELS has"


def test_packages_found_by_path_are_on_the_gpu_machine_too(gpu_check):
    """A package deepref looks up without importing it (``find_spec``: data read by path) must be there as well."""
    looked_up = {name for path in (ROOT / "src").rglob("*.py")
                 for name in re.findall(r"find_spec\(\s*[\"']([\w.]+)[\"']", path.read_text())}
    assert "scattertext" in looked_up
    distributions = importlib.metadata.packages_distributions()
    allowed = _allowed(gpu_check)
    for name in looked_up:
        owners = distributions.get(name.partition(".")[0], [name])
        assert any(_normal(owner) in allowed for owner in owners), f"{name} is neither on the GPU machine nor a wheel"


def test_without_a_gpu_the_check_skips_with_the_reason(gpu_check, tmp_path):
    available, reason = gpu_check.gpu_status()
    if available:
        pytest.skip("a GPU is visible: the skip path does not apply")
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    report = (tmp_path / "gpu_report.md").read_text()
    assert reason in report


def test_the_report_lists_each_chapters_gpu_time_beside_its_cpu_time(gpu_check, tmp_path):
    report = {"when": "now", "gpu": "a GPU", "budget": 540, "used": 300,
              "bench": {"exit": 0, "seconds": 40.0, "output": "| GPU LSTM fwd+bwd | ... |"},
              "chapters": [{"chapter": "intro", "exit": 0, "seconds": 2.0, "error": "", "cpu_seconds": 4.0},
                           {"chapter": "rnn", "exit": 124, "seconds": 150.0, "error": "[timed out]",
                            "cpu_seconds": 33.0},
                           {"chapter": "stn", "exit": None, "seconds": 0.0, "error": "not run", "cpu_seconds": None}]}
    text = gpu_check.write_report(tmp_path, report).read_text()
    assert "| intro | ok | 2.0 | 4.0 | 0.50 |" in text
    assert "| rnn | timed out | 150.0 | 33.0 |  |" in text
    assert "| stn | not run |" in text
    assert "GPU LSTM fwd+bwd" in text


def test_the_cpu_times_come_from_the_recorded_benchmark_run(gpu_check):
    times = gpu_check.cpu_chapter_seconds()
    if not times:
        pytest.skip("benchmarks/results/latest.json lists no chapter times (a run without the book's cache)")
    assert set(times) <= {gpu_check.page_name(path).split("/")[0] for path in gpu_check.executable_chapters()}
    assert all(isinstance(seconds, (int, float)) and seconds > 0 for seconds in times.values())


# --- no host synchronisation inside the training loop ----------------------------------------------


def _host_reads_in_one_epoch(monkeypatch, batches: int, clip_norm=None) -> int:
    """How often a training epoch of ``batches`` steps reads an array back to the host.

    Run on array-api-strict, which stands in for a GPU here: every conversion
    of one of its arrays to a Python number or a NumPy array is counted, and
    value checks are switched off as on a GPU (``DEEPREF_CHECK_VALUES=0``:
    :func:`deepref.validation.reads_values`).
    """
    pytest.importorskip("array_api_strict")
    from array_api_strict._array_object import Array

    from deepref import backend, nn, optim
    from deepref.train import fit

    reads = [0]
    def counting(original):
        def read(self, *args, **kwargs):
            reads[0] += 1
            return original(self, *args, **kwargs)

        return read

    for name in ("__float__", "__int__", "__bool__", "__index__", "__complex__", "__array__", "__dlpack__"):
        monkeypatch.setattr(Array, name, counting(getattr(Array, name)))
    monkeypatch.setenv("DEEPREF_CHECK_VALUES", "0")
    rng = np.random.default_rng(0)
    with backend.use_backend("array_api_strict"):
        model = nn.Sequential(nn.Linear(4, 8, seed=0), nn.ReLU(), nn.Linear(8, 3, seed=1))
        x = backend.asarray(rng.normal(size=(16 * batches, 4)))
        y = backend.asarray(rng.integers(0, 3, size=16 * batches))
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        reads[0] = 0
        fit(model, nn.SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, batch_size=16, clip_norm=clip_norm)
    return reads[0]


def test_a_training_epoch_reads_back_to_the_host_a_fixed_number_of_times(monkeypatch):
    """Loss and accuracy stay on the device until the epoch ends: the reads do not grow with the steps."""
    few, many = _host_reads_in_one_epoch(monkeypatch, 4), _host_reads_in_one_epoch(monkeypatch, 16)
    assert few == many <= 4, f"{few} reads in 4 steps, {many} in 16"


def test_clipping_reads_the_global_norm_back_once_per_step(monkeypatch):
    few = _host_reads_in_one_epoch(monkeypatch, 4, clip_norm=1.0)
    many = _host_reads_in_one_epoch(monkeypatch, 16, clip_norm=1.0)
    assert many - few == 12, f"{few} reads in 4 steps, {many} in 16"


def test_the_check_runs_chapters_and_reports_them_as_on_a_gpu(gpu_check, monkeypatch, tmp_path):
    """The orchestration, with the GPU faked and the intro chapter run on NumPy."""
    pytest.importorskip("matplotlib", reason="the chapters need the book's packages: pip install -e '.[book]'")
    monkeypatch.setattr(gpu_check, "gpu_status", lambda: (True, "a GPU (faked)"))
    monkeypatch.setattr(gpu_check, "backend_env", lambda name="cupy": gpu_check.os.environ | {
        "DEEPREF_BACKEND": "numpy", "PYTHONPATH": str(ROOT / "src")})
    monkeypatch.setattr(gpu_check, "executable_chapters", lambda: [gpu_check.BOOK / "intro.md"])
    arguments = ["--out", str(tmp_path), "--skip", "unit", "bench", "--budget", "120", "--profile", "intro"]
    assert gpu_check.main(arguments) == 0
    report = (tmp_path / "gpu_report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| intro |"))
    assert row.startswith("| intro | ok |")
    assert (tmp_path / "scripts" / "chapter_intro.py").exists()
    assert "### Profile of intro" in report and "tottime" in report
