"""Relaxed sparsification over all pixels (DESIGN step 7).

Minimises, over the layers a_1..a_K jointly::

    sum_k a_k^T L a_k + sum_{k,p} |a_kp|^g_p + |1 - a_kp|^g_p
        + sum_{k,p} (a_kp - a0_kp)^2 + 100 sum_p (sum_k a_kp - 1)^2

with ``g_p = 0.9 + min(|grad I|_p, 0.1)``, by reweighted least squares: each round is a
linear system ``(I_K kron L + diag(u + v) + I + 100 (1 1^T kron I)) a = v + a0 + 100``
solved by conjugate gradients, preconditioned by the exact inverse of each pixel's
K x K block (diagonal plus the rank-one sum-to-one term, Sherman-Morrison).

Written against the array namespace of the layers: numpy with a scipy.sparse Laplacian,
or torch (CPU or CUDA) with a sparse CSR tensor, where one sparse product applies
``I_K kron L`` to all layers at once.
"""

import scipy.sparse

from sss_vfx.arrays.namespace import as_array, asarray, device_of, namespace, norm, \
    row_sums, vdot
from sss_vfx.arrays.sparse import as_sparse, sparse_diagonal
from sss_vfx.options import RelaxedOptions
from sss_vfx.spectral.threads import RowPieces


def initial_layers(layers):
    """Snap the grouped layers: < 0.1 to 0, > 0.9 to 1, renormalised to sum to 1.

    Parameters
    ----------
    layers : (N, K) float array or tensor

    Returns
    -------
    (N, K) float64, of the namespace of ``layers``
    """
    layers = as_array(layers)
    xp = namespace(layers)
    layers = xp.astype(layers, xp.float64, copy=False)
    a = xp.asarray(layers, copy=True)
    a[a < 0.1] = 0.0
    a[a > 0.9] = 1.0
    total = xp.sum(a, axis=1, keepdims=True)
    # A pixel where every layer was snapped to zero keeps its original proportions.
    fallback = xp.clip(layers, min=0.0)
    fallback = fallback / xp.maximum(xp.sum(fallback, axis=1, keepdims=True), 1e-12)
    return xp.where(total > 0, a / xp.where(total > 0, total, 1.0), fallback)


def sparsity_exponent(gradient):
    """Per-pixel sparsity exponent ``0.9 + min(|grad I|, 0.1)``, in [0.9, 1.0]."""
    gradient = as_array(gradient)
    xp = namespace(gradient)
    return 0.9 + xp.minimum(xp.astype(gradient, xp.float64), 0.1)


