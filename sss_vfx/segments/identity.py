"""Layer identity across the windows of a shot (DESIGN section 2).

A window's layers come out in its own order. Each new window's layers are matched to
the layers already given on the frames both windows saw (or, without shared frames, on
the previous frame), so a layer keeps its index, and its preview colour, from the first
frame of a shot to the last. The match maximises the total soft overlap
``sum_p min(a_p, b_p) / sum_p max(a_p, b_p)`` (a soft intersection over union) by the
Hungarian method.

In temporal mode a window after the first does not cluster its soft segments afresh:
its :func:`window_reference` (the layers given to the shared frames, carried along the
flow over the window's later frames) seeds their grouping
(:func:`~sss_vfx.segments.grouping.group_by_reference`: the nearest layer by features,
the overlap over the whole window among layers about as near; a segment that swallowed
most of another layer of other features split by them), so the identity does not hang
on one frame's match, on the eigenvectors' basis, nor on one window's segmentation
merging a small object into its ground.
:func:`uncertain_handovers` then checks that no layer hands most of its mass to another
across the boundary.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment

from sss_vfx.errors import OptionError

__all__ = ["crossfade", "hand_over", "layer_overlap", "match_layers", "pad_layers",
           "uncertain_handovers", "window_anchor", "window_reference"]

#: A layer's hand-over is uncertain when it passes more than this share of its mass to
#: one other layer on a shared frame.
HANDOVER_SHARE = 0.5

#: Layers covering less than this share of a frame are not checked.
HANDOVER_MIN_COVERAGE = 0.01


def pad_layers(layers, count):
    """Append empty layers up to ``count`` columns.

    Parameters
    ----------
    layers : (N, K) float array, K <= count
    count : int

    Returns
    -------
    (N, count) float64
    """
    layers = np.asarray(layers, np.float64)
    missing = count - layers.shape[1]
    if missing < 0:
        raise OptionError(f"{layers.shape[1]} layers do not fit in {count}")
    return np.hstack([layers, np.zeros((layers.shape[0], missing))]) if missing else layers


def layer_overlap(reference, layers):
    """Soft intersection over union of every pair of layers.

    Parameters
    ----------
    reference : (N, K) float array in [0, 1]
    layers : (N, K') float array in [0, 1]

    Returns
    -------
    (K, K') float64 in [0, 1]; 0 where both layers are empty
    """
    a = np.clip(np.asarray(reference, np.float64), 0, 1)
    b = np.clip(np.asarray(layers, np.float64), 0, 1)
    overlap = np.empty((a.shape[1], b.shape[1]))
    for i in range(a.shape[1]):
        inter = np.minimum(a[:, i:i + 1], b).sum(axis=0)
        union = np.maximum(a[:, i:i + 1], b).sum(axis=0)
        overlap[i] = np.where(union > 0, inter / np.where(union > 0, union, 1), 0)
    return overlap


def match_layers(reference, layers):
    """Reorder ``layers`` so column k is the layer that best continues reference layer k.

    Parameters
    ----------
    reference : (N, K) float array
        The layers already given, on the pixels both results cover.
    layers : (N, K) float array
        The new layers on the same pixels.

    Returns
    -------
    (K,) int64 permutation: new column k is old column ``perm[k]``

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1., 0.], [0., 1.]])
    >>> match_layers(a, a[:, ::-1]).tolist()
    [1, 0]
    """
    overlap = layer_overlap(reference, layers)
    rows, cols = linear_sum_assignment(-overlap)
    perm = np.empty(overlap.shape[0], np.int64)
    perm[rows] = cols
    return perm


def crossfade(previous, current, weight):
    """Blend two results of one frame: ``(1 - weight) * previous + weight * current``.

    Parameters
    ----------
    previous, current : (N, K) float arrays, each summing to 1 per pixel
    weight : float in [0, 1]

    Returns
    -------
    (N, K) float64, summing to 1 per pixel where both inputs do
    """
    return (1.0 - weight) * np.asarray(previous, np.float64) \
        + weight * np.asarray(current, np.float64)


def window_anchor(given, pixels, weight):
    """The anchor of a window's relaxed sparsification: the layers already given to
    some of its frames.

    Parameters
    ----------
    given : sequence of (h*w, K) float arrays or None
        Per frame of the window, its layers when already given, else None.
    pixels : int, h*w
    weight : float

    Returns
    -------
    (rows (P,) int64, values (P, K) float64, weight) or None when no frame is given
    """
    frames = [i for i, layers in enumerate(given) if layers is not None]
    if not frames:
        return None
    rows = np.concatenate([np.arange(i * pixels, (i + 1) * pixels) for i in frames])
    return rows, np.concatenate([given[i] for i in frames]), weight


def hand_over(given, layers, done):
    """Each frame's layers after a window: new frames take the window's; frames the
    previous window already gave cross-fade from those to the window's, more the later
    they sit among the shared frames; finished frames keep theirs.

    Parameters
    ----------
    given : sequence of F (N, K) arrays or None, the layers given so far
    layers : (F, N, K) float array, the window's layers in the shot's order
    done : sequence of F bool, frames whose results are final (written)

    Returns
    -------
    list of F (N, K) arrays
    """
    shared = sum(g is not None for g in given)
    out = []
    for i, (old, new, final) in enumerate(zip(given, layers, done)):
        if final:
            out.append(old)
        elif old is None:
            out.append(new)
        else:
            out.append(crossfade(old, new, (i + 1) / (shared + 1)))
    return out


def window_reference(anchor, carried=None):
    """The shot's layers over a window: those given to its shared frames (weight 1),
    and those carried along the flow to its later frames (weighted by the flow's
    confidence).

    Parameters
    ----------
    anchor : (rows (P,) int, values (P, K) float, weight) from :func:`window_anchor`
    carried : (rows (Q,) int, values (Q, K) float, weights (Q,) float), optional
        From :func:`~sss_vfx.graph.flow.carried_prior` with weight 1.

    Returns
    -------
    (rows (P+Q,) int64, values (P+Q, K) float64, weights (P+Q,) float64)
    """
    rows, values = np.asarray(anchor[0], np.int64), np.asarray(anchor[1], np.float64)
    weights = np.ones(len(rows))
    if carried is None:
        return rows, values, weights
    return (np.concatenate([rows, np.asarray(carried[0], np.int64)]),
            np.concatenate([values, np.asarray(carried[1], np.float64)]),
            np.concatenate([weights, np.asarray(carried[2], np.float64)]))


def uncertain_handovers(previous, current, share=HANDOVER_SHARE,
                        min_coverage=HANDOVER_MIN_COVERAGE):
    """Layers that pass most of their mass to another layer between two results of the
    same frame (the previous window's and the next one's).

    Parameters
    ----------
    previous, current : (N, K) float arrays in [0, 1], the same frame's layers
    share : float in (0, 1)
    min_coverage : float, layers covering less of the frame are ignored

    Returns
    -------
    list of (from_layer, to_layer, moved_share), 0-based layers, ``moved_share`` the
    part of ``from_layer``'s mass found in ``to_layer``

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1., 0.], [0., 1.]])
    >>> uncertain_handovers(a, a[:, ::-1])
    [(0, 1, 1.0), (1, 0, 1.0)]
    """
    a = np.clip(np.asarray(previous, np.float64), 0, 1)
    b = np.clip(np.asarray(current, np.float64), 0, 1)
    mass = a.sum(axis=0)
    moved = (a.T @ b) / np.maximum(mass, 1e-300)[:, None]     # (K, K) share i -> j
    np.fill_diagonal(moved, 0.0)
    found = []
    for i in np.flatnonzero(mass > min_coverage * a.shape[0]):
        j = int(np.argmax(moved[i]))
        if moved[i, j] > share:
            found.append((int(i), j, round(float(moved[i, j]), 3)))
    return found
