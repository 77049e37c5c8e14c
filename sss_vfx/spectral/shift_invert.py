"""Eigenpairs nearest zero by shift-invert Lanczos: the CPU eigensolver (DESIGN step 4).

The Laplacian is indefinite once the semantic affinity is in, so the target is the
eigenvalues nearest zero, found by shift-invert Lanczos around a tiny shift: block
Lanczos (:mod:`sss_vfx.spectral.lanczos`), with ARPACK where the image is too small for
it or it does not converge. The shifted matrix is factorised once; its fill-in decides the cost,
so pixels are ordered by nested dissection of the image grid (separators two pixels
wide, the reach of the 25-neighbour stencil), with the few pixels carrying long-range
superpixel edges last.
"""

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from sss_vfx.spectral.checks import by_magnitude, check_count, fixed_signs
from sss_vfx.spectral.lanczos import BLOCK as LANCZOS_BLOCK
from sss_vfx.spectral.lanczos import block_lanczos
from sss_vfx.spectral.threads import single_blas_thread

#: Shift of the shift-invert step: the Laplacian is singular (constant null vector), so
#: the factorised matrix is moved off zero by much less than any eigenvalue gap we need.
SHIFT = -1e-7
#: Separator width, in pixels, of the ordering of a window of frames.
WINDOW_REACH = 4
#: Largest block Lanczos basis, in multiples of k (docia, k=100: 2.84 k; at least 16
#: blocks); past it, or on images with fewer than BLOCK_MIN_PIXELS_PER_COLUMN pixels per
#: basis column, ARPACK.
BLOCK_BASIS = 5
BLOCK_MIN_PIXELS_PER_COLUMN = 8


def grid_dissection_order(shape, long_range=(), leaf=8, separator=2):
    """Nested-dissection ordering of the pixels of an image grid.

    Parameters
    ----------
    shape : (int, int) or (int, int, int)
        (H, W), or (F, H, W) for a window of F frames stacked frame after frame: the
        grid is dissected in (H, W) and the F pixels at one grid position are kept
        together, as temporal edges join them.
    long_range : sequence of int, optional
        Pixels with edges outside the grid stencil; they are ordered last.
    leaf : int
        Blocks no larger than this on both sides are not split further.
    separator : int
        Width of the separators, at least the stencil's reach.

    Returns
    -------
    (H*W,) int64 permutation: position -> pixel index.
    """
    frames, h, w = (1, *shape) if len(shape) == 2 else shape
    parts = []
    stack = [(0, h, 0, w, False)]
    # Iterative post-order: a region is split into (first, second, separator), and the
    # separator is emitted after both halves.
    while stack:
        y0, y1, x0, x1, emit = stack.pop()
        hh, ww = y1 - y0, x1 - x0
        if emit or (hh <= leaf and ww <= leaf):
            ys, xs = np.mgrid[y0:y1, x0:x1]
            parts.append((ys * w + xs).ravel())
            continue
        if hh >= ww:
            m = y0 + (hh - separator) // 2
            stack += [(m, m + separator, x0, x1, True), (m + separator, y1, x0, x1, False),
                      (y0, m, x0, x1, False)]
        else:
            m = x0 + (ww - separator) // 2
            stack += [(y0, y1, m, m + separator, True), (y0, y1, m + separator, x1, False),
                      (y0, y1, x0, m, False)]
    order = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if frames > 1:
        order = (order[:, None] + np.arange(frames)[None, :] * (h * w)).ravel()
    long_range = np.unique(np.asarray(long_range, dtype=np.int64))
    if long_range.size:
        is_long = np.zeros(frames * h * w, bool)
        is_long[long_range] = True
        order = np.concatenate([order[~is_long[order]], long_range])
    return order.astype(np.int64)


