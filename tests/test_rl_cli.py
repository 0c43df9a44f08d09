"""``python -m deepref.rl``: exit codes, one-line errors, the saved policy, progress bars (tiny step counts)."""

import subprocess
import sys

import pytest

from deepref import rl
from deepref.rl import __main__ as cli

pytest.importorskip("gymnasium")

TINY = ["--steps", "256", "--eval-every", "128", "--eval-episodes", "2", "--no-progress"]


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["train", "dqn", "--env", "NoSuchEnv-v0"], "unknown Gymnasium environment 'NoSuchEnv-v0'"),
    (["train", "dqn", "--env", "NoSuchEnv-v0", "--no-target"], "NoSuchEnv"),
    (["train", "ppo", "--env", "Pendulum-v1", "--no-target"], "discrete action space"),
    (["train", "dqn", "--steps", "0"], "total_steps must be an integer >= 1"),
    (["evaluate", "no-such-policy.npz"], "No such file"),
])
def test_bad_input_is_one_line_with_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("python -m deepref.rl: error: ") and message in err


def test_bad_input_gives_no_traceback_from_the_shell(tmp_path):
    result = subprocess.run([sys.executable, "-m", "deepref.rl", "evaluate", str(tmp_path / "missing.npz")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_a_missed_target_exits_1_and_says_so(capsys, tmp_path):
    out_file = tmp_path / "p.npz"
    code, out, _ = _run(capsys, "train", "reinforce", *TINY, "--target", "500", "--out", str(out_file))
    assert code == 1 and "target 500 not reached" in out and "best evaluated policy" in out
    assert out_file.exists()


def test_a_reached_target_exits_0_and_the_policy_records_its_environment(capsys, tmp_path):
    out_file = tmp_path / "p.npz"
    code, out, _ = _run(capsys, "train", "a2c", *TINY, "--target", "1", "--out", str(out_file))
    assert code == 0 and "reached the target 1 at 128 steps" in out
    assert rl.load_policy(out_file).env_id == "CartPole-v1"
    code, out, _ = _run(capsys, "evaluate", str(out_file), "--episodes", "2")
    assert code == 0 and out.startswith("CartPole-v1: mean return")


def test_evaluate_needs_an_environment_for_an_old_policy_file(capsys, tmp_path):
    path = tmp_path / "old.npz"
    rl.Policy(rl.mlp([4, 8, 2]), [4, 8, 2]).save(path)
    code, _, err = _run(capsys, "evaluate", str(path), "--episodes", "1")
    assert code == 2 and "pass --env" in err
    code, out, _ = _run(capsys, "evaluate", str(path), "--episodes", "1", "--env", "CartPole-v1")
    assert code == 0


def test_ctrl_c_saves_the_latest_policy_and_says_so(capsys, tmp_path, monkeypatch):
    def interrupting(total, enabled):
        def progress(env_steps, recent):
            raise KeyboardInterrupt
        return None, progress

    monkeypatch.setattr(cli, "_progress_bar", interrupting)
    out_file = tmp_path / "p.npz"
    code, out, _ = _run(capsys, "train", "dqn", *TINY, "--out", str(out_file))
    assert code == 130 and "interrupted: saved the latest policy" in out and out_file.exists()


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for default in ("(default: CartPole-v1)", "(default: 100000)", "(default: 2000)", "(default: 0)",
                    "best evaluated policy"):
        assert default in " ".join(out.split()), default


class _Bar:
    """A stand-in for tqdm that records what the bar would show."""

    def __init__(self, total, disable, **kwargs):
        self.total, self.disable, self.n, self.postfix = total, disable, 0, {}

    def update(self, k):
        self.n += k

    def set_postfix(self, refresh=True, **values):
        self.postfix = values


def test_progress_bar_counts_steps_shows_no_nan_and_only_on_a_terminal(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", type(sys)("tqdm"))
    sys.modules["tqdm"].tqdm = _Bar
    bar, update = cli._progress_bar(100, True)
    assert bar.disable is None  # tqdm's "only on a terminal"
    update(40, float("nan"))  # no episode finished yet
    assert bar.n == 40 and bar.postfix == {}
    update(120, 21.5)
    assert bar.n == 100 and bar.postfix == {"ret": "21.5"}
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert cli._progress_bar(100, True) == (None, None)


def test_the_default_run_is_the_recorded_solving_run():
    from deepref.rl.experiments import DQN_SOLVE

    assert cli.train_config("dqn") == DQN_SOLVE.dqn
