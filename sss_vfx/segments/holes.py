"""See-through holes inside a guide: where the background shows through the object.

A careful roto of a wicker ball, a pair of goggles or a tuft of hair is not cut around
every gap; the guide's interior then holds background that the image plainly shows. A
pixel of the guide's solid interior is a hole when its colour is far more common in the
background around the object than in the object's own interior: the ratio of the two
colour histograms (``bins`` levels per channel, smoothed by ``smooth`` bins), the
background's taken over a ring ``ring`` px wide beyond the guide's uncertain band,
exceeds ``ratio``. A colour the object itself wears over a fair part of its interior (a
flag of two colours, one of them the background's) has a ratio of a few at most and
stays solid. Thin lines of such pixels (the mixed colours where two of the object's own
colours meet) are opened away, regions smaller than ``area`` px are left, and when the
holes would cover more than ``fraction`` of the interior none is opened: that much of
the background's colour is the object's own. The object can still wear a small patch of
exactly the background's colour (an ear, a logo); colour alone cannot tell it from a
hole, and the ratio is set high to keep such cases rare.
"""

import cv2
import numpy as np
import scipy.ndimage

__all__ = ["HOLES", "guide_holes"]

#: Parameters of the hole rule: histogram levels per channel and their smoothing (in
#: levels); the width (px) of the background's ring; the ratio of background to interior
#: colour frequency above which a pixel is background; the side (px) of the opening that
#: removes thin lines; the smallest hole (px); the largest share of the interior the holes
#: may cover; the erosion (px) from a hole's edge to its core, fixed to 0, and the ring
#: (px) around it that the matting solve decides.
HOLES = {"bins": 16, "smooth": 1.0, "ring": 40, "ratio": 20.0, "open": 3, "area": 12,
         "fraction": 0.1, "erode": 1, "free": 2}


def guide_holes(plate, distance, band, **params):
    """The holes of a guide's solid interior, and the ring around them left to the image.

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
    distance : (H, W) float array, the guide's signed distance (positive inside), px
    band : float, half-width of the guide's uncertain band, px: the interior is
        ``distance > band``, the background's ring ``-band - ring < distance <= -band``
    **params
        Overrides of :data:`HOLES`.

    Returns
    -------
    core : (H, W) bool, the holes' cores (to be fixed to 0)
    free : (H, W) bool, interior pixels within ``free`` px of a hole, not in its core
    """
    p = {**HOLES, **params}
    solid = distance > band
    ring = (distance <= -band) & (distance > -band - p["ring"])
    none = np.zeros(solid.shape, bool)
    if solid.sum() < 100 or ring.sum() < 100 or not np.isfinite(p["ratio"]):
        return none, none
    bins = int(p["bins"])
    level = np.clip((np.asarray(plate) * bins).astype(np.int64), 0, bins - 1)
    code = (level[..., 0] * bins + level[..., 1]) * bins + level[..., 2]

    def frequency(where):
        counts = np.bincount(code[where], minlength=bins ** 3).astype(np.float64)
        counts = scipy.ndimage.gaussian_filter(counts.reshape((bins,) * 3), p["smooth"],
                                               mode="constant")
        return counts.ravel() / where.sum()

    # The floor keeps a colour the interior never shows from a ratio of infinity.
    ratio = frequency(ring)[code] / (frequency(solid)[code] + 1e-6)
    candidate = (solid & (ratio > p["ratio"])).astype(np.uint8)
    side = int(p["open"])
    if side > 1:
        candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((side, side), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= p["area"]
    keep[0] = False
    holes = keep[labels]
    if not holes.any() or holes.sum() > p["fraction"] * solid.sum():
        return none, none
    erode, free = int(p["erode"]), int(p["free"])
    core = holes
    if erode > 0:
        core = cv2.erode(holes.astype(np.uint8), np.ones((2 * erode + 1,) * 2, np.uint8)) > 0
    near = cv2.dilate(holes.astype(np.uint8), np.ones((2 * free + 1,) * 2, np.uint8)) > 0
    return core, near & solid & ~core
