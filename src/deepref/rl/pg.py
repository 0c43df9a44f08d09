"""Policy-gradient learners on vectorised environments: REINFORCE with a baseline, A2C with GAE, PPO.

All three collect a rollout of ``rollout_steps`` steps from ``num_envs``
environments with the current softmax policy, fit a critic ``V(s)`` by
regression on the returns, and step the policy along an estimate of

    grad J = E[ A(s, a) grad log pi(a | s) ]      (the log-derivative trick).

They differ in the advantage estimate ``A`` and in how often a rollout is reused:

* ``reinforce``: ``A = G - V(s)`` (Monte Carlo return ``G``; ``baseline=False``
  uses ``A = G``), one gradient step per rollout;
* ``a2c``: ``A`` by generalised advantage estimation (``lam < 1``), one step per rollout;
* ``ppo``: GAE, then ``epochs`` passes over ``minibatches`` with the clipped surrogate.

The critic bootstraps the return where an episode was truncated or the rollout
ended, never where it terminated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from .. import optim
from ..backend import default_rng, get_namespace
from ..validation import check_choice, check_count, check_in_range, check_positive
from .losses import (
    clipped_surrogate_backward,
    clipped_surrogate_forward,
    entropy_backward,
    entropy_forward,
    log_prob_of,
    policy_gradient_backward,
    policy_gradient_forward,
    value_loss_backward,
    value_loss_forward,
)
from .policy import Policy, mlp
from .returns import gae
from .tabular import check_discount
from .training import (
    EpisodeTracker,
    ProgressFn,
    RunLog,
    TrainResult,
    check_env_obs,
    checked_loss,
    sample_categorical,
    start_run,
)

ALGORITHMS = ("reinforce", "a2c", "ppo")


@dataclass
class PGConfig:
    """Hyperparameters of :func:`train_pg`; :func:`pg_config` gives each algorithm's defaults."""

    algorithm: str = "ppo"
    env_id: str = "CartPole-v1"
    total_steps: int = 100_000
    num_envs: int = 8
    rollout_steps: int = 64
    hidden: tuple = (64, 64)
    activation: str = "tanh"
    lr: float = 1e-3
    gamma: float = 0.99
    lam: float = 0.95
    baseline: bool = True
    epochs: int = 4
    minibatches: int = 4
    clip: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    grad_clip: float | None = 0.5
    normalize_advantages: bool = True
    eval_every: int | None = None
    eval_episodes: int = 100
    target_return: float | None = None
    seed: int = 0

    def validate(self) -> PGConfig:
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        for name in ("total_steps", "num_envs", "rollout_steps", "epochs", "minibatches", "eval_episodes"):
            check_count(name, getattr(self, name))
        check_positive("lr", self.lr)
        check_discount(self.gamma)
        check_in_range("lam", self.lam, 0.0, 1.0, closed="both")
        check_positive("clip", self.clip)
        if (self.num_envs * self.rollout_steps) % self.minibatches:
            raise ValueError(f"minibatches={self.minibatches} must divide num_envs * rollout_steps "
                             f"= {self.num_envs * self.rollout_steps}")
        return self


