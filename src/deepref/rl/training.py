"""Bookkeeping shared by the deep learners: episode returns, periodic evaluation, the result record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..backend import get_namespace, to_numpy
from ..nn import softmax
from ..validation import check_finite_loss
from .envs import VecEnv, make_vec_env
from .policy import Policy, evaluate_policy

ProgressFn = Callable[[int, float], None]
"""``progress(env_steps, recent_mean_return)``, called after each vector step (e.g. to move a tqdm bar)."""


@dataclass
class TrainResult:
    """What a training run returns.

    Attributes
    ----------
    policy : Policy
        The greedy policy kept at the end (the best evaluated one when
        evaluation was on, else the last).
    episode_returns : (E,) numpy array
        Undiscounted return of every finished training episode (exploration included).
    episode_steps : (E,) numpy array
        Total environment steps (all environments together) when each episode ended.
    evaluations : list of (int, float)
        ``(environment steps, mean evaluation return)`` of each evaluation.
    solved_at : int or None
        Environment steps when an evaluation first reached the target.
    env_steps : int
        Environment steps used in all.
    seconds : float
        Wall time of the run.
    losses : list of float
    critic : Module or None
        The learned state-value network (policy-gradient learners).
    """

    policy: Policy
    episode_returns: np.ndarray
    episode_steps: np.ndarray
    evaluations: list = field(default_factory=list)
    solved_at: int | None = None
    env_steps: int = 0
    seconds: float = 0.0
    losses: list = field(default_factory=list)
    critic: object = None


class EpisodeTracker:
    """Sums the rewards of ``N`` parallel episodes and records each return when its episode ends."""

    def __init__(self, num_envs: int):
        self.running = np.zeros(num_envs)
        self.returns: list[float] = []
        self.steps: list[int] = []

    def update(self, reward, terminated, truncated, env_steps: int) -> None:
        self.running += to_numpy(reward)
        done = to_numpy(terminated | truncated)
        for i in np.flatnonzero(done):
            self.returns.append(float(self.running[i]))
            self.steps.append(env_steps)
        self.running[done] = 0.0

    def recent_mean(self, count: int = 20) -> float:
        """Mean of the last ``count`` returns (NaN before the first episode ends)."""
        return float(np.mean(self.returns[-count:])) if self.returns else float("nan")


class Evaluator:
    """Evaluates a policy every ``every`` environment steps on Gymnasium; remembers the best parameters.

    Each evaluation first runs ``screen`` episodes; only a policy whose mean
    there reaches ``target`` is evaluated on the full ``episodes`` (seeds
    ``seed, seed + 1, ...``), and the run stops when that full mean reaches
    ``target`` too (``target=None``: always the full evaluation, never stop).
    """

    def __init__(self, env_id: str, every: int | None, episodes: int, target: float | None, seed: int,
                 screen: int = 10):
        self.env_id, self.every, self.episodes, self.target, self.seed = env_id, every, episodes, target, seed
        self.screen = min(screen, episodes)
        self.next_at = every
        self.history: list[tuple[int, float]] = []
        self.best_mean = -np.inf
        self.best_state = None
        self.solved_at = None

    def __call__(self, policy: Policy, env_steps: int) -> bool:
        """Evaluate if due; returns ``True`` when the run should stop (target reached)."""
        if self.every is None or env_steps < self.next_at:
            return False
        self.next_at += self.every
        count = self.episodes if self.target is None else self.screen
        mean = float(np.mean(evaluate_policy(policy, self.env_id, count, self.seed + 10_000)))
        if self.target is not None and mean >= self.target:
            mean = float(np.mean(evaluate_policy(policy, self.env_id, self.episodes, self.seed)))
        self.history.append((env_steps, mean))
        if mean > self.best_mean:
            self.best_mean, self.best_state = mean, policy.net.state_dict()
        if self.target is not None and mean >= self.target:
            self.solved_at = env_steps
            return True
        return False

    def restore_best(self, policy: Policy) -> None:
        if self.best_state is not None:
            policy.net.load_state_dict(self.best_state)


class RunLog:
    """The bookkeeping of one training run: clock, episode returns, evaluation, losses.

    ``config`` supplies ``num_envs``, ``env_id``, ``eval_every``, ``eval_episodes``,
    ``target_return`` and ``seed``.
    """

    def __init__(self, config, policy: Policy, progress: ProgressFn | None = None):
        self.clock = Clock()
        self.policy, self.progress = policy, progress
        self.tracker = EpisodeTracker(config.num_envs)
        self.evaluator = Evaluator(config.env_id, config.eval_every, config.eval_episodes, config.target_return,
                                   config.seed)
        self.losses: list[float] = []

    def after_step(self, env_steps: int) -> bool:
        """Report progress and evaluate if due; ``True`` when the run should stop."""
        if self.progress is not None:
            self.progress(env_steps, self.tracker.recent_mean())
        return self.evaluator(self.policy, env_steps)

    def result(self, env_steps: int, critic=None) -> TrainResult:
        """Restore the best evaluated parameters and return the :class:`TrainResult`."""
        self.evaluator.restore_best(self.policy)
        return TrainResult(self.policy, np.asarray(self.tracker.returns), np.asarray(self.tracker.steps),
                           self.evaluator.history, self.evaluator.solved_at, env_steps, self.clock(), self.losses,
                           critic)


def checked_loss(loss, update: int) -> float:
    """``float(loss)``; stops the run with a clear message if it is NaN or infinite."""
    value = float(loss)
    check_finite_loss(value, f"update {update}")
    return value


def check_env_obs(env: VecEnv, obs) -> None:
    """Raise ``ValueError`` unless the environment's observations are ``(num_envs, observation_dim)``."""
    if tuple(obs.shape) != (env.num_envs, env.observation_dim):
        raise ValueError(
            f"the environment returned observations of shape {tuple(obs.shape)}, "
            f"expected ({env.num_envs}, {env.observation_dim})"
        )


def start_run(config):
    """Validate ``config``, make its vectorised environment and reset it with ``config.seed``.

    Parameters
    ----------
    config : DQNConfig or PGConfig
        Supplies ``validate()``, ``env_id``, ``num_envs``, ``hidden`` and ``seed``.

    Returns
    -------
    config
        The validated config.
    env : VecEnv
    obs : (num_envs, D) array
        The first observations.
    sizes : list of int
        Layer sizes of the network from observations to one output per action:
        ``[D, *config.hidden, A]``.

    Raises
    ------
    ValueError
        For a bad config, an environment without a discrete action space, or
        observations of the wrong shape.
    """
    config = config.validate()
    env = make_vec_env(config.env_id, config.num_envs)
    obs = env.reset(seed=config.seed)
    check_env_obs(env, obs)
    return config, env, obs, [env.observation_dim, *config.hidden, env.num_actions]


def sample_categorical(logits, rng):
    """One action per row of ``logits`` ``(N, A)`` drawn from ``softmax(logits)`` (inverse CDF)."""
    xp = get_namespace(logits)
    cdf = xp.cumulative_sum(softmax(logits, axis=1), axis=1)
    u = rng.uniform(size=(logits.shape[0], 1), dtype=logits.dtype, like=logits)
    return xp.minimum(xp.sum(xp.astype(cdf < u, xp.int64), axis=1), xp.asarray(logits.shape[1] - 1))


class Clock:
    """Wall time since construction, in seconds."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
