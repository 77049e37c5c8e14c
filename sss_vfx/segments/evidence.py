"""Guides as evidence with an error scale (DESIGN section 2): each object's layer re-solved
at the plate's resolution, held to its guide where the guide is sure.

A guide (roto, ID pass, Cryptomatte, the person model) is right in its interior and far
outside it, and uncertain within a few pixels of its edge. The soft layers found from the
image alone may disagree with it anywhere (a thin part of the background's colour lost, a
grey smear inside a solid object, a background blob or a shadow joined to it). Here each
object's matte ``a`` minimises, at the plate's resolution::

    a^T (L + k N) a + sum_p c_p (a_p - l_p)^2

with ``L`` the plate's matting Laplacian (3x3 windows), ``N`` a nearest-neighbour
(KNN matting) Laplacian linking each pixel to the pixels of like colour around it
(:mod:`~sss_vfx.graph.knn`, weight ``k = 0.3``) and ``l`` the object's soft layer, over
the *uncertain* pixels only: those within ``2.5 r`` of the guide's edge, ``r`` the
guide's error scale, and those outside the guide where the layer holds some of the
object connected to that band (hair, strands and defocus beyond the roto; never a blob:
a region wider than ``3 r`` where the layer exceeds 0.2, or wider than ``r`` where it
exceeds 0.8, which a roto that careful would not have missed). Every other pixel is
fixed to the guide: 1 in its interior, 0 far outside it; where the guide is thinner than
7 px (a neck, a strand the roto holds), its middle is fixed too. ``r`` is estimated per
object from how far from the guide's edge the layer, where it is decided, disagrees
with the guide. The guide's interior is not sure everywhere: where the background shows
through it (the gaps of a wicker ball, a goggle's glass, the background between two
heads of hair), colours the background around the object has and the object's own
interior has not, the hole's core is fixed to 0 and the 2 px around it are left to the
image (:mod:`~sss_vfx.segments.holes`).

The layer weighs little (``c = 0.003``, within the band and beyond it): it follows its
guide (the guide is one of its features), so near the guide's edge its errors are the
guide's own, and the image must decide. The nearest-neighbour links are what lets the
image decide a region the 3x3 windows cannot: a strip or smear whose colour the
background also has a little further off is drawn to that background's 0, a strand
whose colour the object has to its 1 (the benchmarks page has what each part gains).
"""

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from sss_vfx.errors import OptionError
from sss_vfx.graph.knn import knn_laplacian
from sss_vfx.segments.holes import HOLES, guide_holes
from sss_vfx.segments.refine import _band_laplacian

__all__ = ["EVIDENCE", "evidence_layers", "guide_error_scale", "object_evidence",
           "signed_distance"]

#: Parameters of the evidence solve: error scale bounds (px, and quantile of the
#: disagreement distances); width of the uncertain band in error scales; the layer's
#: weight within the band and beyond it; the layer value above which a pixel outside the
#: guide may be hair; the two (layer value, width in error scales) above which a region
#: of the layer outside the band is a blob, not hair; the nearest-neighbour Laplacian's
#: weight, the margin (px) around the uncertain pixels whose colours it links, and the
#: relative tolerance and step cap of the conjugate gradients that solve with it; and, as
#: ``hole_*``, those of :data:`~sss_vfx.segments.holes.HOLES` (see-through holes in the
#: guide's interior; ``hole_ratio=inf`` turns them off).
EVIDENCE = {"scale_min": 3.0, "scale_max": 8.0, "quantile": 50.0, "band": 2.5,
            "weight": 0.003, "reach_weight": 0.003, "hold": 0.05,
            "blob": 0.2, "blob_width": 3.0, "solid": 0.8, "solid_width": 1.0,
            "knn_weight": 0.3, "knn_margin": 20, "knn_tolerance": 1e-5, "knn_steps": 200,
            **{f"hole_{key}": value for key, value in HOLES.items()}}


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
    # Beyond the band outside the guide the layer may hold hair, never a blob: a faint
    # smear wider than the band, or a solid region wider than the guide's error scale.
    outside = (distance <= -band).astype(np.uint8)
    blob = np.zeros(layer.shape, bool)
    for level, width in ((p["blob"], p["blob_width"]), (p["solid"], p["solid_width"])):
        held = ((layer > level) & (outside > 0)).astype(np.uint8)
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                         (2 * int(np.ceil(width * scale)) + 1,) * 2)
        blob |= cv2.morphologyEx(held, cv2.MORPH_OPEN, disc).astype(bool)
    reach = hair_reach((layer > p["hold"]) & ~blob, distance > -band - 2)
    # Where the background shows through the guide's interior, the hole's core is fixed
    # to 0 and the image decides its edge.
    core, free = guide_holes(plate, distance, band,
                             **{k[5:]: v for k, v in p.items() if k.startswith("hole_")})
    solid &= ~(core | free)
    unknown = ~solid & ~core & ((distance > -band) | reach)
    fixed = solid.astype(np.float64)
    if not unknown.any():
        return fixed, scale
    alpha = _solve_unknown(plate, unknown, fixed, layer, outside > 0, eps, p)
    out = fixed.ravel().copy()
    out[unknown.ravel()] = alpha
    return np.clip(out, 0.0, 1.0).reshape(fixed.shape), scale


def _solve_unknown(plate, unknown, fixed, layer, beyond, eps, p):
    """The unknown pixels' values: ``(L_UU + k N_UU + diag(c)) a_U = c l_U - (L_UF + k N_UF)
    a_F``, ``L`` the matting Laplacian, ``N`` the nearest-neighbour one
    (:func:`~sss_vfx.graph.knn.knn_laplacian`, over the unknown pixels and those within
    ``p["knn_margin"]`` px of them), ``c`` the layer's weight (``p["weight"]`` within the
    band, ``p["reach_weight"]`` beyond it, where ``beyond``), ``l`` the layer, ``a_F`` the
    fixed values. (B,) float64 for the B unknown pixels, row-major."""
    lap, inside, ring = _band_laplacian(plate, unknown, eps)
    n = len(inside)
    weight = np.where(beyond.ravel()[inside], p["reach_weight"], p["weight"])
    local = (lap[:, :n] + scipy.sparse.diags(weight)).tocsc()
    rhs = weight * layer.ravel()[inside] - lap[:, n:] @ fixed.ravel()[ring]
    if p["knn_weight"] <= 0:
        return scipy.sparse.linalg.spsolve(local, rhs)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * p["knn_margin"] + 1,) * 2)
    region = cv2.dilate(unknown.astype(np.uint8), disc).astype(bool)
    knn, pixels = knn_laplacian(plate, region)
    rows = unknown.ravel()[pixels]
    knn = knn[rows]
    system = (local + p["knn_weight"] * knn[:, rows]).tocsr()
    rhs = rhs - p["knn_weight"] * (knn[:, ~rows] @ fixed.ravel()[pixels[~rows]])
    # The nearest-neighbour links reach across the image and would fill a direct
    # factorisation; the local system's factors precondition conjugate gradients instead.
    factors = scipy.sparse.linalg.splu(local)
    start = factors.solve(rhs)
    precondition = scipy.sparse.linalg.LinearOperator(system.shape, factors.solve)
    alpha, _ = scipy.sparse.linalg.cg(system, rhs, x0=start, M=precondition,
                                      rtol=p["knn_tolerance"], maxiter=p["knn_steps"])
    return alpha


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
