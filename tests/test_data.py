"""Splits, k-fold, standardisation and image augmentation."""

import numpy as np
import pytest

from deepref import data
from deepref.backend import asarray, to_numpy


def test_split_is_a_seeded_partition():
    train, val, test = data.split_indices(103, 0.2, 0.1, seed=5)
    assert (len(train), len(val), len(test)) == (72, 21, 10)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(103))
    again = data.split_indices(103, 0.2, 0.1, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    other = data.split_indices(103, 0.2, 0.1, seed=6)
    assert not np.array_equal(train, other[0])


def test_train_val_test_split_keeps_pairs_together(xp):
    x = asarray(np.arange(40.0).reshape(20, 2))
    y = asarray(np.arange(20))
    for xs, ys in data.train_val_test_split(x, y, 0.25, 0.25, seed=0):
        np.testing.assert_array_equal(to_numpy(xs)[:, 0], 2 * to_numpy(ys))


def test_split_errors():
    with pytest.raises(ValueError, match="leave no training examples"):
        data.split_indices(4, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0.0, 1.0\)"):
        data.split_indices(10, 1.2, 0.1)
    with pytest.raises(ValueError, match="same number of examples"):
        data.train_val_test_split(np.zeros((3, 2)), np.zeros(4))


@pytest.mark.parametrize("n, k", [(10, 3), (12, 4), (7, 7)])
def test_kfold_partitions(n, k):
    folds = data.kfold_indices(n, k, shuffle=True, seed=0)
    assert len(folds) == k
    vals = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(vals), np.arange(n))  # every example validates exactly once
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == n
    sizes = sorted(len(val) for _, val in folds)
    assert sizes[-1] - sizes[0] <= 1


def test_kfold_errors():
    with pytest.raises(ValueError, match="cannot make n_splits=6 folds out of only 5 examples"):
        data.kfold_indices(5, 6)
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        data.kfold_indices(5, 1)


def test_standardizer_uses_training_statistics_only(xp, rng):
    train = rng.normal(5.0, 2.0, size=(50, 3))
    test = rng.normal(5.0, 2.0, size=(10, 3)) + 100.0
    scaler = data.Standardizer().fit(asarray(train))
    z_train = to_numpy(scaler.transform(asarray(train)))
    np.testing.assert_allclose(z_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z_train.std(axis=0), 1.0, rtol=1e-12)
    z_test = to_numpy(scaler.transform(asarray(test)))
    np.testing.assert_allclose(z_test, (test - train.mean(axis=0)) / train.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(scaler.inverse_transform(asarray(z_test))), test, rtol=1e-12)


def test_standardizer_constant_feature_is_only_centred(xp):
    x = asarray(np.array([[1.0, 3.0], [3.0, 3.0]]))
    z = to_numpy(data.Standardizer().fit_transform(x))
    np.testing.assert_array_equal(z, [[-1.0, 0.0], [1.0, 0.0]])


def test_standardizer_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        data.Standardizer().transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="must have 2 features"):
        data.Standardizer().fit(np.ones((3, 2))).transform(np.ones((3, 5)))


def test_warp_identity_shift_and_rotation():
    images = np.arange(2 * 64, dtype=np.float64).reshape(2, 8, 8)
    np.testing.assert_allclose(data.affine_warp(images, [0, 0], [[0, 0], [0, 0]]), images, atol=1e-12)
    shifted = data.affine_warp(images, [0, 0], [[1, 0], [0, -2]])
    np.testing.assert_allclose(shifted[0, 1:], images[0, :-1], atol=1e-12)
    np.testing.assert_allclose(shifted[0, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(shifted[1, :, :-2], images[1, :, 2:], atol=1e-12)
    np.testing.assert_allclose(shifted[1, :, -2:], 0.0, atol=1e-12)
    rotated = data.affine_warp(images, [90, 180], [[0, 0], [0, 0]])
    np.testing.assert_allclose(rotated[0], np.rot90(images[0], 1), atol=1e-12)
    np.testing.assert_allclose(rotated[1], np.rot90(images[1], 2), atol=1e-12)


def test_small_rotation_preserves_most_ink():
    image = np.zeros((1, 8, 8))
    image[0, 2:6, 2:6] = 16.0
    rotated = data.affine_warp(image, [10.0], [[0, 0]])
    assert abs(rotated.sum() - image.sum()) / image.sum() < 0.05


def test_augment_images_is_seeded_and_keeps_shape_and_range():
    x, _ = data.load_digits()
    a = data.augment_images(x[:20], rng=0, max_shift=1, max_angle=10, noise_std=0.5)
    b = data.augment_images(x[:20], rng=0, max_shift=1, max_angle=10, noise_std=0.5)
    assert a.shape == (20, 64) and np.array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 16.0
    assert not np.allclose(a, x[:20])
    unchanged = data.augment_images(x[:5], rng=0, max_shift=0, max_angle=0, noise_std=0)
    np.testing.assert_allclose(unchanged, x[:5], atol=1e-12)


def test_augment_errors():
    with pytest.raises(ValueError, match="square number of pixels"):
        data.augment_images(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        data.augment_images(np.zeros((2, 64)), noise_std=-1.0)


def test_existing_loaders_and_batches():
    x, y = data.load_digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    batches = list(data.minibatch_indices(10, 4))
    assert [len(b) for b in batches] == [4, 4, 2]
