"""Command line: ``python -m deepref.rl train ALGORITHM ...`` and ``python -m deepref.rl evaluate POLICY ...``.

Examples::

    python -m deepref.rl train dqn --seed 0 --out dqn.npz
    python -m deepref.rl evaluate dqn.npz --episodes 100

Exit status: 0 when training reached its target (or had none), 1 when it
did not or diverged, 2 on bad input (one line on stderr), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .dqn import DQNConfig, train_dqn
from .pg import ALGORITHMS, pg_config, train_pg
from .policy import evaluate_policy, load_policy

PROG = "python -m deepref.rl"
EVAL_EVERY = 2_000
"""Environment steps between two evaluations of the greedy policy (the command's default)."""


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it is none or a flag's False."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    defaults = _Defaults
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0], formatter_class=defaults)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train", formatter_class=defaults, help="train a policy and save it as .npz",
        description="Train a policy, evaluating its greedy policy every --eval-every steps on Gymnasium, and "
                    "save the best evaluated policy (the latest one after Ctrl-C). Training stops once an "
                    "evaluation reaches --target; the exit status is 1 if it never does.")
    train.add_argument("algorithm", choices=("dqn", *ALGORITHMS), help="the learner")
    train.add_argument("--env", default="CartPole-v1", help="Gymnasium id with discrete actions")
    train.add_argument("--seed", type=int, default=0, help="seed of every random stream of the run")
    train.add_argument("--steps", type=int, default=100_000, help="largest number of environment steps")
    train.add_argument("--target", type=float, default=None,
                       help="stop once the mean return over --eval-episodes reaches this "
                            "(default: the environment's reward threshold, 475 for CartPole-v1)")
    train.add_argument("--no-target", action="store_true", help="train for all --steps whatever the return")
    train.add_argument("--eval-every", type=int, default=EVAL_EVERY, help="evaluate every this many steps")
    train.add_argument("--eval-episodes", type=int, default=100, help="episodes of a full evaluation")
    train.add_argument("--out", default="policy.npz", help="where to save the policy")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (one is shown only on a terminal)")
    evaluate = commands.add_parser("evaluate", formatter_class=defaults,
                                   help="evaluate a saved policy's greedy actions on Gymnasium")
    evaluate.add_argument("policy", help="a .npz file written by train")
    evaluate.add_argument("--env", default=None, help="Gymnasium id (default: the one the policy was trained on)")
    evaluate.add_argument("--episodes", type=int, default=100)
    evaluate.add_argument("--seed", type=int, default=0, help="episode i is reset with seed SEED + i")
    return parser


def reward_threshold(env_id: str) -> float | None:
    """Gymnasium's ``reward_threshold`` of ``env_id`` (None if it has none); ValueError if unknown."""
    import gymnasium as gym

    try:
        return gym.spec(env_id).reward_threshold
    except gym.error.Error as err:
        raise ValueError(f"unknown Gymnasium environment {env_id!r} ({err})") from None


def train_config(algorithm: str, env_id: str = "CartPole-v1", steps: int = 100_000, target: float | None = None,
                 eval_every: int = EVAL_EVERY, eval_episodes: int = 100, stop: bool = True):
    """The config ``train`` runs: evaluation every ``eval_every`` steps, stopped at ``target``.

    ``target=None`` takes the environment's reward threshold; ``stop=False``
    trains for all ``steps`` (the best evaluated policy is kept either way).
    """
    goal = (target if target is not None else reward_threshold(env_id)) if stop else None
    options = dict(env_id=env_id, total_steps=steps, eval_every=eval_every, eval_episodes=eval_episodes,
                   target_return=goal)
    return DQNConfig(**options) if algorithm == "dqn" else pg_config(algorithm, **options)


def _progress_bar(total: int, enabled: bool):
    """A tqdm bar of environment steps with the recent mean training return, on a terminal only."""
    if not enabled:
        return None, None
    try:
        from tqdm import tqdm
    except ImportError:
        if sys.stderr.isatty():
            print('no progress bar: tqdm is not installed (pip install -e ".[rl]")', file=sys.stderr)
        return None, None
    bar = tqdm(total=total, unit="step", dynamic_ncols=True, disable=None)

    def update(env_steps: int, recent_return: float) -> None:
        bar.update(min(env_steps, total) - bar.n)
        if not np.isnan(recent_return):
            bar.set_postfix(ret=f"{recent_return:.1f}", refresh=False)

    return bar, update


def train(args) -> int:
    config = train_config(args.algorithm, args.env, args.steps, args.target, args.eval_every, args.eval_episodes,
                          stop=not args.no_target)
    learn = train_dqn if args.algorithm == "dqn" else train_pg
    bar, progress = _progress_bar(config.total_steps, not args.no_progress)
    try:
        result = learn(config, args.seed, progress)
    finally:
        if bar is not None:
            if bar.n:
                bar.total = bar.n  # stopped early at the target: the bar ends full, not part-way
            bar.close()
    result.policy.save(args.out)
    done = f"trained {args.algorithm} on {args.env} for {result.env_steps} environment steps ({result.seconds:.0f} s)"
    if result.interrupted:
        print(f"{done}; interrupted: saved the latest policy to {args.out}")
        return 130
    best = "" if result.best_return is None else (
        f"; saved the best evaluated policy (mean return {result.best_return:.1f}) to {args.out}")
    if config.target_return is None:
        print(done + (best or f"; saved the last policy to {args.out}"))
        return 0
    if result.solved_at is not None:
        print(f"{done}; reached the target {config.target_return:g} at {result.solved_at} steps{best}")
        return 0
    print(f"{done}; target {config.target_return:g} not reached{best}")
    return 1


def evaluate(args) -> int:
    policy = load_policy(args.policy)
    env_id = args.env or policy.env_id
    if not env_id:
        raise ValueError(f"{args.policy} does not record its environment: pass --env")
    returns = evaluate_policy(policy, env_id, args.episodes, args.seed)
    print(f"{env_id}: mean return {np.mean(returns):.2f} +- {np.std(returns):.2f} over {args.episodes} episodes")
    return 0


def _gymnasium_errors() -> tuple:
    """Gymnasium's error class (an unknown or broken environment), if Gymnasium is installed."""
    try:
        import gymnasium
    except ImportError:
        return ()
    return (gymnasium.error.Error,)


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        return (train if args.command == "train" else evaluate)(args)
    except ImportError as err:
        print(f'{PROG}: error: {err} (pip install -e ".[rl]")', file=sys.stderr)
        return 2
    except (ValueError, OSError, *_gymnasium_errors()) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
