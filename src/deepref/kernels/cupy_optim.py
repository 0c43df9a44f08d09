"""CuPy kernels of the optimizer steps: one fused CUDA launch per parameter per step.

On a GPU the element-wise operations of an optimizer step written as their
equation (:func:`deepref.optim.optimizers.adam_update`) cost one kernel
launch and one trip through device memory each: about a dozen for Adam. Each
kernel here does the whole step for one element in registers, so every array
is read once and the ones that change written once.

The group steps here (``sgd_step``, ``adagrad_step``, ``rmsprop_step``,
``adam_step``: every option of SGD, Adagrad, RMSprop, Adam and AdamW) run
parameters whose arrays are float32 or float64 CuPy arrays, all C-contiguous
(:func:`applies`), fused, and the others through the specification's update
function. The kernels registered for those ops on CuPy are
:mod:`deepref.kernels.cupy_multi_tensor`'s, which step a whole group in one
launch of this same source and hand any other group to the functions here.

Each kernel body applies its update function's operations in the same order;
the scalars are rounded to the arrays' dtype on the host (as NumPy and CuPy
do with a Python float), and the source is compiled with ``--fmad=false`` so
that no multiply-add is contracted into one rounding. The fused step
therefore rounds as the specification does, and on the host the same source,
compiled by a C++ compiler, reproduces the NumPy optimizers bit for bit
(``tests/test_fused_cupy.py``).

CuPy is imported only when a kernel is launched; :data:`SOURCE` and
:func:`arguments` need neither CuPy nor a GPU.
"""

from __future__ import annotations

import functools
import math

import array_api_compat
import numpy as np

from ..optim import optimizers

SOURCE = r"""
extern "C" __global__ void sgd(T* w, const T* g, T* buf, const T lr, const T weight_decay,
                               const T momentum, const T keep, const int first,
                               const int nesterov, const long long n) {
    FOR_EACH(i, n) {
        T d = g[i];
        if (weight_decay != 0) d = w[i] * weight_decay + g[i];
        if (buf != nullptr) {
            if (first) {
                buf[i] = d;
            } else {
                buf[i] = buf[i] * momentum;
                if (keep != 1) buf[i] = buf[i] + d * keep;
                else buf[i] = buf[i] + d;
            }
            if (nesterov) d = buf[i] * momentum + d;
            else d = buf[i];
        }
        w[i] = w[i] - d * lr;
    }
}

extern "C" __global__ void adagrad(T* w, const T* g, T* total, const T lr, const T weight_decay,
                                   const T eps, const long long n) {
    FOR_EACH(i, n) {
        T d = g[i];
        if (weight_decay != 0) d = w[i] * weight_decay + g[i];
        total[i] = total[i] + d * d;
        w[i] = w[i] - d / (sqrt(total[i]) + eps) * lr;
    }
}

extern "C" __global__ void rmsprop(T* w, const T* g, T* square_avg, T* grad_avg, T* buf,
                                   const T lr, const T alpha, const T keep, const T eps,
                                   const T weight_decay, const T momentum, const long long n) {
    FOR_EACH(i, n) {
        T d = g[i];
        if (weight_decay != 0) d = w[i] * weight_decay + g[i];
        square_avg[i] = square_avg[i] * alpha + d * d * keep;
        T root;
        if (grad_avg != nullptr) {
            grad_avg[i] = grad_avg[i] + (d - grad_avg[i]) * keep;
            root = sqrt(square_avg[i] - grad_avg[i] * grad_avg[i]);
        } else {
            root = sqrt(square_avg[i]);
        }
        T u = d / (root + eps);
        if (buf != nullptr) {
            buf[i] = buf[i] * momentum + u;
            u = buf[i];
        }
        w[i] = w[i] - u * lr;
    }
}

extern "C" __global__ void adam(T* w, const T* g, T* m, T* v, T* v_max, const T decay,
                                const T keep1, const T beta2, const T keep2, const T eps_c,
                                const T lr_c, const T weight_decay, const long long n) {
    FOR_EACH(i, n) {
        if (decay != 1) w[i] = w[i] * decay;
        T d = g[i];
        if (weight_decay != 0) d = w[i] * weight_decay + g[i];
        m[i] = m[i] + (d - m[i]) * keep1;
        v[i] = v[i] * beta2 + d * d * keep2;
        T second = v[i];
        if (v_max != nullptr) {
            if (v_max[i] < v[i] || isnan(v[i])) v_max[i] = v[i];
            second = v_max[i];
        }
        w[i] = w[i] - m[i] / (sqrt(second) + eps_c) * lr_c;
    }
}
"""
"""The kernels, for an element type ``T`` and a loop macro ``FOR_EACH(i, n)`` defined before them.

Scalars named ``keep`` are ``1 - dampening`` or ``1 - alpha`` (``keep1``,
``keep2``: ``1 - beta``); ``decay`` is AdamW's ``1 - lr weight_decay``;
``eps_c`` and ``lr_c`` are Adam's ``eps`` and step size times
``sqrt(1 - beta2**t)``. An absent array (no momentum, not centred, no
amsgrad) is a null pointer."""

DEVICE_PRELUDE = r"""
#define FOR_EACH(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)
"""
"""The grid-stride loop: one thread per element, however many blocks are launched."""

OPTIONS = ("--fmad=false",)
"""NVRTC options: no contraction of ``a * b + c`` into a fused multiply-add (one rounding instead of two)."""

C_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double"}
THREADS = 256
"""Threads per block."""
MAX_BLOCKS = 65535
"""At most this many blocks (16.7M threads); larger arrays take a few elements per thread."""


