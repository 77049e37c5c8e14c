"""Guides as evidence with an error scale (DESIGN section 2): each object's layer re-solved
at the plate's resolution, held to its guide where the guide is sure.

A guide (roto, ID pass, Cryptomatte, the person model) is right in its interior and far
outside it, and uncertain within a few pixels of its edge. The soft layers found from the
image alone may disagree with it anywhere (a thin part of the background's colour lost, a
grey smear inside a solid object, a background blob joined to it). Here each object's
matte ``a`` minimises, at the plate's resolution::

    a^T L a + sum_p c (a_p - l_p)^2  (+ optionally s sum_p |a_p|^0.9 + |1 - a_p|^0.9)

with ``L`` the plate's matting Laplacian and ``l`` the object's soft layer, over the
*uncertain* pixels only: those within ``3 r`` of the guide's edge, ``r`` the guide's
error scale, and those outside the guide where the layer holds some of the object
connected to that band (hair and strands beyond the roto, however long; never a blob:
a region where the layer exceeds 0.2 wider than the band, solid or a faint smear over
the background). Every other pixel is fixed to the guide: 1 in its interior, 0 far
outside it; where the guide is thinner than 7 px (a neck, a strand the roto holds), its middle is
fixed too. ``r`` is estimated per object from how far from the guide's edge the
layer, where it is decided, disagrees with the guide. Within the band the layer weighs
little (``c = 0.003``): the layer follows its guide (the guide is one of its features), so
there its errors are the guide's own, and the image must decide; beyond the band only
the layer knows where hair is (``c = 1``). The sparsity term (reweighted as
in the relaxed sparsification) is off by default: on the alpha_stills photos it changed
no score by more than a few percent and took four times as long.
"""

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from sss_vfx.errors import OptionError
from sss_vfx.segments.refine import _band_laplacian

__all__ = ["EVIDENCE", "evidence_layers", "guide_error_scale", "object_evidence",
           "signed_distance"]

#: Parameters of the evidence solve: error scale bounds (px, and quantile of the
#: disagreement distances), width of the uncertain band in error scales, the layer's
#: weight within the band and beyond it, the sparsity weight and its reweighting rounds
#: (0: off), the layer value above which a pixel outside the guide may be hair, and the
#: one above which a region of the layer wider than the band is a blob, not hair.
EVIDENCE = {"scale_min": 3.0, "scale_max": 8.0, "quantile": 50.0, "band": 3.0,
            "weight": 0.003, "reach_weight": 1.0, "sparsity": 0.01, "rounds": 0, "hold": 0.05,
            "blob": 0.2}


def signed_distance(mask):
    """Euclidean distance to the mask's edge, positive inside and negative outside.

    Parameters
    ----------
    mask : (H, W) bool array

    Returns
    -------
    (H, W) float32, in px: inside, the distance to the nearest outside pixel; outside,
    minus the distance to the nearest inside pixel.
    """
    binary = np.asarray(mask, bool).astype(np.uint8)
    inside = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - binary, cv2.DIST_L2, 5)
    return inside - outside


def guide_error_scale(distance, layer, *, low=EVIDENCE["scale_min"],
                      high=EVIDENCE["scale_max"], quantile=EVIDENCE["quantile"]):
    """How far from its edge a guide is wrong, judged by the soft layer, in px.

    The pixels where the layer is decided (below 0.2 or above 0.8) and says the opposite
    of the guide are where the image disagrees with the guide; the ``quantile`` of their
    distances to the guide's edge, clipped to ``[low, high]``, is the error scale.
    Disagreements apart from the guide's edge are not edge errors (a blob, a hole) and
    are left out.

    Parameters
    ----------
    distance : (H, W) float array, the guide's :func:`signed_distance`
    layer : (H, W) float array in [0, 1], the object's soft layer
    low, high : float, bounds of the scale, px, 0 < low <= high
    quantile : float in [0, 100]

    Returns
    -------
    float, px
    """
    inside = distance > 0
    disagree = ((layer > 0.8) & ~inside) | ((layer < 0.2) & inside)
    # Only disagreements that reach the guide's edge are errors of the edge.
    count, labels = cv2.connectedComponents(disagree.astype(np.uint8), connectivity=8)
    edge = np.zeros(count, bool)
    edge[np.unique(labels[disagree & (np.abs(distance) <= 1.5)])] = True
    edge[0] = False
    far = np.abs(distance[edge[labels]])
    if far.size == 0:
        return float(low)
    return float(np.clip(np.percentile(far, quantile), low, high))


