"""What every eigensolver of :mod:`sss_vfx.spectral` shares: the argument check, the
order of the pairs, the signs of the vectors, the residuals, and the largest principal
angle between two solvers' subspaces.

Written against the array namespace of the vectors, so the shift-invert solver (numpy),
the filtered subspace method (torch, any device) and the window's Rayleigh-Ritz step
return pairs in the same order with the same signs.
"""

import math

from sss_vfx.arrays.namespace import device_of, namespace
from sss_vfx.errors import OptionError

__all__ = ["by_magnitude", "check_count", "fixed_signs", "largest_principal_angle",
           "magnitude_order", "residuals"]


def check_count(k, n):
    """Refuse ``k`` eigenpairs of an ``n`` x ``n`` Laplacian unless 1 <= k < n - 1.

    Raises
    ------
    OptionError
        Naming the eigenvector count and the pixels it needs.
    """
    if not 1 <= k < n - 1:
        raise OptionError(f"eigenvectors={k} need an image of more than {k + 1} pixels")


def magnitude_order(values, k=None):
    """Indices of the ``k`` values of smallest magnitude (all when None), by increasing
    ``|value|``; stable, so ties keep their order."""
    xp = namespace(values)
    return xp.argsort(xp.abs(values), stable=True)[:k]


def by_magnitude(values, vectors, k=None):
    """The pairs ordered by :func:`magnitude_order`.

    Parameters
    ----------
    values : (m,) float array
    vectors : (N, m) float array

    Returns
    -------
    values (k,), vectors (N, k)
    """
    rank = magnitude_order(values, k)
    return values[rank], vectors[:, rank]


def fixed_signs(vectors):
    """``vectors`` (N, k) with each column's largest-magnitude entry made positive: the
    solvers' arbitrary signs, made reproducible across solvers, devices and LAPACK
    builds."""
    xp = namespace(vectors)
    k = vectors.shape[1]
    rows = xp.argmax(xp.abs(vectors), axis=0)
    signs = xp.sign(vectors[rows, xp.arange(k, device=device_of(vectors))])
    return vectors * xp.where(signs == 0, 1.0, signs)


def residuals(laplacian, vectors, values):
    """``||L v - lambda v||`` of every pair, (k,).

    Parameters
    ----------
    laplacian : (N, N) scipy.sparse matrix or torch sparse tensor
    vectors : (N, k) float array, values : (k,) float array
    """
    xp = namespace(vectors)
    return xp.linalg.vector_norm(laplacian @ vectors - vectors * values, axis=0)


def largest_principal_angle(reference, vectors):
    """The largest principal angle between the column spans of two bases, radians.

    Computed from its sine, ``||(I - Q_r Q_r^T) Q_v||_2`` for orthonormal bases ``Q_r``
    and ``Q_v`` of the two spans, which stays accurate for tiny angles (from the cosine,
    angles below about 1e-8 read as 0).

    Parameters
    ----------
    reference : (N, k) float array
        A basis of the reference subspace (any full-rank columns).
    vectors : (N, j) float array, j <= k
        A basis of the subspace compared with it, in the same namespace.

    Returns
    -------
    float in [0, pi/2]: 0 when ``vectors`` lie in the reference's span.

    Raises
    ------
    OptionError
        ``vectors`` has more columns than ``reference`` or another row count.
    """
    if vectors.shape[0] != reference.shape[0] or vectors.shape[1] > reference.shape[1]:
        raise OptionError(f"cannot compare a {tuple(vectors.shape)} basis with a "
                          f"{tuple(reference.shape)} reference")
    xp = namespace(reference, vectors)
    q_ref = xp.linalg.qr(reference)[0]
    q_vec = xp.linalg.qr(vectors)[0]
    outside = q_vec - q_ref @ (q_ref.T @ q_vec)
    sine = float(xp.max(xp.linalg.svdvals(outside)))
    return math.asin(min(1.0, sine))
