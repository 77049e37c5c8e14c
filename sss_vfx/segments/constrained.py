"""Constrained sparsification: soft segments inside the span of the eigenvectors.

Spectral matting (Levin, Rav-Acha, Lischinski 2008) as adapted by Semantic Soft
Segmentation (DESIGN step 5). Each layer is ``alpha_k = E y_k`` for k < K, the last is
``1 - sum_k alpha_k``, and iteratively reweighted least squares minimises::

    sum_k y_k^T Lambda y_k + sum_{k, p} w (|alpha_kp|^g + |1 - alpha_kp|^g)

(``E^T L E = Lambda`` for eigenvectors, and ``E^T L 1 = 0`` makes the last layer's
Laplacian term ``s^T Lambda s`` with ``s = sum_k y_k``). Each iteration's normal
equations are block diagonal plus one block B coupling all pairs::

    (diag(A_1 .. A_{K-1}) + (1 1^T) kron B) y = r

solved exactly through ``s``: ``(I + C B) s = sum_k A_k^-1 r_k`` with
``C = sum_k A_k^-1``, then ``y_k = A_k^-1 (r_k - B s)``: K small factorisations instead
of one ((K-1) M)^3 solve. The dominant cost is the K weighted Gram matrices
``E^T diag(w_k) E`` (:mod:`~sss_vfx.segments.gram`): one GEMM against the pairwise
products of the eigenvector entries, or, at the default clamp, the clamp's constant
weight times ``E^T E`` plus a correction over each layer's support.

The weights see ``|alpha|`` and ``|1 - alpha|`` clamped. At clamps of 0.001 and above
(the support method's) an ``alpha`` within the clamp of 0 (or 1) counts as 0 (or 1), so
every pixel far from a layer has exactly the same weight for it, which is what makes the
support's correction exact, and the result is snapped to 0 and 1 within the clamp;
below, the loop is the reference code's, unchanged.

Written against the array namespace of the eigenvectors: the same lines run on numpy and
on torch tensors (CPU or CUDA), where everything stays on the tensors' device.
"""

import numpy as np

from sss_vfx.arrays.namespace import as_array, asarray, device_of, namespace
from sss_vfx.errors import OptionError
from sss_vfx.options import ConstrainedOptions
from sss_vfx.segments.gram import SUPPORT_CLAMP, gram_builder, phase_bounds
from sss_vfx.spectral.threads import by_pieces, single_blas_thread

__all__ = ["ConstrainedOptions", "clamp_weight", "constrained_sparsification", "gram_phase",
           "one_hot_segments", "phase_bounds"]

#: Sampled schedules end with this many exact iterations.
EXACT_TAIL = 2


def gram_phase(iteration, stride, options=ConstrainedOptions()):
    """Which pixels an IRLS iteration's Gram matrices sum over.

    Parameters
    ----------
    iteration : int
        1 .. ``options.iterations``.
    stride : int
        1 = every pixel at every iteration (the faithful configuration).
    options : ConstrainedOptions

    Returns
    -------
    None (every pixel) or the phase ``p`` in 0 .. stride-1 (the pixels ``i`` with
    ``i % stride == p``). Exact: the last :data:`EXACT_TAIL` iterations and those whose
    layers the drop test reads (one after each ``options.drop_every``), so the sampling
    noise neither decides which layers survive nor stays in the result.

    Examples
    --------
    >>> [gram_phase(it, 4, ConstrainedOptions(iterations=12, drop_every=5))
    ...  for it in range(1, 13)]
    [1, 2, 3, 0, 1, None, 3, 0, 1, 2, None, None]
    """
    if stride == 1 or iteration > options.iterations - EXACT_TAIL or \
            (iteration > options.drop_every and
             (iteration - 1) % options.drop_every == 0):
        return None
    return iteration % stride


def one_hot_segments(labels):
    """Hard segments as indicator columns.

    Parameters
    ----------
    labels : (N,) int array or tensor, values 0..K-1

    Returns
    -------
    (N, K) float64 (of the namespace and device of ``labels``), one 1 per row
    """
    labels = as_array(labels)
    xp = namespace(labels)
    n = labels.shape[0]
    onehot = xp.zeros((n, int(xp.max(labels)) + 1), dtype=xp.float64,
                      device=device_of(labels))
    onehot[xp.arange(n, device=device_of(labels)), labels] = 1.0
    return onehot