def pg_config(algorithm: str, **overrides) -> PGConfig:
    """Defaults for ``algorithm`` (``"reinforce"``, ``"a2c"`` or ``"ppo"``) with ``overrides`` applied.

    REINFORCE uses the Monte Carlo return (``lam = 1``), one step per rollout and
    no advantage normalisation (which would itself act as a baseline); A2C one
    step per short rollout; PPO several clipped epochs.
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    base = PGConfig(algorithm=algorithm)
    defaults = {
        "reinforce": dict(lam=1.0, epochs=1, minibatches=1, rollout_steps=128, normalize_advantages=False,
                          lr=1e-3, grad_clip=None),
        "a2c": dict(lam=0.95, epochs=1, minibatches=1, rollout_steps=16, lr=1e-3),
        "ppo": dict(),
    }[algorithm]
    return replace(base, **{**defaults, **overrides})


class Rollout(NamedTuple):
    """A rollout flattened to ``M = T * N`` samples: ``obs`` ``(M, D)``, the rest ``(M,)``."""

    obs: object
    actions: object
    log_probs: object
    advantages: object
    returns: object


def collect_rollout(env, obs, actor, critic, rng, config: PGConfig, tracker: EpisodeTracker, env_steps: int):
    """Run ``config.rollout_steps`` steps and estimate advantages; returns ``(Rollout, obs, env_steps)``."""
    xp = get_namespace(obs)
    columns = {k: [] for k in ("obs", "actions", "log_probs", "rewards", "terminated", "truncated", "final")}
    for _ in range(config.rollout_steps):
        logits = actor.forward(obs)
        actions = sample_categorical(logits, rng)
        step = env.step(actions)
        check_env_obs(env, step.obs)
        env_steps += env.num_envs
        tracker.update(step.reward, step.terminated, step.truncated, env_steps)
        for key, value in (("obs", obs), ("actions", actions), ("log_probs", log_prob_of(logits, actions)),
                           ("rewards", step.reward), ("terminated", step.terminated),
                           ("truncated", step.truncated), ("final", step.final_obs)):
            columns[key].append(value)
        obs = step.obs
    stacked = {k: xp.stack(v, axis=0) for k, v in columns.items()}
    T, N = config.rollout_steps, env.num_envs
    flat_obs = xp.reshape(stacked["obs"], (T * N, -1))
    values = xp.reshape(critic.forward(flat_obs)[:, 0], (T, N))
    next_values = xp.reshape(critic.forward(xp.reshape(stacked["final"], (T * N, -1)))[:, 0], (T, N))
    advantages, returns = gae(stacked["rewards"], values, next_values, stacked["terminated"],
                              stacked["truncated"], config.gamma, config.lam)
    if config.algorithm == "reinforce" and not config.baseline:
        advantages = returns
    rollout = Rollout(flat_obs, xp.reshape(stacked["actions"], (T * N,)), xp.reshape(stacked["log_probs"], (T * N,)),
                      xp.reshape(advantages, (T * N,)), xp.reshape(returns, (T * N,)))
    return rollout, obs, env_steps


def normalized(a):
    """``(a - mean) / (std + 1e-8)`` of a ``(M,)`` array."""
    xp = get_namespace(a)
    return (a - xp.mean(a)) / (xp.std(a) + 1e-8)


def pg_update(actor, critic, optimizer, batch: Rollout, config: PGConfig, update: int = 0) -> float:
    """One gradient step on the policy, entropy and value losses of ``batch``; returns the total loss.

    A NaN or infinite loss raises ``FloatingPointError`` before any parameter changes.
    """
    advantages = normalized(batch.advantages) if config.normalize_advantages else batch.advantages
    logits = actor.forward(batch.obs)
    if config.algorithm == "ppo":
        policy_loss, cache = clipped_surrogate_forward(logits, batch.actions, batch.log_probs, advantages,
                                                       config.clip)
        dlogits = clipped_surrogate_backward(1.0, cache)
    else:
        policy_loss, cache = policy_gradient_forward(logits, batch.actions, advantages)
        dlogits = policy_gradient_backward(1.0, cache)
    entropy, entropy_cache = entropy_forward(logits)
    if config.ent_coef:
        dlogits = dlogits - config.ent_coef * entropy_backward(1.0, entropy_cache)
    values = critic.forward(batch.obs)
    value_loss, value_cache = value_loss_forward(values[:, 0], batch.returns)
    total = checked_loss(policy_loss - config.ent_coef * entropy + config.vf_coef * value_loss, update)
    optimizer.zero_grad()
    actor.backward(dlogits)
    critic.backward(config.vf_coef * value_loss_backward(1.0, value_cache)[:, None])
    if config.grad_clip is not None:
        optim.clip_grad_norm(optimizer.params, config.grad_clip)
    optimizer.step()
    return total


def minibatches(rollout: Rollout, count: int, rng):
    """``count`` disjoint random minibatches of a :class:`Rollout` (all of it when ``count == 1``)."""
    if count == 1:
        yield rollout
        return
    xp = get_namespace(rollout.obs)
    m = rollout.obs.shape[0]
    order = rng.permutation(m, like=rollout.obs)
    size = m // count
    for k in range(count):
        index = order[k * size:(k + 1) * size]
        yield Rollout(*(xp.take(a, index, axis=0) for a in rollout))


def train_pg(config: PGConfig | None = None, progress: ProgressFn | None = None) -> TrainResult:
    """Train REINFORCE, A2C or PPO (``config.algorithm``) and return the greedy policy and the curves.

    Errors as for :func:`~deepref.rl.training.start_run` (bad config or
    environment) and :func:`pg_update` (a loss that turns NaN).
    """
    config, env, obs, sizes = start_run(config or pg_config("ppo"))
    actor = mlp(sizes, config.activation, seed=config.seed)
    critic = mlp([env.observation_dim, *config.hidden, 1], config.activation, seed=config.seed + 7919)
    optimizer = optim.Adam(actor.parameters() + critic.parameters(), lr=config.lr)
    rng = default_rng(config.seed + 1)
    log = RunLog(config, Policy(actor, sizes, config.activation, config.algorithm), progress)
    env_steps = 0
    while env_steps < config.total_steps:
        rollout, obs, env_steps = collect_rollout(env, obs, actor, critic, rng, config, log.tracker, env_steps)
        for _ in range(config.epochs):
            for batch in minibatches(rollout, config.minibatches, rng):
                log.losses.append(pg_update(actor, critic, optimizer, batch, config, len(log.losses) + 1))
        if log.after_step(env_steps):
            break
    return log.result(env_steps, critic)
