"""Small test problems shared by the eigensolver and sparsification tests."""

import numpy as np

from sss_vfx import laplacian
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.data import coarse_features, two_region_image


def two_region_problem(shape):
    """A two-region image with a soft edge, coarse features from its alpha, and the
    method's (indefinite) Laplacian with them.

    Returns
    -------
    image (H, W, 3) float64, alpha (H, W), features (H, W, 3) float64, laplacian
    """
    image, alpha = two_region_image(shape, edge_width=3)
    image = image.astype(np.float64)
    features = coarse_features(alpha, scale=4).astype(np.float64)
    lap = laplacian(image, features, superpixels=compute_superpixels(image, n_segments=40))
    return image, alpha, features, lap
