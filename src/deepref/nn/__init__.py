"""Layers, losses and their forward/backward pairs."""

from types import ModuleType as _ModuleType

from . import init, utils
from .activations import (
    LeakyReLU,
    Maxout,
    ReLU,
    Sigmoid,
    Tanh,
    leaky_relu_backward,
    leaky_relu_forward,
    maxout_backward,
    maxout_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from .conv import Conv2d, col2im, conv2d, conv2d_backward, conv2d_forward, im2col
from .dropout import Dropout, dropout_backward, dropout_forward, dropout_mask
from .embedding import Embedding, embedding_backward, embedding_forward
from .linear import Linear, linear_backward, linear_forward
from .losses import (
    BCEWithLogits,
    CrossEntropyLoss,
    L1Loss,
    Loss,
    MSELoss,
    SoftmaxCrossEntropy,
    bce_with_logits_backward,
    bce_with_logits_forward,
    l1_backward,
    l1_forward,
    log_softmax,
    mse_backward,
    mse_forward,
    one_hot,
    softmax,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from .module import Identity, Module, ModuleList, Parameter, Sequential
from .normalization import (
    BatchNorm1d,
    LayerNorm,
    batchnorm_backward,
    batchnorm_eval_forward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    normalization_backward,
)
from .pooling import (
    AvgPool2d,
    MaxPool2d,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .shape import Flatten

__all__ = [name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, _ModuleType)]
