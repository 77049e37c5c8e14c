"""The full affinity and Laplacian of Semantic Soft Segmentation (DESIGN step 3)."""

from dataclasses import dataclass

import scipy.sparse

from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import matting_affinity
from sss_vfx.graph.superpixel_affinity import colour_affinity, semantic_affinity
from sss_vfx.graph.superpixels import compute_superpixels


@dataclass(frozen=True)
class AffinityWeights:
    """Weights of the three affinities and their parameters (paper defaults)."""

    matting_eps: float = 1e-7
    semantic: float = 0.01
    colour: float = 0.01
    colour_radius: float = 0.2
    superpixels: int = 2500


def laplacian(image, features=None, *, weights=AffinityWeights(), superpixels=None):
    """Laplacian of ``W_matting + w_s W_semantic + w_c W_colour``.

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1]
    features : (H, W, 3) float array in [0, 1], optional
        Preprocessed semantic features; without them the semantic term is off.
    weights : AffinityWeights, optional
    superpixels : Superpixels, optional
        Reused when given, computed from the image otherwise.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Symmetric, zero row sums; indefinite when the semantic term is on.

    Examples
    --------
    >>> import numpy as np
    >>> L = laplacian(np.random.default_rng(0).random((32, 32, 3)))
    >>> abs(L.sum(axis=1)).max() < 1e-9
    True
    """
    if superpixels is None:
        superpixels = compute_superpixels(image, n_segments=weights.superpixels)
    affinity = matting_affinity(image, eps=weights.matting_eps)
    if weights.colour:
        affinity = affinity + weights.colour * colour_affinity(superpixels, weights.colour_radius)
    if features is not None and weights.semantic:
        affinity = affinity + weights.semantic * semantic_affinity(superpixels, features)
    return affinity_to_laplacian(scipy.sparse.csr_matrix(affinity))


def matting_laplacian(image, *, eps=1e-7):
    """Matting Laplacian of closed-form matting alone (3x3 windows).

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1]
    eps : float, optional

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64, symmetric positive semi-definite
    """
    return affinity_to_laplacian(matting_affinity(image, eps=eps))
