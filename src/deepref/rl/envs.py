"""Vectorised environments with one interface: many episodes stepped as one array operation.

Two implementations share :class:`VecEnv`'s interface:

* :class:`CartPoleVec`, Gymnasium's CartPole-v1 written with backend arrays
  (NumPy, CuPy, array-api-strict), so thousands of carts step as a few array
  operations on a GPU. Its dynamics, termination and 500-step truncation equal
  Gymnasium's step for step from the same state (the oracle test checks it).
* :class:`GymnasiumVec`, any Gymnasium environment with discrete actions,
  stepped by Gymnasium's own synchronous vector environment.

Both reset a finished episode *in the same step* ("same-step autoreset"):
``step`` returns the first observation of the new episode in ``obs`` and the
last observation of the old one in ``final_obs``, which a learner needs to
bootstrap a truncated episode. (Gymnasium's vector environments reset by
default one step *later* and ignore the action given in that step.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..backend import current_namespace, default_rng, get_namespace, resolve_dtype, to_numpy
from ..validation import check_count, check_shape


class VecStep(NamedTuple):
    """What one step of ``N`` environments returns.

    Attributes
    ----------
    obs : (N, D) float array
        Next observation; the first of a new episode where one ended.
    reward : (N,) float array
    terminated : (N,) bool array
        The episode reached a terminal state (no value beyond it).
    truncated : (N,) bool array
        The episode was cut off by the time limit (the state still has a value).
    final_obs : (N, D) float array
        The observation the action led to, before any reset (equals ``obs`` where
        the episode goes on): the state to bootstrap from after a truncation.
    """

    obs: object
    reward: object
    terminated: object
    truncated: object
    final_obs: object


class VecEnv:
    """Interface of a batch of ``num_envs`` environments with ``num_actions`` discrete actions."""

    num_envs: int
    observation_dim: int
    num_actions: int

    def reset(self, seed: int | None = None):  # pragma: no cover - interface
        """Start every episode; returns ``obs`` of shape ``(num_envs, observation_dim)``."""
        raise NotImplementedError

    def step(self, actions) -> VecStep:  # pragma: no cover - interface
        """Apply ``actions`` (``(num_envs,)`` integers) to every environment."""
        raise NotImplementedError

    def check_actions(self, actions) -> None:
        """Raise ``ValueError`` unless ``actions`` has shape ``(num_envs,)`` with integer entries."""
        check_shape("actions", actions, (self.num_envs,))
        if "int" not in str(actions.dtype):
            raise TypeError(f"actions must be integers in [0, {self.num_actions}), got dtype {actions.dtype}")


class CartPoleParams(NamedTuple):
    """Physical constants of Gymnasium's CartPole-v1 (SI units; the pole's ``length`` is half its length)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_episode_steps: int = 500


CARTPOLE_V1 = CartPoleParams()
"""The constants of Gymnasium's CartPole-v1."""


def cartpole_dynamics(state, actions, params: CartPoleParams = CARTPOLE_V1):
    """One explicit-Euler step of the cart-pole equations, for a batch of carts.

    Parameters
    ----------
    state : (N, 4) float array
        ``x`` (m), ``x_dot`` (m/s), ``theta`` (rad), ``theta_dot`` (rad/s).
    actions : (N,) integer array
        0 pushes left, 1 pushes right (force ``force_mag`` newtons).
    params : CartPoleParams

    Returns
    -------
    next_state : (N, 4) float array
    terminated : (N,) bool array
        Cart outside ``+-x_threshold`` or pole beyond ``+-theta_threshold``.
    """
    xp = get_namespace(state)
    x, x_dot, theta, theta_dot = (state[:, i] for i in range(4))
    push = 2.0 * xp.astype(actions == 1, state.dtype) - 1.0  # -1 left, +1 right
    force = params.force_mag * push
    total_mass = params.masspole + params.masscart
    polemass_length = params.masspole * params.length
    cos, sin = xp.cos(theta), xp.sin(theta)
    temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
    theta_acc = (params.gravity * sin - cos * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * cos**2 / total_mass)
    )
    x_acc = temp - polemass_length * theta_acc * cos / total_mass
    next_state = xp.stack(
        [
            x + params.tau * x_dot,
            x_dot + params.tau * x_acc,
            theta + params.tau * theta_dot,
            theta_dot + params.tau * theta_acc,
        ],
        axis=1,
    )
    nx, ntheta = next_state[:, 0], next_state[:, 2]
    terminated = (
        (nx < -params.x_threshold)
        | (nx > params.x_threshold)
        | (ntheta < -params.theta_threshold)
        | (ntheta > params.theta_threshold)
    )
    return next_state, terminated


