"""Networks, greedy policies, saving and loading, and evaluation on Gymnasium.

A saved policy is an ``.npz`` file (read with ``allow_pickle=False``) holding
the network's parameters and a few plain arrays that describe it: the layer
sizes, the activation, the algorithm that trained it and the environment
it was trained on. Anyone can load it
with :func:`load_policy` and call ``act(obs)`` in their own loop.
"""

from __future__ import annotations

from os import PathLike

import numpy as np

from .. import nn
from ..backend import Generator, current_namespace, get_namespace, resolve_dtype, to_numpy
from ..nn.init import as_generator
from ..validation import check_choice, check_count

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
"""Hidden-layer nonlinearities of :func:`mlp`."""


def mlp(sizes, activation: str = "relu", seed=0, dtype=None) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between layers.

    ``seed`` (an int or a generator) draws the initial weights of all layers in turn.

    >>> [p.shape for p in mlp([4, 8, 2]).parameters()]
    [(4, 8), (8,), (8, 2), (2,)]
    """
    check_choice("activation", activation, ACTIVATIONS)
    sizes = [check_count(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size, got {sizes}")
    rng, layers = as_generator(seed), []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(d_in, d_out, seed=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Policy:
    """The greedy policy ``argmax_a net(obs)[a]`` of a Q-network or of a softmax policy's logits.

    Parameters
    ----------
    net : deepref.nn.Module
        Maps ``(N, observation_dim)`` observations to ``(N, num_actions)`` scores.
    sizes : sequence of int
        Layer sizes of ``net`` (input first).
    activation : str
    algorithm : str
        The learner that produced it ("dqn", "ppo", ...), kept as a label.
    env_id : str
        The Gymnasium id of the environment it was trained on ("" if unknown).
    """

    def __init__(self, net: nn.Module, sizes, activation: str = "relu", algorithm: str = "", env_id: str = ""):
        self.net = net
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.algorithm = algorithm
        self.env_id = env_id

    @property
    def observation_dim(self) -> int:
        return self.sizes[0]

    @property
    def num_actions(self) -> int:
        return self.sizes[-1]

    @property
    def dtype(self):
        return self.net.parameters()[0].data.dtype

    def check_obs(self, obs) -> None:
        """Raise ``ValueError`` unless ``obs`` is ``(N, observation_dim)``."""
        if obs.ndim != 2 or obs.shape[1] != self.observation_dim:
            raise ValueError(
                f"observations must have shape (N, {self.observation_dim}) for this policy, "
                f"got {tuple(obs.shape)}"
            )

    def act_batch(self, obs):
        """Greedy actions ``(N,)`` (int64, on ``obs``'s backend) for observations ``(N, observation_dim)``."""
        self.check_obs(obs)
        xp = get_namespace(obs)
        return xp.argmax(self.net.forward(xp.astype(obs, self.dtype)), axis=1)

    def act(self, obs) -> int:
        """The greedy action for one Gymnasium observation of shape ``(observation_dim,)``."""
        host = np.asarray(obs, dtype=np.float64)
        if host.shape != (self.observation_dim,):
            raise ValueError(
                f"act expects one observation of shape ({self.observation_dim},), got {host.shape}; "
                "use act_batch for a batch"
            )
        xp = get_namespace(self.net.parameters()[0].data)
        return int(to_numpy(self.act_batch(xp.asarray(host[None, :])))[0])

    def save(self, path: str | PathLike) -> None:
        """Write the parameters and the description to ``path`` (``.npz``)."""
        arrays = {f"param.{k}": v for k, v in self.net.state_dict().items()}
        arrays.update(
            {"meta.sizes": np.asarray(self.sizes, dtype=np.int64), "meta.activation": np.asarray(self.activation),
             "meta.algorithm": np.asarray(self.algorithm), "meta.env_id": np.asarray(self.env_id)}
        )
        np.savez(path, **arrays)


def load_policy(path: str | PathLike) -> Policy:
    """Load a policy written by :meth:`Policy.save` on the current backend, bit for bit."""
    with np.load(path, allow_pickle=False) as archive:
        files = set(archive.files)
        missing = {"meta.sizes", "meta.activation", "meta.algorithm"} - files
        if missing:
            raise ValueError(f"{path} is not a deepref.rl policy file: missing {sorted(missing)}")
        sizes = archive["meta.sizes"].tolist()
        activation, algorithm = str(archive["meta.activation"]), str(archive["meta.algorithm"])
        env_id = str(archive["meta.env_id"]) if "meta.env_id" in files else ""
        state = {k[len("param."):]: archive[k] for k in files if k.startswith("param.")}
    dtype = str(next(iter(state.values())).dtype)
    net = mlp(sizes, activation, dtype=resolve_dtype(dtype, current_namespace()))
    net.load_state_dict(state)
    return Policy(net, sizes, activation, algorithm, env_id)


def evaluate_policy(policy, env_id: str = "CartPole-v1", episodes: int = 100, seed=0) -> np.ndarray:
    """Undiscounted returns of ``policy`` on ``episodes`` episodes of the real Gymnasium environment.

    The episodes run side by side (episode ``i`` is reset with seed
    ``seed + i``; a generator as ``seed`` draws the first seed), so the policy
    is called once per step on the batch of running episodes.

    Parameters
    ----------
    policy : Policy
        Anything with ``act_batch(obs)`` mapping ``(N, D)`` backend arrays to ``(N,)`` actions.
    env_id : str
    episodes : int
    seed : int or Generator

    Returns
    -------
    returns : (episodes,) numpy array
    """
    import gymnasium as gym

    check_count("episodes", episodes)
    if isinstance(seed, (Generator, np.random.Generator)):
        seed = int(as_generator(seed).integers(0, 2**31, size=1, like=np.empty(0))[0])
    seed = check_count("seed", seed, minimum=0)
    envs = [gym.make(env_id) for _ in range(episodes)]
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    returns = np.zeros(episodes)
    running = list(range(episodes))
    xp = get_namespace(policy.net.parameters()[0].data)
    while running:
        batch = xp.asarray(np.asarray([obs[i] for i in running], dtype=np.float64))
        actions = to_numpy(policy.act_batch(batch))
        still = []
        for i, action in zip(running, actions):
            obs[i], reward, terminated, truncated, _ = envs[i].step(int(action))
            returns[i] += reward
            if not (terminated or truncated):
                still.append(i)
        running = still
    for env in envs:
        env.close()
    return returns
