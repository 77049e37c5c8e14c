"""A class mask and the layers weighed by how sure each is, pixel by pixel.

A network's class mask (:mod:`sss_vfx.features.classes`) and the layers found from the
image are two pieces of evidence, each with its own error. The mask is sure in its
interior and far outside it, and unsure over its soft transition: a blurred 1/8-
resolution mask is unsure over a wide band, a sharp one over a narrow one, and its own
values say which (a class probability near 1 or 0 is sure, near an even split is not).
The layer is sure where it is near 0 or 1 and undecided where it lies between, as it
does over a grey smear inside a solid part whose colour the background shares, or where
a working resolution far below the plate's blurs an edge.

So each pixel moves from the layers towards the class probabilities by a weight that
falls with the layer's confidence::

    w = (1 - c_layer) ** LAYER_POWER * (1 - strand)
    out = alphas + w * (probabilities - alphas)

with ``c`` the gap between a pixel's two largest values (for two classes ``|2 a - 1|``).
The mask's own error scale is in its values: a sharp mask pulls an undecided layer to 0
or 1 right up to its edge, a blurred one only towards an even split over its wide
transition, so there the layer keeps its doubt and the image decides the edge. A decided
layer keeps its value wherever the mask is (the true edge within the mask's blur, and,
solid regions aside, beyond it); an undecided one follows a sure mask (a grey smear
inside a solid part becomes solid, a faint bleed into the background goes).

A soft value is not always doubt: a strand of hair is soft because it covers part of a
pixel. So ``strand``, in [0, 1], marks an object's thin bright structure beyond its mask
(where the object's class probability is below 0.5): its layer's white top-hat over a
disk of :func:`~sss_vfx.segments.class_evidence.opening_radius` (what the hold also
takes for hair), divided by :data:`STRAND_CONTRAST`. Only the objects' layers are read
so, not the rest's (the last class): its thin structures beyond its mask are gaps
inside an object, which the mask is right to fill as often as not. Solid regions where a
decided layer contradicts a sure mask are
:func:`~sss_vfx.segments.class_evidence.hold_to_classes`' task, which runs first.

Measured on the DAVIS shots with two-class features
(``benchmarks/bench_davis_features.py``) and the alpha_stills photos with coarse masks
(``benchmarks/bench_quality.py``); the numbers are in the guide
(``docs/guides/guides-and-features.md``).
"""

import cv2
import numpy as np

from sss_vfx.errors import OptionError
from sss_vfx.segments.class_evidence import opening_radius

__all__ = ["LAYER_POWER", "STRAND_CONTRAST", "confidence", "strands",
           "weigh_by_confidence"]

#: Power of the layer's doubt in the weight (above 1: only a clearly undecided layer
#: gives way, so hair and soft edges the image found keep their values).
LAYER_POWER = 2.0
#: Top-hat height (layer value above the opened layer) at which a thin structure beyond
#: its mask counts fully as a strand, not as doubt.
STRAND_CONTRAST = 0.5


def confidence(values):
    """How sure a pixel's distribution over classes is: its largest value minus the next.

    Parameters
    ----------
    values : array_like, shape (H, W, K), K >= 2
        Layers or class probabilities in [0, 1], summing to 1 over the last axis.

    Returns
    -------
    ndarray, shape (H, W, 1), float32 in [0, 1]
        0 for an even split of the two largest, 1 for a single class at 1; for two
        classes ``|v_0 - v_1|``.
    """
    top = np.sort(np.asarray(values, np.float32), axis=-1)[..., -2:]
    return np.clip(top[..., 1:] - top[..., :1], 0.0, 1.0)


def strands(alphas, probabilities, *, radius=None, contrast=STRAND_CONTRAST):
    """How much each pixel is an object's strand beyond its mask (hair, not doubt).

    Parameters
    ----------
    alphas : array_like, shape (H, W, K)
        Layers in [0, 1], the objects first, the rest (the last class) last.
    probabilities : array_like, shape (H, W, K)
        Class probabilities at the same size.
    radius : int, optional
        Disk radius, px, of the top-hat: structures thinner than ``2 radius + 1`` px
        are strands; :func:`~sss_vfx.segments.class_evidence.opening_radius` when None.
    contrast : float
        Top-hat height that counts fully, above 0.

    Returns
    -------
    ndarray, shape (H, W, 1), float32 in [0, 1]
        The largest over the objects of ``clip(tophat(a_k) / contrast, 0, 1)`` where
        the object's class probability is below 0.5, else 0.
    """
    alphas = np.asarray(alphas, np.float32)
    prob = np.asarray(probabilities, np.float32)
    radius = opening_radius(alphas.shape[:2]) if radius is None else int(radius)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    out = np.zeros(alphas.shape[:2], np.float32)
    for k in range(alphas.shape[2] - 1):
        height = cv2.morphologyEx(np.ascontiguousarray(alphas[..., k]), cv2.MORPH_TOPHAT,
                                  disk)
        out = np.maximum(out, np.clip(height / contrast, 0.0, 1.0) * (prob[..., k] < 0.5))
    return out[..., None]


def weigh_by_confidence(alphas, probabilities, *, layer_power=LAYER_POWER,
                        strand_contrast=STRAND_CONTRAST):
    """Layers moved towards the class probabilities as far as they are undecided.

    Parameters
    ----------
    alphas : array_like, shape (H, W, K)
        Layers in [0, 1] summing to 1, layer k the class k's (K >= 2), the rest last.
    probabilities : array_like, shape (H, W, K)
        Class probabilities at the same size, summing to 1.
    layer_power : float
        Power of the layer's doubt in the weight, above 0 (see the module's text).
    strand_contrast : float
        :func:`strands`' ``contrast``, above 0.

    Returns
    -------
    ndarray, shape (H, W, K), float32 in [0, 1], summing to 1 where both inputs do
        ``alphas + w (probabilities - alphas)``, ``w`` in [0, 1] per pixel (0 on
        :func:`strands`).

    Raises
    ------
    OptionError
        If the shapes disagree, there are fewer than two classes, or ``layer_power`` or
        ``strand_contrast`` is not above 0.

    Examples
    --------
    An undecided layer follows a sure mask; a decided one keeps its value where the mask
    is unsure:

    >>> prob = np.array([[[1.0, 0.0], [0.55, 0.45]]])
    >>> alphas = np.array([[[0.5, 0.5], [0.1, 0.9]]])
    >>> out = weigh_by_confidence(alphas, prob)
    >>> round(float(out[0, 0, 0]), 2), round(float(out[0, 1, 0]), 2)
    (1.0, 0.12)
    """
    alphas = np.asarray(alphas, np.float32)
    prob = np.asarray(probabilities, np.float32)
    if alphas.ndim != 3 or alphas.shape != prob.shape or alphas.shape[2] < 2:
        raise OptionError(f"layers {alphas.shape} and class probabilities {prob.shape} "
                          "must both be (H, W, K) at the same size, K >= 2, layer k the "
                          "class k's")
    if not (layer_power > 0 and strand_contrast > 0):
        raise OptionError(f"layer_power and strand_contrast must be above 0, got "
                          f"{layer_power} and {strand_contrast}")
    weight = ((1.0 - confidence(alphas)) ** layer_power
              * (1.0 - strands(alphas, prob, contrast=strand_contrast)))
    return np.clip(alphas + weight * (prob - alphas), 0.0, 1.0)
