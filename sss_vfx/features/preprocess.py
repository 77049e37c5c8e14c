"""Reduce raw semantic features to the 3-D maps the affinities use (DESIGN step 1)."""

import dataclasses
from dataclasses import dataclass

import numpy as np

from sss_vfx.errors import FeatureError
from sss_vfx.features.classes import fit_feature_classes
from sss_vfx.filters.guided import guided_filter
from sss_vfx.spectral.threads import single_blas_thread

#: Features whose values span less than this carry no information.
_FLAT = 1e-9


@dataclass(frozen=True)
class FeatureProjection:
    """How raw features become 3-D maps in [0, 1]: fitted once, reusable on other frames.

    Attributes
    ----------
    channels : int
        Raw channel count C.
    offset : (C,) float64
        Subtracted first (the mean, or the minimum when C <= 3).
    axes : (3, C) float64 or None
        Principal axes (C > 3); None for C <= 3, where channels are kept and padded.
    low, span : (3,) float64
        Rescaling of the projected values to [0, 1]; a span of 0 maps to 0.
    class_points : (P, C) float64 or None
        When the features are P classes (a network's masks), their points
        (:func:`~sss_vfx.features.classes.fit_feature_classes`); else None.
    """

    channels: int
    offset: np.ndarray
    axes: object
    low: np.ndarray
    span: np.ndarray
    class_points: object = None


def fit_feature_projection(features, image, *, clip=5.0, radius=10, eps=1e-4,
                           classes=True):
    """Fit :class:`FeatureProjection` on one frame's raw features.

    More than 3 channels: clip to [-clip, clip], smooth every channel with a guided
    filter guided by the image (radius about 10 px), take the first 3 principal
    components, rescale each to [0, 1]. Three or fewer channels: rescaled to [0, 1] as a
    whole (one scale and offset, keeping their relative distances) when outside [0, 1],
    and padded with zeros below 3 channels. Features that are a few classes also keep
    their class points (``class_points``), unless ``classes`` is False.

    Parameters
    ----------
    features : (H, W, C) float array, finite
    image : (H, W, 3) float array in [0, 1], the guide
    clip, radius, eps : float, int, float

    Returns
    -------
    FeatureProjection

    Raises
    ------
    FeatureError
        If the features are constant.
    """
    f = _require_varying(features)
    c = f.shape[2]
    flat = f.reshape(-1, c)
    points = fit_feature_classes(f) if classes else None
    if c <= 3:
        lo, hi = float(flat.min()), float(flat.max())
        inside = lo >= 0.0 and hi <= 1.0
        offset = np.full(c, 0.0 if inside else lo)
        span = np.full(3, 1.0 if inside else hi - lo)
        return FeatureProjection(channels=c, offset=offset, axes=None, low=np.zeros(3),
                                 span=span, class_points=points)
    return dataclasses.replace(_fit_pca(_smoothed(f, image, clip, radius, eps).reshape(-1, c)),
                               class_points=points)


def _fit_pca(flat):
    mean = flat.mean(axis=0)
    centred = flat - mean
    # The three leading principal axes, with a sign convention so results are stable;
    # on one BLAS thread, whose rounding does not depend on the machine's thread count.
    with single_blas_thread():
        _, _, vt = np.linalg.svd(centred[:: max(1, len(centred) // 200_000)],
                                 full_matrices=False)
        axes = vt[:3] * np.sign(
            vt[:3, [np.argmax(np.abs(vt[i])) for i in range(3)]].diagonal())[:, None]
        proj = centred @ axes.T
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    return FeatureProjection(channels=flat.shape[1], offset=mean, axes=axes, low=lo,
                             span=hi - lo)


def apply_feature_projection(projection, features, image, *, clip=5.0, radius=10, eps=1e-4):
    """Raw features to a (H, W, 3) map in [0, 1] with a fitted projection.

    Values of another frame that fall outside the fitted range are clipped to [0, 1].

    Raises
    ------
    FeatureError
        If the channel count differs from the one the projection was fitted on.
    """
    f = _as_channels(features)
    h, w, c = f.shape
    if c != projection.channels:
        raise FeatureError(f"features with {c} channels where earlier frames had "
                           f"{projection.channels}; give every frame the same channels")
    if projection.axes is None:
        f = (f - projection.offset) / projection.span[:c]
        return np.clip(np.concatenate([f, np.zeros((h, w, 3 - c))], axis=2), 0.0, 1.0)
    return _project(projection, _smoothed(f, image, clip, radius, eps).reshape(-1, c),
                    (h, w))


def _project(projection, flat, shape_hw):
    # A component without real spread stays 0 rather than stretching round-off.
    spread = projection.span > _FLAT
    scale = np.where(spread, projection.span, 1.0)
    with single_blas_thread():
        proj = np.where(spread, ((flat - projection.offset) @ projection.axes.T
                                 - projection.low) / scale, 0.0)
    return np.clip(proj, 0.0, 1.0).reshape(*shape_hw, 3)


def preprocess_features(features, image, *, clip=5.0, radius=10, eps=1e-4):
    """Raw features to a (H, W, 3) map in [0, 1], fitted on these features alone.

    See :func:`fit_feature_projection` for the recipe.

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
    f = _require_varying(features)
    if f.shape[2] <= 3:
        # The classes are the caller's business (working_frame fits them itself).
        return apply_feature_projection(fit_feature_projection(f, image, classes=False), f,
                                        image)
    flat = _smoothed(f, image, clip, radius, eps).reshape(-1, f.shape[2])
    return _project(_fit_pca(flat), flat, f.shape[:2])


def _as_channels(features):
    f = np.asarray(features, np.float64)
    return f[..., None] if f.ndim == 2 else f


def _require_varying(features):
    f = _as_channels(features)
    if np.ptp(f.reshape(-1, f.shape[2]), axis=0).max() < _FLAT:
        raise FeatureError("the features hold a single value everywhere, so they cannot "
                           "separate layers; pass real semantic features or none")
    return f


def _smoothed(f, image, clip, radius, eps):
    return guided_filter(image, np.clip(f, -clip, clip), radius, eps)
