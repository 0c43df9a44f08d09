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
from ..seeds import spawn_seeds
from ..validation import check_count, check_in_range, check_positive
from .buffer import ReplayBuffer
from .losses import huber_backward, huber_forward
from .policy import Policy, mlp
from .returns import td_target
from .tabular import check_discount
from .training import SYNC_EVERY, ProgressFn, RunLog, TrainResult, check_env_obs, start_run


@dataclass(frozen=True)
class DQNConfig:
    """Hyperparameters of :func:`train_dqn`, checked when made (defaults: CartPole-v1 solved, see below).

    ``total_steps`` counts environment steps over all ``num_envs``. Once
    ``learning_starts`` transitions are stored, ``updates_per_step`` updates on
    ``batch_size`` transitions follow every vector step. Epsilon falls linearly
    from ``eps_start`` to ``eps_end`` over the first ``eps_steps`` environment
    steps. ``replay=False`` trains every update on the ``batch_size`` most
    recent transitions, in the order they were collected (no replay buffer);
    ``target_network=False`` computes the targets with the online network
    itself. ``tau`` set: Polyak averaging after every update; ``tau=None``: a
    hard copy every ``target_every`` updates. ``eval_every`` set: the greedy
    policy is evaluated that often and the best one is kept; ``target_return``
    set: training stops once an evaluation on ``eval_episodes`` episodes
    reaches it. The defaults are those of ``python -m deepref.rl train dqn``.
    """

    env_id: str = "CartPole-v1"
    total_steps: int = 100_000
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
    eps_steps: int = 6_000
    double: bool = True
    huber_delta: float = 1.0
    grad_clip: float | None = 10.0
    replay: bool = True
    target_network: bool = True
    eval_every: int | None = None
    eval_episodes: int = 100
    target_return: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(check_count("hidden", h) for h in self.hidden))
        for name in ("total_steps", "num_envs", "batch_size", "buffer_size", "updates_per_step", "target_every",
                     "eval_episodes"):
            check_count(name, getattr(self, name))
        for name in ("learning_starts", "eps_steps"):
            check_count(name, getattr(self, name), minimum=0)
        if self.eval_every is not None:
            check_count("eval_every", self.eval_every)
        check_positive("lr", self.lr)
        check_discount(self.gamma)
        for name in ("eps_start", "eps_end"):
            check_in_range(name, getattr(self, name), 0.0, 1.0, closed="both")
        if self.tau is not None:
            check_in_range("tau", self.tau, 0.0, 1.0, closed="right")
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size={self.buffer_size} must be at least batch_size={self.batch_size}")


def linear_epsilon(step: int, start: float, end: float, steps: int) -> float:
    """Exploration rate falling linearly from ``start`` to ``end`` over the first ``steps`` steps."""
    progress = min(step / max(steps, 1), 1.0)
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


def dqn_update(online, target, optimizer, batch, config: DQNConfig):
    """One gradient step on the Huber TD loss; returns the loss before the step (a 0-d device array)."""
    xp = get_namespace(batch.obs)
    y = dqn_targets(online, target, batch, config.gamma, config.double)
    q = online.forward(batch.obs)
    mask = one_hot(batch.actions, q.shape[1], q.dtype)
    loss, cache = huber_forward(xp.sum(q * mask, axis=1), y, config.huber_delta)
    dpred, _ = huber_backward(1.0, cache)
    optimizer.zero_grad()
    online.backward(dpred[:, None] * mask)
    if config.grad_clip is not None:
        optim.clip_grad_norm(online.parameters(), config.grad_clip)
    optimizer.step()
    return loss


def train_dqn(config: DQNConfig | None = None, seed=0, progress: ProgressFn | None = None) -> TrainResult:
    """Train a DQN agent on ``config.env_id``; see :class:`DQNConfig` and the module docstring.

    ``seed`` (an int or a generator) feeds independent streams for the
    environment, the initial weights, exploration, replay sampling and the
    evaluation episodes. Ctrl-C (``KeyboardInterrupt``) stops training and
    returns the policy as it is, with ``interrupted=True``. Raises
    ``ValueError`` for an environment without discrete actions and
    ``FloatingPointError`` when the loss turns NaN or infinite.
    """
    config = config or DQNConfig()
    env_seed, init_seed, act_seed, replay_seed, eval_seed = spawn_seeds(seed, 5)
    env, obs, sizes = start_run(config, env_seed)
    online = mlp(sizes, seed=init_seed)
    target = mlp(sizes, seed=init_seed) if config.target_network else online
    optimizer = optim.Adam(online.parameters(), lr=config.lr)
    capacity = config.buffer_size if config.replay else config.batch_size
    buffer = ReplayBuffer(capacity, env.observation_dim, seed=replay_seed)
    rng = default_rng(act_seed)
    log = RunLog(config, Policy(online, sizes, "relu", "dqn", config.env_id), eval_seed, progress)
    env_steps, vector_steps, updates = 0, 0, 0
    try:
        while env_steps < config.total_steps:
            epsilon = linear_epsilon(env_steps, config.eps_start, config.eps_end, config.eps_steps)
            actions = epsilon_greedy_actions(online.forward(obs), epsilon, rng)
            step = env.step(actions)
            check_env_obs(env, step.obs)
            buffer.add(obs, actions, step.reward, step.final_obs, step.terminated)
            env_steps, vector_steps = env_steps + config.num_envs, vector_steps + 1
            log.tracker.update(step.reward, step.terminated, step.truncated, env_steps)
            obs = step.obs
            if env_steps >= config.learning_starts and len(buffer) >= config.batch_size:
                for _ in range(config.updates_per_step):
                    batch = buffer.sample(config.batch_size) if config.replay else buffer.latest(config.batch_size)
                    log.pending_losses.append(dqn_update(online, target, optimizer, batch, config))
                    updates += 1
                    if target is online:
                        continue
                    if config.tau is not None:
                        copy_parameters(online, target, config.tau)
                    elif updates % config.target_every == 0:
                        copy_parameters(online, target)
            if log.after_steps(env_steps, sync=vector_steps % SYNC_EVERY == 0):
                break
    except KeyboardInterrupt:
        log.interrupted = True
    return log.result(env_steps)
