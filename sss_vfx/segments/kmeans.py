"""Deterministic k-means (k-means++ seeding, Lloyd iterations, best of several runs)."""

import numpy as np

#: Distinct points beyond which restarts are compared on a sample.
SAMPLE_FOR_RESTARTS = 16_384


def join_scaled(points, extra, weight):
    """Append ``extra`` columns to ``points``, scaled so their total variance is
    ``weight**2`` times that of ``points``: a weight then means the same for any image.

    Parameters
    ----------
    points : (N, D) float array
    extra : (N, E) float array
    weight : float >= 0

    Returns
    -------
    (N, D + E) float64
    """
    points = np.asarray(points, np.float64)
    extra = np.asarray(extra, np.float64)
    ratio = points.var(axis=0).sum() / max(extra.var(axis=0).sum(), 1e-300)
    return np.hstack([points, extra * (np.sqrt(ratio) * weight)])


def kmeans(points, k, *, seed=0, restarts=3, iterations=100):
    """Cluster points into at most ``k`` groups.

    Parameters
    ----------
    points : (N, D) float array
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
    """
    # Equal points always share a cluster, so clustering the distinct points weighted
    # by their counts is the same problem, and much smaller for quantised features.
    x, inverse, counts = np.unique(np.asarray(points, dtype=np.float64), axis=0,
                                   return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    weights = counts.astype(np.float64)
    k = int(min(k, len(x)))
    rng = np.random.default_rng(seed)
    # The restarts only choose a starting point, so on many points they compete on a
    # fixed strided sample and the winner is refined on all points.
    step = max(1, len(x) // SAMPLE_FOR_RESTARTS)
    sample_x, sample_w = x[::step], weights[::step]
    best = None
    for _ in range(max(1, restarts)):
        centres = _seed_plus_plus(sample_x, sample_w, min(k, len(sample_x)), rng)
        _, centres, inertia = _lloyd(sample_x, sample_w, centres, iterations)
        if best is None or inertia < best[1]:
            best = (centres, inertia)
    labels, centres, _ = _lloyd(x, weights, best[0], iterations)
    labels = labels[inverse]
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    relabel = np.empty(len(centres), np.int64)
    relabel[np.unique(labels)[order]] = np.arange(len(order))
    return relabel[labels], centres[np.unique(labels)[order]]


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
    labels = None
    previous = np.inf
    for _ in range(iterations):
        new_labels, dist = _assign(x, centres)
        counts = np.bincount(new_labels, weights, minlength=len(centres))
        sums = np.stack([np.bincount(new_labels, weights * x[:, d], minlength=len(centres))
                         for d in range(x.shape[1])], axis=1)
        empty = counts == 0
        centres = np.where(empty[:, None], centres, sums / np.where(empty, 1.0, counts)[:, None])
        # An empty cluster restarts at the point worst served by the others.
        for c in np.flatnonzero(empty):
            worst = int(np.argmax(dist))
            centres[c] = x[worst]
            dist[worst] = 0.0
        inertia = float(np.sum(weights * dist ** 2))
        # Converged when no point moves, or when the inertia stalls (Lloyd's last
        # iterations shuffle a handful of boundary points for no measurable gain).
        if labels is not None and not empty.any() and (
                np.array_equal(labels, new_labels) or previous - inertia <= 1e-4 * inertia):
            break
        labels, previous = new_labels, inertia
    labels, dist = _assign(x, centres)
    return labels, centres, float(np.sum(weights * dist ** 2))


def _assign(x, centres):
    """Nearest centre of every point and its distance, through one matrix product."""
    sq = (x * x).sum(axis=1)[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(axis=1)
    labels = np.argmin(sq, axis=1)
    dist = np.sqrt(np.maximum(sq[np.arange(len(x)), labels], 0.0))
    return labels.astype(np.int64), dist
