"""Eigenpairs nearest zero by a filtered subspace method: the GPU eigensolver.

The shift-invert solver (:mod:`sss_vfx.spectral.shift_invert`) factorises the shifted
Laplacian, a sparse LU that has no GPU counterpart. Chebyshev-filtered subspace iteration
(Zhou and Saad 2007) needs only products with the sparse matrix: a block ``X`` of
``k + extra`` vectors is multiplied by a Chebyshev polynomial of ``L`` that is bounded by
1 on ``[cut, lambda_max]`` and grows fast below ``cut``, then orthonormalised, and a
Rayleigh-Ritz step diagonalises ``X^T L X``. ``cut`` is the largest Ritz value of the
block, so the filter damps all but the block's own low end; the eigenvalues nearest zero
of the indefinite Laplacian are the lowest ones except for a few small negative ones,
which the block's ``extra`` vectors hold. A warm start (the previous frame's or window's
eigenvectors) makes the first rounds already close, so later frames of a shot take fewer
rounds.

Written against the array namespace of the Laplacian: a torch sparse tensor (CPU or
CUDA) where it is meant to run, or a scipy matrix with numpy.
"""

import numpy as np

from sss_vfx.arrays.namespace import asarray
from sss_vfx.arrays.sparse import gershgorin, sparse_device, sparse_namespace
from sss_vfx.errors import OptionError
from sss_vfx.spectral.checks import check_count, fixed_signs, magnitude_order, residuals

__all__ = ["TOLERANCE", "subspace_eigs"]

#: Residual ``||L v - lambda v||`` below which a pair is converged, relative to the
#: Gershgorin bound of ``||L||``. Eigenvalues then agree with the shift-invert solver
#: to about 1e-10 absolute on the test images, far below the gaps between them.
TOLERANCE = 1e-9


def subspace_eigs(laplacian, k=100, *, start=None, tol=TOLERANCE, degree=40, extra=None,
                  max_rounds=400, info=None, shape=None, block=None):
    """The ``k`` eigenpairs of a symmetric sparse matrix with eigenvalues nearest zero.

    Parameters
    ----------
    laplacian : (N, N) torch sparse CSR tensor or scipy.sparse matrix, symmetric
        Its namespace and device are where the computation runs.
    k : int
        Number of eigenpairs, 1 <= k < N - 1.
    start : (N, j) float array, optional
        Warm start: vectors spanning (approximately) the wanted space, e.g. the previous
        frame's eigenvectors; the first ``min(j, k + extra)`` block columns.
    tol : float
        Convergence: every wanted pair has ``||L v - lambda v|| <= tol * ||L||``.
    degree : int
        Degree of the Chebyshev filter of one round.
    extra : int, optional
        Vectors beyond ``k`` in the block; ``max(16, k // 2)`` when None.
    max_rounds : int
        Rounds at most; the last round's pairs are returned if not converged.
    info : dict, optional
        Receives ``rounds``, ``matvecs`` (block products) and ``residual`` (the largest
        relative residual of the returned pairs).
    shape, block : ignored
        The grid shape and the Lanczos switch of the shift-invert solver, accepted so the
        eigensolvers of every device take the same arguments.

    Returns
    -------
    eigenvalues : (k,) float64, sorted by increasing magnitude
    eigenvectors : (N, k) float64, orthonormal columns

    Raises
    ------
    OptionError
        ``k`` out of range, or ``start`` of the wrong shape.
    """
    xp = sparse_namespace(laplacian)
    lap = laplacian
    n = lap.shape[0]
    check_count(k, n)
    width = min(n - 1, k + (max(16, k // 2) if extra is None else extra))
    norm = gershgorin(lap)
    block = _start_block(lap, n, width, start)
    values, block = _rayleigh_ritz(lap, xp.linalg.qr(block)[0])
    rounds = matvecs = 0
    residual = None
    for rounds in range(1, max_rounds + 1):
        lower = float(values[0]) - 1e-3 * norm
        # The cut must sit above every wanted value: the block's top Ritz value does,
        # unless the block holds too few low values yet (first rounds, cold start).
        cut = float(values[-1])
        block = _chebyshev_filter(lap, block, degree, cut, norm, lower)
        matvecs += degree
        values, block = _rayleigh_ritz(lap, xp.linalg.qr(block)[0])
        wanted = magnitude_order(values, k)
        residual = float(xp.max(residuals(lap, block[:, wanted], values[wanted]))) / norm
        if residual <= tol:
            break
    wanted = magnitude_order(values, k)
    if info is not None:
        info.update(rounds=rounds, matvecs=matvecs, residual=residual)
    return values[wanted], fixed_signs(block[:, wanted])


def _start_block(lap, n, width, start):
    """A fixed pseudo-random block, drawn on the host so it is the same on every device
    and namespace, warm columns first; on the Laplacian's device."""
    xp = sparse_namespace(lap)
    like = xp.empty(0, dtype=xp.float64, device=sparse_device(lap))
    block = asarray(np.random.default_rng(0).standard_normal((n, width)), like)
    if start is not None:
        warm = asarray(start, like, xp.float64)
        if warm.ndim != 2 or warm.shape[0] != n:
            raise OptionError(f"start must have shape ({n}, j), got {tuple(warm.shape)}")
        j = min(warm.shape[1], width)
        block[:, :j] = warm[:, :j]
    return block


def _rayleigh_ritz(lap, q):
    """Ritz values (ascending) and vectors of ``L`` on the span of orthonormal ``q``."""
    xp = sparse_namespace(lap)
    projected = q.T @ (lap @ q)
    values, coefficients = xp.linalg.eigh((projected + projected.T) / 2.0)
    return values, q @ coefficients


def _chebyshev_filter(lap, x, degree, cut, upper, lower):
    """``p(L) x`` for the degree-``degree`` Chebyshev polynomial of ``[cut, upper]``,
    scaled to 1 at ``lower`` (Zhou and Saad's scaled three-term recurrence)."""
    half_width = (upper - cut) / 2.0
    centre = (upper + cut) / 2.0
    sigma = half_width / (lower - centre)
    sigma_1 = sigma
    y = (lap @ x - centre * x) * (sigma_1 / half_width)
    for _ in range(2, degree + 1):
        sigma_next = 1.0 / (2.0 / sigma_1 - sigma)
        y_next = (lap @ y - centre * y) * (2.0 * sigma_next / half_width) \
            - (sigma * sigma_next) * x
        x, y, sigma = y, y_next, sigma_next
    return y
