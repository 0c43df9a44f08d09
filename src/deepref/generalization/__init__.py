"""The generalization chapter: weight penalties with their proximal step, and the random-label experiment.

Dropout, batch and layer normalisation, data augmentation and early stopping,
which the chapter also derives, are layers and training tools that every
chapter uses: they are in :mod:`deepref.nn` and :mod:`deepref.train`.
"""

from types import ModuleType as _ModuleType

from .experiments import LABELINGS, MemorisationConfig, StopWhenMemorised, memorisation_run, standardized_digits
from .penalties import (
    Penalized,
    elastic_net_gradient,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    soft_threshold,
    weight_parameters,
)

__all__ = [name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, _ModuleType)]
