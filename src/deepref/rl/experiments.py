"""The deep RL chapter's CartPole experiments, as functions of a config and a seed.

Each run trains a learner on CartPole-v1 and scores its greedy policy on
Gymnasium's environment. The chapter calls :func:`train_dqn_run` and
:func:`train_learner_run`, which return the :class:`~deepref.rl.TrainResult`
and the evaluation returns; :func:`dqn_run` and :func:`learner_run` turn the
same runs into plain records for ``python -m deepref reproduce deep_rl``.

>>> record = dqn_run(DQNRun(total_steps=400, learning_starts=200, hidden=(8,), eval_episodes=2), seed=0)
>>> record["env_steps"], len(record["eval_returns"])
(400, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_choice, check_count
from .dqn import DQNConfig, train_dqn
from .pg import ALGORITHMS, pg_config, train_pg
from .policy import evaluate_policy
from .training import TrainResult

ENV_ID = "CartPole-v1"
LEARNERS = ("dqn", *ALGORITHMS)
"""The learners :class:`LearnerRun` can train."""


@dataclass(frozen=True)
class DQNRun:
    """A DQN run on CartPole-v1 and the evaluation of its greedy policy.

    The defaults are the chapter's budget (12 000 environment steps, a small
    network, one update per vector step); :data:`DQN_SOLVE` is the run that
    trains until a 100-episode evaluation reaches the solved threshold. The
    fields from ``total_steps`` to ``target_return`` are those of
    :class:`~deepref.rl.DQNConfig`; the greedy policy kept at the end is scored
    on ``eval_episodes`` Gymnasium episodes seeded from ``eval_seed``.
    """

    total_steps: int = 12_000
    hidden: tuple = (64, 64)
    updates_per_step: int = 1
    learning_starts: int = 500
    eps_fraction: float = 0.3
    tau: float | None = 0.005
    target_network: bool = True
    replay: bool = True
    eval_every: int | None = None
    target_return: float | None = None
    eval_episodes: int = 20
    eval_seed: int = 1000

    def dqn_config(self, seed: int) -> DQNConfig:
        """The :class:`~deepref.rl.DQNConfig` of this run with ``seed``."""
        return DQNConfig(
            env_id=ENV_ID, total_steps=self.total_steps, hidden=tuple(self.hidden),
            updates_per_step=self.updates_per_step, learning_starts=self.learning_starts,
            eps_fraction=self.eps_fraction, tau=self.tau, target_network=self.target_network,
            replay=self.replay, eval_every=self.eval_every, target_return=self.target_return,
            seed=seed,
        )


DQN_SOLVE = DQNRun(total_steps=100_000, hidden=(128, 128), updates_per_step=2, learning_starts=1_000,
                   eps_fraction=0.06, eval_every=2_000, target_return=475.0, eval_episodes=100, eval_seed=0)
"""The command line's DQN (``python -m deepref.rl train dqn --target 475``), capped at 100 000 steps.

Exploration falls over the first 6 000 steps, as with the command's default
60 000-step budget, so a run that solves within 60 000 steps is the same run.
"""


@dataclass(frozen=True)
class LearnerRun:
    """One learner (``"dqn"``, ``"reinforce"``, ``"a2c"`` or ``"ppo"``) trained for ``total_steps``.

    DQN uses :class:`DQNRun`'s defaults, the policy-gradient learners
    :func:`~deepref.rl.pg_config`'s; the greedy policy is scored on
    ``eval_episodes`` Gymnasium episodes seeded from ``eval_seed``.
    """

    learner: str = "ppo"
    total_steps: int = 12_000
    eval_episodes: int = 20
    eval_seed: int = 1000


def train_dqn_run(config: DQNRun, seed: int) -> tuple[TrainResult, np.ndarray]:
    """Train DQN as ``config`` says; the result and the ``(eval_episodes,)`` evaluation returns."""
    check_count("eval_episodes", config.eval_episodes)
    result = train_dqn(config.dqn_config(seed))
    return result, evaluate_policy(result.policy, ENV_ID, config.eval_episodes, config.eval_seed)


def train_learner_run(config: LearnerRun, seed: int) -> tuple[TrainResult, np.ndarray]:
    """Train ``config.learner``; the result and the ``(eval_episodes,)`` evaluation returns."""
    check_choice("learner", config.learner, LEARNERS)
    if config.learner == "dqn":
        return train_dqn_run(DQNRun(total_steps=config.total_steps, eval_episodes=config.eval_episodes,
                                    eval_seed=config.eval_seed), seed)
    check_count("eval_episodes", config.eval_episodes)
    result = train_pg(pg_config(config.learner, env_id=ENV_ID, total_steps=config.total_steps, seed=seed))
    return result, evaluate_policy(result.policy, ENV_ID, config.eval_episodes, config.eval_seed)


def run_record(result: TrainResult, eval_returns) -> dict:
    """A run as plain values: its training curve, its evaluation and its cost.

    Returns
    -------
    dict
        ``episode_returns`` and ``episode_steps`` (lists, one entry per
        finished training episode: its return and the environment steps when
        it ended), ``episodes``, ``env_steps``, ``solved_at`` (int or None),
        ``eval_returns`` (list), ``eval_mean``, ``eval_std`` and
        ``wall_seconds``.
    """
    eval_returns = np.asarray(eval_returns, dtype=float)
    return {
        "episode_returns": [float(r) for r in result.episode_returns],
        "episode_steps": [int(s) for s in result.episode_steps],
        "episodes": len(result.episode_returns),
        "env_steps": int(result.env_steps),
        "solved_at": None if result.solved_at is None else int(result.solved_at),
        "eval_returns": eval_returns.tolist(),
        "eval_mean": float(eval_returns.mean()),
        "eval_std": float(eval_returns.std()),
        "wall_seconds": float(result.seconds),
    }


def dqn_run(config: DQNRun, seed: int) -> dict:
    """:func:`train_dqn_run` as a record (see :func:`run_record`)."""
    return run_record(*train_dqn_run(config, seed))


def learner_run(config: LearnerRun, seed: int) -> dict:
    """:func:`train_learner_run` as a record (see :func:`run_record`)."""
    return run_record(*train_learner_run(config, seed))
