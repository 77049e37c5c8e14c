"""Grouping of soft segments into the final layers (DESIGN step 6).

:func:`group_segments` is written against the array namespace of the segments (numpy,
or torch on any device); the reference grouping reads numpy arrays.
"""

import numpy as np

from sss_vfx.arrays.namespace import as_array, asarray, device_of, namespace
from sss_vfx.arrays.transfer import to_host
from sss_vfx.segments.kmeans import join_scaled, kmeans


def segment_descriptors(segments, descriptors):
    """Alpha-weighted mean descriptor of each soft segment.

    Parameters
    ----------
    segments : (N, K) float array or tensor, soft segments
    descriptors : (N, D) float array, per-pixel features (or colours)

    Returns
    -------
    (K, D) float64, of the namespace of ``segments``
    """
    segments = as_array(segments)
    xp = namespace(segments)
    weights = xp.clip(xp.astype(segments, xp.float64), min=0.0)
    totals = xp.maximum(xp.sum(weights, axis=0), 1e-12)
    return (weights.T @ asarray(descriptors, weights, xp.float64)) / totals[:, None]


def grouping_descriptors(features, colours, colour_weight=0.0):
    """Per-pixel descriptors the segments are grouped by.

    Parameters
    ----------
    features : (N, 3) float array or None, preprocessed semantic features
    colours : (N, 3) float array in [0, 1], the working image
    colour_weight : float
        0 (the paper): the features alone, or the colours when there are no features.
        Above 0, and with features, the colours join them, scaled to the features'
        total variance times this weight: coarse features (a network's masks) have
        too few distinct values to tell five layers apart, colour splits each class.

    Returns
    -------
    (N, D) float array, D = 3 or 6: ``features`` or ``colours`` themselves, or both
    joined (float64)
    """
    if features is None:
        return colours
    if colour_weight <= 0:
        return features
    return join_scaled(features, colours, colour_weight)


def group_segments(segments, descriptors, groups=5, *, seed=0):
    """Sum soft segments whose mean descriptors cluster together.

    Parameters
    ----------
    segments : (N, K) float array or tensor, summing to 1 per pixel
        Its namespace and device are where the computation runs.
    descriptors : (N, D) float array
    groups : int
        Number of layers wanted; fewer when fewer segments exist.
    seed : int

    Returns
    -------
    layers : (N, G) float64, G <= groups, still summing to 1 per pixel
    assignment : (K,) int64, the group of each segment
        Both of the namespace of ``segments``.
    """
    segments = as_array(segments)
    xp = namespace(segments)
    seg = xp.astype(segments, xp.float64, copy=False)
    means = segment_descriptors(seg, descriptors)
    assignment, _ = kmeans(means, min(groups, seg.shape[1]), seed=seed, restarts=10)
    groups = assignment.tolist()
    layers = xp.zeros((seg.shape[0], max(groups) + 1), dtype=xp.float64, device=device_of(seg))
    for k, g in enumerate(groups):
        layers[:, g] += seg[:, k]
    return layers, assignment


#: Reference layers whose mean descriptors lie within this share of the descriptors'
#: spread of a segment's nearest one are equally near: the overlap chooses among them.
REFERENCE_MARGIN = 0.1

#: A segment holding this share of another layer's reference mass, a layer whose
#: features differ from its own layer's, has swallowed it: it is split by the
#: descriptors. A segment whose soft edge only spills over a neighbouring layer holds
#: far less of it.
SPLIT_SHARE = 0.5

#: A segment holding this share of another layer's reference mass (but less than
#: :data:`SPLIT_SHARE`) has swallowed part of it: only its pixels that both the
#: descriptors and the reference give to that layer are split off.
PARTIAL_SHARE = 0.25


