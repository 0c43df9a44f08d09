"""Optimizers (``torch.optim`` interface and update rules) and gradient clipping."""

from .clip import clip_grad_norm, clip_grad_value, global_grad_norm
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = [name for name in dir() if not name.startswith("_")]