class CartPoleVec(VecEnv):
    """``num_envs`` copies of CartPole-v1 on the current array backend.

    The state is kept in float64 like Gymnasium's; observations are returned in
    ``dtype`` (float64 by default; Gymnasium's own observations are float32).
    Reward 1 per step, the terminating step included; episodes are truncated at
    500 steps.

    Parameters
    ----------
    num_envs : int
    dtype : str or dtype, optional
        Dtype of the observations.
    params : CartPoleParams

    Examples
    --------
    >>> env = CartPoleVec(3)
    >>> obs = env.reset(seed=0)
    >>> tuple(obs.shape)
    (3, 4)
    >>> step = env.step(env.xp.asarray([0, 1, 1]))
    >>> [float(r) for r in step.reward]
    [1.0, 1.0, 1.0]
    """

    observation_dim = 4
    num_actions = 2

    def __init__(self, num_envs: int = 1, dtype=None, params: CartPoleParams = CARTPOLE_V1):
        self.num_envs = check_count("num_envs", num_envs)
        self.xp = current_namespace()
        self.dtype = resolve_dtype(dtype, self.xp)
        self.params = params
        self.state = None
        self.elapsed = None
        self._rng = default_rng(None)

    def _initial_states(self, n: int):
        return self._rng.uniform(-0.05, 0.05, size=(n, 4), dtype="float64", like=self.state)

    def reset(self, seed: int | None = None):
        """Draw every state uniformly from ``[-0.05, 0.05]^4``; returns ``(num_envs, 4)`` observations."""
        self._rng = default_rng(seed)
        self.state = None
        self.state = self._initial_states(self.num_envs)
        self.elapsed = self.xp.zeros(self.num_envs, dtype=self.xp.int64)
        return self.observe(self.state)

    def observe(self, state):
        """The observation of ``state``: the state itself in the observation dtype."""
        return self.xp.astype(state, self.dtype)

    def set_state(self, state, elapsed=None) -> None:
        """Put the environments in ``state`` (``(num_envs, 4)``), ``elapsed`` steps into their episodes."""
        check_shape("state", state, (self.num_envs, 4))
        self.state = self.xp.astype(self.xp.asarray(state), self.xp.float64)
        steps = np.zeros(self.num_envs, dtype=np.int64) if elapsed is None else np.asarray(elapsed, dtype=np.int64)
        self.elapsed = self.xp.asarray(steps)

    def step(self, actions) -> VecStep:
        """Advance every cart one step and reset those whose episode ended (see :class:`VecStep`)."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        self.check_actions(actions)
        xp = self.xp
        next_state, terminated = cartpole_dynamics(self.state, actions, self.params)
        self.elapsed = self.elapsed + 1
        truncated = (self.elapsed >= self.params.max_episode_steps) & ~terminated
        done = terminated | truncated
        self.state = xp.where(done[:, None], self._initial_states(self.num_envs), next_state)
        self.elapsed = xp.where(done, xp.zeros_like(self.elapsed), self.elapsed)
        reward = xp.ones(self.num_envs, dtype=self.dtype)
        return VecStep(self.observe(self.state), reward, terminated, truncated, self.observe(next_state))


class GymnasiumVec(VecEnv):
    """``num_envs`` copies of a Gymnasium environment with discrete actions, as backend arrays.

    Parameters
    ----------
    env_id : str
        A registered Gymnasium id, e.g. ``"CartPole-v1"`` or ``"Acrobot-v1"``.
    num_envs : int
    dtype : str or dtype, optional
        Dtype of the observations on the backend.

    Raises
    ------
    ValueError
        If the action space is not discrete (continuous control needs another
        kind of learner) or the observations are not flat vectors.
    """

    def __init__(self, env_id: str, num_envs: int = 1, dtype=None):
        import gymnasium as gym

        self.num_envs = check_count("num_envs", num_envs)
        self.xp = current_namespace()
        self.dtype = resolve_dtype(dtype, self.xp)
        self.env = gym.make_vec(
            env_id,
            num_envs=self.num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        )
        self.num_actions = discrete_action_count(self.env.single_action_space, env_id)
        shape = self.env.single_observation_space.shape
        if shape is None or len(shape) != 1:
            raise ValueError(f"{env_id} has observations of shape {shape}; deepref.rl needs flat vectors (D,)")
        self.observation_dim = int(shape[0])

    def _to_backend(self, array):
        return self.xp.asarray(np.asarray(array, dtype=np.float64), dtype=self.dtype)

    def reset(self, seed: int | None = None):
        obs, _ = self.env.reset(seed=seed)
        return self._to_backend(obs)

    def step(self, actions) -> VecStep:
        self.check_actions(actions)
        obs, reward, terminated, truncated, info = self.env.step(to_numpy(actions))
        final = np.array(obs, dtype=np.float64)
        for i in np.flatnonzero(info.get("_final_obs", np.zeros(self.num_envs, dtype=bool))):
            final[i] = info["final_obs"][i]
        xp = self.xp
        return VecStep(
            self._to_backend(obs),
            self._to_backend(reward),
            xp.asarray(np.asarray(terminated, dtype=bool)),
            xp.asarray(np.asarray(truncated, dtype=bool)),
            self._to_backend(final),
        )


def discrete_action_count(action_space, env_id: str = "the environment") -> int:
    """Number of actions of a Gymnasium ``Discrete`` space; a clear error for any other space."""
    import gymnasium as gym

    if not isinstance(action_space, gym.spaces.Discrete) or int(action_space.start) != 0:
        raise ValueError(
            f"{env_id} has action space {action_space}; deepref.rl's DQN and policy-gradient learners "
            "need a discrete action space Discrete(n) starting at 0 (continuous actions need e.g. DDPG or SAC)"
        )
    return int(action_space.n)


def make_vec_env(env_id: str, num_envs: int = 1, dtype=None) -> VecEnv:
    """A vectorised environment: :class:`CartPoleVec` for ``"CartPole-v1"``, else :class:`GymnasiumVec`."""
    if env_id == "CartPole-v1":
        return CartPoleVec(num_envs, dtype=dtype)
    return GymnasiumVec(env_id, num_envs, dtype=dtype)
