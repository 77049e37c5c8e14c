"""Reduce raw semantic features to the 3-D maps the affinities use (DESIGN step 1)."""

import numpy as np

from sss_vfx.errors import FeatureError
from sss_vfx.filters.guided import guided_filter

#: Features whose values span less than this carry no information.
_FLAT = 1e-9


def preprocess_features(features, image, *, clip=5.0, radius=10, eps=1e-4):
    """Raw features to a (H, W, 3) map in [0, 1].

    More than 3 channels: clip to [-clip, clip], smooth every channel with a guided
    filter guided by the image (radius about 10 px), project on the first 3 principal
    components, rescale each to [0, 1]. Three or fewer channels: rescaled to [0, 1] as
    a whole (a single scale and offset, so their relative distances are kept) and, below
    3 channels, padded with zeros.

    Parameters
    ----------
    features : (H, W, C) float array, finite
    image : (H, W, 3) float array in [0, 1], the guide
    clip, radius, eps : float, int, float

    Returns
    -------
    (H, W, 3) float64 in [0, 1]

    Raises
    ------
    FeatureError
        If the features are constant.
    """
    f = np.asarray(features, np.float64)
    if f.ndim == 2:
        f = f[..., None]
    h, w, c = f.shape
    if np.ptp(f.reshape(-1, c), axis=0).max() < _FLAT:
        raise FeatureError("the features hold a single value everywhere, so they cannot "
                           "separate layers; pass real semantic features or none")
    if c <= 3:
        lo, hi = f.min(), f.max()
        f = (f - lo) / (hi - lo) if hi > 1.0 or lo < 0.0 else f.copy()
        return np.concatenate([f, np.zeros((h, w, 3 - c))], axis=2) if c < 3 else f
    f = np.clip(f, -clip, clip)
    f = guided_filter(image, f, radius, eps)
    flat = f.reshape(-1, c)
    flat = flat - flat.mean(axis=0)
    # The three leading principal axes, with a sign convention so results are stable.
    _, _, vt = np.linalg.svd(flat[:: max(1, len(flat) // 200_000)], full_matrices=False)
    axes = vt[:3] * np.sign(vt[:3, [np.argmax(np.abs(vt[i])) for i in range(3)]].diagonal())[:, None]
    proj = flat @ axes.T
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    # A component without real spread stays 0 rather than stretching round-off.
    spread = hi - lo
    proj = np.where(spread > _FLAT, (proj - lo) / np.where(spread > _FLAT, spread, 1.0), 0.0)
    return proj.reshape(h, w, 3)
