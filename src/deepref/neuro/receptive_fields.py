"""Receptive fields from natural images: patches, whitening, FastICA, and measures of the filters.

Independent component analysis of whitened image patches finds filters
whose responses are as non-Gaussian (sparse) as possible; on natural images
they come out localised, oriented and band-pass, like the receptive fields of
simple cells in V1 (Olshausen & Field 1996; Bell & Sejnowski 1997).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..backend import asarray, get_namespace, to_numpy
from ..nn.init import as_generator
from ..validation import check_count, check_ndim
from ._common import host_rng


def image_patches(images, size: int, count: int, seed=0):
    """Random square patches from grey-level images, with each patch's mean removed.

    Parameters
    ----------
    images : sequence of (H, W) host arrays
    size : int
        Side of a patch, pixels.
    count : int
        Number of patches (drawn evenly from the images).
    seed : int or Generator

    Returns
    -------
    (count, size * size) array on the current backend
    """
    check_count("size", size, 2)
    check_count("count", count)
    rng = host_rng(seed)
    rows = []
    for k in range(count):
        image = np.asarray(images[k % len(images)], dtype=float)
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        rows.append(image[top:top + size, left:left + size].ravel())
    patches = np.stack(rows)
    return asarray(patches - patches.mean(axis=1, keepdims=True))


class Whitening(NamedTuple):
    """PCA whitening ``z = x V diag(1 / sqrt(lambda))`` keeping the leading components.

    Attributes
    ----------
    whiten : (D, K) array
        Maps centred data to unit-variance, uncorrelated coordinates.
    dewhiten : (K, D) array
        Maps back to pixel space.
    """

    whiten: object
    dewhiten: object


def pca_whitening(x, keep: int) -> Whitening:
    """Whitening of ``x`` (``(B, D)``, centred) onto its ``keep`` leading principal components.

    Dropping the trailing components removes the highest spatial frequencies,
    whose variance in natural images is tiny and mostly noise.
    """
    check_ndim("x", x, 2, "(B, D)")
    check_count("keep", keep)
    if keep > x.shape[1]:
        raise ValueError(f"keep must be at most D = {x.shape[1]}, got {keep}")
    xp = get_namespace(x)
    covariance = x.T @ x / x.shape[0]
    values, vectors = xp.linalg.eigh(covariance)
    values, vectors = xp.flip(values)[:keep], xp.flip(vectors, axis=1)[:, :keep]
    scale = xp.sqrt(values)
    return Whitening(vectors / xp.reshape(scale, (1, -1)), vectors.T * xp.reshape(scale, (-1, 1)))


def symmetric_decorrelation(w):
    """``(W W^T)^(-1/2) W``: the nearest matrix with orthonormal rows."""
    xp = get_namespace(w)
    values, vectors = xp.linalg.eigh(w @ w.T)
    return (vectors / xp.reshape(xp.sqrt(values), (1, -1))) @ vectors.T @ w


def fast_ica(z, components: int, iterations: int = 200, tol: float = 1e-6,
             seed=0):
    """Symmetric FastICA with the ``log cosh`` contrast on whitened data (Hyvarinen 1999).

    Fixed-point step for all rows at once, then symmetric decorrelation:
    ``W <- E[g(W z) z^T] - diag(E[g'(W z)]) W`` with ``g = tanh``.

    Parameters
    ----------
    z : (B, K) array
        Whitened data.
    components : int
        Number of independent components (<= K).
    iterations : int
        Largest number of fixed-point steps.
    tol : float
        Stop when every row of ``W`` moved by less than this (``1 - |cos|``).
    seed : int or Generator
        Seed of the random starting matrix.

    Returns
    -------
    (components, K) array
        Unmixing matrix with orthonormal rows: sources are ``z W^T``.
    """
    check_ndim("z", z, 2, "(B, K)")
    check_count("components", components)
    check_count("iterations", iterations)
    xp = get_namespace(z)
    start = as_generator(seed).normal(size=(components, z.shape[1]), dtype=z.dtype,
                                     like=z)
    w = symmetric_decorrelation(start)
    for _ in range(iterations):
        y = xp.tanh(z @ w.T)  # (B, C)
        slope = xp.reshape(xp.mean(1.0 - y * y, axis=0), (-1, 1))  # E[g'(W z)], (C, 1)
        new = symmetric_decorrelation(y.T @ z / z.shape[0] - slope * w)
        change = float(xp.max(1.0 - xp.abs(xp.sum(new * w, axis=1))))
        w = new
        if change < tol:
            break
    return w


def grating_responses(filters, size: int, orientations: int = 16, frequencies=(0.1, 0.15, 0.2, 0.25, 0.3),
                      phases: int = 8):
    """Largest response of each filter to sinusoidal gratings, per orientation.

    For each orientation the response is the largest ``|<filter, grating>|``
    over the spatial frequencies (cycles per pixel) and phases.

    Parameters
    ----------
    filters : (F, size * size) array
    size : int
    orientations, phases : int

    Returns
    -------
    (F, orientations) array, and the orientations (radians in [0, pi)) as a host array
    """
    xp = get_namespace(filters)
    angles = np.arange(orientations) * math.pi / orientations
    rows, cols = np.mgrid[0:size, 0:size]
    best = []
    for angle in angles:
        gratings = []
        for frequency in frequencies:
            for phase in np.arange(phases) * 2 * math.pi / phases:
                along = cols * math.cos(angle) + rows * math.sin(angle)
                gratings.append(np.cos(2 * math.pi * frequency * along + phase).ravel())
        bank = xp.asarray(np.stack(gratings, axis=1), dtype=filters.dtype)  # (size^2, G)
        best.append(xp.max(xp.abs(filters @ bank), axis=1))
    return xp.stack(best, axis=1), angles


def orientation_selectivity(responses):
    """Orientation selectivity index ``|sum_k R_k exp(2 i theta_k)| / sum_k R_k`` per filter.

    0 for a filter that answers every orientation alike, 1 for one that answers a single orientation.

    Parameters
    ----------
    responses : (F, K) array
        Responses at ``K`` orientations evenly spaced on ``[0, pi)``.

    Returns
    -------
    (F,) array
    """
    xp = get_namespace(responses)
    k = responses.shape[1]
    doubled = xp.asarray(np.arange(k) * 2 * math.pi / k, dtype=responses.dtype)
    real = responses @ xp.cos(doubled)
    imag = responses @ xp.sin(doubled)
    return xp.sqrt(real * real + imag * imag) / xp.sum(responses, axis=1)


def gabor_parameters(params) -> np.ndarray:
    """``params`` as 8 floats (see :func:`gabor`); ``ValueError`` naming what was expected otherwise."""
    values = np.asarray(params, dtype=float)
    if values.shape != (8,):
        raise ValueError("Gabor parameters must be 8 numbers (amplitude, x0, y0, sigma_x, sigma_y, theta, "
                         f"frequency, phase), got shape {values.shape}")
    return values


def gabor(params, size: int) -> np.ndarray:
    """A Gabor function on a ``size`` x ``size`` grid (host array, flattened).

    ``params = (amplitude, x0, y0, sigma_x, sigma_y, theta, frequency, phase)``:
    a cosine of ``frequency`` cycles per pixel along direction ``theta``, under
    a Gaussian envelope centred at ``(x0, y0)`` with widths ``sigma_x`` (along
    ``theta``) and ``sigma_y`` (across), in pixels.
    """
    amplitude, x0, y0, sigma_x, sigma_y, theta, frequency, phase = gabor_parameters(params)
    rows, cols = np.mgrid[0:size, 0:size]
    along = (cols - x0) * np.cos(theta) + (rows - y0) * np.sin(theta)
    across = -(cols - x0) * np.sin(theta) + (rows - y0) * np.cos(theta)
    envelope = np.exp(-0.5 * (along**2 / sigma_x**2 + across**2 / sigma_y**2))
    return (amplitude * envelope * np.cos(2 * np.pi * frequency * along + phase)).ravel()


class GaborFit(NamedTuple):
    """Best Gabor fit of one filter: its parameters (see :func:`gabor`) and the variance explained."""

    params: np.ndarray
    r2: float


def fit_gabor(filter_, size: int, starts: int = 6) -> GaborFit:
    """Least-squares fit of a Gabor function to one filter (SciPy, on the host).

    Starts from the filter's peak with several orientations and keeps the best fit.

    Parameters
    ----------
    filter_ : (size * size,) array
    size : int
    starts : int
        Number of initial orientations tried.
    """
    try:
        from scipy.optimize import least_squares
    except ImportError as err:  # pragma: no cover - scipy comes with the book and test extras
        raise ImportError("fit_gabor needs SciPy: install deepref with the 'book' extra") from err
    target = np.asarray(to_numpy(filter_), dtype=float)
    peak = int(np.argmax(np.abs(target)))
    y0, x0 = divmod(peak, size)
    scale = float(np.max(np.abs(target)))
    lower = [-np.inf, -1.0, -1.0, 0.5, 0.5, -np.inf, 0.02, -np.inf]
    upper = [np.inf, size, size, size, size, np.inf, 0.5, np.inf]
    best = None
    for k in range(starts):
        start = [scale, x0, y0, 1.5, 1.5, k * np.pi / starts, 0.15, 0.0]
        result = least_squares(lambda p: gabor(p, size) - target, start, bounds=(lower, upper))
        if best is None or result.cost < best.cost:
            best = result
    residual = float(np.sum(best.fun**2))
    return GaborFit(best.x, 1.0 - residual / float(np.sum((target - target.mean()) ** 2)))


def spatial_extent(filters, size: int):
    """Spread of each filter's energy around its centre, pixels (root mean squared distance), ``(F,)``.

    Weights each pixel by its share of the filter's squared values; a filter
    spread evenly over a ``size`` x ``size`` patch has an extent near
    ``size / sqrt(6)``, a localised one much less.

    Parameters
    ----------
    filters : (F, size * size) array
    size : int
    """
    check_ndim("filters", filters, 2, "(F, size * size)")
    xp = get_namespace(filters)
    rows, cols = np.mgrid[0:size, 0:size]
    r = xp.asarray(rows.ravel().astype(float), dtype=filters.dtype)
    c = xp.asarray(cols.ravel().astype(float), dtype=filters.dtype)
    energy = filters * filters
    energy = energy / xp.sum(energy, axis=1, keepdims=True)
    mean_r, mean_c = energy @ r, energy @ c
    spread = energy @ (r * r + c * c) - mean_r * mean_r - mean_c * mean_c
    return xp.sqrt(spread)


def receptive_field_measures(filters, size: int, fits: int = 12) -> tuple[dict, list[GaborFit]]:
    """Four medians that say how localised, oriented and Gabor-like a set of filters is.

    Parameters
    ----------
    filters : (F, size * size) array
    size : int
    fits : int
        Gabor fits (SciPy, on the host) are made to the first ``fits`` filters;
        the orientation index and the energy spread use every filter.

    Returns
    -------
    measures : dict
        ``"orientation selectivity"`` (median of :func:`orientation_selectivity`),
        ``"Gabor fit R^2"`` (median variance explained by the best Gabor),
        ``"Gabor envelope (px)"`` (median geometric mean of the fitted widths)
        and ``"energy spread (px)"`` (median of :func:`spatial_extent`).
    gabor_fits : list of GaborFit
        The fits, in the order of the filters.
    """
    check_ndim("filters", filters, 2, "(F, size * size)")
    check_count("fits", fits)
    responses, _ = grating_responses(filters, size)
    gabor_fits = [fit_gabor(f, size, starts=3) for f in to_numpy(filters)[:fits]]
    measures = {
        "orientation selectivity": float(np.median(to_numpy(orientation_selectivity(responses)))),
        "Gabor fit R^2": float(np.median([f.r2 for f in gabor_fits])),
        "Gabor envelope (px)": float(np.median([math.sqrt(f.params[3] * f.params[4]) for f in gabor_fits])),
        "energy spread (px)": float(np.median(to_numpy(spatial_extent(filters, size)))),
    }
    return measures, gabor_fits


def modulation(response) -> float:
    """``(max - min) / (max + min)`` of a non-negative response over a stimulus' phase.

    0 for a response that does not change, 1 for one that falls to zero.
    """
    response = to_numpy(response)
    return float((response.max() - response.min()) / (response.max() + response.min()))


def energy_model_responses(params, size: int, phases: int = 32) -> tuple:
    """A simple cell and an energy-model complex cell driven by a drifting grating.

    The simple cell is the Gabor ``params`` (see :func:`gabor`), rectified
    (a firing rate); the complex cell squares and sums the responses of that
    Gabor and of its copy shifted by 90 degrees (Adelson & Bergen 1985). The
    grating has the Gabor's orientation and frequency and moves through
    ``phases`` phases of one cycle.

    Returns
    -------
    simple, complex_cell : (phases,) host arrays
    """
    check_count("phases", phases)
    params = gabor_parameters(params)
    even = gabor(params, size)
    odd = gabor(np.r_[params[:7], params[7] + np.pi / 2], size)
    x0, y0, theta, frequency = params[1], params[2], params[5], params[6]
    rows, cols = np.mgrid[0:size, 0:size]
    along = ((cols - x0) * np.cos(theta) + (rows - y0) * np.sin(theta)).ravel()
    shifts = np.linspace(0, 2 * np.pi, phases, endpoint=False)
    # (phases, size * size): one grating per phase
    gratings = np.cos(2 * np.pi * frequency * along + shifts[:, None])
    simple = np.clip(gratings @ even, 0.0, None)
    complex_cell = (gratings @ even) ** 2 + (gratings @ odd) ** 2
    return simple, complex_cell


def envelope_leakage(params, size: int) -> float:
    """``|B| / A``: a Gabor's envelope at twice its carrier's wave vector, relative to its sum, on the patch.

    With envelope ``G`` and carrier wave vector ``k``, the complex cell of
    :func:`energy_model_responses` is ``|A + B e^(2ip)|^2 / 4`` at grating
    phase ``p``, where ``A = sum G`` and ``B = sum G e^(2i k.x)`` over the
    patch's pixels, so its modulation is ``2 L / (1 + L^2)`` with
    ``L = |B| / A``. ``L`` is small for an envelope wide enough for its
    carrier, and grows where the patch's edge cuts the envelope off or where
    the pixel grid folds twice the carrier's frequency back to near zero.
    """
    _, x0, y0, sigma_x, sigma_y, theta, frequency, _ = gabor_parameters(params)
    no_carrier = [1.0, x0, y0, sigma_x, sigma_y, theta, 0.0, 0.0]
    envelope = gabor(no_carrier, size)
    rows, cols = np.mgrid[0:size, 0:size]
    along = ((cols - x0) * np.cos(theta) + (rows - y0) * np.sin(theta)).ravel()
    twice_the_carrier = np.exp(2j * 2 * np.pi * frequency * along)
    return float(abs(envelope @ twice_the_carrier) / envelope.sum())


def forms_quadrature_pair(params, size: int, leakage: float = 0.01) -> bool:
    """Whether the Gabor ``params`` and its 90-degree copy make a near-exact quadrature pair on the patch.

    True where :func:`envelope_leakage` is at most ``leakage``: the energy
    model's modulation is then at most about ``2 * leakage``.
    """
    return envelope_leakage(params, size) <= leakage


def energy_model_survey(gabor_fits, size: int, leakage: float = 0.01) -> dict:
    """The energy model built from each fitted Gabor: is it a quadrature pair, and how phase-invariant is it.

    Parameters
    ----------
    gabor_fits : sequence of GaborFit
    size : int
    leakage : float
        See :func:`forms_quadrature_pair`.

    Returns
    -------
    dict
        One entry per fit in each list: ``"leakage"``
        (:func:`envelope_leakage`), ``"pair"`` (bool, :func:`forms_quadrature_pair`), ``"simple_modulation"`` and
        ``"complex_modulation"`` (:func:`modulation` of the two responses of
        :func:`energy_model_responses`).
    """
    cells = [energy_model_responses(fitted.params, size) for fitted in gabor_fits]
    return {
        "leakage": [envelope_leakage(fitted.params, size) for fitted in gabor_fits],
        "pair": [forms_quadrature_pair(fitted.params, size, leakage) for fitted in gabor_fits],
        "simple_modulation": [modulation(simple) for simple, _ in cells],
        "complex_modulation": [modulation(complex_cell) for _, complex_cell in cells],
    }
