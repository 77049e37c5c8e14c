"""Initial hard segments that start the constrained sparsification (DESIGN step 5)."""

import numpy as np

from sss_vfx.errors import FeatureError
from sss_vfx.segments.kmeans import join_scaled, kmeans


def spectral_embedding(eigenvalues, eigenvectors, count=20):
    """Spectral matting's embedding: eigenvectors 2..count+1 scaled by 1/sqrt|lambda|.

    Parameters
    ----------
    eigenvalues : (M,) float array, sorted by magnitude
    eigenvectors : (N, M) float array
    count : int

    Returns
    -------
    (N, count') float64, count' = min(count, M - 1)
    """
    count = min(count, eigenvectors.shape[1] - 1)
    scale = 1.0 / np.sqrt(np.maximum(np.abs(eigenvalues[1:count + 1]), 1e-12))
    return eigenvectors[:, 1:count + 1] * scale


def initial_segments(eigenvalues, eigenvectors, features, k, *, embedding_weight=0.0, seed=0):
    """k-means hard segments on the features, or on the spectral embedding without them.

    Parameters
    ----------
    eigenvalues : (M,) float array
    eigenvectors : (N, M) float array
    features : (H, W, 3) float array in [0, 1], or None
    k : int
        Segments asked for; fewer come back when the points hold fewer distinct values.
    embedding_weight : float
        With features: 0 clusters the features alone (the paper); above 0 the spectral
        embedding, normalised to the features' total variance, joins them with this
        weight.
    seed : int

    Returns
    -------
    (N,) int64 labels 0..k'-1

    Raises
    ------
    FeatureError
        If the features leave a single segment.
    """
    embedding = spectral_embedding(eigenvalues, eigenvectors)
    if features is None:
        points = embedding
    else:
        points = np.asarray(features, np.float64).reshape(-1, 3)
        if embedding_weight > 0:
            points = join_scaled(points, embedding, embedding_weight)
    labels, _ = kmeans(points, k, seed=seed)
    if labels.max() < 1:
        raise FeatureError("the features hold a single value everywhere, so they cannot "
                           "separate layers; pass real semantic features or none")
    return labels
