"""scripts/check_outputs.py: the book build fails on raw reprs and stderr in cell outputs."""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import check_outputs  # noqa: E402


def _notebook(*outputs) -> dict:
    return {"cells": [{"cell_type": "code", "source": "", "outputs": list(outputs)}]}


def _result(text: str, **more) -> dict:
    return {"output_type": "execute_result", "data": {"text/plain": text, **more}}


def test_raw_reprs_are_found():
    cases = ["<torch._C.Generator at 0x7f6680305390>", "<deepref.nn.Linear object at 0xABC12>",
             "loss np.float64(0.25)", "array([1., 2.])", "Array([1., 2.], dtype=float64)"]
    for text in cases:
        problems = check_outputs.problems_in_notebook(_notebook(_result(text)))
        assert len(problems) == 1 and "raw repr" in problems[0], text
    printed = {"output_type": "stream", "name": "stdout", "text": ["weights ", "np.float32(1.5)\n"]}
    assert check_outputs.problems_in_notebook(_notebook(printed))


def test_readable_output_passes():
    table = _result("<IPython.core.display.Markdown object>", **{"text/markdown": "| a | b |"})
    printed = {"output_type": "stream", "name": "stdout", "text": "test accuracy: 0.973\n"}
    assert check_outputs.problems_in_notebook(_notebook(table, printed, _result("0.973"))) == []


def test_stderr_is_found_unless_allowed():
    warning = {"output_type": "stream", "name": "stderr", "text": "'created' timestamp seems very low\n"}
    assert "stderr" in check_outputs.problems_in_notebook(_notebook(warning))[0]
    assert check_outputs.problems_in_notebook(_notebook(warning), stderr=False) == []


def test_the_command_reports_each_page_and_fails(tmp_path, capsys):
    (tmp_path / "chapter").mkdir()
    (tmp_path / "chapter" / "section.ipynb").write_text(json.dumps(_notebook(_result("array([0])"))))
    (tmp_path / "clean.ipynb").write_text(json.dumps(_notebook(_result("1.5"))))
    assert check_outputs.main([str(tmp_path)]) == 1
    assert "chapter/section.ipynb: cell 0: raw repr" in capsys.readouterr().out
    (tmp_path / "chapter" / "section.ipynb").unlink()
    assert check_outputs.main([str(tmp_path)]) == 0
    assert check_outputs.main([str(tmp_path / "missing")]) == 1