def _sgd(w, g, buf, *, lr, weight_decay, momentum, dampening, nesterov, first):
    t = w.dtype.type
    return (w, g, buf, t(lr), t(weight_decay), t(momentum), t(1 - dampening),
            np.int32(bool(first)), np.int32(bool(nesterov)))


def _adagrad(w, g, total, *, lr, weight_decay, eps):
    t = w.dtype.type
    return (w, g, total, t(lr), t(weight_decay), t(eps))


def _rmsprop(w, g, square_avg, grad_avg, buf, *, lr, alpha, eps, weight_decay, momentum):
    t = w.dtype.type
    return (w, g, square_avg, grad_avg, buf, t(lr), t(alpha), t(1 - alpha), t(eps), t(weight_decay),
            t(momentum))


def _adam(w, g, m, v, v_max, *, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, step):
    t = w.dtype.type
    c = math.sqrt(1 - beta2**step)  # as in adam_update
    decay = 1 - lr * decoupled_weight_decay  # the factor of weight_decay.decay_weights
    return (w, g, m, v, v_max, t(decay), t(1 - beta1), t(beta2), t(1 - beta2), t(eps * c),
            t(lr / (1 - beta1**step) * c), t(weight_decay))


ARGUMENTS = {"sgd": _sgd, "adagrad": _adagrad, "rmsprop": _rmsprop, "adam": _adam}
"""For each kernel, ``(arrays, options) -> argument tuple`` (less the size).

The scalars are computed as the update function computes them.
"""


def arguments(name: str, arrays: dict, options: dict) -> tuple:
    """The argument list of kernel ``name`` for one parameter's step.

    Parameters
    ----------
    name : str
        A key of :data:`ARGUMENTS`.
    arrays : dict of str to array or None
        The update function's arrays, all of one shape ``(...)`` and dtype
        (``None`` where absent, passed as a null pointer).
    options : dict
        The update function's keyword arguments.

    Returns
    -------
    tuple
        Arrays, the scalars as NumPy scalars of the arrays' dtype (flags as
        ``int32``) and the element count as ``int64``, in the kernel's order.
    """
    if name not in ARGUMENTS:
        raise ValueError(f"no fused kernel {name!r}; the fused kernels are {sorted(ARGUMENTS)}")
    return (*ARGUMENTS[name](**arrays, **options), np.int64(arrays["w"].size))


def applies(arrays) -> bool:
    """Whether the fused kernels can update ``arrays`` (``None`` entries ignored).

    They can where every array is a C-contiguous CuPy array of one float dtype.
    """
    arrays = [a for a in arrays if a is not None]
    return (
        all(array_api_compat.is_cupy_array(a) for a in arrays)
        and arrays[0].dtype in C_TYPES
        and all(a.dtype == arrays[0].dtype and a.flags.c_contiguous for a in arrays)
    )


def source(dtype, prelude: str = DEVICE_PRELUDE) -> str:
    """The source of every kernel for ``dtype`` (float32 or float64), after ``prelude`` (which defines ``FOR_EACH``)."""
    return f"typedef {C_TYPES[np.dtype(dtype)]} T;\n{prelude}{SOURCE}"


@functools.cache
def _module(dtype):
    import cupy

    return cupy.RawModule(code=source(dtype), options=OPTIONS)


def launch(name: str, args: tuple) -> None:
    """Launch fused kernel ``name`` on the argument list :func:`arguments` built (CuPy arrays)."""
    size = int(args[-1])
    if size == 0:
        return
    kernel = _module(args[0].dtype).get_function(name)
    blocks = min(-(-size // THREADS), MAX_BLOCKS)
    kernel((blocks,), (THREADS,), args)


def fused_or_update(name: str, update, arrays: dict, options: dict) -> None:
    """One parameter's step: fused kernel ``name`` where it :func:`applies`, else ``update(**arrays, **options)``."""
    if applies(list(arrays.values())):
        launch(name, arguments(name, arrays, options))
    else:
        update(*arrays.values(), **options)


def sgd_step(params, grads, momentum_buffers, firsts, **options) -> None:
    """:func:`deepref.optim.optimizers.sgd_step`, one fused launch per parameter."""
    for w, g, buf, first in zip(params, grads, momentum_buffers, firsts):
        fused_or_update("sgd", optimizers.sgd_update, dict(w=w, g=g, buf=buf), dict(options, first=first))


def adagrad_step(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps) -> None:
    """:func:`deepref.optim.optimizers.adagrad_step`, one fused launch per parameter."""
    for w, g, total, step in zip(params, grads, sums, steps):
        options = dict(lr=lr / (1 + (step - 1) * lr_decay), weight_decay=weight_decay, eps=eps)
        fused_or_update("adagrad", optimizers.adagrad_update, dict(w=w, g=g, total=total), options)


def rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, **options) -> None:
    """:func:`deepref.optim.optimizers.rmsprop_step`, one fused launch per parameter."""
    for w, g, square_avg, grad_avg, buf in zip(params, grads, square_avgs, grad_avgs, momentum_buffers):
        arrays = dict(w=w, g=g, square_avg=square_avg, grad_avg=grad_avg, buf=buf)
        fused_or_update("rmsprop", optimizers.rmsprop_update, arrays, options)


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, **options) -> None:
    """:func:`deepref.optim.optimizers.adam_step`, one fused launch per parameter."""
    for w, g, m, v, v_max, step in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps):
        arrays = dict(w=w, g=g, m=m, v=v, v_max=v_max)
        fused_or_update("adam", optimizers.adam_update, arrays, dict(options, step=step))
