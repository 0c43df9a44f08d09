"""The deep RL chapter's CartPole experiments, as functions of a config and a seed.

Each run trains a learner on CartPole-v1 and scores its greedy policy on
held-out Gymnasium episodes (seeds ``EVAL_SEED + i``, which no evaluation
during training plays). The chapter calls :func:`train_dqn_run` and
:func:`train_learner_run`, which return the :class:`~deepref.rl.TrainResult`
and the evaluation returns; :func:`dqn_run` and :func:`learner_run` turn the
same runs into plain records for ``python -m deepref reproduce deep_rl``.
:func:`score_summary` and :func:`paired_difference_ci` summarise scores over
seeds as Agarwal et al. (2021) recommend, with :func:`deepref.experiments.iqm`
and :func:`deepref.experiments.bootstrap_ci`.

>>> tiny = DQNConfig(total_steps=400, learning_starts=200, hidden=(8,))
>>> record = dqn_run(DQNRunConfig(tiny, eval_episodes=2), seed=0)
>>> record["env_steps"], len(record["eval_returns"])
(400, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..backend import get_namespace
from ..experiments import bootstrap_ci, iqm
from ..validation import check_choice, check_count
from .dqn import DQNConfig, train_dqn
from .envs import CartPoleVec
from .pg import ALGORITHMS, pg_config, train_pg
from .policy import evaluate_policy
from .training import TrainResult

ENV_ID = "CartPole-v1"
LEARNERS = ("dqn", *ALGORITHMS)
"""The learners :class:`LearnerConfig` can train."""

EVAL_SEED = 2**32
"""First seed of the held-out evaluation episodes (training evaluations use seeds below 2**31 + 100)."""

BOOK_DQN = DQNConfig(total_steps=12_000, hidden=(64, 64), updates_per_step=1, learning_starts=500, eps_steps=3_600)
"""The chapter's DQN: 12 000 environment steps, a small network, one update per vector step."""

DQN_VARIANTS = {
    "DQN": BOOK_DQN,
    "no target network": replace(BOOK_DQN, target_network=False),
    "no replay": replace(BOOK_DQN, replay=False),
}
"""The chapter's DQN ablation: each stabiliser removed in turn."""

NO_TARGET_SLOW = replace(BOOK_DQN, target_network=False, lr=2.5e-4)
"""No target network, at the learning rate of Mnih et al. (2015) instead of the chapter's 1e-3."""


@dataclass(frozen=True)
class DQNRunConfig:
    """A DQN run (``dqn``) on CartPole-v1 and the evaluation of its greedy policy on ``eval_episodes``."""

    dqn: DQNConfig = BOOK_DQN
    eval_episodes: int = 20
    eval_seed: int = EVAL_SEED

    def __post_init__(self):
        if self.dqn.env_id != ENV_ID:
            raise ValueError(f"the chapter's runs are on {ENV_ID}, got env_id={self.dqn.env_id!r}")
        check_count("eval_episodes", self.eval_episodes)
        check_count("eval_seed", self.eval_seed, minimum=0)


DQN_SOLVE = DQNRunConfig(DQNConfig(eval_every=2_000, target_return=475.0), eval_episodes=100)
"""The command line's DQN (``python -m deepref.rl train dqn``): up to 100 000 steps, stopped at 475."""


@dataclass(frozen=True)
class LearnerConfig:
    """One learner (``"dqn"``, ``"reinforce"``, ``"a2c"`` or ``"ppo"``) trained for ``total_steps``.

    DQN is :data:`BOOK_DQN` with this budget, the policy-gradient learners
    :func:`~deepref.rl.pg_config`'s defaults; the greedy policy is scored on
    ``eval_episodes`` held-out episodes.
    """

    learner: str = "ppo"
    total_steps: int = 12_000
    eval_episodes: int = 20
    eval_seed: int = EVAL_SEED

    def __post_init__(self):
        check_choice("learner", self.learner, LEARNERS)
        check_count("total_steps", self.total_steps)
        check_count("eval_episodes", self.eval_episodes)
        check_count("eval_seed", self.eval_seed, minimum=0)


def train_dqn_run(config: DQNRunConfig, seed) -> tuple[TrainResult, np.ndarray]:
    """Train DQN as ``config`` says; the result and the ``(eval_episodes,)`` evaluation returns."""
    result = train_dqn(config.dqn, seed)
    return result, evaluate_policy(result.policy, ENV_ID, config.eval_episodes, config.eval_seed)


def train_learner_run(config: LearnerConfig, seed) -> tuple[TrainResult, np.ndarray]:
    """Train ``config.learner``; the result and the ``(eval_episodes,)`` evaluation returns."""
    if config.learner == "dqn":
        result = train_dqn(replace(BOOK_DQN, total_steps=config.total_steps), seed)
    else:
        result = train_pg(pg_config(config.learner, env_id=ENV_ID, total_steps=config.total_steps), seed)
    return result, evaluate_policy(result.policy, ENV_ID, config.eval_episodes, config.eval_seed)


