"""Distorted digits: the 8x8 digits rotated, scaled and placed in a larger canvas.

An offline stand-in for the distorted MNIST of Jaderberg et al. (2015). Each
digit (values scaled to ``[0, 1]``) is drawn into a square of ``digit_size``
pixels, rotated by ``angle``, scaled by ``scale`` and centred at ``shift``
pixels from the canvas centre, all in one bilinear resampling (in float32) with
:func:`~deepref.stn.grid_sample`:

* ``"rts"``: angle ``U(-45, 45)`` degrees, scale ``U(0.7, 1.2)``, position
  uniform over the places where the whole rotated square fits the canvas;
* ``"r"``: angle ``U(-90, 90)`` degrees, scale 1, centred.

The 1797 source digits are split once, by a fixed permutation, into 1297 for
``split="train"`` and 500 for ``split="test"``, so that a test image is never
a distorted copy of a training digit. Same arguments, same images.

>>> data = distorted_digits(4, "rts", seed=0)
>>> data.images.shape, data.labels.shape
((4, 1, 42, 42), (4,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..data import load_digits
from ..nn.sampling import affine_grid, grid_sample
from ..validation import check_choice, check_positive

TEST_DIGITS = 500
"""Number of source digits kept for ``split="test"``."""

_SPLIT_SEED = 2015


class Recipe(NamedTuple):
    max_angle: float  # degrees; the angle is U(-max_angle, max_angle)
    scale_range: tuple[float, float]
    random_position: bool


RECIPES = {
    "rts": Recipe(45.0, (0.7, 1.2), True),
    "r": Recipe(90.0, (1.0, 1.0), False),
}
"""Distortion recipes by name."""


class DistortedDigits(NamedTuple):
    """Images and the distortion that made each one (host NumPy arrays)."""

    images: np.ndarray  # (n, 1, canvas, canvas) float32 in [0, 1]
    labels: np.ndarray  # (n,) int64
    angle: np.ndarray  # (n,) degrees, counter-clockwise on screen
    scale: np.ndarray  # (n,)
    shift: np.ndarray  # (n, 2) pixels (x right, y down) from the canvas centre to the digit's centre


def _rotation(angle_rad: np.ndarray) -> np.ndarray:
    """``(n, 2, 2)`` rotations by ``angle`` counter-clockwise *on screen* (where y points down)."""
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


def placement_theta(angle, scale, shift, canvas: int, digit_size: int) -> np.ndarray:
    """``(n, 2, 3)`` affine maps from canvas to digit normalised coordinates.

    A canvas point ``p`` (normalised) lies at ``p canvas / 2`` pixels from the
    centre; undoing the shift, rotation and scale gives the digit pixel
    ``R(-angle) (p canvas / 2 - shift) / scale``, which is divided by
    ``digit_size / 2`` to become a normalised digit coordinate.
    """
    inverse_rotation = np.transpose(_rotation(np.deg2rad(angle)), (0, 2, 1))
    gain = (canvas / (digit_size * np.asarray(scale, dtype=float)))[:, None, None]
    centre = 2.0 * np.asarray(shift, dtype=float) / canvas
    offset = -np.einsum("nij,nj->ni", inverse_rotation, centre)[:, :, None]
    return gain * np.concatenate([inverse_rotation, offset], axis=2)


def pose_of_theta(theta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation (degrees), isotropic scale and translation of sampling transforms ``theta`` (N, 2, 3).

    A transformer that undoes a distortion samples the input at
    ``shift + R(angle) u / gain``: the angle of its linear part is the
    distortion's angle, its scale ``sqrt(|det|)`` grows with the digit's size,
    and its translation (normalised) points at the digit's centre.
    """
    theta = np.asarray(theta, dtype=float)
    linear = theta[:, :, :2]
    angle = np.rad2deg(np.arctan2(linear[:, 0, 1] - linear[:, 1, 0], linear[:, 0, 0] + linear[:, 1, 1]))
    scale = np.sqrt(np.abs(np.linalg.det(linear)))
    return angle, scale, theta[:, :, 2]


def _source_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits()
    order = np.random.default_rng(_SPLIT_SEED).permutation(x.shape[0])
    chosen = order[:TEST_DIGITS] if split == "test" else order[TEST_DIGITS:]
    return x[chosen].reshape(-1, 1, 8, 8) / 16.0, y[chosen]


def distorted_digits(n: int, recipe: str = "rts", split: str = "train", seed: int = 0, canvas: int = 42,
                     digit_size: int = 20) -> DistortedDigits:
    """``n`` distorted digits, drawn with replacement from the source digits of ``split``.

    Parameters
    ----------
    n : int
        Number of images.
    recipe : str
        ``"rts"`` or ``"r"`` (see :data:`RECIPES`).
    split : str
        ``"train"`` or ``"test"``: which source digits to distort.
    seed : int
        Seed of the choice of digits and of the distortions.
    canvas : int
        Side of the square output images, in pixels.
    digit_size : int
        Side, in pixels, of the square that the 8x8 digit fills at scale 1.

    Returns
    -------
    DistortedDigits
    """
    check_positive("n", n)
    check_choice("recipe", recipe, RECIPES)
    check_choice("split", split, ("train", "test"))
    check_positive("canvas", canvas)
    check_positive("digit_size", digit_size)
    rule = RECIPES[recipe]
    extent_at_45 = digit_size * rule.scale_range[1] * np.sqrt(2.0)
    if extent_at_45 > canvas - 2:
        raise ValueError(
            f"a digit of {digit_size} px at scale {rule.scale_range[1]} may not fit a canvas of {canvas} px"
        )
    digits, labels = _source_digits(split)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, digits.shape[0], n)
    angle = rng.uniform(-rule.max_angle, rule.max_angle, n)
    scale = rng.uniform(*rule.scale_range, n)
    radians = np.deg2rad(angle)
    extent = digit_size * scale * (np.abs(np.cos(radians)) + np.abs(np.sin(radians)))
    room = (canvas - 2 - extent)[:, None] / 2 if rule.random_position else np.zeros((n, 1))
    shift = rng.uniform(-1.0, 1.0, (n, 2)) * room
    theta = placement_theta(angle, scale, shift, canvas, digit_size)
    grid = affine_grid(theta.astype(np.float32), (n, 1, canvas, canvas))
    images = grid_sample(digits[pick].astype(np.float32), grid)
    return DistortedDigits(np.clip(images, 0.0, 1.0), labels[pick], angle, scale, shift)
