"""Returns, TD targets and generalised advantage estimates on batches of ``N`` parallel episodes.

The one rule that matters: an episode that *terminated* has no value beyond
its last step, so nothing is bootstrapped; an episode that was *truncated* by a
time limit stopped in a state that still has a value, so the learner
bootstraps from the value of the observation it stopped at.
"""

from __future__ import annotations

from ..backend import get_namespace
from ..validation import check_in_range, check_ndim, check_shape
from .tabular import check_discount


def td_target(rewards, next_values, terminated, gamma: float):
    """One-step target ``r + gamma (1 - terminated) V(s')`` for ``(N,)`` arrays.

    ``next_values`` is the value of the observation the action led to (the
    final observation of a truncated episode, not the reset one).
    """
    check_discount(gamma)
    check_ndim("rewards", rewards, 1, "(N,)")
    check_shape("next_values", next_values, tuple(rewards.shape))
    check_shape("terminated", terminated, tuple(rewards.shape))
    xp = get_namespace(rewards, next_values)
    return rewards + gamma * xp.where(terminated, xp.zeros_like(next_values), next_values)


def gae(rewards, values, next_values, terminated, truncated, gamma: float, lam: float):
    """Generalised advantage estimates for a rollout of ``T`` steps of ``N`` environments.

    ``delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)`` and
    ``A_t = delta_t + gamma lam (1 - done_t) A_{t+1}`` with ``A_T = 0``, where
    ``s'_t`` is the observation step ``t`` led to and ``done = terminated | truncated``.
    ``lam = 1`` gives the Monte Carlo return minus the baseline (bootstrapped
    only at truncations and at the end of the rollout); ``lam = 0`` the TD error.

    Parameters
    ----------
    rewards, values, next_values : (T, N) arrays
    terminated, truncated : (T, N) bool arrays
    gamma, lam : float in [0, 1]

    Returns
    -------
    advantages : (T, N) array
    returns : (T, N) array
        ``advantages + values``, the critic's regression target.
    """
    check_discount(gamma)
    check_in_range("lam", lam, 0.0, 1.0, closed="both")
    check_ndim("rewards", rewards, 2, "(T, N)")
    for name, array in (("values", values), ("next_values", next_values),
                        ("terminated", terminated), ("truncated", truncated)):
        check_shape(name, array, tuple(rewards.shape))
    xp = get_namespace(rewards, values, next_values)
    zeros = xp.zeros_like(next_values)
    deltas = rewards + gamma * xp.where(terminated, zeros, next_values) - values
    ones = xp.ones_like(next_values)
    carry = xp.where(terminated | truncated, zeros, ones) * (gamma * lam)
    advantage = xp.zeros_like(rewards[0, :])
    out = []
    for t in range(rewards.shape[0] - 1, -1, -1):
        advantage = deltas[t, :] + carry[t, :] * advantage
        out.append(advantage)
    advantages = xp.stack(out[::-1], axis=0)
    return advantages, advantages + values
