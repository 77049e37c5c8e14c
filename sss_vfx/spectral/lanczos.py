"""Block Lanczos: the eigenpairs of largest magnitude of a symmetric operator.

Used on the inverse of the shifted Laplacian (DESIGN step 4), where one application is a
sparse triangular solve. SuperLU solves a block of right-hand sides for well under the
price of one solve per column (its supernodes are read once per block), so a Krylov
basis grown a few columns at a time costs less than ARPACK's one column at a time, even
though a block Krylov space needs somewhat more columns for the same accuracy.

The basis is kept semi-orthogonal: each new block is orthogonalised against the previous
two by the three-term recurrence, and against the whole basis (classical Gram-Schmidt,
repeated for a column that loses most of its norm) every other step. By Simon's theorem
on semi-orthogonal Lanczos (1984) the block tridiagonal matrix then stays the projection
of the operator to working precision, so the Ritz pairs are as accurate as with full
reorthogonalisation at half the cost of the step that reads the whole basis. The Ritz
vectors are checked for orthonormality and re-orthonormalised; if they lost it, the
iteration is run again with full reorthogonalisation. The basis is never restarted: the
iteration stops once the wanted Ritz pairs have converged, or gives up at a basis size
the caller bounds.
"""

import numpy as np
import scipy.linalg

from sss_vfx.spectral.threads import by_pieces

#: Columns per Lanczos step. On docia (65,536 px, k=100) a block of 4 converged at 284
#: columns, of 8 at 344, of 12 at 396, while SuperLU's time per column fell from 36-40 ms
#: (one) to 17 ms (four) and 14 ms (eight): blocks of 4 to 12 cost the same within noise,
#: and 4 keeps the basis, and its memory, smallest.
BLOCK = 4
#: Converged when ``||A x - theta x|| <= TOL * |theta|`` for every wanted Ritz pair; on
#: the Laplacian this gives residuals ``||L v - lambda v||`` of about 1e-11.
TOL = 1e-11
#: A second Gram-Schmidt pass for a block whose column kept less than this share of its
#: norm (Daniel, Gragg, Kaufman and Stewart's criterion).
REORTHOGONALISE_BELOW = 0.7
#: Steps between two orthogonalisations against the whole basis. On docia (65,536 px,
#: k=100) every second step: the same 288 columns, the basis orthogonal to 3e-10
#: (full: 3e-15), the Ritz subspace equal to the full one to 4e-10 in principal-angle
#: cosines, and the orthogonalisation's time halved (2.5 s to 1.3 s CPU); every third
#: step lost orthogonality (the null vector's huge Ritz value amplifies a skipped
#: block's error 1e5-fold in one step).
REORTHOGONALISE_EVERY = 2
#: The fewest basis columns in a piece of the orthogonalisation's coefficients.
COLUMNS_PER_PIECE = 16
#: Largest ``|V^T V - I|`` of the Ritz vectors accepted from a semi-orthogonal basis
#: (about sqrt(machine epsilon)); above it the iteration is run again in full.
ORTHONORMALITY = 1e-8


def block_lanczos(apply, n, k, *, max_columns, block=BLOCK, tol=TOL, seed=0,
                  every=REORTHOGONALISE_EVERY):
    """The ``k`` eigenpairs of largest magnitude of a symmetric operator.

    Parameters
    ----------
    apply : callable, (n, b) float64 -> (n, b) float64
        The operator on a block of vectors; symmetric.
    n : int
        Its size.
    k : int
        Pairs wanted, 1 <= k.
    max_columns : int
        Largest Krylov basis tried, at most ``n``; more than ``k + block``.
    block : int
        Columns added per step.
    tol : float
        Relative residual at which a Ritz pair counts as converged.
    seed : int
        Seed of the random start block: the same seed gives the same result.
    every : int
        Steps between two orthogonalisations against the whole basis; 1 = full
        reorthogonalisation (what a run that lost orthonormality falls back to).

    Returns
    -------
    ``(theta, vectors)``, ``theta`` (k,) float64 sorted by decreasing magnitude and
    ``vectors`` (n, k) float64 with orthonormal columns; or None when the basis reached
    ``max_columns`` (or became rank-deficient) before every pair converged, with full
    reorthogonalisation too (a semi-orthogonal run that fails is run again in full).
    """
    if not k + block < max_columns <= n:
        raise ValueError(f"max_columns={max_columns} must lie in ({k + block}, {n}]")
    found = _lanczos(apply, n, k, max_columns, block, tol, seed, every)
    orthonormal = None if found is None else _orthonormalised(found[1])
    if orthonormal is not None:
        return found[0], orthonormal
    if every > 1:
        # Lost orthogonality shows as Ritz vectors that are not orthonormal, or as
        # ghost copies of converged pairs that keep the others from converging.
        return block_lanczos(apply, n, k, max_columns=max_columns, block=block, tol=tol,
                             seed=seed, every=1)
    return None