def constrained_sparsification(eigenvectors, eigenvalues, initial_labels, *,
                               options=ConstrainedOptions(), laplacian_ones=None,
                               progress=None, gram_stride=None, sparse_rows=None):
    """Sparse soft segments spanned by the eigenvectors.

    Parameters
    ----------
    eigenvectors : (N, M) float array or tensor, orthonormal columns
        Its namespace and device are where the computation runs.
    eigenvalues : (M,) float array
    initial_labels : (N,) int array, values 0..K-1
        Initial hard segments (k-means).
    options : ConstrainedOptions
    laplacian_ones : (N,) float array, optional
        ``L 1``; zero for an exact Laplacian, kept for fidelity to the energy.
    progress : callable(done, total), optional
    gram_stride : int, optional
        1 (faithful): every iteration's Gram matrices sum over all pixels. ``s`` > 1:
        the iterations that :func:`gram_phase` marks as sampled sum over one pixel in
        ``s`` (a different one each iteration, scaled by the sampled fraction); the
        others, among them the last and the ones whose layers the drop test reads,
        are exact. None reads ``options.gram_stride``.
    sparse_rows : (P,) int array, optional
        The pixels whose sparsity terms the energy sums (a video window's frames that
        no earlier window segmented); None: every pixel. The layers come back over
        every pixel, from the last iteration's eigen-coefficients.

    Returns
    -------
    (N, K') float64 soft segments summing to 1 at every pixel, K' <= K after dropping
    layers whose largest magnitude stays below ``options.drop_below`` (of the namespace
    of ``eigenvectors``).
    """
    eigenvectors = as_array(eigenvectors)
    xp = namespace(eigenvectors)
    e64 = asarray(eigenvectors, eigenvectors, xp.float64)
    lam = asarray(eigenvalues, e64, xp.float64)
    alpha = one_hot_segments(asarray(initial_labels, e64, xp.int64))
    full = e64
    if sparse_rows is not None:
        sparse_rows = asarray(sparse_rows, e64, xp.int64)
        e64, alpha = e64[sparse_rows], alpha[sparse_rows]
    stride = int(options.gram_stride if gram_stride is None else gram_stride)
    if stride < 1:
        raise OptionError(f"gram_stride must be a positive integer, got {stride!r}")
    precision = xp.float32 if np.dtype(options.precision) == np.float32 else xp.float64
    gram = gram_builder(e64, options, precision, stride, clamp_weight(options, e64))
    extra = xp.zeros(e64.shape[1], dtype=xp.float64, device=device_of(e64)) \
        if laplacian_ones is None else full.T @ asarray(laplacian_ones, e64, xp.float64)
    next_drop = options.drop_every
    # `alpha` holds every pixel (sample None) or only the pixels of one sampling phase:
    # a sampled iteration reads the layers on its own pixels alone, so the previous
    # iteration evaluates them there, and everything but the exact iterations costs
    # about 1/stride of a full one.
    sample = None
    for it in range(1, options.iterations + 1):
        phase = gram_phase(it, stride, options)
        layers = alpha if phase == sample else alpha[gram.rows(phase)]
        pull_one, pull_zero = _irls_weights(layers, options)
        grams = gram(pull_one + pull_zero, phase)
        # The right-hand side sums over the same pixels as the Gram matrices: a sampled
        # iteration solves the sampled problem, not a mix of two.
        scale = e64.shape[0] / layers.shape[0] if phase is not None else 1.0
        sub = gram.basis(phase)
        rhs = scale * (sub.T @ xp.astype(pull_one[:, :-1], xp.float64))
        last = scale * (sub.T @ xp.astype(pull_zero[:, -1], xp.float64)) + extra
        with single_blas_thread():
            y = _solve_coupled(grams, lam, rhs, last)
        check = it > next_drop
        sample = None if check or it == options.iterations else \
            gram_phase(it + 1, stride, options)
        basis = full if it == options.iterations else gram.basis(sample)
        alpha = xp.empty((basis.shape[0], y.shape[1] + 1), dtype=xp.float64,
                         device=device_of(e64))
        _expand(basis, y, alpha[:, :-1])
        alpha[:, -1] = 1.0 - xp.sum(alpha[:, :-1], axis=1)
        if check:
            alpha = alpha[:, xp.max(xp.abs(alpha), axis=0) > options.drop_below]
            if alpha.shape[1] <= 1:
                return xp.ones((full.shape[0], 1), dtype=xp.float64, device=device_of(e64))
            # The implied last layer absorbs what the dropped ones held.
            alpha[:, -1] = 1.0 - xp.sum(alpha[:, :-1], axis=1)
            next_drop += options.drop_every
        if progress is not None:
            progress(it, options.iterations)
    # Below the support method's clamp the loop stays the reference one, unsnapped.
    return _snap(alpha, options.clamp) if options.clamp >= SUPPORT_CLAMP else alpha


