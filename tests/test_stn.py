"""Spatial transformers: gradient checks, value checks of the sampler, the module and the distorted digits."""

import numpy as np
import pytest

from deepref import nn
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64, check_backward, check_module
from deepref.stn import (
    SpatialTransformer,
    affine_grid,
    affine_grid_backward,
    affine_grid_forward,
    distorted_digits,
    grid_sample,
    grid_sample_backward,
    grid_sample_forward,
    placement_theta,
    pose_of_theta,
)

ALIGN = [False, True]


def pixel_to_normalised(p, n, align_corners):
    """Inverse of the sampler's normalised-to-pixel map along an axis of ``n`` pixels."""
    return 2 * p / (n - 1) - 1 if align_corners else (2 * p + 1) / n - 1


def off_integer_grid(rng, n, h_out, w_out, h, w, align_corners):
    """Sampling points whose pixel coordinates sit 0.2-0.8 px from an integer, some outside the image."""
    px = rng.integers(-2, w + 1, (n, h_out, w_out)) + rng.uniform(0.2, 0.8, (n, h_out, w_out))
    py = rng.integers(-2, h + 1, (n, h_out, w_out)) + rng.uniform(0.2, 0.8, (n, h_out, w_out))
    return np.stack([pixel_to_normalised(px, w, align_corners), pixel_to_normalised(py, h, align_corners)], -1)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_affine_grid_gradient_wrt_theta(rng, align_corners):
    theta = as_float64(rng.normal(size=(3, 2, 3)))
    errors = check_backward(affine_grid_forward, affine_grid_backward, [theta, (3, 2, 4, 5), align_corners])
    assert errors[0] < 1e-8, errors


@pytest.mark.parametrize("align_corners", ALIGN)
def test_grid_sample_gradient_wrt_input_and_grid(rng, align_corners):
    x = as_float64(rng.normal(size=(2, 2, 4, 5)))
    grid = as_float64(off_integer_grid(rng, 2, 3, 3, 4, 5, align_corners))
    errors = check_backward(grid_sample_forward, grid_sample_backward, [x, grid, align_corners])
    assert set(errors) == {0, 1}
    assert max(errors.values()) < 1e-7, errors


def test_grid_sample_gradient_is_nonzero_and_counts_shared_pixels(rng):
    """Many points in one pixel cell: their input gradients add up (scatter-add with repeated indices)."""
    x = as_float64(rng.normal(size=(1, 1, 3, 3)))
    grid = as_float64(np.full((1, 4, 4, 2), 0.1) + rng.uniform(-0.05, 0.05, (1, 4, 4, 2)))
    out, cache = grid_sample_forward(x, grid)
    dx, _ = grid_sample_backward(asarray(np.ones((1, 1, 4, 4))), cache)
    # every point lies in the same 2x2 block of pixels, and bilinear weights sum to one per point
    assert float(np.sum(to_numpy(dx))) == pytest.approx(16.0)
    assert np.count_nonzero(to_numpy(dx)) == 4


@pytest.mark.parametrize("align_corners", ALIGN)
def test_identity_transform_returns_the_image(rng, align_corners):
    x = as_float64(rng.normal(size=(2, 3, 7, 5)))
    theta = as_float64(np.tile(np.eye(2, 3), (2, 1, 1)))
    out = grid_sample(x, affine_grid(theta, (2, 3, 7, 5), align_corners), align_corners)
    np.testing.assert_allclose(to_numpy(out), to_numpy(x), atol=1e-12)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_quarter_turn_rotates_the_image(rng, align_corners):
    image = rng.normal(size=(1, 2, 6, 6))
    theta = as_float64([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]])
    out = grid_sample(as_float64(image), affine_grid(theta, (1, 2, 6, 6), align_corners), align_corners)
    np.testing.assert_allclose(to_numpy(out), np.rot90(image, k=1, axes=(2, 3)), atol=1e-12)


