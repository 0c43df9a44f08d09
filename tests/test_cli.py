"""``python -m deepref``: help, listing, exit codes, one-line errors, reused runs and ``--fresh``."""

import re
import subprocess
import sys

import pytest

from deepref import reproduce
from deepref.__main__ import main

DEMO = "deepref.experiments:demo_experiment"


@pytest.fixture
def demo(monkeypatch):
    tiny = reproduce.Experiment("demo", DEMO, "demo", ({"n": 3},), (0, 1), ({"n": 3}, {"n": 5}), (0, 1),
                                metric="mean", cpu_seconds=0.0, full_cpu_seconds=0.0)
    monkeypatch.setitem(reproduce.CHAPTERS, "demo", (tiny,))


def test_help_names_the_rl_command_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0 and "python -m deepref.rl" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = capsys.readouterr().out
    assert "--fresh" in text and "--no-figures" in text and "rerun to resume" in text


def test_list_says_its_note_once_and_counts_in_words(capsys, demo):
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("divided by the workers") == 1
    assert not re.search(r"(?<![0-9])1 runs", listing)
    assert "book size: 2 runs" in listing  # the demo: one config, two seeds


@pytest.mark.parametrize(("argv", "message"), [
    (["reproduce"], "error: name a CHAPTER or pass --list"),
    (["reproduce", "nowhere"], "error: unknown chapter 'nowhere'"),
    (["reproduce", "optimization", "--experiment", "adam"], "error: unknown experiment 'adam'"),
    (["reproduce", "optimization", "--workers", "0", "--no-figures"], "error: workers must be a positive integer"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_a_bad_option_exits_2_in_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "deepref", "reproduce", "--no-such-option"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


def test_reused_runs_are_announced_and_fresh_runs_them_again(capsys, tmp_path, demo):
    out = str(tmp_path / "out")
    assert main(["reproduce", "demo", "--out", out, "--no-figures", "--no-progress", "--workers", "1"]) == 0
    first = capsys.readouterr()
    assert "NOTE" not in first.err and "2 runs (2 now, 0 resumed" in first.out
    assert not (tmp_path / "out" / "demo" / "demo.png").exists()  # --no-figures
    assert main(["reproduce", "demo", "--out", out, "--no-figures", "--no-progress"]) == 0
    second = capsys.readouterr()
    assert "NOTE" in second.err and "demo: 2" in second.err and "--fresh" in second.err
    assert "(0 now, 2 resumed" in second.out
    assert main(["reproduce", "demo", "--out", out, "--no-figures", "--no-progress", "--fresh", "--workers", "1"]) == 0
    third = capsys.readouterr()
    assert "NOTE" not in third.err and "(2 now, 0 resumed" in third.out


def test_ctrl_c_says_rerun_to_resume(capsys, tmp_path, demo, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "reproduce", interrupted)
    assert main(["reproduce", "demo", "--out", str(tmp_path), "--no-figures"]) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
