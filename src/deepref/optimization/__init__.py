"""The optimization chapter: its logistic-regression problem and its experiments on the 8x8 digits.

The optimizers themselves are in :mod:`deepref.optim`, which every chapter uses.
"""

from types import ModuleType as _ModuleType

from .experiments import (
    OPTIMIZERS,
    PracticeConfig,
    SoftmaxRegressionConfig,
    practice_project_grid,
    practice_project_run,
    softmax_regression_grid,
    softmax_regression_run,
)
from .logistic import LogisticRegressionProblem, iris_binary_task

__all__ = [name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, _ModuleType)]
