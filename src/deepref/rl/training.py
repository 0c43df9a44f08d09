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
"""``progress(env_steps, recent_mean_return)``, called after each batch of steps (e.g. to move a tqdm bar).

``recent_mean_return`` is NaN until the first episode has ended.
"""

SYNC_EVERY = 32
"""Vector steps of DQN between two reads of episode returns and losses from the device."""


@dataclass
class TrainResult:
    """What a training run returns.

    Attributes
    ----------
    policy : Policy
        The greedy policy kept at the end: the best evaluated one when
        evaluation was on (see :class:`Evaluator`), else the last; the last
        one when the run was interrupted.
    episode_returns : (E,) numpy array
        Undiscounted return of every finished training episode (exploration included).
    episode_steps : (E,) numpy array
        Total environment steps (all environments together) when each episode ended.
    evaluations : list of (int, float, int)
        ``(environment steps, mean evaluation return, episodes)`` of each evaluation.
    solved_at : int or None
        Environment steps when an evaluation first reached the target.
    best_return : float or None
        Mean evaluation return of the kept policy (None without evaluation).
    env_steps : int
        Environment steps used in all.
    seconds : float
        Wall time of the run.
    losses : list of float
    critic : Module or None
        The learned state-value network (policy-gradient learners).
    interrupted : bool
        The run was stopped by Ctrl-C (``KeyboardInterrupt``) before the end of its budget.
    """

    policy: Policy
    episode_returns: np.ndarray
    episode_steps: np.ndarray
    evaluations: list = field(default_factory=list)
    solved_at: int | None = None
    best_return: float | None = None
    env_steps: int = 0
    seconds: float = 0.0
    losses: list = field(default_factory=list)
    critic: object = None
    interrupted: bool = False


class EpisodeTracker:
    """Sums the rewards of ``N`` parallel episodes and records each return when its episode ends.

    The running sums stay on the rewards' device; :meth:`flush` reads the
    episodes finished since the last flush back in one transfer (the learners
    call it once per batch of steps).
    """

    def __init__(self):
        self.running = None
        self.pending: list = []
        self.pending_steps: list[int] = []
        self.returns: list[float] = []
        self.steps: list[int] = []

    def update(self, reward, terminated, truncated, env_steps: int) -> None:
        xp = get_namespace(reward)
        self.running = reward if self.running is None else self.running + reward
        done = terminated | truncated
        self.pending.append(xp.where(done, self.running, xp.full_like(reward, xp.nan)))
        self.pending_steps.append(env_steps)
        self.running = xp.where(done, xp.zeros_like(reward), self.running)

    def flush(self) -> None:
        """Append the returns of the episodes finished since the last flush to ``returns`` and ``steps``."""
        if not self.pending:
            return
        ended = to_numpy(get_namespace(self.pending[0]).stack(self.pending, axis=0))
        for row, env_steps in zip(ended, self.pending_steps):
            finished = row[~np.isnan(row)].tolist()
            self.returns.extend(finished)
            self.steps.extend([env_steps] * len(finished))
        self.pending, self.pending_steps = [], []

    def recent_mean(self, count: int = 20) -> float:
        """Mean of the last ``count`` flushed returns (NaN before the first episode ends)."""
        return float(np.mean(self.returns[-count:])) if self.returns else float("nan")


class Evaluator:
    """Evaluates a policy every ``every`` environment steps on Gymnasium; remembers the best parameters.

    Every evaluation plays the same Gymnasium episodes (seeds ``seed, seed + 1,
    ...``). With a ``target`` it plays the first ``screen`` of them; only a
    policy whose mean there reaches ``target`` plays all ``episodes``, and the
    run stops when that mean reaches ``target`` too. Without a target every
    evaluation plays all ``episodes`` and the run never stops early. The best
    policy has the highest mean over all ``episodes`` (over the screen if no
    evaluation played them all).
    """

    def __init__(self, env_id: str, every: int | None, episodes: int, target: float | None, seed: int,
                 screen: int = 10):
        self.env_id, self.every, self.episodes, self.target, self.seed = env_id, every, episodes, target, seed
        self.screen = min(screen, episodes)
        self.next_at = every
        self.history: list[tuple[int, float, int]] = []
        self.best_key = (False, -np.inf)
        self.best_state = None
        self.solved_at = None

    def due(self, env_steps: int) -> bool:
        return self.every is not None and env_steps >= self.next_at

    def __call__(self, policy: Policy, env_steps: int) -> bool:
        """Evaluate if due; returns ``True`` when the run should stop (target reached)."""
        if not self.due(env_steps):
            return False
        while self.next_at <= env_steps:
            self.next_at += self.every
        count = self.episodes if self.target is None else self.screen
        mean = float(np.mean(evaluate_policy(policy, self.env_id, count, self.seed)))
        if self.target is not None and mean >= self.target and count < self.episodes:
            count = self.episodes
            mean = float(np.mean(evaluate_policy(policy, self.env_id, count, self.seed)))
        self.history.append((env_steps, mean, count))
        key = (count == self.episodes, mean)
        if key > self.best_key:
            self.best_key, self.best_state = key, policy.net.state_dict()
        if self.target is not None and count == self.episodes and mean >= self.target:
            self.solved_at = env_steps
            return True
        return False

    @property
    def best_return(self) -> float | None:
        """Mean return of the best evaluation (None before the first)."""
        return None if self.best_state is None else self.best_key[1]

    def restore_best(self, policy: Policy) -> None:
        if self.best_state is not None:
            policy.net.load_state_dict(self.best_state)