def object_evidence(plate, layer, guide, *, eps=1e-7, scale=None, **params):
    """One object's matte held to its guide away from the guide's edge.

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
    layer : (H, W) float array in [0, 1], the object's soft layer at the plate's size
    guide : (H, W) float array in [0, 1], the object's guide (inside where > 0.5)
    eps : float, regulariser of the matting Laplacian
    scale : float, optional, the guide's error scale in px (estimated when None)
    **params
        Overrides of :data:`EVIDENCE`.

    Returns
    -------
    alpha : (H, W) float64 in [0, 1]
    scale : float, the error scale used, px
    """
    p = {**EVIDENCE, **params}
    layer = np.clip(np.asarray(layer, np.float64), 0.0, 1.0)
    distance = signed_distance(np.asarray(guide) > 0.5)
    if scale is None:
        scale = guide_error_scale(distance, layer, low=p["scale_min"], high=p["scale_max"],
                                  quantile=p["quantile"])
    band = p["band"] * scale
    # A thin part of the guide (a neck, a strand the roto holds) lies within the band:
    # its middle is fixed all the same, else the image alone would decide it.
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(np.ceil(band)) + 1,) * 2)
    inside = (distance > 0).astype(np.uint8)
    # Thin parts: what an opening 7 px wide removes (at a corner that is only the
    # outermost pixel, which stays free).
    opening = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    thin = (inside > cv2.morphologyEx(inside, cv2.MORPH_OPEN, opening)).astype(np.float32)
    half_width = cv2.dilate(distance * thin, disc)
    solid = (distance > band) | ((thin > 0) & (distance >= np.maximum(1.5, 0.5 * half_width)))
    # Beyond the band outside the guide the layer may hold hair, never a blob: a region
    # of its support wider than the band, solid or a faint smear over the background.
    outside = (distance <= -band).astype(np.uint8)
    held = (layer > p["blob"]) & (outside > 0)
    blob = cv2.morphologyEx(held.astype(np.uint8), cv2.MORPH_OPEN, disc).astype(bool)
    reach = hair_reach((layer > p["hold"]) & ~blob, distance > -band - 2)
    unknown = ~solid & ((distance > -band) | reach)
    fixed = solid.astype(np.float64)
    if not unknown.any():
        return fixed, scale
    lap, inside, ring = _band_laplacian(plate, unknown, eps)
    n = len(inside)
    prior = layer.ravel()[inside]
    # Within the band the image decides (the layer there repeats its guide's errors);
    # beyond it only the layer knows the hair.
    weight = np.where(outside.ravel()[inside] > 0, p["reach_weight"], p["weight"])
    rhs = weight * prior - lap[:, n:] @ fixed.ravel()[ring]
    lap = lap[:, :n].tocsr()
    alpha = scipy.sparse.linalg.spsolve((lap + scipy.sparse.diags(weight)).tocsc(), rhs)
    for _ in range(p["rounds"] if p["sparsity"] > 0 else 0):
        # Reweighted |a|^0.9 + |1 - a|^0.9, as in the relaxed sparsification.
        u = np.maximum(np.abs(alpha), 1e-3) ** -1.1
        v = np.maximum(np.abs(1.0 - alpha), 1e-3) ** -1.1
        system = lap + scipy.sparse.diags(weight + p["sparsity"] * (u + v))
        alpha = scipy.sparse.linalg.spsolve(system.tocsc(), rhs + p["sparsity"] * v)
    out = fixed.ravel().copy()
    out[inside] = alpha
    return np.clip(out, 0.0, 1.0).reshape(fixed.shape), scale


def hair_reach(held, near):
    """The parts of ``held`` (the layer's support outside the guide) connected to the
    guide's band ``near``, dilated by 2 px: hair and strands that grow out of the object,
    however far, but nothing that lies apart from it. (H, W) bool arrays in and out."""
    count, labels = cv2.connectedComponents(held.astype(np.uint8), connectivity=8)
    touching = np.zeros(count, bool)
    touching[np.unique(labels[held & near])] = True
    touching[0] = False
    reach = touching[labels]
    return cv2.dilate(reach.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def evidence_layers(plate, alphas, guides, *, eps=1e-7, **params):
    """Every guided object's layer held to its guide; the rest takes what is left.

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
    alphas : (H, W, O + 1) float array
        Soft layers summing to 1: the O objects in the guides' order, the rest last.
    guides : (H, W, O) float array in [0, 1]
        The objects' guides (or class probabilities) at the plate's size.
    eps : float, regulariser of the matting Laplacian
    **params
        Overrides of :data:`EVIDENCE`.

    Returns
    -------
    (H, W, O + 1) float32 in [0, 1], summing to 1. Where objects' mattes overlap they are
    scaled to sum to 1 and the rest is 0.

    Raises
    ------
    OptionError
        If the shapes disagree.

    Examples
    --------
    A grey smear where the object is solid becomes solid; far outside stays 0:

    >>> img = np.zeros((24, 24, 3)); img[:, 12:] = 1
    >>> guide = np.zeros((24, 24, 1)); guide[:, 12:] = 1
    >>> smear = 0.6 * guide[..., 0]
    >>> out = evidence_layers(img, np.stack([smear, 1 - smear], axis=-1), guide)
    >>> out.shape, float(out[12, 21, 0]), float(out[12, 2, 0])
    ((24, 24, 2), 1.0, 0.0)
    """
    plate = np.asarray(plate, np.float64)
    a = np.asarray(alphas, np.float64)
    g = np.asarray(guides, np.float64).reshape(plate.shape[:2] + (-1,))
    if a.ndim != 3 or a.shape[:2] != plate.shape[:2] or a.shape[2] != g.shape[2] + 1:
        raise OptionError(f"evidence: layers of shape {a.shape} do not fit the plate "
                          f"{plate.shape[:2]} and {g.shape[2]} guide(s); give (H, W, O + 1)")
    objects = np.stack([object_evidence(plate, a[..., k], g[..., k], eps=eps, **params)[0]
                        for k in range(g.shape[2])], axis=-1)
    total = objects.sum(axis=-1, keepdims=True)
    objects /= np.maximum(total, 1.0)
    rest = 1.0 - objects.sum(axis=-1, keepdims=True)
    return np.concatenate([objects, np.clip(rest, 0.0, 1.0)], axis=-1).astype(np.float32)
