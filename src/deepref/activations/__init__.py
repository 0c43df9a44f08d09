"""The activation-functions chapter's experiments (see :mod:`deepref.activations.experiments`).

The measuring tools themselves (dead units, zero gradients, units stuck on
one piece) are in :mod:`deepref.diagnostics`, which the training-in-practice
chapter shares.
"""

from .experiments import NONLINEARITIES, ChoiceConfig, DyingConfig, choice_run, dying_run, standardised_digits

__all__ = ["NONLINEARITIES", "ChoiceConfig", "DyingConfig", "choice_run", "dying_run", "standardised_digits"]
