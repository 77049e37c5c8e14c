"""Semantic and non-local colour affinities between superpixels (DESIGN step 3).

Both are defined between superpixels and placed in the pixel graph between the two
centroid pixels, so they add a few thousand long-range edges to the matting graph.
"""

import numpy as np
import scipy.sparse
import scipy.spatial
from scipy.special import erf


def semantic_affinity_values(feature_a, feature_b):
    """``erf(20 ((1 - ||f_s - f_t||) - 0.85))``, in [-1, 1].

    Parameters
    ----------
    feature_a, feature_b : (E, C) float arrays
        Mean features of the two superpixels of each pair, values in [0, 1].

    Returns
    -------
    (E,) float64
    """
    dist = np.linalg.norm(np.asarray(feature_a, float) - np.asarray(feature_b, float), axis=1)
    return erf(20.0 * ((1.0 - dist) - 0.85))


def colour_affinity_values(colour_a, colour_b):
    """``(erf(50 ((1 - ||c_s - c_t||) - 0.95)) + 1) / 2``, in [0, 1].

    Parameters
    ----------
    colour_a, colour_b : (E, 3) float arrays
        Mean colours, values in [0, 1].

    Returns
    -------
    (E,) float64
    """
    dist = np.linalg.norm(np.asarray(colour_a, float) - np.asarray(colour_b, float), axis=1)
    return (erf(50.0 * ((1.0 - dist) - 0.95)) + 1.0) / 2.0


def nearby_pairs(superpixels, radius=0.2):
    """Pairs of superpixels whose centroids lie within ``radius`` of each other.

    Coordinates are normalised by image height and width, so 0.2 is a fifth of the frame.

    Returns
    -------
    (E, 2) int64, pairs (s, t) with s < t
    """
    h, w = superpixels.labels.shape
    points = superpixels.centroids / np.array([h, w], dtype=np.float64)
    pairs = scipy.spatial.cKDTree(points).query_pairs(radius, output_type="ndarray")
    return np.sort(pairs.astype(np.int64), axis=1)


def pairs_to_pixel_affinity(superpixels, pairs, values):
    """Place superpixel-pair affinities between centroid pixels.

    Parameters
    ----------
    superpixels : Superpixels
    pairs : (E, 2) int array
    values : (E,) float array

    Returns
    -------
    scipy.sparse.csr_matrix, (N, N) symmetric, N = H * W
    """
    n = superpixels.labels.size
    pix = superpixels.centroid_pixels
    i, j = pix[pairs[:, 0]], pix[pairs[:, 1]]
    # Two superpixels can round to the same centroid pixel; such an edge is a self-loop
    # and cancels in the Laplacian, so it is dropped here.
    keep = i != j
    i, j, v = i[keep], j[keep], np.asarray(values, float)[keep]
    coo = scipy.sparse.coo_matrix((np.concatenate([v, v]), (np.concatenate([i, j]),
                                   np.concatenate([j, i]))), shape=(n, n))
    return coo.tocsr()


def semantic_affinity(superpixels, features):
    """Semantic affinity between adjacent superpixels, at centroid pixels.

    Parameters
    ----------
    superpixels : Superpixels
    features : (H, W, C) float array, values in [0, 1]

    Returns
    -------
    scipy.sparse.csr_matrix, (N, N), values in [-1, 1]
    """
    means = superpixels.mean_of(features)
    pairs = superpixels.adjacency
    values = semantic_affinity_values(means[pairs[:, 0]], means[pairs[:, 1]])
    return pairs_to_pixel_affinity(superpixels, pairs, values)


def colour_affinity(superpixels, radius=0.2):
    """Non-local colour affinity between nearby superpixels, at centroid pixels.

    Parameters
    ----------
    superpixels : Superpixels
    radius : float
        Maximum centroid distance, in units of the image size.

    Returns
    -------
    scipy.sparse.csr_matrix, (N, N), values in [0, 1]
    """
    pairs = nearby_pairs(superpixels, radius)
    c = superpixels.mean_colour
    values = colour_affinity_values(c[pairs[:, 0]], c[pairs[:, 1]])
    return pairs_to_pixel_affinity(superpixels, pairs, values)