def long_range_pixels(matrix, shape, reach=2):
    """Pixels with an edge reaching farther than ``reach`` grid steps.

    Parameters
    ----------
    matrix : (N, N) scipy.sparse matrix
    shape : (int, int) or (int, int, int)
        (H, W) with N = H*W, or (F, H, W) for F stacked frames, N = F*H*W: distances
        are measured between grid positions, whatever the frames.
    reach : int
        2 is the 25-neighbour stencil of the matting affinity.

    Returns
    -------
    (P,) int64, sorted pixel indices
    """
    coo = scipy.sparse.coo_matrix(matrix)
    h, w = shape[-2:]
    row, col = coo.row % (h * w), coo.col % (h * w)
    far = ((np.abs(row // w - col // w) > reach) | (np.abs(row % w - col % w) > reach))
    return np.unique(np.concatenate([coo.row[far], coo.col[far]])).astype(np.int64)


#: ARPACK's relative accuracy of the shift-inverted Ritz values; 0 = machine precision.
#: On docia at 65,536 px (k=100) 1e-6 stops at the first restart, 202 solves instead of
#: 253, with eigenvalues equal to 7e-11 (relative), residuals ||L v - lambda v|| <= 1e-10
#: and all principal-angle cosines 1 to 8 digits (on a DAVIS frame at 341x191 both need
#: 253). It stays 0: the later stages amplify even such differences, and on the
#: alpha_stills benchmark tol=1e-6 moved the mean SAD by -3 % and, with a sampled
#: constrained step, +7 % (GT02 and GT04 flip between two layerings).
ARPACK_TOL = 0.0


def smallest_magnitude_eigs(laplacian, k=100, *, shape=None, tol=ARPACK_TOL, block=True,
                            start=None):
    """The ``k`` eigenpairs of a symmetric matrix with eigenvalues nearest zero.

    Parameters
    ----------
    laplacian : (N, N) scipy.sparse matrix, symmetric
    k : int
        Number of eigenpairs, 1 <= k < N.
    shape : (int, int) or (int, int, int), optional
        Image (H, W) with H*W = N, or a window of frames (F, H, W) with F*H*W = N;
        enables the grid ordering that keeps the factorisation cheap. Without it
        SuperLU's own ordering is used.
    tol : float
        ARPACK relative accuracy; 0 means machine precision (see :data:`ARPACK_TOL`;
        1e-6 needs up to 20 % fewer solves for the same eigenpairs to about 1e-10).
    block : bool
        Try block Lanczos first (residuals about 1e-11 rather than ARPACK's 1e-13, the
        same subspace to 1e-15 in principal-angle cosines); False: ARPACK only.
    start : ignored
        Warm-start vectors, which a shift-invert solver has no use for; accepted so the
        eigensolvers of every device take the same arguments.

    Returns
    -------
    eigenvalues : (k,) float64, sorted by increasing magnitude
    eigenvectors : (N, k) float64, orthonormal columns
    """
    n = laplacian.shape[0]
    check_count(k, n)
    if shape is not None:
        # Temporal edges follow the motion: wider separators keep small motion inside
        # the dissection, and only fast-moving pixels go last.
        reach = 2 if len(shape) == 2 else WINDOW_REACH
        order = grid_dissection_order(shape, long_range_pixels(laplacian, shape, reach),
                                      separator=reach)
        matrix = scipy.sparse.csc_matrix(laplacian)[order][:, order]
        permc = "NATURAL"
    else:
        order = None
        matrix = scipy.sparse.csc_matrix(laplacian)
        permc = "MMD_AT_PLUS_A"
    shifted = (matrix - SHIFT * scipy.sparse.identity(n, format="csc")).tocsc()
    lu = scipy.sparse.linalg.splu(shifted, permc_spec=permc, diag_pivot_thresh=0.0,
                                  options=dict(SymmetricMode=True))
    found = None
    columns = max(BLOCK_BASIS * k, k + 16 * LANCZOS_BLOCK)
    if block and columns * BLOCK_MIN_PIXELS_PER_COLUMN <= n:
        # One BLAS thread: the result is then the same bits whatever the thread count
        # (farm workers run one), and small products do not stall on a busy machine.
        with single_blas_thread():
            found = block_lanczos(lu.solve, n, k, max_columns=columns)
    if found is not None:
        values, vectors = SHIFT + 1.0 / found[0], found[1]
    else:
        inverse = scipy.sparse.linalg.LinearOperator((n, n), matvec=lu.solve,
                                                     dtype=np.float64)
        # A fixed start vector makes ARPACK, and so the whole method, deterministic.
        v0 = np.full(n, 1.0 / np.sqrt(n)) + np.sin(np.arange(n)) * 1e-3
        values, vectors = scipy.sparse.linalg.eigsh(matrix, k=k, sigma=SHIFT, which="LM",
                                                    OPinv=inverse, v0=v0, tol=tol)
    values, vectors = by_magnitude(values, vectors)
    if order is not None:
        unpermuted = np.empty_like(vectors)
        unpermuted[order] = vectors
        vectors = unpermuted
    return values, fixed_signs(vectors)
