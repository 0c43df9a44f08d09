"""Kernels: the fast paths, registered beside the specifications they implement.

The code a chapter shows is the *specification*: plain array-API code that
reads like the derivation (``m = beta1 * m + (1 - beta1) * g``). Where a
faster way to compute the same thing exists for one array library, it lives
here as a *kernel*, registered under the specification's operation name, and
the specification asks for it with one line at its top::

    kernel = kernels.lookup("adam_step", xp)
    if kernel is not None:
        return kernel(...)

A kernel takes the same arguments as its specification and returns the same
values (bit for bit, or within the tolerance its test states; see
``tests/test_kernels.py``, which holds every registered kernel to its
specification). Inputs a kernel does not take (a layout, a dtype) it hands to
the specification's per-item function itself (the optimizer kernels call
``adam_update`` for such a parameter). A kernel whose cache differs from the
specification's gives that cache a ``backward_op`` attribute; the
specification's backward then hands the cache to that op's kernel
(:func:`require`), even if kernels were switched off in between.

Operations
----------
- ``sgd_step``, ``adagrad_step``, ``rmsprop_step``, ``adam_step``: the
  optimizers' step over one parameter group. Specification:
  :mod:`deepref.optim.optimizers` (``sgd_step`` ..., which apply the rule of
  one parameter, ``sgd_update`` ..., parameter by parameter). Kernels:
  ``numpy_optim`` (the rule chained in place over cache-sized chunks),
  ``cupy_multi_tensor`` (one CUDA launch per group, of ``cupy_optim``'s
  fused per-parameter kernels, which step the groups it does not take).
- ``lstm_sequence_forward``, ``lstm_sequence_backward`` (and ``gru_...``,
  ``rnn_...``: the op names carry the cell's name): a recurrent layer over a
  sequence. Specification: :func:`deepref.rnn.layers.sequence_forward` and
  ``sequence_backward``; the kernels take their arguments less the cell.
  Kernels: ``numpy_recurrent`` (the LSTM, gates of all steps in one buffer),
  ``cupy_recurrent`` (the three cells, one cuBLAS product and one CUDA
  kernel per step).
- ``im2col``, ``col2im``: the windows of a convolution or pooling as matrix
  columns, and back. Specification: :func:`deepref.nn.conv.im2col` and
  ``col2im``. Kernels: ``numpy_conv``, ``cupy_conv`` (one launch each).
- ``batchnorm_forward``, ``batchnorm_eval_forward``, ``layernorm_forward``,
  ``normalization_backward``: batch and layer normalisation.
  Specification: :mod:`deepref.nn.normalization`. Kernels:
  ``numpy_normalization`` (rows folded to NumPy's ufunc buffer, BLAS column
  sums, the closed-form batch-norm backward).
- ``softmax_cross_entropy_forward``, ``softmax_cross_entropy_backward``.
  Specification: :mod:`deepref.nn.losses`. Kernels: ``numpy_losses``
  (``exp`` and the gradient written in place).
- ``affine_grid_forward``, ``affine_grid_backward``, ``grid_sample_forward``,
  ``grid_sample_backward``: the spatial transformer's grid generator and
  bilinear sampler. Specification: :mod:`deepref.nn.sampling`. Kernels:
  ``numpy_sampling`` (one matrix product for the grid; the sampler's
  per-point arrays in workspaces reused across calls).

The group ops take the group's lists (``params, grads``, one list per state
buffer, ``None`` entries where a buffer is unused, per-parameter ``steps``) so
that a multi-tensor kernel can step a whole group in one launch.

Where things live
-----------------
- This module: the registry (:func:`register`, :func:`lookup`), the switch
  (``DEEPREF_KERNELS=off`` in the environment, or :func:`disabled` /
  :func:`use_kernels` in code) and :data:`KERNEL_MODULES`, which names the
  module of each backend and topic.
- ``numpy_<topic>.py``: NumPy fast paths (in-place chunked chains, reused
  workspaces, BLAS tricks).
- ``cupy_<topic>.py``: CuPy ``ElementwiseKernel`` / ``RawKernel`` sources and
  their launchers.

To add a kernel for operation ``op`` on backend ``b``: write it in
``b_<topic>.py`` (create the module and add it to :data:`KERNEL_MODULES` if the
topic is new), decorate it with ``@register("op", "b")``, and add a case for
it to ``tests/test_kernels.py`` (a test fails while a registered kernel has
none). One kernel per op and backend (:func:`register` refuses a second): a
new kernel for an op that has one takes the decorator over from the old one,
which it may still call (a multi-tensor optimizer step can hand the
parameters it does not take to ``cupy_optim.fused_or_update``). Nothing else
changes: the specification already asks for ``op``. A new op starts in the
specification: one dispatch line at its top, and an entry in the list above.
To add a chapter, see the README's layout section; specifications use only
:func:`lookup` and :func:`require` from this package, never a kernel module.

Kernel modules are imported lazily, on the first lookup for their backend, so
that importing :mod:`deepref` never imports CuPy and the specifications never
import their kernels.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from types import ModuleType

KERNEL_MODULES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy_optim", "numpy_recurrent", "numpy_normalization", "numpy_conv", "numpy_losses", "numpy_sampling"),
    "cupy": ("cupy_optim", "cupy_recurrent", "cupy_multi_tensor", "cupy_conv"),
}
"""The kernel modules of each backend (names relative to this package), imported on first use."""

_REGISTRY: dict[tuple[str, str], Callable] = {}
_LOADED: set[str] = set()
_ENABLED = [os.environ.get("DEEPREF_KERNELS", "on").strip().lower() not in ("off", "0", "false", "no")]


def register(op: str, backend: str) -> Callable[[Callable], Callable]:
    """Decorator: register the decorated function as the kernel of ``op`` on ``backend``.

    Parameters
    ----------
    op : str
        The operation's name, as its specification looks it up.
    backend : {"numpy", "cupy"}
        The array library the kernel works on.

    Raises
    ------
    ValueError
        If ``backend`` is unknown or ``op`` already has a kernel there.
    """
    if backend not in KERNEL_MODULES:
        raise ValueError(f"unknown kernel backend {backend!r}; expected one of {sorted(KERNEL_MODULES)}")

    def decorate(function: Callable) -> Callable:
        key = (op, backend)
        if key in _REGISTRY and _REGISTRY[key] is not function:
            raise ValueError(f"operation {op!r} already has a {backend} kernel: {_REGISTRY[key].__qualname__}")
        _REGISTRY[key] = function
        return function

    return decorate


def backend_of(xp: ModuleType) -> str | None:
    """The kernel backend name of namespace ``xp`` (``"numpy"``, ``"cupy"``), or ``None`` for any other."""
    name = getattr(xp, "__name__", "")
    for backend in KERNEL_MODULES:
        if name == backend or name.endswith(f"array_api_compat.{backend}") or name.startswith(f"{backend}."):
            return backend
    return None


def _load(backend: str) -> None:
    if backend in _LOADED:
        return
    _LOADED.add(backend)
    for module in KERNEL_MODULES[backend]:
        importlib.import_module(f"{__name__}.{module}")


def lookup(op: str, xp: ModuleType) -> Callable | None:
    """The kernel registered for ``op`` on the library of namespace ``xp``, or ``None``.

    ``None`` also when kernels are switched off (``DEEPREF_KERNELS=off``,
    :func:`disabled`): the caller then runs its specification.
    """
    if not _ENABLED[0]:
        return None
    backend = backend_of(xp)
    if backend is None:
        return None
    _load(backend)
    return _REGISTRY.get((op, backend))


def require(op: str, xp: ModuleType) -> Callable:
    """The kernel registered for ``op`` on the library of ``xp``, whether kernels are switched on or not.

    For data only a kernel reads: a forward kernel's cache goes to its
    backward kernel even if kernels were switched off in between.

    Raises
    ------
    LookupError
        If no kernel is registered for ``op`` there.
    """
    backend = backend_of(xp)
    if backend is not None:
        _load(backend)
    kernel = _REGISTRY.get((op, backend))
    if kernel is None:
        raise LookupError(f"no {backend or getattr(xp, '__name__', xp)} kernel is registered for {op!r}")
    return kernel


def registered() -> dict[tuple[str, str], Callable]:
    """Every registered kernel (all backends' modules imported), keyed by ``(op, backend)``."""
    for backend in KERNEL_MODULES:
        if backend == "cupy" and importlib.util.find_spec("cupy") is None:
            continue
        _load(backend)
    return dict(_REGISTRY)


def enabled() -> bool:
    """Whether :func:`lookup` hands out kernels."""
    return _ENABLED[0]


@contextlib.contextmanager
def use_kernels(on: bool) -> Iterator[None]:
    """Switch kernels on or off inside a ``with`` block (the previous setting comes back after it)."""
    previous = _ENABLED[0]
    _ENABLED[0] = bool(on)
    try:
        yield
    finally:
        _ENABLED[0] = previous


def disabled() -> contextlib.AbstractContextManager[None]:
    """``with kernels.disabled():`` runs the specifications alone."""
    return use_kernels(False)
