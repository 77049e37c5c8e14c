"""A network's class masks as evidence: the layers never lose a solid part the mask is
sure of.

Features that are a few classes (:mod:`sss_vfx.features.classes`) say which object each
pixel belongs to. Like a roto, such a mask is right where it is sure and uncertain near
its edges, where the image should decide; there the layers, fitted in the eigenvectors'
span, find hair, fur and the true edge. But the image can also be wrong: a thin part of
the background's colour (an animal's legs against the ground, a head against a fence)
drops out of the object's layer, and a background blob of the object's colour joins it.
Those errors are *solid*: a region where the layer and the mask disagree that is wider
than hair or the gaps between strands.

The rule, per class k (objects and the rest alike): the pixels the mask gives to k
(probability above 0.5) whose layer says otherwise (layer k below 0.5), opened by a disk
of :func:`opening_radius` px (so strands, the gaps between them and a thin rim along the
edge fall away); each connected region left whose mean class probability exceeds
:data:`SURE` is the mask's: its pixels take the class probabilities. Everything else
keeps the layers (which :mod:`sss_vfx.segments.class_confidence` then weighs against
the mask, pixel by pixel).

Measured on DAVIS shots with two-class features (``benchmarks/bench_davis_features.py``)
and the alpha_stills photos with coarse masks (``benchmarks/bench_quality.py``); the
numbers are in the guide (``docs/guides/guides-and-features.md``).
"""

import math

import cv2
import numpy as np

from sss_vfx.errors import OptionError

__all__ = ["SURE", "hold_to_classes", "opening_radius"]

#: A disagreeing region is the mask's when the mask's mean probability of the class over
#: it is above this.
SURE = 0.6
#: Opening radius per 1000 px of the plate's long side.
RADIUS_PER_1000 = 2.0


def opening_radius(shape_hw):
    """Radius, px, of the disk that tells a solid disagreement from hair: 2 px per 1000 px
    of the plate's long side, rounded up (2 px for a 480p or 800 px frame)."""
    return max(1, math.ceil(RADIUS_PER_1000 * max(shape_hw) / 1000 - 1e-9))


def hold_to_classes(alphas, probabilities, *, radius=None, sure=SURE):
    """Layers given back the solid regions the class masks are sure of.

    Parameters
    ----------
    alphas : array_like, shape (H, W, K)
        Layers in [0, 1] summing to 1, layer k the class k's.
    probabilities : array_like, shape (H, W, K)
        Class probabilities at the same size, summing to 1.
    radius : int, optional
        Opening radius, px; :func:`opening_radius` of the frame when None.
    sure : float
        Mean class probability a disagreeing region needs to be the mask's.

    Returns
    -------
    ndarray, shape (H, W, K), float32
        The layers, but the class probabilities over each solid region where the
        layer disagrees with a sure mask (see the module's text).

    Raises
    ------
    OptionError
        If the shapes disagree or ``radius`` is below 1.

    Examples
    --------
    A mask's object, 12 px wide, that the layer lost (given back but for the corners the
    disk does not reach), and a gap 2 px wide in another, left to the layer:

    >>> prob = np.zeros((20, 40, 2)); prob[4:16, 4:16, 0] = 1; prob[4:16, 24:36, 0] = 1
    >>> prob[..., 1] = 1 - prob[..., 0]
    >>> alphas = prob.copy(); alphas[4:16, 4:16] = (0, 1); alphas[4:16, 28:30] = (0, 1)
    >>> held = hold_to_classes(alphas, prob, radius=3)
    >>> float(held[5:15, 5:15, 0].min()), float(held[4:16, 28:30, 0].max())
    (1.0, 0.0)
    """
    alphas = np.asarray(alphas, np.float32)
    prob = np.asarray(probabilities, np.float32)
    if alphas.ndim != 3 or alphas.shape != prob.shape:
        raise OptionError(f"layers {alphas.shape} and class probabilities {prob.shape} must "
                          "both be (H, W, K) at the same size, layer k the class k's")
    radius = opening_radius(alphas.shape[:2]) if radius is None else int(radius)
    if radius < 1:
        raise OptionError(f"radius must be at least 1 px, got {radius}")
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    fix = np.zeros(alphas.shape[:2], bool)
    for k in range(prob.shape[2]):
        miss = ((prob[..., k] > 0.5) & (alphas[..., k] < 0.5)).astype(np.uint8)
        solid = cv2.morphologyEx(miss, cv2.MORPH_OPEN, disk)
        count, label = cv2.connectedComponents(solid, connectivity=8)
        if count <= 1:
            continue
        size = np.bincount(label.ravel(), minlength=count)
        mean = np.bincount(label.ravel(), prob[..., k].ravel(), count) / np.maximum(size, 1)
        keep = mean > sure
        keep[0] = False
        fix |= keep[label]
    out = alphas.copy()
    out[fix] = prob[fix]
    return out
