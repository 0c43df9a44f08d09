"""The losses of deep RL, each a forward/backward pair with a hand-derived gradient.

All are means over a batch of ``N`` samples and return a 0-D array.

* Huber (DQN's TD loss): ``l(d) = d^2/2`` for ``|d| <= delta``, else
  ``delta (|d| - delta/2)``; ``dl/dd = clip(d, -delta, delta)``.
* Policy gradient (REINFORCE, A2C): ``L = -mean_n A_n log pi(a_n|s_n)`` with
  ``log pi = log_softmax(z)``; ``dL/dz_n = -(A_n / N) (onehot(a_n) - pi_n)``.
* Entropy: ``H = -mean_n sum_k pi_nk log pi_nk``;
  ``dH/dz_nk = -(1/N) pi_nk (log pi_nk + H_n)`` with ``H_n`` the row's entropy.
* PPO's clipped surrogate: with ``rho = exp(log pi(a|s) - log pi_old(a|s))``,
  ``L = -mean min(rho A, clip(rho, 1-eps, 1+eps) A)``; the gradient flows only
  where the unclipped term is the smaller one:
  ``dL/dz = -(1/N) 1[unclipped] A rho (onehot(a) - pi)``.
* Value loss (the critic's regression on returns): ``L = mean (V - G)^2 / 2``;
  ``dL/dV = (V - G) / N``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_namespace
from ..nn import log_softmax, one_hot
from ..validation import check_ndim, check_positive, check_shape


def _check_policy_batch(logits, actions, weights=None, weights_name: str = "advantages") -> None:
    check_ndim("logits", logits, 2, "(N, A)")
    check_shape("actions", actions, (logits.shape[0],))
    if "int" not in str(actions.dtype):
        raise TypeError(f"actions must be integer indices in [0, {logits.shape[1]}), got dtype {actions.dtype}")
    if weights is not None:
        check_shape(weights_name, weights, (logits.shape[0],))


class HuberCache(NamedTuple):
    diff: object
    delta: float


def huber_forward(pred, target, delta: float = 1.0):
    """Mean Huber loss of ``pred - target``.

    Parameters
    ----------
    pred, target : (N,) arrays
    delta : float
        Width of the quadratic zone (``> 0``).

    Returns
    -------
    loss : 0-D array
    cache : HuberCache
    """
    check_positive("delta", delta)
    check_ndim("pred", pred, 1, "(N,)")
    check_shape("target", target, tuple(pred.shape))
    xp = get_namespace(pred, target)
    diff = pred - target
    absolute = xp.abs(diff)
    pointwise = xp.where(absolute <= delta, 0.5 * diff**2, delta * (absolute - 0.5 * delta))
    return xp.mean(pointwise), HuberCache(diff, float(delta))


def huber_backward(dloss, cache: HuberCache):
    """``dpred = dloss * clip(diff, -delta, delta) / N``, shape ``(N,)``; ``dtarget = -dpred``."""
    xp = get_namespace(cache.diff)
    dpred = dloss * xp.clip(cache.diff, -cache.delta, cache.delta) / cache.diff.shape[0]
    return dpred, -dpred


class PolicyCache(NamedTuple):
    probs: object
    action_mask: object
    weights: object


def log_prob_of(logits, actions):
    """``log pi(a_n | s_n)`` for logits ``(N, A)`` and actions ``(N,)``; returns ``(N,)``."""
    xp = get_namespace(logits)
    mask = one_hot(actions, logits.shape[1], logits.dtype)
    return xp.sum(log_softmax(logits, axis=1) * mask, axis=1)


def policy_gradient_forward(logits, actions, advantages):
    """REINFORCE's surrogate loss ``-mean(A * log pi(a|s))``.

    Parameters
    ----------
    logits : (N, A) array
        Unnormalised log-probabilities of the softmax policy.
    actions : (N,) integer array
        Actions taken.
    advantages : (N,) array
        Returns or advantages (treated as constants).

    Returns
    -------
    loss : 0-D array
    cache : PolicyCache
    """
    _check_policy_batch(logits, actions, advantages)
    xp = get_namespace(logits, advantages)
    log_probs = log_softmax(logits, axis=1)
    mask = one_hot(actions, logits.shape[1], logits.dtype)
    loss = -xp.mean(advantages * xp.sum(log_probs * mask, axis=1))
    return loss, PolicyCache(xp.exp(log_probs), mask, advantages)


def policy_gradient_backward(dloss, cache: PolicyCache):
    """``dlogits = -dloss * A[:, None] (onehot(a) - pi) / N``, shape ``(N, A)``."""
    n = cache.probs.shape[0]
    return -dloss * cache.weights[:, None] * (cache.action_mask - cache.probs) / n


class EntropyCache(NamedTuple):
    probs: object
    log_probs: object
    row_entropy: object


def entropy_forward(logits):
    """Mean entropy ``H = -mean_n sum_k pi_nk log pi_nk`` (nats) of softmax policies ``(N, A)``."""
    check_ndim("logits", logits, 2, "(N, A)")
    xp = get_namespace(logits)
    log_probs = log_softmax(logits, axis=1)
    probs = xp.exp(log_probs)
    row_entropy = -xp.sum(probs * log_probs, axis=1)
    return xp.mean(row_entropy), EntropyCache(probs, log_probs, row_entropy)


def entropy_backward(dloss, cache: EntropyCache):
    """``dlogits = -dloss * pi (log pi + H_row) / N``, shape ``(N, A)``."""
    n = cache.probs.shape[0]
    return -dloss * cache.probs * (cache.log_probs + cache.row_entropy[:, None]) / n


def clipped_surrogate_forward(logits, actions, old_log_probs, advantages,
                              clip: float = 0.2):
    """PPO's clipped surrogate loss (to minimise).

    Parameters
    ----------
    logits : (N, A) array
        The current policy's logits.
    actions : (N,) integer array
    old_log_probs : (N,) array
        ``log pi_old(a_n | s_n)`` of the policy that collected the data.
    advantages : (N,) array
    clip : float
        ``epsilon``: the ratio is clipped to ``[1 - clip, 1 + clip]``.

    Returns
    -------
    loss : 0-D array
    cache : PolicyCache
        With weights ``1[unclipped] A rho``, the factor of the gradient.
    """
    _check_policy_batch(logits, actions, advantages)
    check_shape("old_log_probs", old_log_probs, (logits.shape[0],))
    check_positive("clip", clip)
    xp = get_namespace(logits, advantages)
    log_probs = log_softmax(logits, axis=1)
    mask = one_hot(actions, logits.shape[1], logits.dtype)
    ratio = xp.exp(xp.sum(log_probs * mask, axis=1) - old_log_probs)
    unclipped = ratio * advantages
    clipped = xp.clip(ratio, 1.0 - clip, 1.0 + clip) * advantages
    active = xp.astype(unclipped <= clipped, logits.dtype)
    loss = -xp.mean(xp.minimum(unclipped, clipped))
    return loss, PolicyCache(xp.exp(log_probs), mask, active * ratio * advantages)


def clipped_surrogate_backward(dloss, cache: PolicyCache):
    """``dlogits = -dloss * 1[unclipped] A rho (onehot(a) - pi) / N``, shape ``(N, A)``.

    The policy-gradient backward with weights ``1[unclipped] A rho``.
    """
    return policy_gradient_backward(dloss, cache)


class ValueCache(NamedTuple):
    diff: object


def value_loss_forward(values, returns):
    """The critic's loss ``mean((V - G)^2) / 2`` for ``values`` and ``returns`` of shape ``(N,)``."""
    check_ndim("values", values, 1, "(N,)")
    check_shape("returns", returns, tuple(values.shape))
    diff = values - returns
    return get_namespace(diff).mean(diff**2) / 2, ValueCache(diff)


def value_loss_backward(dloss, cache: ValueCache):
    """``dvalues = dloss * (V - G) / N``, shape ``(N,)``."""
    return dloss * cache.diff / cache.diff.shape[0]
