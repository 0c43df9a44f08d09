"""Spatial transformer networks: grid generator, bilinear sampler, the module and distorted digits."""

from types import ModuleType as _ModuleType

from ..nn.sampling import (
    affine_grid,
    affine_grid_backward,
    affine_grid_forward,
    grid_sample,
    grid_sample_backward,
    grid_sample_forward,
    normalised_coordinates,
)
from .cnn import ConvLocalisation, conv_spatial_transformer, small_cnn
from .distort import RECIPES, DistortedDigits, distorted_digits, placement_theta, pose_of_theta
from .transformer import TRANSFORMS, SpatialTransformer

__all__ = [name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, _ModuleType)]
