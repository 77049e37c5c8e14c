"""Eigenpairs nearest zero of the Laplacian on a torch device (twin of
:mod:`sss_vfx.spectral`).

The numpy reference factorises the shifted Laplacian (a sparse LU, single-threaded, no
GPU twin). Here Chebyshev-filtered subspace iteration (Zhou and Saad 2007) needs only
products with the sparse matrix: a block ``X`` of ``k + extra`` vectors is multiplied by
a Chebyshev polynomial of ``L`` that is bounded by 1 on ``[cut, lambda_max]`` and grows
fast below ``cut``, then orthonormalised, and a Rayleigh-Ritz step diagonalises
``X^T L X``. ``cut`` is the largest Ritz value of the block, so the filter damps all but
the block's own low end; the eigenvalues nearest zero of the indefinite Laplacian are the
lowest ones except for a few small negative ones, which the block's ``extra`` vectors
hold. A warm start (the previous frame's or window's eigenvectors) makes the first
rounds already close, so later frames of a shot take fewer rounds.
"""

from sss_vfx.accel.torch_common import (as_tensor, given_tensor, import_torch, returned,
                                        sparse_csr, torch_device)
from sss_vfx.errors import OptionError

__all__ = ["torch_smallest_magnitude_eigs", "torch_window_eigs"]

#: Residual ``||L v - lambda v||`` below which a pair is converged, relative to the
#: Gershgorin bound of ``||L||``. Eigenvalues then agree with the shift-invert reference
#: to about 1e-10 absolute on the test images, far below the gaps between them.
TOLERANCE = 1e-9


def torch_smallest_magnitude_eigs(laplacian, k=100, *, device=None, start=None,
                                  tol=TOLERANCE, degree=40, extra=None, max_rounds=400,
                                  info=None, shape=None):
    """The ``k`` eigenpairs of a symmetric sparse matrix with eigenvalues nearest zero.

    Twin of :func:`sss_vfx.spectral.smallest_magnitude_eigs`.

    Parameters
    ----------
    laplacian : (N, N) scipy.sparse matrix or torch sparse tensor, symmetric
    k : int
        Number of eigenpairs, 1 <= k < N - 1.
    device : torch.device or str, optional
        Where to compute (``'torch:cpu'``, ``'cuda'``, ``'cuda:N'``); the CPU when None.
    start : (N, j) float array or tensor, optional
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
    shape : ignored
        Accepted for the reference's signature.

    Returns
    -------
    eigenvalues : (k,) float64, sorted by increasing magnitude
    eigenvectors : (N, k) float64, orthonormal columns; tensors on ``device`` when the
        Laplacian or ``start`` is a tensor, numpy arrays otherwise.
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(laplacian, start)
    lap = sparse_csr(laplacian, dev)
    n = lap.shape[0]
    if not 1 <= k < n - 1:
        raise OptionError(f"eigenvectors={k} need an image of more than {k + 1} pixels")
    width = min(n - 1, k + (max(16, k // 2) if extra is None else extra))
    norm = _gershgorin(lap)
    block = _start_block(n, width, dev, start)
    values, block = _rayleigh_ritz(lap, _orthonormal(block))
    rounds = matvecs = 0
    for rounds in range(1, max_rounds + 1):
        lower = float(values[0]) - 1e-3 * norm
        # The cut must sit above every wanted value: the block's top Ritz value does,
        # unless the block holds too few low values yet (first rounds, cold start).
        cut = float(values[-1])
        block = _chebyshev_filter(lap, block, degree, cut, norm, lower)
        matvecs += degree
        values, block = _rayleigh_ritz(lap, _orthonormal(block))
        wanted = torch.argsort(values.abs(), stable=True)[:k]
        residual = _residuals(lap, block[:, wanted], values[wanted]) / norm
        if float(residual.max()) <= tol:
            break
    wanted = torch.argsort(values.abs(), stable=True)[:k]
    values, vectors = values[wanted], _fixed_signs(block[:, wanted])
    if info is not None:
        info.update(rounds=rounds, matvecs=matvecs, residual=float(residual.max()))
    return returned(values, tensors), returned(vectors, tensors)


def torch_window_eigs(laplacian, frame_vectors, k, *, device=None):
    """Eigenpairs nearest zero of a window's Laplacian, from its frames' eigenvectors.

    Twin of :func:`sss_vfx.spectral.window_eigs` (Rayleigh-Ritz on
    ``Q = blockdiag(V_0, ..., V_{F-1})``).

    Parameters
    ----------
    laplacian : (F*N, F*N) scipy.sparse matrix or torch sparse tensor, symmetric
    frame_vectors : sequence of F (N, m_t) float arrays or tensors, orthonormal columns
    k : int
        Pairs wanted, at most the summed m_t.
    device : torch.device or str, optional

    Returns
    -------
    eigenvalues : (k,) float64, Ritz values sorted by increasing magnitude
    eigenvectors : (F*N, k) float64, orthonormal columns (tensors when any input is one)
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(laplacian, *frame_vectors)
    lap = sparse_csr(laplacian, dev)
    vectors = [as_tensor(v, dev, torch.float64) for v in frame_vectors]
    widths = [v.shape[1] for v in vectors]
    if not 1 <= k <= sum(widths):
        raise OptionError(f"k={k} Ritz pairs need at least {k} frame eigenvectors")
    q = torch.block_diag(*vectors) if len(vectors) > 1 else vectors[0]
    projected = q.T @ (lap @ q)
    values, coefficients = torch.linalg.eigh((projected + projected.T) / 2.0)
    rank = torch.argsort(values.abs(), stable=True)[:k]
    result = _fixed_signs(q @ coefficients[:, rank])
    return returned(values[rank], tensors), returned(result, tensors)


def _gershgorin(lap):
    """An upper bound of ``||L||``: the largest absolute row sum."""
    torch = import_torch()
    rows = torch.repeat_interleave(
        torch.arange(lap.shape[0], device=lap.device),
        lap.crow_indices().diff())
    sums = torch.zeros(lap.shape[0], dtype=lap.dtype, device=lap.device)
    sums.index_add_(0, rows, lap.values().abs())
    return float(sums.max())


def _start_block(n, width, dev, start):
    """A fixed pseudo-random block (deterministic on every device), warm columns first."""
    torch = import_torch()
    generator = torch.Generator().manual_seed(0)
    block = torch.randn(n, width, generator=generator, dtype=torch.float64).to(dev)
    if start is not None:
        warm = as_tensor(start, dev, torch.float64)
        if warm.ndim != 2 or warm.shape[0] != n:
            raise OptionError(f"start must have shape ({n}, j), got {tuple(warm.shape)}")
        j = min(warm.shape[1], width)
        block[:, :j] = warm[:, :j]
    return block


def _orthonormal(block):
    torch = import_torch()
    q, _ = torch.linalg.qr(block)
    return q


def _rayleigh_ritz(lap, q):
    """Ritz values (ascending) and vectors of ``L`` on the span of orthonormal ``q``."""
    torch = import_torch()
    projected = q.T @ (lap @ q)
    values, coefficients = torch.linalg.eigh((projected + projected.T) / 2.0)
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


def _residuals(lap, vectors, values):
    import torch
    return torch.linalg.vector_norm(lap @ vectors - vectors * values, dim=0)


def _fixed_signs(vectors):
    """A fixed sign per vector: its largest-magnitude entry positive (as the reference)."""
    torch = import_torch()
    rows = vectors.abs().argmax(dim=0)
    signs = torch.sign(vectors[rows, torch.arange(vectors.shape[1], device=vectors.device)])
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)
