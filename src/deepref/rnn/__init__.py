"""Recurrent networks: tanh RNN, LSTM and GRU cells and sequence layers, with BPTT by hand, and sequence tasks.

Sequences are batch-first ``(N, T, D)``; the weight layout and gate order are
PyTorch's (see :mod:`deepref.rnn.cells`). Gradient clipping lives in
:mod:`deepref.optim` (``clip_grad_norm``, ``clip_grad_value``).
"""

from types import ModuleType as _ModuleType

from .cells import (
    CELLS,
    Cell,
    gru_core_backward,
    gru_core_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_core_backward,
    lstm_core_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_core_backward,
    rnn_core_forward,
    rnn_step_backward,
    rnn_step_forward,
)
from .layers import (
    GRU,
    LSTM,
    RNN,
    LastTimeStep,
    RecurrentLayer,
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
    sequence_backward,
    sequence_forward,
)
from .tasks import ADDING_BASELINE_MSE, adding_problem, copy_task, noisy_sines, sliding_windows

__all__ = [name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, _ModuleType)]
