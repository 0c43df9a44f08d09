"""Deep Q-networks (Mnih et al. 2015) with a target network, replay, an epsilon schedule and Double DQN.

One update, for a batch ``(s, a, r, s', terminated)`` drawn from the replay buffer:

    y    = r + gamma (1 - terminated) Q_target(s', a*),
    a*   = argmax_a Q_target(s', a)            (DQN)
         = argmax_a Q_online(s', a)            (Double DQN),
    loss = mean Huber(Q_online(s, a) - y),

with ``y`` held constant. The target network is a copy of the online one,
refreshed every ``target_every`` updates (hard) or blended in at rate ``tau``
after each update (Polyak).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import optim
from ..backend import default_rng, get_namespace
from ..nn import one_hot
from ..validation import check_count, check_in_range, check_positive
from .buffer import ReplayBuffer
from .losses import huber_backward, huber_forward
from .policy import Policy, mlp
from .returns import td_target
from .tabular import check_discount
from .training import ProgressFn, RunLog, TrainResult, check_env_obs, checked_loss, start_run


@dataclass
class DQNConfig:
    """Hyperparameters of :func:`train_dqn` (defaults: a fast CartPole-v1 configuration).

    ``total_steps`` counts environment steps over all ``num_envs``. One update
    of ``batch_size`` transitions follows every vector step once
    ``learning_starts`` transitions are stored (``updates_per_step`` of them).
    ``replay=False`` trains on the most recent ``batch_size`` transitions only;
    ``target_network=False`` computes targets with the online network itself.
    ``tau`` set: Polyak averaging after every update; ``tau=None``: a hard copy
    every ``target_every`` updates.
    """

    env_id: str = "CartPole-v1"
    total_steps: int = 60_000
    num_envs: int = 4
    hidden: tuple = (128, 128)
    lr: float = 1e-3
    gamma: float = 0.99
    batch_size: int = 64
    buffer_size: int = 50_000
    learning_starts: int = 1_000
    updates_per_step: int = 2
    target_every: int = 250
    tau: float | None = 0.005
    eps_start: float = 1.0
    eps_end: float = 0.02
    eps_fraction: float = 0.1
    double: bool = True
    huber_delta: float = 1.0
    grad_clip: float | None = 10.0
    replay: bool = True
    target_network: bool = True
    eval_every: int | None = None
    eval_episodes: int = 100
    target_return: float | None = None
    seed: int = 0

    def validate(self) -> DQNConfig:
        for name in ("total_steps", "num_envs", "batch_size", "buffer_size", "updates_per_step", "target_every",
                     "eval_episodes"):
            check_count(name, getattr(self, name))
        check_count("learning_starts", self.learning_starts, minimum=0)
        check_positive("lr", self.lr)
        check_discount(self.gamma)
        for name in ("eps_start", "eps_end"):
            check_in_range(name, getattr(self, name), 0.0, 1.0, closed="both")
        check_in_range("eps_fraction", self.eps_fraction, 0.0, 1.0, closed="right")
        if self.tau is not None:
            check_in_range("tau", self.tau, 0.0, 1.0, closed="right")
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size={self.buffer_size} must be at least batch_size={self.batch_size}")
        return self


def linear_epsilon(step: int, total: int, start: float, end: float, fraction: float) -> float:
    """Exploration rate falling linearly from ``start`` to ``end`` over the first ``fraction * total`` steps."""
    progress = min(step / max(fraction * total, 1.0), 1.0)
    return start + progress * (end - start)


def epsilon_greedy_actions(q, epsilon: float, rng):
    """Greedy actions of ``q`` ``(N, A)``, each replaced with probability ``epsilon`` by a uniform one."""
    xp = get_namespace(q)
    greedy = xp.argmax(q, axis=1)
    random = rng.integers(0, q.shape[1], size=q.shape[0], like=q)
    explore = rng.uniform(size=q.shape[0], dtype=q.dtype, like=q) < epsilon
    return xp.where(explore, random, greedy)


def copy_parameters(source, target, tau: float = 1.0) -> None:
    """``target <- tau * source + (1 - tau) * target`` for every parameter (``tau = 1``: a hard copy)."""
    for p_src, p_tgt in zip(source.parameters(), target.parameters()):
        xp = get_namespace(p_src.data)
        if tau == 1.0:
            p_tgt.data = xp.asarray(p_src.data, copy=True)
        else:
            p_tgt.data = tau * p_src.data + (1.0 - tau) * p_tgt.data


def dqn_targets(online, target, batch, gamma: float, double: bool):
    """TD targets ``y`` ``(B,)`` for a :class:`~deepref.rl.buffer.Batch` (no gradient flows through them)."""
    xp = get_namespace(batch.next_obs)
    q_next = target.forward(batch.next_obs)
    if double:
        choice = xp.argmax(online.forward(batch.next_obs), axis=1)
        mask = one_hot(choice, q_next.shape[1], q_next.dtype)
        next_values = xp.sum(q_next * mask, axis=1)
    else:
        next_values = xp.max(q_next, axis=1)
    return td_target(batch.rewards, next_values, batch.terminated, gamma)


def dqn_update(online, target, optimizer, batch, config: DQNConfig,
               update: int = 0) -> float:
    """One gradient step on the Huber TD loss; returns the loss (before the step).

    A NaN or infinite loss raises ``FloatingPointError`` before any parameter changes.
    """
    xp = get_namespace(batch.obs)
    y = dqn_targets(online, target, batch, config.gamma, config.double)
    q = online.forward(batch.obs)
    mask = one_hot(batch.actions, q.shape[1], q.dtype)
    loss, cache = huber_forward(xp.sum(q * mask, axis=1), y, config.huber_delta)
    value = checked_loss(loss, update)
    dpred, _ = huber_backward(1.0, cache)
    optimizer.zero_grad()
    online.backward(dpred[:, None] * mask)
    if config.grad_clip is not None:
        optim.clip_grad_norm(online.parameters(), config.grad_clip)
    optimizer.step()
    return value


def train_dqn(config: DQNConfig | None = None, progress: ProgressFn | None = None) -> TrainResult:
    """Train a DQN agent on ``config.env_id``; see :class:`DQNConfig` and the module docstring.

    Errors as for :func:`~deepref.rl.training.start_run` (bad config or
    environment) and :func:`dqn_update` (a loss that turns NaN).
    """
    config, env, obs, sizes = start_run(config or DQNConfig())
    online = mlp(sizes, seed=config.seed)
    target = mlp(sizes, seed=config.seed) if config.target_network else online
    copy_parameters(online, target)
    optimizer = optim.Adam(online.parameters(), lr=config.lr)
    capacity = config.buffer_size if config.replay else config.batch_size
    buffer = ReplayBuffer(capacity, env.observation_dim, seed=config.seed)
    rng = default_rng(config.seed + 1)
    log = RunLog(config, Policy(online, sizes, "relu", "dqn"), progress)
    updates, env_steps = 0, 0
    while env_steps < config.total_steps:
        epsilon = linear_epsilon(env_steps, config.total_steps, config.eps_start, config.eps_end,
                                 config.eps_fraction)
        actions = epsilon_greedy_actions(online.forward(obs), epsilon, rng)
        step = env.step(actions)
        check_env_obs(env, step.obs)
        buffer.add(obs, actions, step.reward, step.final_obs, step.terminated)
        env_steps += config.num_envs
        log.tracker.update(step.reward, step.terminated, step.truncated, env_steps)
        obs = step.obs
        if env_steps >= config.learning_starts and len(buffer) >= config.batch_size:
            for _ in range(config.updates_per_step):
                updates += 1
                batch = buffer.sample(config.batch_size)
                log.losses.append(dqn_update(online, target, optimizer, batch, config, updates))
                if config.tau is not None:
                    copy_parameters(online, target, config.tau)
                elif updates % config.target_every == 0:
                    copy_parameters(online, target)
        if log.after_step(env_steps):
            break
    return log.result(env_steps)
