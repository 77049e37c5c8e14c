"""A synthetic shot (or still) with its ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Shot"]


@dataclass(frozen=True)
class Shot:
    """A synthetic shot and its ground truth.

    Attributes
    ----------
    image : (H, W, 3) float32 ndarray
        The composite ``alpha * foreground + (1 - alpha) * background``, in [0, 1].
    alpha : (H, W) float32 ndarray
        True foreground opacity in [0, 1].
    features : (H, W, 3) float32 ndarray
        Coarse semantic features from :func:`~sss_vfx.data.coarse.coarse_features` on ``alpha``, in [0, 1].
    foreground : (H, W, 3) float32 ndarray
        Foreground colour ``F`` everywhere (also where alpha is 0), in [0, 1].
    background : (H, W, 3) float32 ndarray
        Background colour ``B`` everywhere (also where alpha is 1), in [0, 1].
    """

    image: np.ndarray
    alpha: np.ndarray
    features: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
