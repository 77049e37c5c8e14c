"""k-means, initial segments and grouping on a torch device (twins of
:mod:`sss_vfx.segments.kmeans`, :mod:`~sss_vfx.segments.initial` and
:mod:`~sss_vfx.segments.grouping`).

Same algorithm and seed semantics as the reference: the distinct points weighted by their
counts, k-means++ seeding of several restarts on a fixed strided sample, the best
refined by Lloyd iterations on all points, labels numbered by first appearance. The
seeding draws from numpy's generator on the host (a few thousand sample points: the
draws, hence the labels, are the reference's); the Lloyd iterations on all points run on
the device.
"""

import numpy as np

from sss_vfx.accel.torch_common import (as_tensor, given_tensor, import_torch, returned,
                                        torch_device)
from sss_vfx.errors import FeatureError
from sss_vfx.segments.kmeans import SAMPLE_FOR_RESTARTS, _seed_plus_plus

__all__ = ["torch_group_segments", "torch_initial_segments", "torch_kmeans"]


def torch_kmeans(points, k, *, seed=0, restarts=3, iterations=100, device=None):
    """Cluster points into at most ``k`` groups; twin of
    :func:`sss_vfx.segments.kmeans.kmeans`.

    Parameters
    ----------
    points : (N, D) float array or tensor
    k, seed, restarts, iterations : as the reference
    device : torch.device or str, optional

    Returns
    -------
    labels : (N,) int64, values 0..k'-1, numbered in order of first appearance
    centres : (k', D) float64
        Tensors on ``device`` when ``points`` is a tensor.
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(points)
    x, inverse, counts = torch.unique(as_tensor(points, dev, torch.float64), dim=0,
                                      return_inverse=True, return_counts=True)
    weights = counts.to(torch.float64)
    k = int(min(k, x.shape[0]))
    rng = np.random.default_rng(seed)
    step = max(1, x.shape[0] // SAMPLE_FOR_RESTARTS)
    sample_x, sample_w = x[::step], weights[::step]
    host_x, host_w = sample_x.cpu().numpy(), sample_w.cpu().numpy()
    best = None
    for _ in range(max(1, restarts)):
        centres = _seed_plus_plus(host_x, host_w, min(k, len(host_x)), rng)
        _, centres, inertia = _lloyd(sample_x, sample_w, as_tensor(centres, dev), iterations)
        if best is None or inertia < best[1]:
            best = (centres, inertia)
    labels, centres, _ = _lloyd(x, weights, best[0], iterations)
    labels = labels[inverse]
    used, first = _first_appearance(labels)
    relabel = torch.empty(centres.shape[0], dtype=torch.int64, device=dev)
    relabel[used] = torch.arange(used.shape[0], device=dev)
    return returned(relabel[labels], tensors), returned(centres[used], tensors)


def _first_appearance(labels):
    """Used labels ordered by their first index in ``labels`` (and those indices)."""
    torch = import_torch()
    used = torch.unique(labels)
    first = torch.full((int(labels.max()) + 1,), labels.shape[0], dtype=torch.int64,
                       device=labels.device)
    first.scatter_reduce_(0, labels, torch.arange(labels.shape[0], device=labels.device),
                          reduce="amin")
    order = torch.argsort(first[used], stable=True)
    return used[order], first[used][order]


def _lloyd(x, weights, centres, iterations):
    torch = import_torch()
    labels = None
    previous = float("inf")
    k = centres.shape[0]
    for _ in range(iterations):
        new_labels, dist = _assign(x, centres)
        counts = torch.zeros(k, dtype=torch.float64, device=x.device).index_add_(
            0, new_labels, weights)
        sums = torch.zeros((k, x.shape[1]), dtype=torch.float64, device=x.device).index_add_(
            0, new_labels, weights[:, None] * x)
        empty = counts == 0
        centres = torch.where(empty[:, None], centres,
                              sums / torch.where(empty, 1.0, counts)[:, None])
        for c in torch.nonzero(empty).ravel().tolist():
            worst = int(torch.argmax(dist))
            centres[c] = x[worst]
            dist[worst] = 0.0
        inertia = float(torch.sum(weights * dist ** 2))
        if labels is not None and not bool(empty.any()) and (
                torch.equal(labels, new_labels) or previous - inertia <= 1e-4 * inertia):
            break
        labels, previous = new_labels, inertia
    labels, dist = _assign(x, centres)
    return labels, centres, float(torch.sum(weights * dist ** 2))


def _assign(x, centres):
    """Nearest centre of every point and its distance, through one matrix product."""
    torch = import_torch()
    sq = (x * x).sum(dim=1)[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(dim=1)
    labels = torch.argmin(sq, dim=1)
    dist = torch.sqrt(torch.clamp(sq.gather(1, labels[:, None])[:, 0], min=0.0))
    return labels, dist


def torch_initial_segments(eigenvalues, eigenvectors, features, k, *, embedding_weight=0.0,
                           seed=0, device=None):
    """Twin of :func:`sss_vfx.segments.initial.initial_segments`.

    Parameters
    ----------
    eigenvalues : (M,) float array or tensor
    eigenvectors : (N, M) float array or tensor
    features : (H, W, 3) or (N, 3) float array or tensor in [0, 1], or None
    k, embedding_weight, seed : as the reference
    device : torch.device or str, optional

    Returns
    -------
    (N,) int64 labels 0..k'-1 (a tensor when the eigenvectors are one)

    Raises
    ------
    FeatureError
        If the features leave a single segment.
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(eigenvectors)
    values = as_tensor(eigenvalues, dev, torch.float64)
    vectors = as_tensor(eigenvectors, dev, torch.float64)
    count = min(20, vectors.shape[1] - 1)
    scale = 1.0 / torch.sqrt(torch.clamp(values[1:count + 1].abs(), min=1e-12))
    embedding = vectors[:, 1:count + 1] * scale
    if features is None:
        points = embedding
    else:
        points = as_tensor(features, dev, torch.float64).reshape(-1, 3)
        if embedding_weight > 0:
            points = _join_scaled(points, embedding, embedding_weight)
    labels, _ = torch_kmeans(points, k, seed=seed, device=dev)
    if int(labels.max()) < 1:
        raise FeatureError("the features hold a single value everywhere, so they cannot "
                           "separate layers; pass real semantic features or none")
    return returned(labels, tensors)


