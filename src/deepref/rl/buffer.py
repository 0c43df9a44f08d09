"""A circular replay buffer of transitions, stored as backend arrays."""

from __future__ import annotations

from typing import NamedTuple

from ..backend import current_namespace, resolve_dtype
from ..nn.init import as_generator
from ..validation import check_count, check_shape


class Batch(NamedTuple):
    """Transitions: ``obs`` ``(B, D)``, ``actions`` ``(B,)``, ``rewards`` ``(B,)``,
    ``next_obs`` ``(B, D)`` (before any reset) and ``terminated`` ``(B,)`` bool."""

    obs: object
    actions: object
    rewards: object
    next_obs: object
    terminated: object


class ReplayBuffer:
    """The last ``capacity`` transitions; new ones overwrite the oldest.

    Parameters
    ----------
    capacity : int
    observation_dim : int
    seed : int or Generator, optional
        Seed of the sampling generator (same seed, same batches).
    dtype : str or dtype, optional
        Dtype of observations and rewards.

    Examples
    --------
    >>> from deepref.backend import current_namespace
    >>> xp = current_namespace()
    >>> buf = ReplayBuffer(capacity=4, observation_dim=2, seed=0)
    >>> obs = xp.zeros((3, 2))
    >>> buf.add(obs, xp.asarray([0, 1, 0]), xp.ones(3), obs, xp.asarray([False, False, True]))
    >>> len(buf)
    3
    """

    def __init__(self, capacity: int, observation_dim: int, seed=None, dtype=None):
        self.capacity = check_count("capacity", capacity)
        self.observation_dim = check_count("observation_dim", observation_dim)
        xp = self.xp = current_namespace()
        dtype = resolve_dtype(dtype, xp)
        self.obs = xp.zeros((capacity, observation_dim), dtype=dtype)
        self.next_obs = xp.zeros((capacity, observation_dim), dtype=dtype)
        self.actions = xp.zeros(capacity, dtype=xp.int64)
        self.rewards = xp.zeros(capacity, dtype=dtype)
        self.terminated = xp.zeros(capacity, dtype=xp.bool)
        self.position = 0
        self.size = 0
        self._rng = as_generator(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """Append a batch of ``K`` transitions (``obs`` ``(K, D)``, the others ``(K,)``), wrapping around."""
        k = obs.shape[0]
        check_shape("obs", obs, (k, self.observation_dim))
        check_shape("next_obs", next_obs, (k, self.observation_dim))
        for name, array in (("actions", actions), ("rewards", rewards), ("terminated", terminated)):
            check_shape(name, array, (k,))
        if k > self.capacity:
            raise ValueError(f"cannot add {k} transitions at once to a buffer of capacity {self.capacity}")
        xp = self.xp
        first = min(k, self.capacity - self.position)
        parts = ((0, first, self.position), (first, k, 0))
        for start, stop, at in parts:
            if stop <= start:
                continue
            end = at + stop - start
            self.obs[at:end, :] = obs[start:stop, :]
            self.next_obs[at:end, :] = next_obs[start:stop, :]
            self.actions[at:end] = xp.astype(actions[start:stop], xp.int64)
            self.rewards[at:end] = xp.astype(rewards[start:stop], self.rewards.dtype)
            self.terminated[at:end] = terminated[start:stop]
        self.position = (self.position + k) % self.capacity
        self.size = min(self.size + k, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement.

        Raises
        ------
        ValueError
            If the buffer holds fewer than ``batch_size`` transitions.
        """
        check_count("batch_size", batch_size)
        if self.size < batch_size:
            raise ValueError(
                f"the replay buffer holds {self.size} transitions, fewer than batch_size={batch_size}; "
                "collect more experience (learning_starts) before sampling"
            )
        return self._take(self._rng.integers(0, self.size, size=batch_size, like=self.obs))

    def latest(self, count: int) -> Batch:
        """The ``count`` most recent transitions, oldest first (training without replay)."""
        check_count("count", count)
        if self.size < count:
            raise ValueError(f"the replay buffer holds {self.size} transitions, fewer than count={count}")
        xp = self.xp
        return self._take((xp.arange(count, dtype=xp.int64) + (self.position - count)) % self.capacity)

    def _take(self, index) -> Batch:
        take = self.xp.take
        return Batch(take(self.obs, index, axis=0), take(self.actions, index), take(self.rewards, index),
                     take(self.next_obs, index, axis=0), take(self.terminated, index))