def group_by_reference(segments, descriptors, reference, layers, *, split=True):
    """Give each soft segment to a layer of a reference: a window's segments grouped
    by the layers the shot already gave (DESIGN section 2).

    :func:`group_segments` clusters the segments afresh, so a change of eigenvector
    basis or round-off (which moves the k-means seeding) can split or merge its
    groups. Here the groups are seeded by the reference: a segment joins the
    reference layer whose mean descriptor is nearest its own, as the grouping by
    features does, and among layers about as near (within :data:`REFERENCE_MARGIN`
    of the descriptors' spread: an object split over two layers of the same
    features), the one holding most of its weighted mass in the reference.

    A window's constrained sparsification may also merge two layers into one soft
    segment that an earlier window kept apart (a small object fading into the ground
    it stands on). Such a segment holds at least :data:`SPLIT_SHARE` of the mass of a
    second reference layer whose mean descriptor lies further than the margin from
    its own layer's; with ``split``, its pixels whose descriptor lies nearer (by the
    margin) to that layer's mean descriptor than to its own layer's go to that layer,
    as the features say. A segment holding less of it, but at least
    :data:`PARTIAL_SHARE`, merged part of it: only those of its pixels that the
    reference also gives that layer (at least half) go to it, so a soft edge that the
    features, blind to it, put on the wrong side stays where the shot had it.

    Parameters
    ----------
    segments : (N, S) float array, soft segments summing to 1 per pixel
    descriptors : (N, D) float array, per-pixel descriptors (see
        :func:`grouping_descriptors`)
    reference : (rows (P,) int array, values (P, K) float array in [0, 1], weights (P,)
        float array >= 0)
        The layers already given (or carried along the flow) on some pixels, and how
        much each pixel counts.
    layers : int, K
    split : bool, optional
        Split merged segments by the descriptors (only meaningful when they are
        semantic features, not colours).

    Returns
    -------
    layers : (N, K) float64, column k the segments (or their parts) given to reference
        layer k, still summing to 1 per pixel
    assignment : (S,) int64, the layer of each segment (of its pixels not split off)
    """
    seg = np.asarray(segments, np.float64)
    descriptors = np.asarray(descriptors, np.float64)
    rows, values, weights = reference
    held = np.clip(np.asarray(values, np.float64), 0.0, None) * \
        np.asarray(weights, np.float64)[:, None]
    present = held.sum(axis=0) > 0
    layer_means = segment_descriptors(held, descriptors[rows])
    means = segment_descriptors(seg, descriptors)
    dist = np.sqrt(((means[:, None, :] - layer_means[None, :, :]) ** 2).sum(axis=2))
    dist[:, ~present] = np.inf
    margin = _margin(descriptors)
    near = dist <= dist.min(axis=1, keepdims=True) + margin
    overlap = np.clip(seg[rows], 0.0, None).T @ held          # (S, K) mass in each layer
    # Among the near layers the overlap decides; a segment the reference does not
    # see (all its mass where the flow is lost) takes the nearest.
    score = np.where(near, overlap, -1.0) - 1e-12 * dist.clip(max=1e300)
    assignment = np.argmax(score, axis=1)
    grouped = np.zeros((seg.shape[0], layers))
    share = overlap / np.maximum(held.sum(axis=0), 1e-300)   # of each layer's mass
    # Layers apart: mean descriptors further apart than the margin (a segment merging
    # two of them lies between the two, so both look near to it).
    apart = np.sqrt(((layer_means[:, None, :] - layer_means[None, :, :]) ** 2)
                    .sum(axis=2)) > margin
    # Where the reference gives a layer at least half of a pixel.
    if split:
        sure = np.zeros((seg.shape[0], layers), bool)
        sure[rows] = (np.asarray(values) >= 0.5) & (np.asarray(weights) > 0)[:, None]
    for k, g in enumerate(assignment):
        merged = np.flatnonzero((share[k] >= PARTIAL_SHARE) & apart[g] & present) \
            if split else ()
        if len(merged) == 0:
            grouped[:, g] += seg[:, k]
            continue
        owners = np.concatenate([[g], merged])
        owner = owners[_nearest_owner(descriptors, layer_means[owners], margin)]
        for m in merged[share[k, merged] < SPLIT_SHARE]:
            owner[(owner == m) & ~sure[:, m]] = g
        np.add.at(grouped, (np.arange(seg.shape[0]), owner), seg[:, k])
    return grouped, assignment.astype(np.int64)


def _margin(descriptors):
    """How far apart two mean descriptors must lie to count as different layers:
    :data:`REFERENCE_MARGIN` of the descriptors' spread. (N, D) array -> float."""
    return REFERENCE_MARGIN * np.sqrt(descriptors.var(axis=0).sum())