def test_zoom_crops_the_centre(rng):
    image = rng.normal(size=(1, 1, 8, 8))
    theta = as_float64([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    out = grid_sample(as_float64(image), affine_grid(theta, (1, 1, 4, 4)))
    np.testing.assert_allclose(to_numpy(out), image[:, :, 2:6, 2:6], atol=1e-12)


def test_translation_out_of_view_gives_zeros(rng):
    theta = as_float64([[[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]]])
    out = grid_sample(as_float64(rng.normal(size=(1, 1, 4, 4))), affine_grid(theta, (1, 1, 4, 4)))
    assert np.all(to_numpy(out) == 0.0)


def test_bad_input_raises_clear_errors(rng):
    theta = as_float64(rng.normal(size=(2, 2, 3)))
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 2, 3\)"):
        affine_grid(as_float64(rng.normal(size=(2, 3, 3))), (2, 1, 4, 4))
    with pytest.raises(ValueError, match="size\\[0\\] must equal the batch size of theta, 2"):
        affine_grid(theta, (3, 1, 4, 4))
    with pytest.raises(ValueError, match=r"size must be \(N, C, H, W\)"):
        affine_grid(theta, (2, 4, 4))
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\)"):
        grid_sample(as_float64(rng.normal(size=(2, 4, 4))), affine_grid(theta, (2, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"grid must have shape \(2, M, K, 2\)"):
        grid_sample(as_float64(rng.normal(size=(2, 1, 4, 4))), as_float64(rng.normal(size=(2, 4, 4, 3))))
    with pytest.raises(ValueError, match="unknown kind 'similarity'"):
        SpatialTransformer((1, 4, 4), kind="similarity")
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 4, 4\)"):
        SpatialTransformer((1, 4, 4), seed=0)(as_float64(rng.normal(size=(2, 1, 5, 5))))


@pytest.mark.parametrize("kind", ["translation", "translation_scale", "affine"])
def test_untrained_transformer_is_the_identity(rng, kind):
    st = SpatialTransformer((2, 5, 6), kind=kind, hidden=(7,), seed=0)
    x = as_float64(rng.normal(size=(3, 2, 5, 6)))
    np.testing.assert_allclose(to_numpy(st(x)), to_numpy(x), atol=1e-12)
    np.testing.assert_allclose(to_numpy(st.predict_theta(x)), np.tile(np.eye(2, 3), (3, 1, 1)), atol=1e-15)


@pytest.mark.parametrize("kind,n_params", [("translation", 2), ("translation_scale", 3), ("affine", 6)])
def test_transformer_gradients(rng, kind, n_params):
    st = SpatialTransformer((1, 4, 4), out_size=(3, 3), kind=kind, hidden=(3,), seed=3)
    regression = st.localisation[-1]
    assert regression.weight.shape == (3, n_params)
    regression.weight.data = as_float64(rng.normal(0.0, 0.05, regression.weight.shape))
    x = as_float64(rng.normal(size=(2, 1, 4, 4)))
    # the check is only meaningful away from kinks: sampling points off integer pixels, ReLU inputs off zero
    grid = to_numpy(affine_grid(st.predict_theta(x), (2, 1, 3, 3)))
    pixels = ((grid + 1.0) * 4 - 1.0) / 2
    assert np.min(np.abs(pixels - np.round(pixels))) > 1e-3
    hidden = to_numpy(st.localisation[0](asarray(to_numpy(x).reshape(2, -1))))
    assert np.min(np.abs(hidden)) > 1e-4
    errors = check_module(st, x)
    assert max(errors.values()) < 1e-6, errors
    assert set(errors) == {"input", "localisation.0.weight", "localisation.0.bias",
                           "localisation.2.weight", "localisation.2.bias"}


def test_transformer_composes_in_sequential(rng):
    # identity from 5 to 4 pixels samples at 0.125, 1.375, 2.625, 3.875: away from the kinks at integers
    model = nn.Sequential(SpatialTransformer((1, 5, 5), out_size=(4, 4), hidden=(2,), seed=1), nn.Flatten(),
                          nn.Linear(16, 3, seed=2))
    x = as_float64(rng.normal(size=(2, 1, 5, 5)))
    assert tuple(model(x).shape) == (2, 3)
    errors = check_module(model, x, check_input=False)
    # the regression layer starts at zero weights: its gradient must flow, the rest is checked too
    assert float(np.abs(to_numpy(model[0].localisation[-1].weight.grad)).max()) > 0
    assert max(errors.values()) < 1e-6, errors


def test_distorted_digits_are_deterministic_and_in_range():
    first = distorted_digits(30, "rts", seed=5)
    again = distorted_digits(30, "rts", seed=5)
    other = distorted_digits(30, "rts", seed=6)
    assert first.images.shape == (30, 1, 42, 42) and first.labels.shape == (30,)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)
    assert first.images.min() >= 0.0 and first.images.max() <= 1.0
    assert np.all(np.abs(first.angle) <= 45) and np.all((first.scale >= 0.7) & (first.scale <= 1.2))
    # the whole rotated digit fits the canvas: nothing touches the border
    assert np.all(first.images[:, :, [0, -1], :] == 0) and np.all(first.images[:, :, :, [0, -1]] == 0)


def test_rotation_recipe_is_centred_at_unit_scale():
    data = distorted_digits(20, "r", split="test", seed=0)
    assert np.all(data.shift == 0) and np.all(data.scale == 1)
    assert np.abs(data.angle).max() > 45 and np.abs(data.angle).max() <= 90


def test_placement_shifts_and_rotates_like_the_picture_says(rng):
    digit = rng.uniform(size=(1, 1, 8, 8))

    def place(angle, shift):
        theta = placement_theta(np.array([angle]), np.array([1.0]), np.array([shift], dtype=float), 40, 16)
        return grid_sample(digit, affine_grid(theta, (1, 1, 40, 40)))

    centred = place(0.0, [0.0, 0.0])
    np.testing.assert_allclose(place(0.0, [5.0, -3.0]), np.roll(centred, (-3, 5), axis=(2, 3)), atol=1e-12)
    np.testing.assert_allclose(place(90.0, [0.0, 0.0]), np.rot90(centred, k=1, axes=(2, 3)), atol=1e-12)


def test_pose_of_theta_recovers_the_distortion_from_its_inverse(rng):
    angle, scale, shift = rng.uniform(-45, 45, 5), rng.uniform(0.7, 1.2, 5), rng.uniform(-8, 8, (5, 2))
    placement = placement_theta(angle, scale, shift, 42, 20)
    square = np.concatenate([placement, np.tile([[[0.0, 0.0, 1.0]]], (5, 1, 1))], axis=1)
    undo = np.linalg.inv(square)[:, :2, :]
    got_angle, got_scale, got_shift = pose_of_theta(undo)
    np.testing.assert_allclose(got_angle, angle, atol=1e-10)
    np.testing.assert_allclose(got_scale, scale * 20 / 42, atol=1e-12)
    np.testing.assert_allclose(got_shift, shift / 21, atol=1e-12)


def test_bad_distortion_arguments():
    with pytest.raises(ValueError, match="unknown recipe 'p'"):
        distorted_digits(5, "p")
    with pytest.raises(ValueError, match="unknown split"):
        distorted_digits(5, split="validation")
    with pytest.raises(ValueError, match="may not fit a canvas of 20 px"):
        distorted_digits(5, canvas=20)
