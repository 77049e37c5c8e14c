"""Features that are a few classes: a segmentation network's masks or softmax output.

Such features put most pixels on one of a few points, one per class, and the others
between them, where the masks blend. They say which object a pixel belongs to, so the
layers should follow the classes (:mod:`sss_vfx.segments.objects`) rather than a
k-means over features and colour, which splits an object of several colours. This module
recognises such features and gives every pixel its class probabilities: its barycentric
coordinates between the class points.

Recognition, on the frame's features rescaled by their largest channel range:

* the values are binned on a grid of :data:`GRID`; the bins holding at least
  :data:`MIN_CLASS` of the pixels, merged when closer than :data:`MERGE`, are the
  candidates (at most :data:`CANDIDATES`); a candidate lying on the simplex of the
  others is a ridge of blended pixels and is dropped; the 2 to :data:`MAX_CLASSES`
  left are the class points and, with the bins merged into them, must hold
  :data:`PURE_SHARE` of the pixels (a natural embedding spreads far wider);
* the points must be affinely independent (a class map painted in 3 colours can hold at
  most 4 classes this way), and :data:`FIT_SHARE` of the pixels must lie within
  :data:`RESIDUAL` of the simplex they span.
"""

import numpy as np
import scipy.optimize

from sss_vfx.errors import FeatureError

__all__ = ["class_probabilities", "fit_feature_classes"]

#: Most classes recognised; beyond it features are treated as an embedding.
MAX_CLASSES = 8
#: Bin width, as a share of the features' range.
GRID = 1.0 / 16
#: Bins nearer than this (share of the range) belong to one class point.
MERGE = 0.2
#: Share of the pixels the class points must hold.
PURE_SHARE = 0.3
#: Smallest share of the pixels a bin must hold to be (part of) a class point.
MIN_CLASS = 0.002
#: Share of the pixels that must lie near the classes' simplex ...
FIT_SHARE = 0.98
#: ... within this distance (share of the range).
RESIDUAL = 0.05
#: Most candidate points looked at; more means the features are not a few classes.
CANDIDATES = 4 * MAX_CLASSES
#: Pixels looked at when recognising the classes.
SAMPLE = 50_000