def _nearest_owner(descriptors, means, margin):
    """Per pixel, the index of the mean descriptor nearest its own, the first (the
    segment's own layer) winning unless another is nearer by ``margin``: a pixel
    leaves its segment's layer only when clearly nearer another.

    descriptors (N, D), means (C, D); returns (N,) int64 in [0, C).
    """
    dist = np.sqrt(((descriptors[:, None, :] - means[None, :, :]) ** 2).sum(axis=2))
    dist[:, 1:] += margin
    return np.argmin(dist, axis=1)


def split_swallowed_regions(segments, descriptors, regions=5, *, seed=0):
    """Split soft segments that swallowed most of a region of other features.

    A window's eigenvectors span all its frames, as many as one frame's, so its
    constrained sparsification can fade a small object into the ground it stands on:
    the object's pixels end up in the ground's segment, its own segment (if one is
    left) on its border. :func:`group_by_reference` splits such a segment by the
    layers an earlier window gave; the shot's first window has none, so here the
    pixel descriptors are clustered into ``regions`` regions (k-means) instead. A
    region most of whose mass (at least :data:`SPLIT_SHARE`) lies in one segment
    whose own region (the nearest to its mean descriptor) is another one, further
    apart than the margin (:data:`REFERENCE_MARGIN` of the descriptors' spread), is
    split off it: the segment's pixels nearer that region than its own (by the
    margin) become a new segment, which the grouping then places by its features.

    Parameters
    ----------
    segments : (N, S) float array or tensor, soft segments summing to 1 per pixel
    descriptors : (N, D) float array, per-pixel semantic features
    regions : int, the layers asked for
    seed : int, the k-means seed

    Returns
    -------
    (N, S') float64 numpy array, S <= S' <= S + ``regions``, still summing to 1 per
    pixel: the segments with the split pixels moved to new columns

    Examples
    --------
    >>> import numpy as np
    >>> descriptors = np.repeat(np.eye(3), [6, 3, 1], axis=0)
    >>> merged = np.stack([np.arange(10) < 6, np.arange(10) >= 6], axis=1) * 1.0
    >>> split_swallowed_regions(merged, descriptors, 3).sum(axis=0).tolist()
    [6.0, 3.0, 1.0]
    """
    seg = np.array(to_host(segments), np.float64)
    descriptors = np.asarray(to_host(descriptors), np.float64)
    labels, centres = kmeans(descriptors, regions, seed=seed)
    labels, centres = np.asarray(labels), np.asarray(centres, np.float64)
    one_hot = np.eye(len(centres))[labels]                     # (N, C)
    mass = one_hot.sum(axis=0)
    margin = _margin(descriptors)
    means = segment_descriptors(seg, descriptors)
    own = np.argmin(((means[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    share = np.clip(seg, 0.0, None).T @ one_hot / np.maximum(mass, 1)   # (S, C)
    parts = []
    for c in np.argsort(-mass, kind="stable"):
        k = int(np.argmax(share[:, c]))
        if share[k, c] < SPLIT_SHARE or own[k] == c or \
                np.sqrt(((centres[c] - centres[own[k]]) ** 2).sum()) <= margin:
            continue
        moved = _nearest_owner(descriptors, centres[[own[k], c]], margin) == 1
        parts.append(np.where(moved, seg[:, k], 0.0))
        seg[:, k] -= parts[-1]
    return np.column_stack([seg] + parts) if parts else seg


def collapse_note(kept, has_features, opts):
    """A warning when the constrained sparsification kept fewer segments than the layers
    asked for, with the likely cause; None otherwise.

    Segments that the eigenvectors cannot express fade during the sparsification and are
    dropped. Initial segments from coarse features alone (a network's masks: two flat
    classes and a blurred border) are level sets of the features, not regions of the
    image, so most of them fade, and the layers can collapse to one.

    Parameters
    ----------
    kept : int, soft segments left after the constrained sparsification
    has_features : bool
    opts : SegmentationOptions

    Returns
    -------
    str or None
    """
    if kept >= opts.layers:
        return None
    message = (f"only {kept} soft segment(s) of {opts.initial_segments} survived the "
               f"constrained sparsification, fewer than the {opts.layers} layers asked for")
    if has_features and opts.embedding_weight == 0:
        message += ("; features made of a few flat classes (a segmentation network's "
                    "masks) need sss_vfx.COARSE_FEATURES")
    return message