class RunLog:
    """The bookkeeping of one training run: clock, episode returns, evaluation, losses.

    ``config`` supplies ``env_id``, ``eval_every``, ``eval_episodes`` and
    ``target_return``; ``eval_seed`` seeds the evaluation episodes. Losses
    stay on the device until :meth:`flush`, which reads them and the finished
    episodes back once per batch of steps and stops a diverged run there.
    """

    def __init__(self, config, policy: Policy, eval_seed: int, progress: ProgressFn | None = None):
        self.clock = Clock()
        self.policy, self.progress = policy, progress
        self.tracker = EpisodeTracker()
        self.evaluator = Evaluator(config.env_id, config.eval_every, config.eval_episodes, config.target_return,
                                   eval_seed)
        self.pending_losses: list = []
        self.losses: list[float] = []
        self.interrupted = False

    def flush(self, env_steps: int) -> None:
        """Read losses and episodes from the device; ``FloatingPointError`` if a loss is NaN or infinite."""
        if self.pending_losses:
            values = to_numpy(get_namespace(self.pending_losses[0]).stack(self.pending_losses)).tolist()
            for k, value in enumerate(values):
                check_finite_loss(value, f"update {len(self.losses) + k + 1}")
            self.losses.extend(values)
            self.pending_losses = []
        self.tracker.flush()
        if self.progress is not None:
            self.progress(env_steps, self.tracker.recent_mean())

    def after_steps(self, env_steps: int, sync: bool = True) -> bool:
        """Flush if ``sync`` or an evaluation is due, then evaluate if due; ``True`` when the run should stop."""
        if sync or self.evaluator.due(env_steps):
            self.flush(env_steps)
        return self.evaluator(self.policy, env_steps)

    def result(self, env_steps: int, critic=None) -> TrainResult:
        """Keep the best evaluated parameters (the last if interrupted) and return the :class:`TrainResult`."""
        if self.interrupted:
            self.progress = None  # report nothing more after Ctrl-C
        self.flush(env_steps)
        if not self.interrupted:
            self.evaluator.restore_best(self.policy)
        return TrainResult(self.policy, np.asarray(self.tracker.returns), np.asarray(self.tracker.steps),
                           self.evaluator.history, self.evaluator.solved_at, self.evaluator.best_return,
                           env_steps, self.clock(), self.losses, critic, self.interrupted)


def check_env_obs(env: VecEnv, obs) -> None:
    """Raise ``ValueError`` unless the environment's observations are ``(num_envs, observation_dim)``."""
    if tuple(obs.shape) != (env.num_envs, env.observation_dim):
        raise ValueError(
            f"the environment returned observations of shape {tuple(obs.shape)}, "
            f"expected ({env.num_envs}, {env.observation_dim})"
        )


def start_run(config, seed: int):
    """Make ``config``'s vectorised environment and reset it with ``seed``.

    Parameters
    ----------
    config : DQNConfig or PGConfig
        Supplies ``env_id``, ``num_envs`` and ``hidden`` (validated when it was made).
    seed : int

    Returns
    -------
    env : VecEnv
    obs : (num_envs, D) array
        The first observations.
    sizes : list of int
        Layer sizes of the network from observations to one output per action:
        ``[D, *config.hidden, A]``.

    Raises
    ------
    ValueError
        For an environment without a discrete action space, or observations
        of the wrong shape.
    """
    env = make_vec_env(config.env_id, config.num_envs)
    obs = env.reset(seed=seed)
    check_env_obs(env, obs)
    return env, obs, [env.observation_dim, *config.hidden, env.num_actions]


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
