"""Layers moved between the working resolution and the plate's resolution.

:func:`upsample_layers` and :func:`normalise_layers` are written against the array
namespace of their input (numpy, or torch on any device).
"""

import cv2
import numpy as np

from sss_vfx.arrays.namespace import as_array, clip_, namespace
from sss_vfx.filters.guided import guided_upsample


def normalise_layers(alphas):
    """Clip to [0, 1] and renormalise so every pixel sums to 1.

    Parameters
    ----------
    alphas : (..., K) float array or tensor

    Returns
    -------
    (..., K) float32, of the namespace of ``alphas``
    """
    alphas = as_array(alphas)
    xp = namespace(alphas)
    return _normalised(xp.clip(xp.astype(alphas, xp.float64, copy=False), 0.0, 1.0))


def _normalised(a):
    """:func:`normalise_layers` of float64 layers already clipped, overwriting them
    (no full-size temporaries: a 4K plate's five layers are 0.33 GB each)."""
    xp = namespace(a)
    total = xp.sum(a, axis=-1, keepdims=True)
    empty = total[..., 0] <= 1e-8
    a /= xp.where(empty[..., None], 1.0, total)
    a[empty] = 1.0 / a.shape[-1]
    return xp.astype(a, xp.float32)


def upsample_layers(alphas_small, image_small, image_full, *, radius=2, eps=1e-5):
    """Edge-aware upsampling of soft layers, renormalised to sum to 1.

    Parameters
    ----------
    alphas_small : (h, w, K) float array
    image_small : (h, w, 3) float array or tensor, the working image the layers were
        found on; its namespace and device are where the computation runs
    image_full : (H, W, 3) float array, the plate
    radius : int
        Guided-filter radius at working resolution.
    eps : float
        Guided-filter regulariser; small values carry the plate's fine structure
        (hair) into the mattes.

    Returns
    -------
    (H, W, K) float32, in [0, 1], summing to 1
    """
    up = guided_upsample(image_small, alphas_small, image_full, radius=radius, eps=eps)
    return _normalised(clip_(up, 0.0, 1.0))


def downsample_layers(alphas, shape_hw):
    """Plate-resolution layers brought to a working resolution (area average).

    Parameters
    ----------
    alphas : (H, W, K) float array
    shape_hw : (int, int), the working (h, w)

    Returns
    -------
    (h*w, K) float64, pixels row-major (as the Laplacian numbers them)
    """
    alphas = np.asarray(alphas, np.float32)
    h, w = shape_hw
    if alphas.shape[:2] != (h, w):
        alphas = np.stack([cv2.resize(alphas[..., k], (w, h), interpolation=cv2.INTER_AREA)
                           for k in range(alphas.shape[2])], axis=2)
    return alphas.reshape(h * w, -1).astype(np.float64)
