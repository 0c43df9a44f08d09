"""Convolutional networks for the spatial transformer chapter: a small CNN and a convolutional localisation.

Jaderberg et al. (2015) compare four kinds of classifier on distorted digits:
a fully connected network (FCN), a convolutional network (CNN), and each of
them behind a spatial transformer (ST-FCN, ST-CNN). In the ST-CNN the
localisation network is convolutional too. This module builds the two
convolutional parts at the size of the book's experiments:

* :func:`small_cnn`: two stages of convolution, ReLU and 2x2 max pooling,
  then a linear read-out;
* :class:`ConvLocalisation`: a localisation network made of such stages and
  two linear layers, the last one starting at the identity transform;
* :func:`conv_spatial_transformer`: a :class:`~deepref.stn.SpatialTransformer`
  whose localisation network is a :class:`ConvLocalisation`.

>>> net = small_cnn((1, 16, 16), channels=(4, 8), seed=0)
>>> [layer.__class__.__name__ for layer in net.layers]
['Conv2d', 'ReLU', 'MaxPool2d', 'Conv2d', 'ReLU', 'MaxPool2d', 'Flatten', 'Linear']
"""

from __future__ import annotations

from ..backend import asarray, get_namespace
from ..nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from ..nn.conv import windows
from ..nn.init import as_generator
from ..nn.module import Module
from ..validation import check_count, check_shape
from .transformer import TRANSFORMS, SpatialTransformer


