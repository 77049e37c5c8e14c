"""Object-aware grouping: each soft segment joins the object its mass lies in.

With features that are a few classes (guides, a network's masks), k-means over mean
features and colour puts a part of an object with its own colour (a pink snout, a
flag's red stripes) in a layer shared with the background. Here the classes decide:
a soft segment's mass ``max(alpha, 0)`` is spread over the classes by the per-pixel
class probabilities, and the segment joins the class holding most of it. Segments of
any colour inside one object thus form one layer, and there is one layer per class,
in the classes' order (objects, then the rest), whatever the number of segments.
"""

import numpy as np

from sss_vfx.errors import OptionError

__all__ = ["fit_class_layers", "group_by_objects", "rescue_lost_objects",
           "segment_class_shares"]

#: An object's layer holding less of the object's mass than this is lost ...
RECALL = 0.5
#: ... and so is one lying less than this much on the object.
PRECISION = 0.25


def segment_class_shares(segments, probabilities):
    """Share of each soft segment's mass lying in each class.

    Parameters
    ----------
    segments : array_like, shape (N, S)
        Soft segments (negative values count as 0).
    probabilities : array_like, shape (N, P)
        Per-pixel class probabilities, rows summing to 1.

    Returns
    -------
    ndarray, shape (S, P), float64
        Row s: ``sum_i max(a_is, 0) p_ic / sum_i max(a_is, 0)``; a segment without mass
        gets the classes' mean probabilities.

    Raises
    ------
    OptionError
        If the shapes disagree.
    """
    seg = _as_matrix(segments, "segments")
    prob = _as_matrix(probabilities, "probabilities")
    if seg.shape[0] != prob.shape[0]:
        raise OptionError(f"segments have {seg.shape[0]} pixels but the class probabilities "
                          f"{prob.shape[0]}; give both at the working resolution")
    weights = np.clip(seg, 0.0, None)
    mass = weights.T @ prob
    totals = weights.sum(axis=0)
    fallback = prob.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = mass / totals[:, None]
    shares[totals <= 0] = fallback
    return shares


def group_by_objects(segments, probabilities):
    """Sum soft segments into one layer per class (objects, then the rest).

    Each segment joins the class with the largest share of its mass (the first on a
    tie). A class present in the probabilities but left without a segment takes,
    from a class holding two or more, the segment with the largest share in it, so an
    object keeps a layer of its own while a segment can express it.

    Parameters
    ----------
    segments : array_like, shape (N, S)
        Soft segments summing to 1 per pixel.
    probabilities : array_like, shape (N, P)
        Per-pixel class probabilities (:func:`sss_vfx.features.guides.guide_probabilities`
        at the segments' resolution).

    Returns
    -------
    layers : ndarray, shape (N, P), float64
        Column c is the sum of the segments of class c (zeros when none); rows still
        sum to 1.
    assignment : ndarray, shape (S,), int64
        The class of each segment.

    Raises
    ------
    OptionError
        If the shapes disagree.

    Examples
    --------
    >>> seg = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], float)
    >>> prob = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], float)
    >>> layers, assignment = group_by_objects(seg, prob)
    >>> assignment.tolist(), layers.tolist()
    ([0, 0, 1], [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    """
    seg = _as_matrix(segments, "segments")
    shares = segment_class_shares(seg, probabilities)
    classes = shares.shape[1]
    assignment = np.argmax(shares, axis=1).astype(np.int64)
    present = np.asarray(probabilities, np.float64).sum(axis=0) > 0.5
    for c in range(classes):
        if not present[c] or np.any(assignment == c):
            continue
        counts = np.bincount(assignment, minlength=classes)
        movable = np.flatnonzero((counts[assignment] >= 2) & (shares[:, c] > 0))
        if movable.size:
            assignment[movable[np.argmax(shares[movable, c])]] = c
    layers = np.zeros((seg.shape[0], classes))
    for s, c in enumerate(assignment):
        layers[:, c] += seg[:, s]
    return rescue_lost_objects(layers, probabilities), assignment


