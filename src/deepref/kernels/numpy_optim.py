"""NumPy kernels of the optimizer steps: each rule chained in place over cache-sized chunks.

An optimizer step is a short chain of element-wise operations over a few
arrays of the parameter's size. Written as its equation
(:func:`deepref.optim.optimizers.adam_update`), every operation allocates a
full-size temporary and streams it through main memory; for a large model
that is dozens of passes per step where the data only needs to be read and
written once. The kernels here apply the same operations, in the same order
and so with the same roundings, without changing any number:

* every operation writes into an existing array: an in-place operator
  (``m *= beta1``) or :func:`into` (``into(s, np.sqrt, v)``, which is
  ``np.sqrt(v, out=s)``);
* :func:`run_chunked` applies the chain to consecutive slices of about
  :data:`CHUNK_BYTES` of every array, so that the intermediate passes run on
  data still in the CPU's cache and only the inputs and outputs travel to and
  from main memory; the two work arrays ``s`` and ``t`` are reused from step
  to step.

Parameters whose arrays are not all C-contiguous go to the specification's
update function. The measured effect of the chunk size is in the benchmark
notes (``benchmarks/results/kernel_notes.md``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from ..optim import optimizers
from . import register

CHUNK_BYTES = 1 << 20
"""Bytes per array in one chunk (a chain's six arrays then stay in a shared L3 cache)."""


def into(out, fn: Callable, *args) -> None:
    """``out[...] = fn(*args)``, written straight into ``out``."""
    fn(*args, out=out)


class Scratch(threading.local):
    """Reusable chunk-sized work arrays, one set per dtype and chunk size (one per thread)."""

    def __init__(self):
        self._arrays: dict = {}

    def get(self, dtype, count: int) -> list:
        """``count`` work arrays of :data:`CHUNK_BYTES` in ``dtype``."""
        length = CHUNK_BYTES // np.dtype(dtype).itemsize
        arrays = self._arrays.setdefault((np.dtype(dtype), length), [])
        while len(arrays) < count:
            arrays.append(np.empty(length, dtype=dtype))
        return arrays[:count]


SCRATCH = Scratch()


def chunkable(*arrays) -> bool:
    """Whether the chunked chains can update ``arrays`` (``None`` entries ignored): NumPy, C-contiguous."""
    return all(a is None or (isinstance(a, np.ndarray) and a.flags.c_contiguous) for a in arrays)


def run_chunked(chain: Callable, arrays: dict, **scalars) -> None:
    """Call ``chain(**arrays, s=..., t=..., **scalars)`` on consecutive chunks of equally shaped arrays.

    Parameters
    ----------
    chain : callable
        Updates its array arguments in place with in-place operators and
        :func:`into` only; ``s`` and ``t`` are work arrays shaped like the chunk.
    arrays : dict of str to array or None
        C-contiguous arrays of one shape and dtype (``None`` entries are passed through).
    """
    present = [a for a in arrays.values() if a is not None]
    flat = {k: None if a is None else a.reshape(-1) for k, a in arrays.items()}
    size, dtype = present[0].size, present[0].dtype
    s, t = SCRATCH.get(dtype, 2)
    step = CHUNK_BYTES // dtype.itemsize
    for start in range(0, size, step):
        stop = min(start + step, size)
        chunk = {k: None if a is None else a[start:stop] for k, a in flat.items()}
        chain(**chunk, s=s[: stop - start], t=t[: stop - start], **scalars)


def _decayed_gradient(w, g, t, weight_decay):
    """``g + weight_decay * w`` into ``t`` (``g`` itself where there is no decay)."""
    if not weight_decay:
        return g
    into(t, np.multiply, w, weight_decay)
    t += g
    return t


def _adaptive_step(w, numerator, second_moment, s, eps, lr):
    """``w -= lr * numerator / (sqrt(second_moment) + eps)``, rounded in that order, through ``s``."""
    into(s, np.sqrt, second_moment)
    s += eps
    into(s, np.divide, numerator, s)
    s *= lr
    w -= s


def _sgd_chain(w, g, buf, s, t, *, lr, weight_decay, momentum, dampening, nesterov, first):
    g = _decayed_gradient(w, g, t, weight_decay)
    if buf is not None:
        if first:
            buf[...] = g
        else:
            buf *= momentum
            if dampening:
                into(s, np.multiply, g, 1 - dampening)
                buf += s
            else:
                buf += g
        if nesterov:
            into(s, np.multiply, buf, momentum)
            s += g
            g = s
        else:
            g = buf
    into(s, np.multiply, g, lr)
    w -= s


@register("sgd_step", "numpy")
def sgd_step(params, grads, momentum_buffers, firsts, **options) -> None:
    """:func:`deepref.optim.optimizers.sgd_step`, chained in place over chunks."""
    for w, g, buf, first in zip(params, grads, momentum_buffers, firsts):
        if chunkable(w, g, buf):
            run_chunked(_sgd_chain, dict(w=w, g=g, buf=buf), first=first, **options)
        else:
            optimizers.sgd_update(w, g, buf, first=first, **options)


def _adagrad_chain(w, g, total, s, t, *, lr, weight_decay, eps):
    g = _decayed_gradient(w, g, t, weight_decay)
    into(s, np.multiply, g, g)
    total += s
    _adaptive_step(w, g, total, s, eps, lr)


@register("adagrad_step", "numpy")
def adagrad_step(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps) -> None:
    """:func:`deepref.optim.optimizers.adagrad_step`, chained in place over chunks."""
    for w, g, total, step in zip(params, grads, sums, steps):
        options = dict(lr=lr / (1 + (step - 1) * lr_decay), weight_decay=weight_decay, eps=eps)
        if chunkable(w, g, total):
            run_chunked(_adagrad_chain, dict(w=w, g=g, total=total), **options)
        else:
            optimizers.adagrad_update(w, g, total, **options)


def _rmsprop_chain(w, g, square_avg, grad_avg, buf, s, t, *, lr, alpha, eps, weight_decay, momentum):
    g = _decayed_gradient(w, g, t, weight_decay)
    square_avg *= alpha
    into(s, np.multiply, g, g)
    s *= 1 - alpha
    square_avg += s
    if grad_avg is not None:
        into(s, np.subtract, g, grad_avg)
        s *= 1 - alpha
        grad_avg += s
        into(s, np.multiply, grad_avg, grad_avg)
        into(s, np.subtract, square_avg, s)
        into(s, np.sqrt, s)
    else:
        into(s, np.sqrt, square_avg)
    s += eps
    into(s, np.divide, g, s)
    if buf is not None:
        buf *= momentum
        buf += s
        s[...] = buf
    s *= lr
    w -= s


@register("rmsprop_step", "numpy")
def rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, **options) -> None:
    """:func:`deepref.optim.optimizers.rmsprop_step`, chained in place over chunks."""
    for w, g, square_avg, grad_avg, buf in zip(params, grads, square_avgs, grad_avgs, momentum_buffers):
        if chunkable(w, g, square_avg, grad_avg, buf):
            arrays = dict(w=w, g=g, square_avg=square_avg, grad_avg=grad_avg, buf=buf)
            run_chunked(_rmsprop_chain, arrays, **options)
        else:
            optimizers.rmsprop_update(w, g, square_avg, grad_avg, buf, **options)


