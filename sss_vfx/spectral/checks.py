"""What every eigensolver of :mod:`sss_vfx.spectral` shares: the argument check, the
order of the pairs, the signs of the vectors and the residuals.

Written against the array namespace of the vectors, so the shift-invert solver (numpy),
the filtered subspace method (torch, any device) and the window's Rayleigh-Ritz step
return pairs in the same order with the same signs.
"""

from sss_vfx.arrays.namespace import device_of, namespace
from sss_vfx.errors import OptionError

__all__ = ["by_magnitude", "check_count", "fixed_signs", "magnitude_order", "residuals"]


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
