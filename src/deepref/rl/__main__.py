"""Command line: ``python -m deepref.rl train ALGORITHM ...`` and ``python -m deepref.rl evaluate POLICY ...``.

Examples::

    python -m deepref.rl train dqn --env CartPole-v1 --seed 0 --out policy.npz
    python -m deepref.rl evaluate policy.npz --env CartPole-v1 --episodes 100
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .dqn import DQNConfig, train_dqn
from .pg import ALGORITHMS, pg_config, train_pg
from .policy import evaluate_policy, load_policy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deepref.rl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a policy and save it as .npz")
    train.add_argument("algorithm", choices=("dqn", *ALGORITHMS))
    train.add_argument("--env", default="CartPole-v1", help="Gymnasium id with discrete actions")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--steps", type=int, default=None, help="environment steps (default: the config's)")
    train.add_argument("--target", type=float, default=None,
                       help="stop once a 100-episode evaluation reaches this mean return (e.g. 475)")
    train.add_argument("--eval-every", type=int, default=None, help="evaluate every this many steps")
    train.add_argument("--out", default="policy.npz")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    evaluate = commands.add_parser("evaluate", help="evaluate a saved policy on the Gymnasium environment")
    evaluate.add_argument("policy")
    evaluate.add_argument("--env", default="CartPole-v1")
    evaluate.add_argument("--episodes", type=int, default=100)
    evaluate.add_argument("--seed", type=int, default=0)
    return parser


def _progress_bar(total: int, enabled: bool):
    """A tqdm bar advanced to the current step, showing the recent mean episodic return."""
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def update(env_steps: int, recent_return: float) -> None:
        bar.update(min(env_steps, total) - bar.n)
        bar.set_postfix(ret=f"{recent_return:.1f}", refresh=False)

    return bar, update


def train(args) -> None:
    overrides = {"env_id": args.env, "seed": args.seed}
    if args.steps is not None:
        overrides["total_steps"] = args.steps
    if args.target is not None:
        overrides.update(target_return=args.target, eval_every=args.eval_every or 2000)
    elif args.eval_every is not None:
        overrides["eval_every"] = args.eval_every
    config = DQNConfig(**overrides) if args.algorithm == "dqn" else pg_config(args.algorithm, **overrides)
    bar, progress = _progress_bar(config.total_steps, not args.no_progress)
    try:
        result = (train_dqn if args.algorithm == "dqn" else train_pg)(config, progress)
    finally:
        if bar is not None:
            bar.close()
    result.policy.save(args.out)
    solved = f", reached {config.target_return} at {result.solved_at} steps" if result.solved_at else ""
    print(f"trained {args.algorithm} on {args.env} for {result.env_steps} environment steps in "
          f"{result.seconds:.1f} s{solved}; saved {args.out}")


def evaluate(args) -> None:
    policy = load_policy(args.policy)
    returns = evaluate_policy(policy, args.env, args.episodes, args.seed)
    print(f"{args.env}: mean return {np.mean(returns):.2f} +- {np.std(returns):.2f} over {args.episodes} episodes")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    (train if args.command == "train" else evaluate)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
