"""Finite MDPs: the Bellman equations solved by dynamic programming, and learned by Q-learning and SARSA.

A finite MDP here is three arrays: ``P[s, a, s']``, the probability that
action ``a`` in state ``s`` leads to ``s'`` *and the episode goes on*;
``R[s, a]``, the expected immediate reward; and ``gamma``. Transitions that
terminate the episode carry reward but no next state, so their probability is
missing from ``P`` (its rows sum to the probability of continuing). The
Bellman equations are then

    V^pi(s) = sum_a pi(a|s) [R(s,a) + gamma sum_s' P(s,a,s') V^pi(s')]
    V*(s)   = max_a          [R(s,a) + gamma sum_s' P(s,a,s') V*(s')].

Dynamic programming runs on backend arrays; Q-learning and SARSA interact with a
Gymnasium environment one step at a time and keep their table on the host.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import asarray, get_namespace, to_numpy
from ..seeds import spawn_seeds
from ..validation import check_count, check_in_range, check_ndim, check_positive, check_shape


def check_discount(gamma: float) -> float:
    """Raise ``ValueError`` unless the discount ``gamma`` lies in ``[0, 1]``."""
    return check_in_range("gamma (discount)", gamma, 0.0, 1.0, closed="both")


class MDP(NamedTuple):
    """A finite Markov decision process (see the module docstring).

    Attributes
    ----------
    P : (S, A, S) float array
        Probability of moving to ``s'`` and continuing.
    R : (S, A) float array
        Expected immediate reward.
    gamma : float
        Discount in ``[0, 1]``.
    """

    P: object
    R: object
    gamma: float

    @property
    def num_states(self) -> int:
        return int(self.P.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.P.shape[1])


def make_mdp(P, R, gamma: float) -> MDP:
    """Validate and build an :class:`MDP` from ``P`` ``(S, A, S)``, ``R`` ``(S, A)`` and ``gamma``."""
    check_discount(gamma)
    check_ndim("P", P, 3, "(S, A, S)")
    check_shape("P", P, (P.shape[0], None, P.shape[0]))
    check_shape("R", R, tuple(P.shape[:2]))
    xp = get_namespace(P, R)
    row_sums = to_numpy(xp.sum(P, axis=2))
    if float(np.min(to_numpy(P))) < 0 or float(np.max(row_sums)) > 1 + 1e-9:
        raise ValueError("P must hold probabilities whose sum over s' is at most 1 for every (s, a)")
    return MDP(P, R, float(gamma))


def mdp_from_gymnasium(env, gamma: float, dtype=None) -> MDP:
    """The :class:`MDP` of a Gymnasium toy-text environment from its table ``env.unwrapped.P``.

    ``P[s][a]`` lists ``(probability, next_state, reward, terminated)``; the
    terminating outcomes contribute their reward but no next-state mass.
    """
    table = env.unwrapped.P
    n_states, n_actions = len(table), len(table[0])
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    for s, row in table.items():
        for a, outcomes in row.items():
            for prob, s_next, reward, terminated in outcomes:
                R[s, a] += prob * reward
                if not terminated:
                    P[s, a, s_next] += prob
    dtype = dtype or "float64"
    return make_mdp(asarray(P, dtype=dtype), asarray(R, dtype=dtype), gamma)


def q_from_v(mdp: MDP, V):
    """One-step look-ahead ``Q(s,a) = R(s,a) + gamma sum_s' P(s,a,s') V(s')``: ``(S,)`` -> ``(S, A)``."""
    check_shape("V", V, (mdp.num_states,))
    return mdp.R + mdp.gamma * (mdp.P @ V)


def bellman_optimality(mdp: MDP, V):
    """The Bellman optimality operator ``(T V)(s) = max_a Q(s, a)``, shape ``(S,)``."""
    return get_namespace(V).max(q_from_v(mdp, V), axis=1)


class ValueIterationResult(NamedTuple):
    """``V`` ``(S,)``, ``Q`` ``(S, A)``, greedy ``policy`` ``(S,)`` and the sup-norm change per iteration."""

    V: object
    Q: object
    policy: object
    deltas: list


def value_iteration(
    mdp: MDP, tol: float = 1e-10, max_iter: int = 10_000, V0=None
) -> ValueIterationResult:
    """Iterate ``V <- T V`` until the sup-norm change falls below ``tol``.

    ``T`` is a ``gamma``-contraction in the sup norm, so for ``gamma < 1`` the
    error after ``k`` iterations is at most ``gamma^k`` times the initial one.
    """
    check_positive("tol", tol)
    check_count("max_iter", max_iter)
    xp = get_namespace(mdp.P)
    V = xp.zeros(mdp.num_states, dtype=mdp.R.dtype) if V0 is None else V0
    deltas = []
    for _ in range(max_iter):
        V_next = bellman_optimality(mdp, V)
        deltas.append(float(xp.max(xp.abs(V_next - V))))
        V = V_next
        if deltas[-1] < tol:
            break
    else:
        raise RuntimeError(
            f"value iteration did not reach tol={tol} in {max_iter} iterations "
            f"(gamma={mdp.gamma})"
        )
    Q = q_from_v(mdp, V)
    return ValueIterationResult(V, Q, xp.argmax(Q, axis=1), deltas)


def policy_matrix(policy, num_actions: int, dtype):
    """A deterministic policy ``(S,)`` of action indices as an ``(S, A)`` matrix of probabilities."""
    xp = get_namespace(policy)
    return xp.astype(policy[:, None] == xp.arange(num_actions, dtype=policy.dtype)[None, :], dtype)


def policy_evaluation(mdp: MDP, pi):
    """``V^pi`` by solving the Bellman expectation equation ``(I - gamma P_pi) V = R_pi`` exactly.

    Parameters
    ----------
    mdp : MDP
    pi : (S, A) float array
        ``pi[s, a]``, the probability of action ``a`` in state ``s``.

    Returns
    -------
    V : (S,) array
    """
    check_shape("pi", pi, (mdp.num_states, mdp.num_actions))
    xp = get_namespace(mdp.P, pi)
    P_pi = xp.sum(pi[:, :, None] * mdp.P, axis=1)
    R_pi = xp.sum(pi * mdp.R, axis=1)
    eye = xp.eye(mdp.num_states, dtype=mdp.R.dtype)
    return xp.linalg.solve(eye - mdp.gamma * P_pi, R_pi[:, None])[:, 0]


def policy_iteration(mdp: MDP, max_iter: int = 1000) -> tuple:
    """Alternate exact evaluation and greedy improvement until the policy is stable.

    Returns
    -------
    V : (S,) array
    policy : (S,) integer array
    iterations : int
    """
    xp = get_namespace(mdp.P)
    policy = xp.zeros(mdp.num_states, dtype=xp.int64)
    for iteration in range(1, check_count("max_iter", max_iter) + 1):
        V = policy_evaluation(mdp, policy_matrix(policy, mdp.num_actions, mdp.R.dtype))
        Q = q_from_v(mdp, V)
        current = xp.sum(Q * policy_matrix(policy, mdp.num_actions, Q.dtype), axis=1)
        improved = xp.max(Q, axis=1) > current + 1e-12
        if not bool(xp.any(improved)):
            return V, policy, iteration
        policy = xp.where(improved, xp.argmax(Q, axis=1), policy)
    raise RuntimeError(f"policy iteration did not stabilise in {max_iter} iterations")


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """With probability ``epsilon`` a uniform action, else a greedy one (ties broken at random)."""
    if rng.random() < epsilon:
        return int(rng.integers(q_row.shape[0]))
    best = np.flatnonzero(q_row == q_row.max())
    return int(best[rng.integers(best.shape[0])])


class TabularResult(NamedTuple):
    """A learned ``Q`` table ``(S, A)`` (backend array) and the return of every training episode."""

    Q: object
    returns: np.ndarray


def _td_control(env, sarsa: bool, episodes: int, alpha: float, gamma: float,
                epsilon: float, seed, Q0=None) -> TabularResult:
    """Q-learning (``sarsa=False``) or SARSA on ``env``, acting epsilon-greedily."""
    check_count("episodes", episodes)
    check_in_range("alpha", alpha, 0.0, 1.0, closed="right")
    check_discount(gamma)
    check_in_range("epsilon", epsilon, 0.0, 1.0, closed="both")
    action_seed, env_seed = spawn_seeds(seed, 2)
    rng = np.random.default_rng(action_seed)
    n_states, n_actions = env.observation_space.n, env.action_space.n
    if Q0 is None:
        Q = np.zeros((n_states, n_actions))
    else:
        Q = np.array(to_numpy(Q0), dtype=np.float64)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        s, _ = env.reset(seed=env_seed if episode == 0 else None)
        a = epsilon_greedy(Q[s], epsilon, rng)
        done = False
        while not done:
            s2, r, terminated, truncated, _ = env.step(a)
            if sarsa:  # the target needs a', chosen before the update
                a2 = epsilon_greedy(Q[s2], epsilon, rng)
                y = r if terminated else r + gamma * Q[s2, a2]
            else:
                y = r if terminated else r + gamma * Q[s2].max()
            Q[s, a] += alpha * (y - Q[s, a])
            if not sarsa:  # the next action sees the update (it matters when s' = s)
                a2 = epsilon_greedy(Q[s2], epsilon, rng)
            returns[episode] += r
            s, a, done = s2, a2, terminated or truncated
    return TabularResult(asarray(Q), returns)


def q_learning(env, episodes: int, alpha: float = 0.5, gamma: float = 0.99, epsilon: float = 0.1,
               seed=0, Q0=None) -> TabularResult:
    """Off-policy TD control: ``Q(s,a) += alpha [r + gamma max_a' Q(s',a') - Q(s,a)]``.

    Acts epsilon-greedily; the target is greedy, so ``Q`` approaches ``Q*``
    whatever the exploration (as long as every pair keeps being visited). A
    terminal transition has target ``r`` (no bootstrap); a truncated one still
    bootstraps from ``s'``. The next action is chosen after the update, as in
    Sutton and Barto's pseudocode. ``seed`` (an int or a generator) feeds
    independent streams for the actions and the environment's first reset.
    """
    return _td_control(env, False, episodes, alpha, gamma, epsilon, seed, Q0)


def sarsa(env, episodes: int, alpha: float = 0.5, gamma: float = 0.99, epsilon: float = 0.1,
          seed=0, Q0=None) -> TabularResult:
    """On-policy TD control: the target uses the action ``a'`` actually taken next.

    ``Q`` approaches the value of the epsilon-greedy policy itself, so SARSA
    learns to keep away from states where an exploratory action is costly.
    ``seed`` as in :func:`q_learning`.
    """
    return _td_control(env, True, episodes, alpha, gamma, epsilon, seed, Q0)
