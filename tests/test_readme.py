"""The README's Python blocks run as written, in order, in one namespace (as a reader pastes them)."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_readme_has_a_quickstart():
    assert BLOCKS, "README.md has no ```python block"
    assert "load_digits()" in BLOCKS[0] and "fit(" in BLOCKS[0] and "evaluate(" in BLOCKS[0]


def test_readme_python_blocks_run(on_numpy):
    pytest.importorskip("sklearn", reason="the quickstart's digits come with scikit-learn (the data extra)")
    namespace: dict = {"__name__": "__readme__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for number, block in enumerate(BLOCKS, 1):
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)  # noqa: S102
    output = printed.getvalue()
    accuracies = [float(v) for v in re.findall(r"test accuracy[^:]*: ([0-9.]+)", output)]
    assert accuracies, output[-500:]
    assert min(accuracies) >= 0.95  # the README says "about 0.97"
    assert "epoch 20/20" in output  # fit(verbose=True) showed its progress
