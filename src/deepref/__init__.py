"""deepref: the reference library of the deepref deep-learning textbook.

Every module implements a derivation of the book, on NumPy or CuPy
(see :mod:`deepref.backend`).
"""

from . import (
    backend,
    data,
    generalization,
    gradcheck,
    interop,
    landscape,
    lm,
    neuro,
    nn,
    optim,
    rl,
    rnn,
    stn,
    train,
    validation,
)
from .backend import manual_seed

__version__ = "0.1.0"

__all__ = [
    "backend",
    "data",
    "generalization",
    "gradcheck",
    "interop",
    "landscape",
    "lm",
    "manual_seed",
    "neuro",
    "nn",
    "optim",
    "rl",
    "rnn",
    "stn",
    "train",
    "validation",
    "__version__",
]
