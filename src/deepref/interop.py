"""State dicts to and from PyTorch: the one rule for weight layouts, and its converters.

**The rule.** deepref stores a weight the way its equation is written.
Where a layer is a product with its input on the left, ``x @ w``, the weight
has the inputs along its rows: ``Linear.weight`` is ``(in_features,
out_features)`` and a recurrent layer's ``w_x`` is ``(D, G*H)``, the
transposes of PyTorch's ``weight`` and ``weight_ih_l{k}``. Every other
parameter has PyTorch's layout: convolution kernels ``(C_out, C_in, kH,
kW)``, embedding tables ``(V, D)``, biases and normalisation scales.

So a state dict crosses over with a few renames and transposes, no
arithmetic, and the values are equal entry for entry:

=====================  ==========================  =========================
deepref                PyTorch                     conversion
=====================  ==========================  =========================
``Linear.weight``      ``Linear.weight``           transpose
``{rnn}.l{k}.w_x``     ``{rnn}.weight_ih_l{k}``    transpose
``{rnn}.l{k}.w_h``     ``{rnn}.weight_hh_l{k}``    transpose
``{rnn}.l{k}.b_x``     ``{rnn}.bias_ih_l{k}``      none
``{rnn}.l{k}.b_h``     ``{rnn}.bias_hh_l{k}``      none
everything else        the same name               none
=====================  ==========================  =========================

(``{rnn}`` is an :class:`~deepref.rnn.RNN`, :class:`~deepref.rnn.LSTM` or
:class:`~deepref.rnn.GRU`, whose gate blocks follow PyTorch's order.)
PyTorch's ``BatchNorm1d`` also keeps ``num_batches_tracked``, which deepref
does not count: :func:`to_torch` writes 0 and :func:`from_torch` ignores it.
A layer type without a known PyTorch counterpart is an error, never a
silent copy.

>>> from deepref import nn
>>> net = nn.Sequential(nn.Linear(4, 3, seed=0), nn.ReLU(), nn.Linear(3, 2, seed=1))
>>> {name: value.shape for name, value in torch_state_dict(net).items()}
{'0.weight': (3, 4), '0.bias': (3,), '2.weight': (2, 3), '2.bias': (2,)}
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .backend import to_numpy
from .nn.conv import Conv2d
from .nn.embedding import Embedding
from .nn.linear import Linear
from .nn.module import Module, Parameter
from .nn.normalization import BatchNorm1d, LayerNorm
from .rnn.layers import _RecurrentStack

SAME_LAYOUT = (Conv2d, Embedding, BatchNorm1d, LayerNorm)
"""Layer types whose parameters have PyTorch's names and layouts."""

_RECURRENT = (("w_x", "weight_ih", True), ("w_h", "weight_hh", True), ("b_x", "bias_ih", False),
              ("b_h", "bias_hh", False))


def _own_names(module: Module) -> list[str]:
    """Names of the parameters and buffers held by ``module`` itself (not by its children)."""
    params = [n for n, v in module.__dict__.get("_children", {}).items() if isinstance(v, Parameter)]
    return params + list(module.__dict__.get("_buffer_names", []))


def name_pairs(module: Module, prefix: str = "") -> Iterator[tuple[str, str, bool]]:
    """``(deepref name, PyTorch name, transposed)`` for every entry of ``module.state_dict()``.

    Raises
    ------
    NotImplementedError
        For a layer that holds parameters but has no known PyTorch counterpart.
    """
    if isinstance(module, _RecurrentStack):
        for k in range(module.num_layers):
            for ours, theirs, transposed in _RECURRENT:
                yield f"{prefix}l{k}.{ours}", f"{prefix}{theirs}_l{k}", transposed
        return
    own = _own_names(module)
    if own and not isinstance(module, (Linear, *SAME_LAYOUT)):
        raise NotImplementedError(
            f"{type(module).__name__} ({prefix.rstrip('.') or 'the model'}) has no known PyTorch counterpart; "
            f"convertible layers: Linear, RNN, LSTM, GRU, {', '.join(t.__name__ for t in SAME_LAYOUT)}"
        )
    for name in own:
        yield prefix + name, prefix + name, isinstance(module, Linear) and name == "weight"
    for name, child in module.named_children():
        yield from name_pairs(child, f"{prefix}{name}.")


def _batch_counters(module: Module, prefix: str = "") -> Iterator[str]:
    """PyTorch names of the ``num_batches_tracked`` counters of the batch-norm layers in ``module``."""
    if isinstance(module, BatchNorm1d):
        yield prefix + "num_batches_tracked"
    for name, child in module.named_children():
        yield from _batch_counters(child, f"{prefix}{name}.")


def torch_state_dict(module: Module) -> dict[str, np.ndarray]:
    """``module``'s state under PyTorch's names and layouts, as host NumPy arrays (no torch needed).

    The arrays keep deepref's dtype (PyTorch's ``load_state_dict`` casts on copy).
    """
    ours = module.state_dict()
    state = {theirs: np.ascontiguousarray(ours[name].T if transposed else ours[name])
             for name, theirs, transposed in name_pairs(module)}
    state.update({name: np.zeros((), dtype=np.int64) for name in _batch_counters(module)})
    return state


def to_torch(module: Module) -> dict:
    """``module``'s state as a PyTorch state dict of CPU tensors, for ``torch_model.load_state_dict``."""
    import torch

    return {name: torch.from_numpy(array) for name, array in torch_state_dict(module).items()}


def _host(value) -> np.ndarray:
    """A PyTorch tensor (any device) or an array as a host NumPy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return to_numpy(value) if not isinstance(value, np.ndarray) else value


def from_torch(module: Module, state: dict) -> Module:
    """Load a PyTorch state dict (tensors or arrays) into ``module``, in place; returns ``module``.

    Values are converted to the dtype of the module's own arrays (build the
    module with ``dtype="float32"`` to keep PyTorch's float32 exactly), then
    loaded with :meth:`~deepref.nn.Module.load_state_dict`, which checks the
    shapes. Every key must be used, apart from ``num_batches_tracked``.
    """
    current = module.state_dict()
    pairs = list(name_pairs(module))
    expected = {theirs for _, theirs, _ in pairs}
    ignored = set(_batch_counters(module))
    missing, unexpected = expected - set(state), set(state) - expected - ignored
    if missing or unexpected:
        raise KeyError(f"the PyTorch state does not match the module: missing {sorted(missing)}, "
                       f"unexpected {sorted(unexpected)}")
    converted = {}
    for name, theirs, transposed in pairs:
        value = _host(state[theirs])
        converted[name] = np.ascontiguousarray(value.T if transposed else value, dtype=current[name].dtype)
    module.load_state_dict(converted)
    return module