def relaxed_sparsification(laplacian, layers, gradient, *, options=RelaxedOptions(),
                           anchor=None, prior=None, progress=None):
    """Refine layers on the full pixel graph.

    Parameters
    ----------
    laplacian : (N, N) scipy.sparse matrix, or torch sparse tensor with torch layers
    layers : (N, K) float array or tensor, grouped soft segments
        Its namespace and device are where the computation runs.
    gradient : (N,) float array, colour gradient magnitude
    options : RelaxedOptions
    anchor : (rows, values, weight), optional
        Layers already decided for some pixels (a video window's frames shared with the
        previous window): for pixels ``rows`` ((P,) int), the fidelity term pulls
        toward ``values`` ((P, K), summing to 1) with ``weight`` instead of toward the
        snapped grouped layers.
    prior : (rows, values, weights), optional
        Likely layers for other pixels (the previous window's layers carried along the
        flow): during the reweighting rounds pixels ``rows`` are also pulled toward
        ``values`` ((P, K)) with ``weights`` ((P,) >= 0), beside the pull toward the
        grouped layers; unlike an anchor, the last solve keeps them near the sparsified
        result.
    progress : callable(done, total), optional

    Returns
    -------
    (N, K) float64 layers (not yet clipped; they sum to 1 up to the solver's accuracy),
    of the namespace of ``layers``
    """
    layers = as_array(layers)
    xp = namespace(layers)
    lap = as_sparse(laplacian, layers)
    a0 = initial_layers(layers)
    fidelity = xp.full((a0.shape[0], 1), options.fidelity, dtype=xp.float64,
                       device=device_of(a0))
    final_fidelity = xp.asarray(fidelity, copy=True)
    if prior is not None:
        # Two quadratic pulls, toward the grouped layers and toward the prior, are one
        # pull toward their weighted mean with the summed weight.
        prior_rows = asarray(prior[0], a0, xp.int64)
        prior_values = asarray(prior[1], a0)
        extra = xp.reshape(asarray(prior[2], a0), (-1, 1))
        own = fidelity[prior_rows]
        a0[prior_rows] = (own * a0[prior_rows] + extra * prior_values) / (own + extra)
        fidelity[prior_rows] = own + extra
    if anchor is not None:
        rows, values = asarray(anchor[0], a0, xp.int64), asarray(anchor[1], a0)
        weight = float(anchor[2])
        a0[rows] = values
        fidelity[rows] = weight
        final_fidelity[rows] = weight
    expo = sparsity_exponent(asarray(gradient, a0))[:, None]
    diag_l = sparse_diagonal(lap)[:, None]
    if scipy.sparse.issparse(lap):
        # The conjugate gradients' products, most of the stage, go to the cores.
        lap = RowPieces(lap)
    a = xp.asarray(a0, copy=True)
    for r in range(options.rounds):
        u = xp.maximum(xp.abs(a), options.clamp) ** (expo - 2.0)
        v = xp.maximum(xp.abs(1.0 - a), options.clamp) ** (expo - 2.0)
        a = solve_layers(lap, diag_l, u + v + fidelity, options.sum_weight,
                         v + fidelity * a0 + options.sum_weight, a, options.cg_steps,
                         options.rtol)
        if progress is not None:
            progress(r + 1, options.rounds + 1)
    # The last solve keeps only smoothness, fidelity to the current result and sum-to-one.
    fid = xp.broadcast_to(final_fidelity, a.shape)
    if anchor is not None:
        a[rows] = values
    a = solve_layers(lap, diag_l, fid, options.sum_weight, fid * a + options.sum_weight,
                     a, options.final_cg_steps, options.rtol)
    if progress is not None:
        progress(options.rounds + 1, options.rounds + 1)
    return a


def apply_system(lap, diag_weights, sum_weight, x):
    """``(I kron L) x + diag_weights * x + sum_weight * (x 1) 1^T`` for x of shape (N, K)."""
    return lap @ x + diag_weights * x + sum_weight * row_sums(x)


def solve_layers(lap, diag_l, diag_weights, sum_weight, rhs, x, steps, rtol):
    """Solve ``(I kron L + diag(diag_weights) + sum_weight 1 1^T kron I) x = rhs`` by PCG.

    Preconditioned by the exact inverse of each pixel's K x K block (Sherman-Morrison);
    stops after ``steps`` steps, at relative residual ``rtol``, or on non-positive
    curvature.

    Parameters
    ----------
    lap : (N, N) scipy.sparse matrix or torch sparse CSR tensor
    diag_l : (N, 1) float array, the diagonal of ``lap``
    diag_weights : (N, K) float array
    sum_weight : float
    rhs, x : (N, K) float arrays, the right-hand side and the starting point

    Returns
    -------
    (N, K) float64
    """
    d = diag_l + diag_weights
    inv_d = 1.0 / d
    denom = 1.0 + sum_weight * row_sums(inv_d)

    def precondition(z):
        zd = z * inv_d
        return zd - (sum_weight * row_sums(zd) / denom) * inv_d

    r = rhs - apply_system(lap, diag_weights, sum_weight, x)
    norm_b = norm(rhs)
    z = precondition(r)
    p = z
    # The stopping tests read scalars: on a GPU one host sync per step.
    rz = vdot(r, z)
    for _ in range(steps):
        if norm(r) <= rtol * norm_b:
            break
        q = apply_system(lap, diag_weights, sum_weight, p)
        curvature = vdot(p, q)
        if curvature <= 0.0:
            break
        step = rz / curvature
        x = x + step * p
        r = r - step * q
        z = precondition(r)
        rz_new = vdot(r, z)
        if rz_new == 0.0:
            break
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x
