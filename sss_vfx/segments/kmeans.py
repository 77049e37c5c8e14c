"""Deterministic k-means (k-means++ seeding, Lloyd iterations, best of several runs).

Written against the array namespace of the points (numpy, or torch on any device). The
k-means++ seeding draws from numpy's generator on the host, on a sample of at most
:data:`SAMPLE_FOR_RESTARTS` distinct points: the draws, hence the labels, are the same on
every device; the Lloyd iterations on all points run where the points are.
"""

import numpy as np

from sss_vfx.arrays.namespace import (as_array, asarray, bincount, device_of, first_appearance,
                                      namespace, unique_rows)
from sss_vfx.arrays.transfer import to_host
from sss_vfx.spectral.threads import by_pieces

#: Distinct points beyond which restarts are compared on a sample.
SAMPLE_FOR_RESTARTS = 16_384


def join_scaled(points, extra, weight):
    """Append ``extra`` columns to ``points``, scaled so their total variance is
    ``weight**2`` times that of ``points``: a weight then means the same for any image.

    Parameters
    ----------
    points : (N, D) float array or tensor
    extra : (N, E) float array
    weight : float >= 0

    Returns
    -------
    (N, D + E) float64, of the namespace of ``points``
    """
    points = as_array(points)
    xp = namespace(points)
    points = xp.astype(points, xp.float64)
    extra = asarray(extra, points, xp.float64)
    ratio = xp.sum(xp.var(points, axis=0)) / xp.maximum(xp.sum(xp.var(extra, axis=0)),
                                                        1e-300)
    return xp.concat([points, extra * (xp.sqrt(ratio) * weight)], axis=1)


def kmeans(points, k, *, seed=0, restarts=3, iterations=100):
    """Cluster points into at most ``k`` groups.

    Parameters
    ----------
    points : (N, D) float array or tensor
    k : int
        Requested number of clusters; fewer are returned when the points hold fewer
        distinct values.
    seed : int
        Seed of the k-means++ seeding; the same input and seed give the same labels.
    restarts : int
        Independent seedings; the one with the lowest inertia wins.
    iterations : int
        Maximum Lloyd iterations per run.

    Returns
    -------
    labels : (N,) int64, values 0..k'-1 with every cluster non-empty, numbered in order
        of first appearance so the numbering does not depend on the seeding.
    centres : (k', D) float64
        Both of the namespace of ``points``.
    """
    points = as_array(points)
    xp = namespace(points)
    # Equal points always share a cluster, so clustering the distinct points weighted
    # by their counts is the same problem, and much smaller for quantised features.
    x, inverse, counts = unique_rows(xp.astype(points, xp.float64))
    weights = xp.astype(counts, xp.float64)
    k = int(min(k, x.shape[0]))
    rng = np.random.default_rng(seed)
    # The restarts only choose a starting point, so on many points they compete on a
    # fixed strided sample and the winner is refined on all points.
    step = max(1, x.shape[0] // SAMPLE_FOR_RESTARTS)
    sample_x, sample_w = x[::step], weights[::step]
    # The seeding draws on the host: a few thousand points, copied once.
    host_x, host_w = to_host(sample_x), to_host(sample_w)
    best = None
    for _ in range(max(1, restarts)):
        centres = _seed_plus_plus(host_x, host_w, min(k, len(host_x)), rng)
        _, centres, inertia = _lloyd(sample_x, sample_w, asarray(centres, x), iterations)
        if best is None or inertia < best[1]:
            best = (centres, inertia)
    labels, centres, _ = _lloyd(x, weights, best[0], iterations)
    labels = labels[inverse]
    used = first_appearance(labels)
    relabel = xp.empty(centres.shape[0], dtype=xp.int64, device=device_of(x))
    relabel[used] = xp.arange(used.shape[0], device=device_of(x))
    return relabel[labels], centres[used]


def _seed_plus_plus(x, weights, k, rng):
    centres = [x[rng.choice(len(x), p=weights / weights.sum())]]
    dist = np.sum((x - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = (weights * dist).sum()
        pick = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=weights * dist / total)
        centres.append(x[pick])
        dist = np.minimum(dist, np.sum((x - x[pick]) ** 2, axis=1))
    return np.array(centres)


def _lloyd(x, weights, centres, iterations):
    xp = namespace(x)
    labels = None
    previous = float("inf")
    k = centres.shape[0]
    x_sq = xp.sum(x * x, axis=1)
    for _ in range(iterations):
        new_labels, dist = _assign(x, centres, x_sq)
        counts = bincount(new_labels, weights, k)
        sums = bincount(new_labels, weights[:, None] * x, k)
        empty = counts == 0
        centres = xp.where(empty[:, None], centres,
                           sums / xp.where(empty, 1.0, counts)[:, None])
        # An empty cluster restarts at the point worst served by the others.
        for c in xp.nonzero(empty)[0].tolist():
            worst = int(xp.argmax(dist))
            centres[c] = x[worst]
            dist[worst] = 0.0
        inertia = float(xp.sum(weights * dist ** 2))
        # Converged when no point moves, or when the inertia stalls (Lloyd's last
        # iterations shuffle a handful of boundary points for no measurable gain).
        if labels is not None and not bool(xp.any(empty)) and (
                bool(xp.all(labels == new_labels)) or previous - inertia <= 1e-4 * inertia):
            break
        labels, previous = new_labels, inertia
    labels, dist = _assign(x, centres, x_sq)
    return labels, centres, float(xp.sum(weights * dist ** 2))


def _assign(x, centres, x_sq=None):
    """Nearest centre of every point and its distance, through one matrix product.

    ``x_sq`` is ``sum(x * x, axis=1)`` when the caller has it. The (N, k) squared
    distances are formed in place (fresh temporaries of that size cost more than the
    product itself), a piece of the points at a time, the pieces on the cores.
    """
    xp = namespace(x)
    if x_sq is None:
        x_sq = xp.sum(x * x, axis=1)
    centres_sq = xp.sum(centres * centres, axis=1)
    labels = xp.empty(x.shape[0], dtype=xp.int64, device=device_of(x))
    dist = xp.empty(x.shape[0], dtype=x.dtype, device=device_of(x))

    def piece(rows):
        sq = x[rows, :] @ centres.T
        sq *= -2.0
        sq += x_sq[rows, None]
        sq += centres_sq
        labels[rows] = xp.astype(xp.argmin(sq, axis=1), xp.int64)
        dist[rows] = xp.sqrt(xp.maximum(xp.min(sq, axis=1), 0.0))

    by_pieces(piece, x.shape[0], x)
    return labels, dist