def fit_class_layers(vectors, probabilities):
    """One layer per class: the class probabilities fitted in the eigenvectors' span.

    Layer k is ``V c_k`` with ``c_k`` minimising ``sum_i w_i (V_i c_k - p_ik)^2``, each
    pixel weighted by how sure its class is, ``w_i = ((P max_k p_ik - 1) / (P - 1))^2``:
    1 where one class holds the pixel, 0 where the classes blend equally (a coarse mask's
    blurred transition says which side is which, not where the edge lies). The
    eigenvectors carry the image's edges, so the fitted layers end where the image
    does, and a part of an object that a soft segment shares with the background is
    split from it. The result depends on the eigenvectors' span only, not on the basis
    an eigensolver returns. Layers are clipped at 0 and renormalised; a pixel left
    without mass takes its class probabilities.

    Parameters
    ----------
    vectors : array_like, shape (N, M)
        Eigenvectors of the Laplacian (any basis of their span).
    probabilities : array_like, shape (N, P)
        Per-pixel class probabilities, rows summing to 1, P >= 2.

    Returns
    -------
    ndarray, shape (N, P), float64
        In [0, 1], rows summing to 1.

    Raises
    ------
    OptionError
        If the shapes disagree.

    Examples
    --------
    Two regions the eigenvectors separate; the mask blends the classes over the
    middle two pixels, which take their region's class:

    >>> vectors = np.array([[1, 0], [1, 0], [0, 1], [0, 1.]])
    >>> prob = np.array([[1, 0], [0.5, 0.5], [0.5, 0.5], [0, 1.]])
    >>> fit_class_layers(vectors, prob).round(2).tolist()
    [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    """
    basis = _as_matrix(vectors, "vectors")
    prob = _as_matrix(probabilities, "probabilities")
    if basis.shape[0] != prob.shape[0]:
        raise OptionError(f"vectors have {basis.shape[0]} pixels but the class "
                          f"probabilities {prob.shape[0]}; give both at the working "
                          "resolution")
    classes = prob.shape[1]
    if classes < 2:
        return np.ones_like(prob)
    weight = ((classes * prob.max(axis=1) - 1.0) / (classes - 1.0)) ** 2
    weighted = basis * weight[:, None]
    gram = basis.T @ weighted
    # A tiny ridge keeps the normal equations solvable when the weights vanish on a
    # mode; it is far below any eigenvector's own weight.
    gram[np.diag_indices_from(gram)] += 1e-9 * max(np.trace(gram) / len(gram), 1e-300)
    layers = np.clip(basis @ np.linalg.solve(gram, weighted.T @ prob), 0.0, None)
    total = layers.sum(axis=1, keepdims=True)
    return np.where(total > 1e-12, layers / np.where(total > 1e-12, total, 1.0), prob)


def rescue_lost_objects(layers, probabilities):
    """Give an object its guide back where no soft segment expressed it.

    An object is lost when its layer holds less than :data:`RECALL` of the object's
    probability mass, or when less than :data:`PRECISION` of the layer lies on the
    object (it took a segment of something else): a small or thin object the
    eigenvectors could not separate. Its layer becomes its probability, the other
    layers shrink in proportion to make room, and the relaxed sparsification then
    draws its edges from the Laplacian. Other objects, and the rest (the last
    class), are left as they are.

    Parameters
    ----------
    layers : ndarray, shape (N, P), float64
        Grouped layers, rows summing to 1.
    probabilities : array_like, shape (N, P)
        Per-pixel class probabilities, rows summing to 1.

    Returns
    -------
    ndarray, shape (N, P), float64
        Rows still sum to 1.

    Examples
    --------
    >>> layers = np.array([[0, 1], [0, 1], [1, 0], [0, 1.]])
    >>> prob = np.array([[1, 0], [0.5, 0.5], [0, 1], [0, 1.]])
    >>> rescue_lost_objects(layers, prob).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]]
    """
    prob = np.asarray(probabilities, np.float64)
    layers = np.array(layers, np.float64)
    mass = prob.sum(axis=0)
    overlap = (layers * prob).sum(axis=0)
    size = layers.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lost = (mass > 0.5) & ((overlap < RECALL * mass) | (overlap < PRECISION * size))
    lost[-1] = False  # the rest is what no object takes: it cannot be lost
    for c in np.flatnonzero(lost):
        target = prob[:, c]
        others = layers.copy()
        others[:, c] = 0.0
        held = others.sum(axis=1)
        room = np.where(held > 0, (1.0 - target) / np.where(held > 0, held, 1.0), 0.0)
        layers = others * room[:, None]
        layers[:, c] = target
        # Where nothing else held the pixel, the rest (last) takes what is left.
        layers[:, -1] += 1.0 - layers.sum(axis=1)
    return layers


def _as_matrix(array, name):
    array = np.asarray(array, np.float64)
    if array.ndim != 2 or min(array.shape) < 1:
        raise OptionError(f"{name} must have shape (N, K) with K >= 1, got {array.shape}")
    return array