def fit_feature_classes(features):
    """Recognise features that are a few classes.

    Parameters
    ----------
    features : array_like, shape (H, W, C), finite

    Returns
    -------
    ndarray, shape (P, C), float64, or None
        The class points in the features' own units, 2 <= P <= MAX_CLASSES, largest
        class first (the order a shot's layers keep); None when the features are not a
        few classes (an embedding, a photo...).

    Examples
    --------
    >>> f = np.zeros((20, 20, 3)); f[:, 12:] = (0.9, 0.2, 0.1)
    >>> fit_feature_classes(f)
    array([[0. , 0. , 0. ],
           [0.9, 0.2, 0.1]])
    >>> fit_feature_classes(np.random.default_rng(0).random((20, 20, 3))) is None
    True
    """
    flat = _flat(features)
    offset = flat.min(axis=0)
    scale = float((flat.max(axis=0) - offset).max())
    if not scale > 0:
        return None
    sample = (flat[:: max(1, len(flat) // SAMPLE)] - offset) / scale
    points = _class_points(sample)
    if points is None:
        return None
    coords, residual = _barycentric(points, sample)
    if np.mean(residual <= RESIDUAL) < FIT_SHARE:
        return None
    # Largest class first: the same order in every frame of a shot, fixed here.
    area = np.clip(coords, 0.0, None).sum(axis=0)
    order = np.argsort(-area, kind="stable")
    return offset + scale * points[order]


def class_probabilities(points, features):
    """Per-pixel class probabilities of features recognised by :func:`fit_feature_classes`.

    Parameters
    ----------
    points : array_like, shape (P, C), the class points
    features : array_like, shape (H, W, C), finite, the channels ``points`` were fitted on

    Returns
    -------
    ndarray, shape (H, W, P), float32
        Barycentric coordinates between the class points, clipped at 0 and renormalised:
        in [0, 1], summing to 1; in ``points``' order.

    Raises
    ------
    FeatureError
        If the channel count differs from the fitted one.
    """
    points = np.asarray(points, np.float64)
    flat = _flat(features)
    if flat.shape[1] != points.shape[1]:
        raise FeatureError(f"features with {flat.shape[1]} channels where earlier frames "
                           f"had {points.shape[1]}; give every frame the same channels")
    # Barycentric coordinates do not change under the affine map to scaled units.
    coords, _ = _barycentric(points, flat)
    coords = np.clip(coords, 0.0, None)
    total = coords.sum(axis=1, keepdims=True)
    nearest = np.eye(len(points))[np.argmax(coords, axis=1)]
    coords = np.where(total > 0, coords / np.where(total > 0, total, 1.0), nearest)
    shape = np.shape(features)[:2]
    return coords.reshape(shape + (len(points),)).astype(np.float32)


def _flat(features):
    f = np.asarray(features, np.float64)
    f = f[..., None] if f.ndim == 2 else f
    return f.reshape(-1, f.shape[-1])


def _class_points(sample):
    """Class points (P, C) of scaled features (S, C), or None when there are none."""
    bins, inverse, counts = np.unique(np.round(sample / GRID).astype(np.int32), axis=0,
                                      return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    centres = np.zeros((len(bins), sample.shape[1]))
    np.add.at(centres, inverse, sample)
    centres /= counts[:, None]
    points, held = [], []
    for b in np.argsort(-counts, kind="stable"):
        if counts[b] < MIN_CLASS * len(sample):
            break
        near = [i for i, p in enumerate(points) if np.linalg.norm(centres[b] - p) < MERGE]
        if near:
            # A candidate stays its fullest bin's centre: the pure class, not pulled
            # toward its blends by the bins merged into it.
            held[near[0]] += counts[b]
        elif len(points) == CANDIDATES:
            return None
        else:
            points.append(centres[b])
            held.append(counts[b])
    # A candidate lying on the simplex of the others is a blend of them (a ridge of
    # transition pixels), not a class: drop such candidates, the emptiest first.
    keep = list(np.argsort(held, kind="stable"))
    for i in list(keep):
        others = [j for j in keep if j != i]
        if len(others) >= 2 and _hull_distance(np.array([points[j] for j in others]),
                                               points[i]) < MERGE / 2:
            keep.remove(i)
    if not 2 <= len(keep) <= MAX_CLASSES:
        return None
    keep.sort(key=lambda i: -held[i])
    points = np.array([points[i] for i in keep])
    if sum(held[i] for i in keep) < PURE_SHARE * len(sample):
        return None
    if np.linalg.matrix_rank(points[1:] - points[0], tol=MERGE / 2) < len(points) - 1:
        return None
    return points


def _hull_distance(points, x):
    """Distance from x (C,) to the convex hull of points (P, C): non-negative least
    squares, with the weights' sum-to-one as a heavy extra row."""
    heavy = 1e3
    system = np.vstack([points.T, np.full((1, len(points)), heavy)])
    weights, _ = scipy.optimize.nnls(system, np.append(x, heavy))
    return float(np.linalg.norm(points.T @ weights - x))


def _barycentric(points, scaled):
    """Affine coordinates (S, P) of features (S, C) between points (P, C), and their
    distance to the points' simplex (S,)."""
    # Coordinates relative to the last point: x - p_P = sum_i c_i (p_i - p_P).
    basis = (points[:-1] - points[-1]).T
    coeffs, *_ = np.linalg.lstsq(basis, (scaled - points[-1]).T, rcond=None)
    coords = np.concatenate([coeffs.T, 1.0 - coeffs.sum(axis=0)[:, None]], axis=1)
    residual = np.linalg.norm(scaled - coords @ points, axis=1)
    # Outside the simplex counts as off it, by how far the clipped point is.
    clipped = np.clip(coords, 0.0, None)
    clipped /= np.maximum(clipped.sum(axis=1, keepdims=True), 1e-12)
    residual = np.maximum(residual, np.linalg.norm(scaled - clipped @ points, axis=1))
    return coords, residual
