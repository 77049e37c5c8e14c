"""Scores of one matte against its ground truth, and which layers make an object.

Mattes are ``(H, W)`` float arrays in [0, 1].
"""

import numpy as np


__all__ = ["foreground_layers", "iou", "mse_x1000", "sad"]


#: A layer belongs to the object when this share of its mass lies inside the object.
FOREGROUND_SHARE = 0.5


def sad(alpha, truth):
    """Sum of absolute differences / 1000 (the alphamatting.com convention)."""
    return float(np.abs(np.asarray(alpha, np.float64) - truth).sum() / 1000.0)


def mse_x1000(alpha, truth):
    """1000 x the mean squared error over all pixels."""
    return float(1000.0 * np.mean((np.asarray(alpha, np.float64) - truth) ** 2))


def iou(mask, truth, threshold=0.5):
    """Intersection over union of two mattes thresholded at ``threshold``; 1 when both
    are empty."""
    a = np.asarray(mask) > threshold
    b = np.asarray(truth) > threshold
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def foreground_layers(alphas, mask):
    """Layers whose alpha-weighted mean of ``mask`` exceeds :data:`FOREGROUND_SHARE`.

    Parameters
    ----------
    alphas : (H, W, K) float array in [0, 1]
    mask : (H, W) float array in [0, 1], the object

    Returns
    -------
    indices : list of int
    share : (K,) float64, each layer's share inside the object
    """
    a = np.asarray(alphas, np.float64)
    weight = a.sum(axis=(0, 1))
    share = np.tensordot(np.asarray(mask, np.float64), a, axes=([0, 1], [0, 1]))
    share = share / np.maximum(weight, 1e-12)
    return [int(k) for k in np.flatnonzero(share > FOREGROUND_SHARE)], share
