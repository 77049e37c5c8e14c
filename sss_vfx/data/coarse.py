"""Coarse "network-like" masks and semantic features made from an alpha: the recipe the
quality benchmark applies to real photos with true alpha."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sss_vfx.errors import InputError, OptionError

__all__ = ["coarse_features", "coarse_mask"]


def _check_alpha(alpha):
    arr = np.asarray(alpha)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"alpha must be a 2-D (H, W) array; got shape {arr.shape}")
    arr = arr.astype(np.float64)  # a copy: the caller's array is never touched
    if not np.all(np.isfinite(arr)):
        raise InputError("alpha holds NaN or inf; replace them before making features")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1.0 + 1e-6:
        raise InputError(
            f"alpha must hold values in [0, 1]; got [{lo:g}, {hi:g}] "
            "(divide an 8-bit matte by 255, a 16-bit one by 65535)"
        )
    return np.clip(arr, 0.0, 1.0)


def _block_mean(arr, scale):
    """Area average over ``scale`` x ``scale`` blocks; edge blocks average what they hold."""
    h, w = arr.shape
    rows = np.arange(0, h, scale)
    cols = np.arange(0, w, scale)
    sums = np.add.reduceat(np.add.reduceat(arr, rows, axis=0), cols, axis=1)
    counts = np.outer(np.minimum(rows + scale, h) - rows, np.minimum(cols + scale, w) - cols)
    return sums / counts


def _linear_weights(n_out, n_in, scale):
    """Indices and weights for bilinear upsampling along one axis by ``scale``.

    Output pixel ``x`` sits at coarse coordinate ``(x + 0.5) / scale - 0.5`` (block
    centres aligned), clamped at the ends.
    """
    u = np.clip((np.arange(n_out) + 0.5) / scale - 0.5, 0.0, n_in - 1)
    i0 = np.floor(u).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, u - i0


def _upsample(coarse, shape, scale):
    h, w = shape
    i0, i1, fy = _linear_weights(h, coarse.shape[0], scale)
    j0, j1, fx = _linear_weights(w, coarse.shape[1], scale)
    rows = coarse[i0] * (1.0 - fy)[:, None] + coarse[i1] * fy[:, None]
    return rows[:, j0] * (1.0 - fx)[None, :] + rows[:, j1] * fx[None, :]


def _check_scale_sigma(scale, blur_sigma):
    try:
        valid = not isinstance(scale, bool) and int(scale) == scale and int(scale) >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise OptionError(f"scale must be an integer >= 1; got {scale!r}")
    try:
        blur_sigma = float(blur_sigma)
    except (TypeError, ValueError):
        blur_sigma = float("nan")
    if not np.isfinite(blur_sigma) or blur_sigma < 0:
        raise OptionError(f"blur_sigma must be >= 0 coarse pixels; got {blur_sigma}")
    return int(scale), blur_sigma


def _coarse_soft_mask(alpha, scale, blur_sigma, seed):
    coarse = (_block_mean(alpha, scale) >= 0.5).astype(np.float64)
    if blur_sigma > 0:
        coarse = ndimage.gaussian_filter(coarse, blur_sigma, mode="nearest")
    if seed is not None:
        # Smooth low-amplitude wobble: a network's confidence is never perfectly flat.
        rng = np.random.default_rng(seed)
        wobble = ndimage.gaussian_filter(rng.standard_normal(coarse.shape), 1.5, mode="nearest")
        std = wobble.std()
        if std > 0:
            coarse = coarse + 0.08 * wobble / std
    return np.clip(_upsample(np.clip(coarse, 0.0, 1.0), alpha.shape, scale), 0.0, 1.0)


def coarse_mask(alpha, *, scale=8, blur_sigma=1.0):
    """The soft foreground mask a coarse segmentation network would give.

    Recipe: ``alpha`` is area-averaged over ``scale`` x ``scale`` blocks (edge blocks
    of images whose size is not a multiple of ``scale`` average the pixels they hold),
    thresholded at 0.5 to a binary coarse mask, blurred by a Gaussian of ``blur_sigma``
    coarse pixels, and upsampled bilinearly (block centres aligned) back to ``(H, W)``.

    Parameters
    ----------
    alpha : (H, W) or (H, W, 1) array_like
        True alpha in [0, 1], any real dtype (bool included). Not modified.
    scale : int, optional
        Downsampling factor, >= 1.
    blur_sigma : float, optional
        Gaussian standard deviation in coarse pixels, >= 0 (0: no blur).

    Returns
    -------
    mask : (H, W) float32 ndarray
        Soft mask in [0, 1].

    Raises
    ------
    InputError
        If ``alpha`` is not 2-D, holds NaN/inf or values outside [0, 1].
    OptionError
        If ``scale`` or ``blur_sigma`` is invalid.

    Examples
    --------
    >>> alpha = np.zeros((45, 67), np.float32); alpha[5:42, 10:60] = 1
    >>> m = coarse_mask(alpha)
    >>> m.shape, bool(m[23, 35] > 0.9), bool(m[0, 0] < 0.1)
    ((45, 67), True, True)
    """
    arr = _check_alpha(alpha)
    scale, blur_sigma = _check_scale_sigma(scale, blur_sigma)
    return _coarse_soft_mask(arr, scale, blur_sigma, None).astype(np.float32)


def coarse_features(
    alpha,
    *,
    scale=8,
    blur_sigma=1.0,
    fg_colour=(0.9, 0.2, 0.1),
    bg_colour=(0.1, 0.3, 0.9),
    seed=None,
):
    """Three-channel "network-like" semantic features made from a true alpha.

    ``features = m * fg_colour + (1 - m) * bg_colour`` where ``m`` is
    :func:`coarse_mask` of ``alpha``: blocky, blurred, and blind to hair-scale detail,
    like the output of a segmentation network at 1/``scale`` resolution. The quality
    benchmark uses the same recipe (``seed=None``) on real photos with true alpha.

    Parameters
    ----------
    alpha : (H, W) or (H, W, 1) array_like
        True alpha in [0, 1]. Not modified.
    scale : int, optional
        Downsampling factor, >= 1.
    blur_sigma : float, optional
        Gaussian standard deviation in coarse pixels, >= 0.
    fg_colour, bg_colour : (3,) sequence of float, optional
        Feature vectors of foreground and background, each in [0, 1].
    seed : int or None, optional
        None (default) gives the exact recipe. An int adds a smooth, seeded wobble of
        about 0.08 to the coarse mask before upsampling (still clipped to [0, 1], so
        features stay on the segment between the two colours).

    Returns
    -------
    features : (H, W, 3) float32 ndarray
        Values in [0, 1], each pixel on the segment from ``bg_colour`` to ``fg_colour``.

    Raises
    ------
    InputError
        If ``alpha`` is not 2-D, holds NaN/inf or values outside [0, 1].
    OptionError
        If ``scale``, ``blur_sigma`` or a colour is invalid.

    Examples
    --------
    >>> alpha = np.zeros((45, 67)); alpha[:, :30] = 1
    >>> f = coarse_features(alpha)
    >>> f.shape, f.dtype
    ((45, 67, 3), dtype('float32'))
    """
    arr = _check_alpha(alpha)
    scale, blur_sigma = _check_scale_sigma(scale, blur_sigma)
    colours = []
    for name, colour in (("fg_colour", fg_colour), ("bg_colour", bg_colour)):
        c = np.asarray(colour, dtype=np.float64)
        if c.shape != (3,) or not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1:
            raise OptionError(f"{name} must be 3 numbers in [0, 1]; got {colour!r}")
        colours.append(c)
    fg, bg = colours
    m = _coarse_soft_mask(arr, scale, blur_sigma, seed)[..., None]
    return np.clip(bg + (fg - bg) * m, 0.0, 1.0).astype(np.float32)