def _join_scaled(points, extra, weight):
    """Twin of :func:`sss_vfx.segments.kmeans.join_scaled` on tensors."""
    torch = import_torch()
    ratio = points.var(dim=0, unbiased=False).sum() / torch.clamp(
        extra.var(dim=0, unbiased=False).sum(), min=1e-300)
    return torch.cat([points, extra * (torch.sqrt(ratio) * weight)], dim=1)


def torch_group_segments(segments, descriptors, groups=5, *, seed=0, device=None):
    """Twin of :func:`sss_vfx.segments.grouping.group_segments`.

    Parameters
    ----------
    segments : (N, K) float array or tensor, summing to 1 per pixel
    descriptors : (N, D) float array or tensor
    groups, seed : as the reference
    device : torch.device or str, optional

    Returns
    -------
    layers : (N, G) float64 (a tensor when ``segments`` is one)
    assignment : (K,) int64 numpy array, the group of each segment
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(segments)
    seg = as_tensor(segments, dev, torch.float64)
    weights = seg.clamp(min=0.0)
    totals = weights.sum(dim=0).clamp(min=1e-12)
    means = (weights.T @ as_tensor(descriptors, dev, torch.float64)) / totals[:, None]
    # K means of a few dimensions: the reference's own k-means, on the host.
    from sss_vfx.segments.kmeans import kmeans
    assignment, _ = kmeans(means.cpu().numpy(), min(groups, seg.shape[1]), seed=seed,
                           restarts=10)
    index = as_tensor(assignment, dev, torch.int64)
    layers = torch.zeros((seg.shape[0], int(assignment.max()) + 1), dtype=torch.float64,
                         device=dev).index_add_(1, index, seg)
    return returned(layers, tensors), assignment