def run_record(result: TrainResult, eval_returns) -> dict:
    """A run as plain values: its training curve, its evaluation and its cost.

    Returns
    -------
    dict
        ``episode_returns`` and ``episode_steps`` (lists, one entry per
        finished training episode: its return and the environment steps when
        it ended), ``episodes``, ``env_steps``, ``solved_at`` (int or None),
        ``evaluations`` (list of ``[steps, mean, episodes]`` during training),
        ``eval_returns`` (list), ``eval_mean``, ``eval_std`` and ``wall_seconds``.
    """
    eval_returns = np.asarray(eval_returns, dtype=float)
    return {
        "episode_returns": [float(r) for r in result.episode_returns],
        "episode_steps": [int(s) for s in result.episode_steps],
        "episodes": len(result.episode_returns),
        "env_steps": int(result.env_steps),
        "solved_at": None if result.solved_at is None else int(result.solved_at),
        "evaluations": [[int(s), float(m), int(n)] for s, m, n in result.evaluations],
        "eval_returns": eval_returns.tolist(),
        "eval_mean": float(eval_returns.mean()),
        "eval_std": float(eval_returns.std()),
        "wall_seconds": float(result.seconds),
    }


def start_value(q_net, states: int = 256, seed: int = EVAL_SEED) -> float:
    """Mean of ``max_a Q(s, a)`` over ``states`` CartPole start states (seeded by ``seed``).

    No discounted return of CartPole with ``gamma = 0.99`` exceeds
    ``1 / (1 - gamma) = 100``, so a larger value is an overestimate.
    """
    env = CartPoleVec(check_count("states", states))
    q = q_net.forward(env.reset(seed=seed))
    xp = get_namespace(q)
    return float(xp.mean(xp.max(q, axis=1)))


def dqn_run(config: DQNRunConfig, seed) -> dict:
    """:func:`train_dqn_run` as a record (see :func:`run_record`), with the :func:`start_value` of its Q-network."""
    result, eval_returns = train_dqn_run(config, seed)
    return {**run_record(result, eval_returns), "start_value": start_value(result.policy.net)}


def learner_run(config: LearnerConfig, seed) -> dict:
    """:func:`train_learner_run` as a record (see :func:`run_record`)."""
    return run_record(*train_learner_run(config, seed))


def binned_returns(records, budget: int, bins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Mean training-episode return per bin of environment steps, for each recorded run.

    Parameters
    ----------
    records : sequence of dict
        :func:`run_record` results (``episode_steps``, ``episode_returns``).
    budget : int
        Environment steps the bins cover, ``[0, budget]``.
    bins : int

    Returns
    -------
    curves : (len(records), bins) array
        NaN where no episode of a run ended in a bin.
    centres : (bins,) array
        The bins' centres, in environment steps.

    >>> run = {"episode_steps": [10, 30, 40], "episode_returns": [1.0, 3.0, 5.0]}
    >>> curves, centres = binned_returns([run], budget=40, bins=2)
    >>> curves.tolist(), centres.tolist()
    ([[1.0, 4.0]], [10.0, 30.0])
    """
    edges = np.linspace(0, check_count("budget", budget), check_count("bins", bins) + 1)
    curves = np.full((len(records), bins), np.nan)
    for row, record in zip(curves, records):
        which = np.digitize(np.asarray(record["episode_steps"]), edges[1:-1])
        returns = np.asarray(record["episode_returns"], dtype=float)
        for b in np.unique(which):
            row[b] = returns[which == b].mean()
    return curves, (edges[1:] + edges[:-1]) / 2


def score_summary(scores) -> dict[str, float]:
    """The chapter's summary of scores over seeds: ``iqm``, its 95% bootstrap interval ``low`` to ``high``,
    and the worst (``min``) and best (``max``) seed.

    >>> score_summary([1.0, 2.0, 3.0, 4.0])["iqm"]
    2.5
    """
    scores = np.asarray(scores, dtype=float)
    low, high = bootstrap_ci(scores)
    return {"iqm": float(iqm(scores)), "low": float(low), "high": float(high),
            "min": float(scores.min()), "max": float(scores.max())}


def paired_difference_ci(a, b, statistic=iqm, level: float = 0.95, resamples: int = 2_000, seed=0):
    """Bootstrap interval of ``statistic(a - b)`` for scores ``a`` and ``b`` of the same ``S`` seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have one shape, got {a.shape} and {b.shape}")
    return bootstrap_ci(a - b, statistic, level, resamples, seed)
