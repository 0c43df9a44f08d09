"""Policy-gradient learners on vectorised environments: REINFORCE with a baseline, A2C with GAE, PPO.

All three collect a rollout of ``rollout_steps`` steps from ``num_envs``
environments with the current softmax policy, fit a critic ``V(s)`` by
regression on the returns, and step the policy along an estimate of

    g = E[ A(s_t, a_t) grad log pi(a_t | s_t) ]      (the log-derivative trick),

averaged over all steps ``t``. The gradient of ``J = E[G_0]`` carries a
factor ``gamma^t`` at step ``t``; like other implementations these learners
drop it, so ``g`` is not exactly a gradient of ``J`` (Nota and Thomas 2020).

They differ in the advantage estimate ``A`` and in how often a rollout is reused:

* ``reinforce``: ``A = G - V(s)`` (Monte Carlo return ``G``, bootstrapped from
  the critic where the rollout cuts an episode; ``baseline=False`` uses
  ``A = G``), one gradient step per rollout;
* ``a2c``: ``A`` by generalised advantage estimation (``lam < 1``), one step per rollout;
* ``ppo``: GAE, then ``epochs`` passes over ``minibatches`` with the clipped surrogate.

The critic bootstraps the return where an episode was truncated or the rollout
ended, never where it terminated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .. import optim
from ..backend import default_rng, get_namespace
from ..seeds import spawn_seeds
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
    sample_categorical,
    start_run,
)

ALGORITHMS = ("reinforce", "a2c", "ppo")


@dataclass(frozen=True)
class PGConfig:
    """Hyperparameters of :func:`train_pg`, checked when made; :func:`pg_config` gives each algorithm's defaults.

    ``eval_every``, ``eval_episodes`` and ``target_return`` as in
    :class:`~deepref.rl.DQNConfig`.
    """

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

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(check_count("hidden", h) for h in self.hidden))
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        for name in ("total_steps", "num_envs", "rollout_steps", "epochs", "minibatches", "eval_episodes"):
            check_count(name, getattr(self, name))
        if self.eval_every is not None:
            check_count("eval_every", self.eval_every)
        check_positive("lr", self.lr)
        check_discount(self.gamma)
        check_in_range("lam", self.lam, 0.0, 1.0, closed="both")
        check_positive("clip", self.clip)
        if (self.num_envs * self.rollout_steps) % self.minibatches:
            raise ValueError(f"minibatches={self.minibatches} must divide num_envs * rollout_steps "
                             f"= {self.num_envs * self.rollout_steps}")


def pg_config(algorithm: str, **overrides) -> PGConfig:
    """Defaults for ``algorithm`` (``"reinforce"``, ``"a2c"`` or ``"ppo"``) with ``overrides`` applied.

    REINFORCE uses the Monte Carlo return (``lam = 1``), one step per rollout and
    no advantage normalisation (which would itself act as a baseline); A2C one
    step per short rollout; PPO several clipped epochs.
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    defaults = {
        "reinforce": dict(lam=1.0, epochs=1, minibatches=1, rollout_steps=128, normalize_advantages=False,
                          lr=1e-3, grad_clip=None),
        "a2c": dict(lam=0.95, epochs=1, minibatches=1, rollout_steps=16, lr=1e-3),
        "ppo": dict(),
    }[algorithm]
    return PGConfig(algorithm=algorithm, **{**defaults, **overrides})


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


def pg_update(actor, critic, optimizer, batch: Rollout, config: PGConfig):
    """One gradient step on the policy, entropy and value losses of ``batch``; returns the total loss (0-d)."""
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
    total = policy_loss - config.ent_coef * entropy + config.vf_coef * value_loss
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


def train_pg(config: PGConfig | None = None, seed=0, progress: ProgressFn | None = None) -> TrainResult:
    """Train REINFORCE, A2C or PPO (``config.algorithm``) and return the greedy policy and the curves.

    ``seed`` (an int or a generator) feeds independent streams for the
    environment, the actor's and the critic's initial weights, action sampling
    and minibatches, and the evaluation episodes. Ctrl-C stops training and
    returns the policy as it is (``interrupted=True``). Raises ``ValueError``
    for an environment without discrete actions and ``FloatingPointError``
    when the loss turns NaN or infinite (checked once per rollout).
    """
    config = config or pg_config("ppo")
    env_seed, actor_seed, critic_seed, sample_seed, eval_seed = spawn_seeds(seed, 5)
    env, obs, sizes = start_run(config, env_seed)
    actor = mlp(sizes, config.activation, seed=actor_seed)
    critic = mlp([env.observation_dim, *config.hidden, 1], config.activation, seed=critic_seed)
    optimizer = optim.Adam(actor.parameters() + critic.parameters(), lr=config.lr)
    rng = default_rng(sample_seed)
    log = RunLog(config, Policy(actor, sizes, config.activation, config.algorithm, config.env_id), eval_seed,
                 progress)
    env_steps = 0
    try:
        while env_steps < config.total_steps:
            rollout, obs, env_steps = collect_rollout(env, obs, actor, critic, rng, config, log.tracker, env_steps)
            for _ in range(config.epochs):
                for batch in minibatches(rollout, config.minibatches, rng):
                    log.pending_losses.append(pg_update(actor, critic, optimizer, batch, config))
            if log.after_steps(env_steps):
                break
    except KeyboardInterrupt:
        log.interrupted = True
    return log.result(env_steps, critic)
