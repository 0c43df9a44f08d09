"""Data: the offline datasets, splits, standardisation, augmentation and mini-batches.

Nothing is downloaded: Iris and the 8x8 digits ship with scikit-learn (the
``data`` extra), and every generated dataset is seeded.

Splits are index arrays drawn on the host from a seed, so the same seed gives
the same split on every backend; :func:`take` applies them to arrays of any
backend. :class:`Standardizer` learns its statistics from the training split
only and applies them to every split (statistics of validation or test data
would leak information about them into training).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .backend import get_namespace
from .validation import check_in_range, check_ndim, check_positive


def _sklearn_datasets():
    try:
        from sklearn import datasets
    except ImportError as err:
        raise ImportError(
            'the offline datasets come with scikit-learn; install it with `pip install -e ".[data]"` in a clone '
            "of deepref (or `pip install scikit-learn`)"
        ) from err
    return datasets


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's Iris: ``x`` (150, 4) float64 in cm, ``y`` (150,) int64 (0 setosa, 1 versicolor, 2 virginica)."""
    bunch = _sklearn_datasets().load_iris()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (UCI): ``x`` (1797, 64) float64 in [0, 16], ``y`` (1797,) int64 in 0..9."""
    bunch = _sklearn_datasets().load_digits()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def minibatch_indices(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays of consecutive mini-batches over ``range(n)``.

    Parameters
    ----------
    n : int
        Number of examples.
    batch_size : int
        Examples per batch; the last batch holds the remainder.
    rng : numpy.random.Generator, optional
        If given, the order is shuffled with it (once per call: once per epoch).

    Yields
    ------
    (B,) int64 numpy array
    """
    check_positive("batch_size", batch_size)
    if int(batch_size) != batch_size:
        raise ValueError(f"batch_size must be a whole number, got {batch_size!r}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, int(batch_size)):
        yield order[start : start + int(batch_size)]


def take(a, indices):
    """Rows ``indices`` (host integer array) of ``a`` (an array of any backend)."""
    xp = get_namespace(a)
    return xp.take(a, xp.asarray(np.asarray(indices, dtype=np.int64)), axis=0)


def split_indices(
    n: int, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int | None = 0
):
    """Shuffled, disjoint train / validation / test index arrays covering ``range(n)``.

    The validation and test sets get ``round(fraction * n)`` examples each
    (at least one if their fraction is positive); the training set the rest.

    Returns
    -------
    train, val, test : int64 numpy arrays
    """
    check_in_range("val_fraction", val_fraction, 0.0, 1.0)
    check_in_range("test_fraction", test_fraction, 0.0, 1.0)
    fractions = (val_fraction, test_fraction)
    n_val, n_test = [max(round(f * n), 1) if f > 0 else 0 for f in fractions]
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} "
            f"leave no training examples out of {n}"
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def train_val_test_split(x, y, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int | None = 0):
    """Split ``(x, y)`` into ``(x_train, y_train), (x_val, y_val), (x_test, y_test)`` (see :func:`split_indices`).

    Parameters
    ----------
    x : (N, ...) array
    y : (N, ...) array

    Examples
    --------
    >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    >>> train, val, test = train_val_test_split(x, y, 0.2, 0.3, seed=0)
    >>> [part[0].shape[0] for part in (train, val, test)]
    [5, 2, 3]
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of examples, got {x.shape[0]} and {y.shape[0]}")
    parts = split_indices(x.shape[0], val_fraction, test_fraction, seed)
    return tuple((take(x, idx), take(y, idx)) for idx in parts)


def kfold_indices(
    n: int, n_splits: int = 5, shuffle: bool = False, seed: int | None = None
):
    """``(train, validation)`` index pairs of k-fold cross-validation over ``range(n)``.

    The folds are those of ``sklearn.model_selection.KFold(n_splits, shuffle=shuffle,
    random_state=seed)``: consecutive blocks of the (optionally shuffled) indices,
    the first ``n % n_splits`` folds one example larger. Shuffling uses NumPy's
    legacy ``RandomState(seed)``, as scikit-learn does, so the folds agree exactly.

    Returns
    -------
    list of (train, val) pairs of int64 numpy arrays
        Both in increasing order, as scikit-learn returns them.
    """
    if not isinstance(n_splits, int) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if n_splits > n:
        raise ValueError(
            f"cannot make n_splits={n_splits} folds out of only {n} examples"
        )
    indices = np.arange(n, dtype=np.int64)
    if shuffle:
        np.random.RandomState(seed).shuffle(indices)
    sizes = np.full(n_splits, n // n_splits)
    sizes[: n % n_splits] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    folds = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        in_val = np.zeros(n, dtype=bool)
        in_val[indices[start:stop]] = True
        train = np.flatnonzero(~in_val).astype(np.int64)
        folds.append((train, np.flatnonzero(in_val).astype(np.int64)))
    return folds


class Standardizer:
    """Per-feature standardisation ``(x - mean) / std`` with statistics of the training data.

    ``std`` is the population standard deviation (as ``sklearn.preprocessing.StandardScaler``);
    constant features (``std = 0``, such as the always-blank corner pixels of the
    digits) are only centred.

    Examples
    --------
    >>> scaler = Standardizer().fit(np.array([[0.0, 1.0], [2.0, 1.0]]))
    >>> scaler.transform(np.array([[4.0, 3.0]])).tolist()
    [[3.0, 2.0]]
    """

    mean = None
    scale = None

    def fit(self, x_train) -> Standardizer:
        """Learn ``mean`` and ``scale`` (D,) from ``x_train`` (N, D)."""
        check_ndim("x_train", x_train, 2, "(N, D)")
        if x_train.shape[0] < 1:
            raise ValueError("cannot fit a Standardizer on zero examples")
        xp = get_namespace(x_train)
        self.mean = xp.mean(x_train, axis=0)
        std = xp.sqrt(xp.mean((x_train - self.mean) ** 2, axis=0))
        self.scale = xp.where(std > 0, std, xp.ones_like(std))
        return self

    def _check_fitted(self, x) -> None:
        if self.mean is None:
            raise RuntimeError("Standardizer is not fitted: call fit(x_train) first")
        check_ndim("x", x, 2, "(N, D)")
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x must have {self.mean.shape[0]} features as the training data, got {x.shape[1]}")

    def transform(self, x):
        """Standardise ``x`` (N, D) with the training statistics."""
        self._check_fitted(x)
        return (x - self.mean) / self.scale

    def fit_transform(self, x_train):
        """``fit(x_train)`` then ``transform(x_train)``."""
        return self.fit(x_train).transform(x_train)

    def inverse_transform(self, z):
        """Undo :meth:`transform`."""
        self._check_fitted(z)
        return z * self.scale + self.mean


def affine_warp(
    images: np.ndarray, angles_deg: np.ndarray, shifts: np.ndarray
) -> np.ndarray:
    """Rotate each image about its centre, then shift it, with bilinear interpolation (host NumPy).

    Output pixel ``p`` reads the input at ``R(-angle) (p - c - shift) + c``; pixels
    that fall outside the input read 0 (background). An angle of 0 and integer
    shifts move pixels, and multiples of 90 degrees rotate square images, up to
    rounding (about 1e-15 of the pixel values).
    The sampling is the spatial transformer's (:func:`deepref.nn.sampling.affine_grid` and
    :func:`deepref.stn.grid_sample` with ``align_corners=True``), so there is one
    bilinear sampler in the library.

    Parameters
    ----------
    images : (N, H, W) float array, H and W at least 2
    angles_deg : (N,) array
        Anticlockwise rotation in degrees (as displayed with ``imshow``).
    shifts : (N, 2) array
        ``(down, right)`` displacement in pixels.

    Returns
    -------
    (N, H, W) float64 numpy array
    """
    from .nn.sampling import affine_grid, grid_sample

    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or min(images.shape[1:]) < 2:
        raise ValueError(
            f"images must be 3-D (N, H, W) with H, W >= 2, got shape {images.shape}"
        )
    n, h, w = images.shape
    theta = warp_matrices(angles_deg, shifts, h, w)
    grid = affine_grid(theta, (n, 1, h, w), align_corners=True)
    return grid_sample(images[:, None], grid, align_corners=True)[:, 0]


def warp_matrices(angles_deg, shifts, h: int, w: int) -> np.ndarray:
    """The ``(N, 2, 3)`` affine matrices, in the sampler's normalised coordinates, of :func:`affine_warp`.

    With ``align_corners=True`` a pixel offset ``d`` from the centre is ``d / s`` in
    normalised units, ``s = (size - 1) / 2``. The source of output point ``(x, y)``
    is ``R(-angle) ((x, y) - t)`` in pixels, which in normalised units scales the
    off-diagonal terms by the aspect ratio ``s_y / s_x`` and the shift by ``1 / s``.
    """
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    shifts = np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
    if angles.shape != (shifts.shape[0],):
        raise ValueError(f"angles_deg must have shape (N,) = ({shifts.shape[0]},), got {angles.shape}")
    sy, sx = (h - 1) / 2, (w - 1) / 2
    cos, sin = np.cos(angles), np.sin(angles)
    ty, tx = shifts[:, 0], shifts[:, 1]
    rows = [
        [cos, -sin * sy / sx, (-cos * tx + sin * ty) / sx],
        [sin * sx / sy, cos, (-sin * tx - cos * ty) / sy],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=1)


def augment_images(
    images: np.ndarray,
    rng: np.random.Generator | int | None = None,
    max_shift: int = 1,
    max_angle: float = 10.0,
    noise_std: float = 0.0,
    value_range: tuple[float, float] | None = (0.0, 16.0),
) -> np.ndarray:
    """Random distortions of small images: integer shifts, small rotations, Gaussian noise (host NumPy).

    Parameters
    ----------
    images : (N, H, W) or (N, H * W) array
        E.g. the digits, (N, 64) with values in [0, 16] (square images when flat).
    rng : numpy.random.Generator or int, optional
    max_shift : int
        Shifts drawn uniformly from ``{-max_shift, ..., max_shift}`` in each direction.
    max_angle : float
        Angles drawn uniformly from ``[-max_angle, max_angle]`` degrees.
    noise_std : float
        Standard deviation of added Gaussian noise.
    value_range : (low, high) or None
        Clip the result to this range (the digits' ``[0, 16]`` by default).

    Returns
    -------
    array of the input's shape, float64
    """
    check_positive("max_shift", max_shift, allow_zero=True)
    check_positive("max_angle", max_angle, allow_zero=True)
    check_positive("noise_std", noise_std, allow_zero=True)
    images = np.asarray(images, dtype=np.float64)
    flat_shape = images.shape
    if images.ndim == 2:
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"flat images must have a square number of pixels, got {images.shape[1]}")
        images = images.reshape(-1, side, side)
    elif images.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (N, H * W), got shape {flat_shape}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n = images.shape[0]
    angles = rng.uniform(-max_angle, max_angle, n)
    shifts = rng.integers(-int(max_shift), int(max_shift) + 1, (n, 2))
    out = affine_warp(images, angles, shifts) + noise_std * rng.standard_normal(images.shape)
    if value_range is not None:
        out = np.clip(out, *value_range)
    return out.reshape(flat_shape)
