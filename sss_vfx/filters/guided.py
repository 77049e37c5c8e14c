"""Guided filter (He, Sun, Tang 2013) with a colour guide, and its use for upsampling."""

import cv2
import numpy as np


def _box(x, radius):
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), normalize=True,
                         borderType=cv2.BORDER_REFLECT)


def guided_coefficients(guide, source, radius, eps):
    """Per-pixel linear model ``q = A I + b`` of the guided filter.

    Parameters
    ----------
    guide : (H, W, 3) float array
    source : (H, W, C) float array
    radius : int
        Box radius; windows are (2 r + 1)^2.
    eps : float
        Regulariser; smaller keeps more of the guide's edges.

    Returns
    -------
    a : (H, W, C, 3) float64, b : (H, W, C) float64
        Window-averaged coefficients.
    """
    guide = np.asarray(guide, np.float64)
    src = np.asarray(source, np.float64)
    if src.ndim == 2:
        src = src[..., None]
    mean_i = _box(guide, radius)
    cov_ii = np.empty(guide.shape[:2] + (3, 3))
    for c in range(3):
        for d in range(c, 3):
            cov_ii[..., c, d] = cov_ii[..., d, c] = (
                _box(guide[..., c] * guide[..., d], radius) - mean_i[..., c] * mean_i[..., d])
    inv = np.linalg.inv(cov_ii + eps * np.eye(3))
    a = np.empty(src.shape + (3,))
    b = np.empty(src.shape)
    for k in range(src.shape[2]):
        p = src[..., k]
        mean_p = _box(p, radius)
        cov_ip = np.stack([_box(guide[..., c] * p, radius) for c in range(3)], -1) \
            - mean_i * mean_p[..., None]
        a[..., k, :] = np.einsum("...ij,...j->...i", inv, cov_ip)
        b[..., k] = mean_p - np.einsum("...i,...i->...", a[..., k, :], mean_i)
    a = np.stack([np.stack([_box(a[..., k, c], radius) for c in range(3)], -1)
                  for k in range(src.shape[2])], 2)
    b = np.stack([_box(b[..., k], radius) for k in range(src.shape[2])], -1)
    return a, b


def guided_filter(guide, source, radius, eps):
    """Edge-aware smoothing of ``source`` following the edges of ``guide``.

    Parameters
    ----------
    guide : (H, W, 3) float array, values in [0, 1]
    source : (H, W) or (H, W, C) float array
    radius : int
    eps : float

    Returns
    -------
    Same shape as ``source``, float64.
    """
    a, b = guided_coefficients(guide, source, radius, eps)
    out = np.einsum("hwkc,hwc->hwk", a, np.asarray(guide, np.float64)) + b
    return out.reshape(np.shape(source))


def guided_upsample(guide_small, source_small, guide_full, radius=2, eps=1e-4):
    """Upsample a map by the guided filter's linear model (fast guided filter).

    The coefficients are fitted at low resolution, upsampled bilinearly, and applied
    to the full-resolution guide, so fine structure of the guide (hair) reappears in
    the result.

    Parameters
    ----------
    guide_small : (h, w, 3) float array
    source_small : (h, w, C) float array
    guide_full : (H, W, 3) float array
    radius : int
        Window radius at low resolution.
    eps : float

    Returns
    -------
    (H, W, C) float64
    """
    a, b = guided_coefficients(guide_small, source_small, radius, eps)
    h, w = guide_full.shape[:2]
    k = b.shape[2]
    a_full = cv2.resize(a.reshape(a.shape[0], a.shape[1], 3 * k), (w, h),
                        interpolation=cv2.INTER_LINEAR).reshape(h, w, k, 3)
    out = np.einsum("hwkc,hwc->hwk", a_full, np.asarray(guide_full, np.float64))
    del a_full      # the largest array: (H, W, C, 3) float64
    out += cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, k)
    return out