def conv_stages(in_shape, channels, kernel_size=3, first_stride: int = 1, rng=None,
                dtype=None):
    """Layers ``[Conv2d, ReLU, MaxPool2d(2)] * len(channels)`` and the ``(C, H, W)`` shape they output.

    Each convolution has "same" padding (``kernel_size // 2``); the first one
    has stride ``first_stride``.

    Parameters
    ----------
    in_shape : (C, H, W)
    channels : sequence of int
        Output channels of each stage.
    kernel_size : int or sequence of int
        Kernel side of every stage, or of each stage.
    first_stride : int
    rng : Generator, int or None
        Source of the initial weights.
    dtype : optional

    Returns
    -------
    layers : list of Module
    out_shape : (C, H, W)
    """
    if len(in_shape) != 3:
        raise ValueError(f"in_shape must be (C, H, W), got {tuple(in_shape)}")
    rng = as_generator(rng)
    if isinstance(kernel_size, int):
        sizes = [kernel_size] * len(channels)
    else:
        sizes = list(kernel_size)
    if len(sizes) != len(channels):
        raise ValueError(f"kernel_size must be an integer or one per stage "
                         f"({len(channels)}), got {kernel_size!r}")
    layers, (c, h, w) = [], (int(s) for s in in_shape)
    for k, (c_out, size) in enumerate(zip(channels, sizes)):
        stride = first_stride if k == 0 else 1
        conv = Conv2d(c, check_count("channels", c_out), size, stride=stride,
                      padding=size // 2, seed=rng, dtype=dtype)
        h, w = windows((h, w), size, stride, size // 2).out_hw
        h, w = windows((h, w), 2, 2).out_hw
        layers += [conv, ReLU(), MaxPool2d(2)]
        c = c_out
    return layers, (c, h, w)


def small_cnn(in_shape, channels=(8, 16), kernel_size=3, first_stride: int = 1, hidden=(), classes: int = 10,
              seed=None, dtype=None) -> Sequential:
    """A small CNN classifier: :func:`conv_stages`, hidden ReLU layers of widths ``hidden``, ``classes`` logits.

    Input ``(N, *in_shape)``, output ``(N, classes)``.
    """
    rng = as_generator(seed)
    layers, (c, h, w) = conv_stages(in_shape, channels, kernel_size, first_stride, rng, dtype)
    widths = [c * h * w, *(check_count("hidden", width) for width in hidden)]
    dense = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        dense += [Linear(fan_in, fan_out, seed=rng, dtype=dtype), ReLU()]
    return Sequential(*layers, Flatten(), *dense, Linear(widths[-1], check_count("classes", classes), seed=rng,
                                                         dtype=dtype))


class ConvLocalisation(Module):
    """Convolutional localisation network: flattened images in, transform parameters out.

    A :class:`~deepref.stn.SpatialTransformer` hands its localisation network
    the images flattened to ``(N, C H W)``; this module restores
    ``(N, C, H, W)``, optionally max-pools by ``downsample`` (a cheap first
    look at a large canvas), applies :func:`conv_stages`, a hidden ReLU layer
    and a regression layer whose zero weights and identity bias make the
    untrained transformer return its input.

    Parameters
    ----------
    in_shape : (C, H, W)
    kind : str
        Transform regressed, a key of :data:`~deepref.stn.TRANSFORMS`.
    channels : sequence of int
        Channels of the convolution stages.
    kernel_size : int
    hidden : int
        Width of the hidden fully connected layer.
    downsample : int
        Max-pooling factor applied to the input first (1: none).
    seed, dtype
        As for :class:`~deepref.nn.Linear`.
    """

    def __init__(self, in_shape, kind: str = "affine", channels=(8,), kernel_size: int = 5, hidden: int = 32,
                 downsample: int = 2, seed=None, dtype=None):
        self.in_shape = tuple(int(s) for s in in_shape)
        rng = as_generator(seed)
        first = [MaxPool2d(downsample)] if check_count("downsample", downsample) > 1 else []
        c, h, w = self.in_shape
        if first:
            h, w = windows((h, w), downsample, downsample).out_hw
        stages, (c, h, w) = conv_stages((c, h, w), channels, kernel_size, 1, rng, dtype)
        regression = Linear(check_count("hidden", hidden), len(TRANSFORMS[kind].identity), seed=rng, dtype=dtype)
        xp = get_namespace(regression.weight.data)
        regression.weight.data = xp.zeros(regression.weight.shape, dtype=regression.weight.data.dtype)
        regression.bias.data = asarray(TRANSFORMS[kind].identity, dtype=regression.bias.data.dtype)
        self.net = Sequential(*first, *stages, Flatten(), Linear(c * h * w, hidden, seed=rng, dtype=dtype), ReLU(),
                              regression)

    def forward(self, x):
        check_shape("x", x, (None, self.in_shape[0] * self.in_shape[1] * self.in_shape[2]))
        return self.net.forward(get_namespace(x).reshape(x, (x.shape[0], *self.in_shape)))

    def backward(self, dout):
        dx = self.net.backward(dout)
        return get_namespace(dx).reshape(dx, (dx.shape[0], -1))

    def __getitem__(self, i: int) -> Module:
        return self.net[i]

    def __len__(self) -> int:
        return len(self.net)


def conv_spatial_transformer(in_shape, out_size=None, kind: str = "affine", channels=(8,), kernel_size: int = 5,
                             hidden: int = 32, downsample: int = 2, align_corners: bool = False, seed=None,
                             dtype=None) -> SpatialTransformer:
    """A :class:`~deepref.stn.SpatialTransformer` with a :class:`ConvLocalisation` network.

    Arguments as for :class:`~deepref.stn.SpatialTransformer` and :class:`ConvLocalisation`.

    >>> st = conv_spatial_transformer((1, 20, 20), out_size=(8, 8), seed=0)
    >>> type(st.localisation).__name__, st.localisation[-1].bias.shape
    ('ConvLocalisation', (6,))
    """
    transformer = SpatialTransformer(in_shape, out_size, kind, hidden=(), align_corners=align_corners, seed=seed,
                                     dtype=dtype)
    transformer.localisation = ConvLocalisation(in_shape, kind, channels, kernel_size, hidden, downsample, seed,
                                                dtype)
    return transformer
