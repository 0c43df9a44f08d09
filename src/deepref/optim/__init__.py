"""Optimizers (``torch.optim`` interface and update rules), learning-rate schedules,
second-order methods and gradient clipping."""

from types import ModuleType as _ModuleType

from .clip import clip_grad_norm, clip_grad_norm_, clip_grad_value, global_grad_norm, global_norm
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .schedules import (
    CosineWithWarmup,
    ExponentialDecay,
    ExponentialLR,
    InverseSqrtDecay,
    InverseTimeDecay,
    LRSchedule,
    LRScheduleCallback,
    ReduceLROnPlateau,
    StepDecay,
    StepLR,
)
from .second_order import (
    MinimizeResult,
    backtracking_line_search,
    lbfgs,
    lbfgs_direction,
    minimize_with_optimizer,
    newton,
)
from .weight_decay import decay_weights, weight_decay_gradient, weight_decay_penalty

__all__ = [name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, _ModuleType)]