def _snap(alpha, clamp):
    """The layers with every value within ``clamp`` of 0 (of 1) set to 0 (to 1), rows
    renormalised to sum to 1.

    Inside the clamp the IRLS weights are constant, so each layer settles at a veil of
    about ``clamp ** (2 - sparsity)`` (0.004 at 0.01) where the energy's minimum is 0;
    summed over the segments a layer group gathers, the veil would carry mass the
    grouping reads as the segment's. (At the paper's clamp, 1e-10, this moves no value
    by more than 1e-9.)
    """
    xp = namespace(alpha)
    snapped = _to_ends(alpha, clamp)
    total = xp.sum(snapped, axis=1, keepdims=True)
    # A row the snap would leave far from summing to 1 (many layers near 0 and near
    # 1 at a large clamp) keeps its values.
    return xp.where(xp.abs(total - 1.0) < 0.5, snapped / total, alpha)


def _to_ends(alpha, clamp):
    """``alpha`` with every value within ``clamp`` (< 0.5) of 0 set to 0 and within it
    of 1 set to 1, in its own namespace and dtype."""
    xp = namespace(alpha)
    return xp.where(xp.abs(alpha) < clamp, 0.0,
                    xp.where(xp.abs(alpha - 1.0) < clamp, 1.0, alpha))


def _expand(basis, coefficients, out):
    """``out[...] = basis @ coefficients``, the pixels' rows going to the cores."""

    def piece(rows):
        out[rows, :] = basis[rows, :] @ coefficients

    by_pieces(piece, basis.shape[0], basis)


def _irls_weights(alpha, options):
    """IRLS weights of the terms pulling each alpha to one and to zero, (N, K) each.

    At clamps of 0.001 and above, an alpha within ``options.clamp`` of 0 (of 1) counts
    as 0 (as 1), for both terms, so all such pixels get exactly the weight
    :func:`clamp_weight`; below, the reference code's weights.

    Computed in float32 (ten times faster powers); a weight's own relative precision
    does not matter, only the sums over pixels, which stay in float64. The constants are
    rounded to float32 first, so every namespace computes with the same values. The
    pixels' rows go to the cores.
    """
    xp = namespace(alpha)
    pull_one = xp.empty(alpha.shape, dtype=xp.float32, device=device_of(alpha))
    pull_zero = xp.empty(alpha.shape, dtype=xp.float32, device=device_of(alpha))

    def piece(rows):
        pull_one[rows, :], pull_zero[rows, :] = _irls_piece(alpha[rows, :], options)

    by_pieces(piece, alpha.shape[0], alpha)
    return pull_one, pull_zero


def _irls_piece(alpha, options):
    """:func:`_irls_weights` of some rows, in this thread."""
    xp = namespace(alpha)
    g = float(np.float32(options.sparsity - 2.0))
    scale = float(np.float32(options.weight ** options.sparsity))
    a = xp.astype(alpha, xp.float32)
    clamp = float(np.float32(options.clamp))
    if options.clamp >= SUPPORT_CLAMP:
        a = _to_ends(a, clamp)
    pull_one = scale * xp.maximum(xp.abs(a - 1.0), clamp) ** g
    pull_zero = scale * xp.maximum(xp.abs(a), clamp) ** g
    return pull_one, pull_zero


def clamp_weight(options, like=None):
    """The IRLS weight (both terms) of a pixel whose alpha is within the clamp of 0 or
    1: the largest weight, which most pixels of every layer have.

    Parameters
    ----------
    options : ConstrainedOptions
    like : array or tensor, optional
        Computed on its namespace and device (the same float32 operations as the
        weights there); numpy when None.

    Returns
    -------
    float (the float32 value :func:`_irls_weights` gives such pixels)
    """
    like = np.zeros(1) if like is None else as_array(like)
    xp = namespace(like)
    zero = xp.zeros((1, 1), dtype=xp.float32, device=device_of(like))
    pull_one, pull_zero = _irls_weights(zero, options)
    return float((pull_one + pull_zero)[0, 0])


def _solve_coupled(grams, lam, rhs, last):
    """Solve ``(diag(A_k) + 11^T kron B) y = r + 1 kron last``.

    grams : (K, M, M) with A_k = grams[k] + diag(lam) for k < K-1 and
    B = grams[-1] + diag(lam); rhs : (M, K-1); last : (M,). Returns y as (M, K-1).
    """
    xp = namespace(grams)
    m = lam.shape[0]
    eye = xp.eye(m, dtype=xp.float64, device=device_of(grams))
    blocks = grams + (eye * lam)[None]
    b = blocks[-1]
    r = rhs + last[:, None]
    # One batched LU solve gives every A_k^-1 and A_k^-1 r_k at once.
    stacked = xp.concat([xp.broadcast_to(eye, (blocks.shape[0] - 1, m, m)),
                         r.T[:, :, None]], axis=2)
    solved = xp.linalg.solve(blocks[:-1], stacked)
    a_inv, a_inv_r = solved[:, :, :m], solved[:, :, m]
    s = xp.linalg.solve(eye + xp.sum(a_inv, axis=0) @ b, xp.sum(a_inv_r, axis=0))
    return (a_inv_r - a_inv @ (b @ s)).T
