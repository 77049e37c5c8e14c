"""Initial hard segments that start the constrained sparsification (DESIGN step 5).

Written against the array namespace of the eigenvectors (numpy, or torch on any device).
"""

from sss_vfx.arrays.namespace import as_array, asarray, namespace
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
    eigenvectors = as_array(eigenvectors)
    xp = namespace(eigenvectors)
    eigenvalues = asarray(eigenvalues, eigenvectors)
    count = min(count, eigenvectors.shape[1] - 1)
    scale = 1.0 / xp.sqrt(xp.maximum(xp.abs(eigenvalues[1:count + 1]), 1e-12))
    return eigenvectors[:, 1:count + 1] * scale


def initial_segments(eigenvalues, eigenvectors, features, k, *, embedding_weight=0.0, seed=0):
    """k-means hard segments on the features, or on the spectral embedding without them.

    Parameters
    ----------
    eigenvalues : (M,) float array
    eigenvectors : (N, M) float array or tensor
        Its namespace and device are where the computation runs.
    features : (H, W, 3) or (N, 3) float array in [0, 1], or None
    k : int
        Segments asked for; fewer come back when the points hold fewer distinct values.
    embedding_weight : float
        With features: 0 clusters the features alone (the paper); above 0 the spectral
        embedding, normalised to the features' total variance, joins them with this
        weight.
    seed : int

    Returns
    -------
    (N,) int64 labels 0..k'-1, of the namespace of ``eigenvectors``

    Raises
    ------
    FeatureError
        If the features leave a single segment.
    """
    eigenvectors = as_array(eigenvectors)
    xp = namespace(eigenvectors)
    embedding = spectral_embedding(eigenvalues, eigenvectors)
    if features is None:
        points = embedding
    else:
        points = xp.reshape(asarray(features, embedding, xp.float64), (-1, 3))
        if embedding_weight > 0:
            points = join_scaled(points, embedding, embedding_weight)
    labels, _ = kmeans(points, k, seed=seed)
    if int(xp.max(labels)) < 1:
        raise FeatureError("the features hold a single value everywhere, so they cannot "
                           "separate layers; pass real semantic features or none")
    return labels
