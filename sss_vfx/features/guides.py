"""Coarse guides to per-pixel object probabilities and semantic features.

Guides drawn by hand (roto, garbage mattes) or taken from another tool are off by a few
pixels, polygonal, eroded or dilated, miss hair and need not sum to one. They are
trusted away from their edges and doubted near them: each matte is blurred over an
uncertainty width (about 1 % of the image diagonal, the error of a hurried roto), then
smoothed edge-aware with the image as guide, so that where the image has an edge near
the guide's, the probability steps there. Objects are then normalised where they
overlap and the rest of the frame takes what is left: probabilities ``(H, W, O + 1)``
summing to one, objects first, the rest last.

The feature map the affinities use gives every class a corner of the unit cube (the
rest at the origin), mixed by the probabilities: distinct objects are at least 1 apart,
far past the semantic affinity's 0.15, so they repel; the map is already 3-D in [0, 1]
and means the same in every frame, so no per-shot projection is needed.
"""

import dataclasses
import itertools

import cv2
import numpy as np

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.filters.guided import guided_filter

__all__ = ["GuideFeatures", "class_colours", "guide_features", "guide_probabilities"]

#: Uncertainty width of a hand-drawn guide, as a share of the image diagonal.
UNCERTAINTY = 0.01
#: Regulariser of the edge-aware smoothing: smaller snaps harder to image edges.
EDGE_EPS = 1e-3


@dataclasses.dataclass(frozen=True)
class GuideFeatures:
    """What guides tell the method about one frame.

    Attributes
    ----------
    probabilities : ndarray, shape (H, W, O + 1), float32
        Probability of each object, then of the rest; in [0, 1], summing to 1.
    features : ndarray, shape (H, W, 3), float32
        Semantic features in [0, 1] (see :func:`class_colours`).
    names : tuple of str
        The O object names, then ``'rest'``.
    """

    probabilities: np.ndarray
    features: np.ndarray
    names: tuple


def guide_features(image, masks, *, names=None, uncertainty=UNCERTAINTY, eps=EDGE_EPS):
    """Object probabilities and semantic features from coarse guides.

    Parameters
    ----------
    image : array_like, shape (H, W, 3)
        Working image, float in [0, 1].
    masks : array_like, shape (H, W, O)
        Guide mattes in [0, 1], 1 <= O <= 32 (see :func:`sss_vfx.io.guides.read_guides`).
    names : sequence of str, optional
        Object names; ``'object1'``... when None.
    uncertainty : float, optional
        Width over which a guide's edge is doubted, as a share of the image diagonal,
        >= 0 (0 trusts the guides to the pixel).
    eps : float, optional
        Regulariser of the edge-aware smoothing, > 0.

    Returns
    -------
    GuideFeatures

    Raises
    ------
    FeatureError
        If the masks do not match the image's size or hold NaN/inf. Masks without any
        object are accepted (the rest is then everywhere).
    OptionError
        If `uncertainty` or `eps` is out of range.

    Examples
    --------
    >>> img = np.zeros((32, 32, 3)); img[:, 16:] = 1
    >>> m = np.zeros((32, 32, 1)); m[:, 18:] = 1
    >>> gf = guide_features(img, m)
    >>> gf.probabilities.shape, gf.names
    ((32, 32, 2), ('object1', 'rest'))
    """
    probabilities = guide_probabilities(image, masks, uncertainty=uncertainty, eps=eps)
    objects = probabilities.shape[2] - 1
    names = tuple(f"object{i + 1}" for i in range(objects)) if names is None else tuple(names)
    if len(names) != objects:
        raise OptionError(f"guides: {len(names)} names for {objects} objects; give one each")
    features = probabilities @ class_colours(objects + 1)
    return GuideFeatures(probabilities=probabilities,
                         features=np.clip(features, 0.0, 1.0).astype(np.float32),
                         names=names + ("rest",))


def guide_probabilities(image, masks, *, uncertainty=UNCERTAINTY, eps=EDGE_EPS):
    """Per-pixel probabilities of each guided object and of the rest.

    Parameters
    ----------
    image : array_like, shape (H, W, 3), float in [0, 1]
    masks : array_like, shape (H, W, O), values in [0, 1]
    uncertainty : float, optional
        See :func:`guide_features`.
    eps : float, optional

    Returns
    -------
    ndarray, shape (H, W, O + 1), float32
        Objects then the rest, in [0, 1], summing to 1 at every pixel.

    Raises
    ------
    FeatureError, OptionError
        As :func:`guide_features`.
    """
    image = np.asarray(image, np.float64)
    masks = np.asarray(masks, np.float64)
    if masks.ndim == 2:
        masks = masks[..., None]
    if image.ndim != 3 or image.shape[2] != 3 or masks.ndim != 3 \
            or masks.shape[:2] != image.shape[:2]:
        raise FeatureError(f"guides of shape {masks.shape} do not fit the image of shape "
                           f"{image.shape}; give (H, W, O) guides of the image's size")
    if not np.isfinite(masks).all():
        raise FeatureError("the guides hold NaN or inf values; give mattes in [0, 1]")
    if not (np.isfinite(uncertainty) and uncertainty >= 0):
        raise OptionError(f"guides uncertainty must be >= 0, got {uncertainty!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise OptionError(f"guides eps must be > 0, got {eps!r}")
    masks = np.clip(masks, 0.0, 1.0)
    height, width = image.shape[:2]
    sigma = uncertainty * float(np.hypot(height, width))
    if sigma >= 0.5:
        soft = cv2.GaussianBlur(masks, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        soft = soft.reshape(masks.shape)
        # Windows twice the blur's width reach the image edge from the guide's.
        radius = max(1, int(round(2 * sigma)))
        soft = guided_filter(image, soft, radius, eps).reshape(masks.shape)
        soft = np.clip(soft, 0.0, 1.0)
    else:
        soft = masks
    total = soft.sum(axis=2, keepdims=True)
    objects = soft / np.maximum(total, 1.0)
    rest = np.clip(1.0 - objects.sum(axis=2, keepdims=True), 0.0, 1.0)
    return np.concatenate([objects, rest], axis=2).astype(np.float32)


def class_colours(classes):
    """Well-separated points of the unit cube, one per class, the last at the origin.

    Parameters
    ----------
    classes : int
        O + 1 (objects and the rest), 2 <= classes <= 64.

    Returns
    -------
    ndarray, shape (classes, 3), float64
        Up to 8 classes: cube corners (pairwise distance >= 1); up to 27: the
        ``{0, 1/2, 1}^3`` grid (>= 1/2); up to 64: ``{0, 1/3, 2/3, 1}^3`` (>= 1/3).
        Corners come first, so the first objects are the most distinct.

    Raises
    ------
    OptionError
        If `classes` is out of range.
    """
    if not 1 <= classes <= 64:
        raise OptionError(f"guides: {classes - 1} objects; at most 63 are supported")
    for steps in (2, 3, 4):
        if classes <= steps ** 3:
            break
    levels = np.linspace(0.0, 1.0, steps)
    grid = [np.array(p) for p in itertools.product(levels, repeat=3)]
    corners = [p for p in grid if np.all((p == 0) | (p == 1))]
    # Objects on the corners first, farthest from the rest (the origin) first.
    corners.sort(key=lambda p: (-p.sum(), tuple(-p)))
    others = [p for p in grid if not np.all((p == 0) | (p == 1))]
    others.sort(key=lambda p: (-np.abs(p - 0.5).max(), -p.sum(), tuple(-p)))
    ordered = [p for p in corners if p.any()] + others
    return np.array(ordered[:classes - 1] + [np.zeros(3)])
