"""Fused CUDA kernels for the optimizers' element-wise updates on CuPy: one launch per parameter per step.

On a GPU the element-wise chain of an optimizer step (see the ``_*_kernel``
functions in :mod:`deepref.optim.optimizers`) costs one kernel launch and
one trip through device memory per operation: about a dozen for Adam. Each
kernel here does the whole step for one element in registers, so every
array is read once and the ones that change written once.

What runs fused: :class:`~deepref.optim.SGD` (momentum, dampening,
Nesterov, weight decay), :class:`~deepref.optim.Adagrad`,
:class:`~deepref.optim.RMSprop` (centred, momentum, weight decay) and
:class:`~deepref.optim.Adam` / :class:`~deepref.optim.AdamW` (weight decay,
amsgrad), for float32 and float64 CuPy arrays that are all C-contiguous
(:func:`applies`); anything else runs the unfused chain.

Each kernel body repeats its Python chain line by line, with the same
operations in the same order; the scalars are rounded to the arrays' dtype
on the host (as NumPy and CuPy do with a Python float), and the source is
compiled with ``--fmad=false`` so that no multiply-add is contracted into
one rounding. The fused step therefore rounds exactly as the chain does,
and on the host the same source, compiled by a C++ compiler, reproduces the
NumPy optimizers bit for bit (``tests/test_fused_cupy.py``).

CuPy is imported only when a kernel is launched; :data:`SOURCE` and
:func:`arguments` need neither CuPy nor a GPU.
"""

from __future__ import annotations

import functools

import array_api_compat
import numpy as np

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


def _sgd(w, g, buf, *, lr, weight_decay, momentum, dampening, nesterov, first, **_):
    t = w.dtype.type
    return (w, g, buf, t(lr), t(weight_decay), t(momentum), t(1.0 - dampening),
            np.int32(bool(first)), np.int32(bool(nesterov)))


def _adagrad(w, g, total, *, lr, weight_decay, eps, **_):
    t = w.dtype.type
    return (w, g, total, t(lr), t(weight_decay), t(eps))


def _rmsprop(w, g, square_avg, grad_avg, buf, *, lr, alpha, eps, weight_decay, momentum, **_):
    t = w.dtype.type
    return (w, g, square_avg, grad_avg, buf, t(lr), t(alpha), t(1.0 - alpha), t(eps), t(weight_decay),
            t(momentum))


def _adam(w, g, m, v, v_max, *, lr, decoupled_weight_decay, beta1, beta2, step_size, bias2_sqrt, eps, weight_decay,
          **_):
    t = w.dtype.type
    decay = 1.0 - lr * decoupled_weight_decay  # the factor of weight_decay.decay_weights
    return (w, g, m, v, v_max, t(decay), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps * bias2_sqrt),
            t(step_size * bias2_sqrt), t(weight_decay))


ARGUMENTS = {"sgd": _sgd, "adagrad": _adagrad, "rmsprop": _rmsprop, "adam": _adam}
"""For each kernel, ``(arrays, scalars) -> argument tuple`` (less the size), scalars computed as the chain does."""


def arguments(name: str, arrays: dict, scalars: dict) -> tuple:
    """The argument list of kernel ``name`` for a step of its Python chain.

    Parameters
    ----------
    name : str
        A key of :data:`ARGUMENTS`.
    arrays : dict of str to array or None
        The chain's arrays, all of one shape ``(...)`` and dtype (``None``
        where absent, passed as a null pointer).
    scalars : dict
        The chain's keyword scalars (an ``xp`` entry is ignored).

    Returns
    -------
    tuple
        Arrays, the scalars as NumPy scalars of the arrays' dtype (flags as
        ``int32``) and the element count as ``int64``, in the kernel's order.
    """
    if name not in ARGUMENTS:
        raise ValueError(f"no fused kernel {name!r}; the fused kernels are {sorted(ARGUMENTS)}")
    return (*ARGUMENTS[name](**arrays, **scalars), np.int64(arrays["w"].size))


def applies(arrays) -> bool:
    """Whether the fused kernels can update ``arrays``: CuPy, C-contiguous, all float32 or all float64."""
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


def step(name: str, arrays: dict, scalars: dict) -> None:
    """Run the fused kernel ``name`` once over ``arrays`` (CuPy, see :func:`applies`), in place."""
    args = arguments(name, arrays, scalars)
    size = int(args[-1])
    if size == 0:
        return
    kernel = _module(arrays["w"].dtype).get_function(name)
    blocks = min(-(-size // THREADS), MAX_BLOCKS)
    kernel((blocks,), (THREADS,), args)