def _adam_chain(w, g, m, v, v_max, s, t, *, decay, weight_decay, keep1, beta2, keep2, eps_c, lr_c):
    if decay != 1:
        w *= decay
    g = _decayed_gradient(w, g, t, weight_decay)
    into(s, np.subtract, g, m)
    s *= keep1
    m += s
    v *= beta2
    into(s, np.multiply, g, g)
    s *= keep2
    v += s
    if v_max is not None:
        into(v_max, np.maximum, v_max, v)
        v = v_max
    _adaptive_step(w, m, v, s, eps_c, lr_c)


@register("adam_step", "numpy")
def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1, beta2, eps,
              weight_decay, decoupled_weight_decay) -> None:
    """:func:`deepref.optim.optimizers.adam_step`, chained in place over chunks."""
    for w, g, m, v, v_max, step in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps):
        if not chunkable(w, g, m, v, v_max):
            optimizers.adam_update(w, g, m, v, v_max, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                   weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                                   step=step)
            continue
        c = math.sqrt(1 - beta2**step)  # the scalars adam_update computes, rounded the same way
        run_chunked(
            _adam_chain, dict(w=w, g=g, m=m, v=v, v_max=v_max),
            decay=1 - lr * decoupled_weight_decay, weight_decay=weight_decay, keep1=1 - beta1, beta2=beta2,
            keep2=1 - beta2, eps_c=eps * c, lr_c=lr / (1 - beta1**step) * c,
        )
