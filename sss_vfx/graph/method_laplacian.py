"""The full affinity and Laplacian of Semantic Soft Segmentation (DESIGN step 3): the
float64 numpy reference.

The device versions (OpenCL kernels, and the choice between devices) live in
:mod:`sss_vfx.accel.builders`; they must equal this one within float tolerance.
"""

import scipy.sparse

from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import check_matting_image, matting_affinity
from sss_vfx.graph.superpixel_affinity import colour_affinity, semantic_affinity
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.options import AffinityWeights

__all__ = ["AffinityWeights", "method_laplacian"]


def method_laplacian(image, features=None, *, weights=AffinityWeights(), superpixels=None):
    """Laplacian of ``W_matting + w_s W_semantic + w_c W_colour``, in numpy.

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1], H, W >= 3
    features : (H, W, 3) float array in [0, 1], optional
        Preprocessed semantic features; without them the semantic term is off.
    weights : AffinityWeights, optional
    superpixels : Superpixels, optional
        Reused when given, computed from the image otherwise.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Symmetric, zero row sums; indefinite when the semantic term is on.

    Raises
    ------
    InputError
        Not an (H, W, 3) image of at least 3x3 pixels, or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> L = method_laplacian(np.random.default_rng(0).random((32, 32, 3)))
    >>> bool(abs(L.sum(axis=1)).max() < 1e-9)
    True
    """
    image = check_matting_image(image)
    if superpixels is None:
        superpixels = compute_superpixels(image, n_segments=weights.superpixels)
    affinity = matting_affinity(image, eps=weights.matting_eps)
    if weights.colour:
        affinity = affinity + weights.colour * colour_affinity(superpixels,
                                                               weights.colour_radius)
    if features is not None and weights.semantic:
        affinity = affinity + weights.semantic * semantic_affinity(superpixels, features)
    return affinity_to_laplacian(scipy.sparse.csr_matrix(affinity))
