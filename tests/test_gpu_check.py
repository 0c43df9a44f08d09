"""The prepared GPU check: chapters cut into scripts that compile, and a clean skip without a GPU."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chapter_becomes_a_script_that_compiles():
    gpu_check = _load()
    chapters = gpu_check.executable_chapters()
    assert chapters, "no executable chapter found"
    for path in chapters:
        script = gpu_check.chapter_script(path)
        assert "import" in script
        compile(script, str(path), "exec")


def test_without_a_gpu_the_check_skips_with_the_reason(tmp_path):
    gpu_check = _load()
    available, reason = gpu_check.gpu_status()
    if available:
        pytest.skip("a GPU is visible: the skip path does not apply")
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    report = (tmp_path / "gpu_report.md").read_text()
    assert reason in report