def _lanczos(apply, n, k, max_columns, block, tol, seed, every):
    """The iteration of :func:`block_lanczos`: converged ``(theta, vectors)`` or None."""
    basis = np.empty((n, max_columns), order="F")
    start = np.random.default_rng(seed).standard_normal((n, block))
    basis[:, :block] = np.linalg.qr(start)[0]
    diagonal, lower = [], []
    previous = coupling = None
    size = block
    while size + block <= max_columns:
        current = basis[:, size - block:size]
        w = apply(np.ascontiguousarray(current))
        alpha = current.T @ w
        diagonal.append((alpha + alpha.T) / 2.0)
        w -= current @ diagonal[-1]
        if previous is not None:
            w -= previous @ coupling.T
        if len(diagonal) % every == 0:
            _orthogonalise(w, basis[:, :size])
        step, beta = np.linalg.qr(w)
        if size >= k + block:
            theta, ritz = _ritz_pairs(diagonal, lower, k)
            residual = np.linalg.norm(beta @ ritz[-block:], axis=0)
            if np.all(residual <= tol * np.abs(theta)):
                return theta, basis[:, :size] @ ritz
        if np.min(np.abs(np.diag(beta))) <= 1e-12 * np.abs(diagonal[0]).max():
            return None
        lower.append(beta)
        previous, coupling = current, beta
        basis[:, size:size + block] = step
        size += block
    return None


def _orthonormalised(vectors):
    """``vectors`` (n, k) made orthonormal by a Cholesky QR step, or None when they are
    farther than :data:`ORTHONORMALITY` from it (a basis that lost semi-orthogonality)."""
    gram = vectors.T @ vectors
    if not np.abs(gram - np.eye(gram.shape[0])).max() <= ORTHONORMALITY:
        return None
    upper = np.linalg.cholesky(gram).T
    return scipy.linalg.solve_triangular(upper, vectors.T, trans="T").T


def _orthogonalise(w, basis):
    """Remove ``basis``'s span from ``w`` (n, b) in place; ``basis`` (n, m) orthonormal."""
    before = np.linalg.norm(w, axis=0)
    _remove_span(w, basis)
    if np.any(np.linalg.norm(w, axis=0) < REORTHOGONALISE_BELOW * before):
        _remove_span(w, basis)


def _remove_span(w, basis):
    """``w -= basis @ (basis.T @ w)``, the same bits, the products' pieces on the cores:
    the coefficients by pieces of the basis's columns, the update by pieces of rows."""
    coefficients = np.empty((basis.shape[1], w.shape[1]))

    def project(columns):
        coefficients[columns] = basis[:, columns].T @ w

    def update(rows):
        w[rows] -= basis[rows] @ coefficients

    by_pieces(project, basis.shape[1], w, least=COLUMNS_PER_PIECE)
    by_pieces(update, w.shape[0], w)


def _ritz_pairs(diagonal, lower, k):
    """The ``k`` eigenpairs of largest magnitude of the block tridiagonal Lanczos matrix.

    ``diagonal``: s (b, b) blocks; ``lower``: s-1 (b, b) blocks below the diagonal.
    Returns theta (k,) by decreasing magnitude and coefficients (s*b, k).
    """
    b, steps = diagonal[0].shape[0], len(diagonal)
    t = np.zeros((steps * b, steps * b))
    for i, a in enumerate(diagonal):
        t[i * b:(i + 1) * b, i * b:(i + 1) * b] = a
    for i, beta in enumerate(lower):
        t[(i + 1) * b:(i + 2) * b, i * b:(i + 1) * b] = beta
        t[i * b:(i + 1) * b, (i + 1) * b:(i + 2) * b] = beta.T
    theta, coefficients = np.linalg.eigh(t)
    top = np.argsort(-np.abs(theta), kind="stable")[:k]
    return theta[top], coefficients[:, top]
