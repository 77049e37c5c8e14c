"""Non-local colour affinities by nearest neighbours over a region of the image (KNN
matting, Chen et al. 2013).

Each pixel of the region is linked to its ``k`` nearest pixels of the region in the
space of its colour and its position scaled by a weight, once per ``(k, weight)`` pair:
a large weight links pixels of like colour nearby, a small one links them across the
region. A thin strand or a faint smear is thereby tied to the pixels elsewhere whose
colour it shares, which the 3x3 windows of the matting Laplacian cannot see.
"""

import numpy as np
import scipy.sparse
import scipy.spatial

from sss_vfx.errors import OptionError

__all__ = ["KNN_NEIGHBOURS", "knn_laplacian"]

#: (neighbours, position weight) of each nearest-neighbour search, as KNN matting's
#: reference implementation (pymatting) sets them; positions are in image heights and
#: widths (0 to 1).
KNN_NEIGHBOURS = ((20, 2.0), (10, 0.1))


def knn_laplacian(image, region, *, neighbours=KNN_NEIGHBOURS):
    """The graph Laplacian of the region's pixels under nearest-neighbour affinities.

    ``W`` links each region pixel to its nearest region pixels in ``(r, g, b, w x, w y)``
    (``x``, ``y`` the pixel's column and row over the image's width and height), made
    symmetric; the Laplacian is ``(D - W) / mean(D)``: symmetric, positive semi-definite,
    rows summing to zero, its diagonal 1 on average (the scale of KNN matting's
    ``I - D^-1 W``).

    Parameters
    ----------
    image : (H, W, 3) float array in [0, 1]
    region : (H, W) bool array, the pixels linked (at least 2)
    neighbours : sequence of (int, float), (k, position weight) per search

    Returns
    -------
    lap : (R, R) scipy.sparse.csr_matrix, float64, over the region's R pixels
    pixels : (R,) int64, their flat indices, row-major

    Raises
    ------
    OptionError
        If the shapes disagree or the region has fewer than 2 pixels.

    Examples
    --------
    >>> img = np.zeros((4, 4, 3)); img[:, 2:] = 1
    >>> lap, pixels = knn_laplacian(img, np.ones((4, 4), bool), neighbours=((3, 1.0),))
    >>> lap.shape, bool(abs(lap.sum(axis=1)).max() < 1e-12)
    ((16, 16), True)
    """
    img = np.asarray(image, np.float64)
    region = np.asarray(region, bool)
    if img.ndim != 3 or img.shape[2] != 3 or region.shape != img.shape[:2]:
        raise OptionError(f"knn_laplacian: image {img.shape} and region {region.shape} "
                          "must be (H, W, 3) and (H, W)")
    pixels = np.flatnonzero(region)
    n = len(pixels)
    if n < 2:
        raise OptionError("knn_laplacian: the region holds fewer than 2 pixels; give a "
                          "larger one")
    h, w = region.shape
    y, x = np.divmod(pixels, w)
    colours = img.reshape(-1, 3)[pixels]
    rows, cols = [], []
    for k, weight in neighbours:
        k = min(int(k), n)
        points = np.column_stack([colours, weight * x / max(w - 1, 1),
                                  weight * y / max(h - 1, 1)])
        # Each query is independent, so the result does not depend on the workers.
        _, nearest = scipy.spatial.cKDTree(points).query(points, k=k, workers=-1)
        rows.append(np.repeat(np.arange(n), k))
        cols.append(np.reshape(nearest, -1))
    i = np.concatenate(rows + cols)
    j = np.concatenate(cols + rows)
    # A search returns each pixel among its own neighbours: no self-link.
    other = i != j
    affinity = scipy.sparse.csr_matrix((np.ones(int(other.sum())), (i[other], j[other])),
                                       shape=(n, n))
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    lap = (scipy.sparse.diags(degree) - affinity) / degree.mean()
    return lap.tocsr(), pixels
