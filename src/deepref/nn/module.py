"""Parameters and modules: composition of forward/backward pairs with state.

A :class:`Module` wraps the pure ``*_forward`` / ``*_backward`` functions of an
operation. ``forward(x)`` keeps the operation's cache on the module;
``backward(dout)`` returns the gradient with respect to the input and *adds*
the gradients of the parameters to their ``.grad`` (so gradients of several
losses can be summed, as in PyTorch; :meth:`Module.zero_grad` clears them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from os import PathLike

import numpy as np

from ..backend import get_namespace, is_floating_array, to_numpy, use_backend


def _dtype_text(x) -> str:
    """``float32`` / ``float64`` for an array of any backend."""
    return str(x.dtype).rsplit(".", 1)[-1]


def size_of(shape) -> int:
    """Number of elements of an array of ``shape`` (the one shape-product helper)."""
    return math.prod(int(d) for d in shape)


class Parameter:
    """A trainable array ``data`` and its gradient ``grad`` (``None`` until a backward pass)."""

    def __init__(self, data):
        self.data = data
        self.grad = None

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    def accumulate(self, grad) -> None:
        """Add ``grad`` (shape of ``data``) to ``self.grad``."""
        if tuple(grad.shape) != self.shape:
            raise ValueError(f"gradient of shape {tuple(grad.shape)} for a parameter of shape {self.shape}")
        if grad.dtype != self.data.dtype:
            raise TypeError(
                f"gradient of dtype {_dtype_text(grad)} for a parameter of dtype {_dtype_text(self.data)}: "
                "the backward pass must keep the parameters' dtype"
            )
        self.grad = grad if self.grad is None else self.grad + grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.data.dtype})"


def _first_parameter(module: Module) -> Parameter | None:
    """``module.parameters()[0]`` without listing them all (``None`` for a module without parameters)."""
    for value in module.__dict__.get("_children", {}).values():
        found = value if isinstance(value, Parameter) else _first_parameter(value)
        if found is not None:
            return found
    return None


def check_inputs(module: Module, *inputs) -> None:
    """Raise ``TypeError`` unless the array ``inputs`` have ``module``'s backend and floating dtype.

    The dtype rule: a floating input must have the dtype of the module's
    (first) parameter; a float64 input to a float32 layer is rejected, not
    silently promoted. Integer inputs (class labels, token ids) and
    non-arrays pass; a module without parameters accepts anything.
    """
    arrays = [a for a in inputs if hasattr(a, "shape") and hasattr(a, "dtype")]
    first = _first_parameter(module) if arrays else None
    if first is None:
        return
    weight = first.data
    get_namespace(weight, *arrays)  # a clear TypeError when backends are mixed
    for x in arrays:
        if is_floating_array(x) and x.dtype != weight.dtype:
            raise TypeError(
                f"{type(module).__name__} has {_dtype_text(weight)} parameters but got a "
                f"{_dtype_text(x)} input; convert the input (xp.astype(x, xp.{_dtype_text(weight)})) "
                f"or build the module with dtype='{_dtype_text(x)}'"
            )


class Module:
    """Base class of layers and networks.

    Subclasses implement ``forward`` and ``backward``. Attributes that are
    :class:`Parameter` or :class:`Module` instances are found automatically
    (in the order they were assigned); non-trainable state (running averages)
    is registered with :meth:`register_buffer` so that it is saved too.
    """

    training: bool = True

    def __setattr__(self, name, value):
        registry = self.__dict__.setdefault("_children", {})
        if isinstance(value, (Parameter, Module)):
            registry[name] = value
        else:
            registry.pop(name, None)  # replaced by a plain value: no longer a child
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.__dict__.get("_children", {}).pop(name, None)
        buffers = self.__dict__.get("_buffer_names", [])
        if name in buffers:
            buffers.remove(name)
        object.__delattr__(self, name)

    def saved_cache(self, consume: bool = False):
        """The cache the last ``forward`` stored; a clear error if ``backward`` comes first.

        With ``consume`` (what ``backward`` passes) the cache is given up: a
        second ``backward`` after one ``forward`` raises instead of adding the
        parameters' gradients a second time.
        """
        cache = self.__dict__.get("_cache")
        if cache is None:
            if self.__dict__.get("_cache_consumed"):
                raise RuntimeError(
                    f"{type(self).__name__}.backward was called twice after one forward: the first call used up "
                    "the values the forward pass saved (a second would add the gradients again); run forward(x) "
                    "again before each backward"
                )
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward: run forward(x) first, "
                "since the backward pass needs the values the forward pass saved"
            )
        if consume:
            object.__setattr__(self, "_cache", None)
            object.__setattr__(self, "_cache_consumed", True)
        return cache

    def register_buffer(self, name: str, value) -> None:
        """Store ``value`` as attribute ``name`` and include it in :meth:`state_dict`."""
        self.__dict__.setdefault("_buffer_names", [])
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        object.__setattr__(self, name, value)

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *args, **kwargs):
        """``forward``, after :func:`check_inputs` (the inputs match the parameters' backend and dtype)."""
        check_inputs(self, *args)
        return self.forward(*args, **kwargs)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in self.__dict__.get("_children", {}).items():
            if isinstance(value, Module):
                yield name, value

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` pairs of this module and its children.

        A parameter shared by several children (tied weights) is listed once,
        under the first name it was found by, as in PyTorch: an optimizer given
        ``parameters()`` then steps it once.
        """
        pairs, seen = [], set()
        for name, parameter in self._all_named_parameters(prefix):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                pairs.append((name, parameter))
        return pairs

    def _all_named_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in self.__dict__.get("_children", {}).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            else:
                yield from value._all_named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        """All parameters, children's included, in registration order, each once."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> list[tuple[str, object]]:
        pairs = [(prefix + n, getattr(self, n)) for n in self.__dict__.get("_buffer_names", [])]
        for name, child in self.named_children():
            pairs.extend(child.named_buffers(prefix + name + "."))
        return pairs

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) on this module and its children."""
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget accumulated gradients (``grad = None``)."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self) -> int:
        """Number of scalar parameters."""
        return sum(size_of(p.shape) for p in self.parameters())

    def to(self, backend: str) -> Module:
        """Move parameters and buffers to array backend ``backend`` (in place; returns ``self``).

        Gradients are dropped. Use it when a module built under one backend must
        run on inputs of another: mixing backends in one operation is an error.
        """
        state = self.state_dict()
        with use_backend(backend) as xp:
            for name, p in self.named_parameters():
                p.data, p.grad = xp.asarray(state[name]), None
            for name, _ in self.named_buffers():
                self._set_buffer(name, xp.asarray(state[name]))
        return self

    # -- saving and loading ------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers as host NumPy arrays, keyed by dotted name."""
        state = {name: to_numpy(p.data).copy() for name, p in self.named_parameters()}
        state.update({name: to_numpy(b).copy() for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Load arrays saved by :meth:`state_dict`; names, shapes and dtypes must match exactly.

        Nothing is cast: a float32 state loaded into a float64 module is an error
        (convert the module or the state first), so a saved state loads back bit
        for bit. The arrays land on the backend of the module's current arrays.
        """
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = set(params) | set(buffers)
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise KeyError(
                f"state does not match the module: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
            )
        for name, value in state.items():
            current = params[name].data if name in params else buffers[name]
            value = np.asarray(value)
            if tuple(value.shape) != tuple(current.shape):
                raise ValueError(
                    f"{name}: saved shape {value.shape} does not match the module's {tuple(current.shape)}"
                )
            if value.dtype != to_numpy(current).dtype:
                raise TypeError(
                    f"{name}: saved dtype {value.dtype} does not match the module's {to_numpy(current).dtype}; "
                    "build the module with the saved dtype (dtype=...) instead of loading across dtypes"
                )
            moved = get_namespace(current).asarray(value.copy())
            if name in params:
                params[name].data = moved
            else:
                self._set_buffer(name, moved)

    def _set_buffer(self, dotted: str, value) -> None:
        *path, last = dotted.split(".")
        owner = self
        for part in path:
            owner = getattr(owner, part)
        object.__setattr__(owner, last, value)

    def save(self, path: str | PathLike) -> None:
        """Save :meth:`state_dict` to an ``.npz`` file."""
        np.savez(path, **self.state_dict())

    def load(self, path: str | PathLike) -> None:
        """Load a state saved by :meth:`save` (no pickled objects are read)."""
        with np.load(path, allow_pickle=False) as archive:
            self.load_state_dict({k: archive[k] for k in archive.files})

    def __repr__(self) -> str:
        children = [f"  ({n}): {c!r}".replace("\n", "\n  ") for n, c in self.named_children()]
        return f"{type(self).__name__}(" + ("\n" + "\n".join(children) + "\n" if children else "") + ")"


class ModuleList(Module):
    """A list of modules whose parameters are registered (PyTorch's ``ModuleList``).

    It has no ``forward``: the model that holds it decides how its modules are
    applied (and runs their ``backward`` in the reverse order). Modules are
    registered under their index (``"0"``, ``"1"``, ...) and kept in ``layers``.

    >>> from deepref.nn import Linear
    >>> heads = ModuleList([Linear(4, 2, seed=k) for k in range(3)])
    >>> len(heads), len(heads.parameters())
    (3, 6)
    """

    def __init__(self, modules=()):
        self.layers = []
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end (returns ``self``, as PyTorch's ``append``)."""
        if not isinstance(module, Module):
            raise TypeError(f"layer {len(self.layers)} is a {type(module).__name__}, expected a deepref.nn.Module")
        setattr(self, str(len(self.layers)), module)
        self.layers.append(module)
        return self

    def _of(self, modules: list) -> ModuleList:
        """A new container of this type holding ``modules`` (what slicing returns)."""
        return ModuleList(modules)

    def __getitem__(self, i: int | slice):
        return self._of(self.layers[i]) if isinstance(i, slice) else self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


class Sequential(ModuleList):
    """Modules applied in order; ``backward`` runs them in reverse.

    As in PyTorch, ``net[i]`` is a layer, ``net[i:j]`` a new ``Sequential``
    sharing those layers (and their parameters), and ``append`` adds a layer.

    >>> from deepref.nn import Linear, ReLU
    >>> net = Sequential(Linear(4, 8, seed=0), ReLU(), Linear(8, 3, seed=1))
    >>> [p.shape for p in net.parameters()]
    [(4, 8), (8,), (8, 3), (3,)]
    >>> net[:2]
    Sequential(
      (0): Linear(4, 8)
      (1): ReLU()
    )
    """

    def __init__(self, *layers: Module):
        if not layers:
            raise ValueError("Sequential needs at least one module")
        super().__init__(layers)

    def _of(self, modules: list) -> Sequential:
        return Sequential(*modules)

    def forward(self, x):
        check_inputs(self, x)
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


class Identity(Module):
    """``forward(x) = x`` and ``backward(dout) = dout`` (a placeholder layer, as PyTorch's ``Identity``)."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout

    def __repr__(self) -> str:
        return "Identity()"
