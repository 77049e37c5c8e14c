"""Relaxed sparsification over all pixels (DESIGN step 7).

Minimises, over the layers a_1..a_K jointly::

    sum_k a_k^T L a_k + sum_{k,p} |a_kp|^g_p + |1 - a_kp|^g_p
        + sum_{k,p} (a_kp - a0_kp)^2 + 100 sum_p (sum_k a_kp - 1)^2

with ``g_p = 0.9 + min(|grad I|_p, 0.1)``, by reweighted least squares: each round is a
linear system ``(I_K kron L + diag(u + v) + I + 100 (1 1^T kron I)) a = v + a0 + 100``
solved by conjugate gradients, preconditioned by the exact inverse of each pixel's
K x K block (diagonal plus the rank-one sum-to-one term, Sherman-Morrison).
"""

import numpy as np

from sss_vfx.options import RelaxedOptions


def initial_layers(layers):
    """Snap the grouped layers: < 0.1 to 0, > 0.9 to 1, renormalised to sum to 1.

    Parameters
    ----------
    layers : (N, K) float array

    Returns
    -------
    (N, K) float64
    """
    a = np.array(layers, dtype=np.float64)
    a[a < 0.1] = 0.0
    a[a > 0.9] = 1.0
    total = a.sum(axis=1, keepdims=True)
    # A pixel where every layer was snapped to zero keeps its original proportions.
    fallback = np.clip(np.asarray(layers, np.float64), 0, None)
    fallback /= np.maximum(fallback.sum(axis=1, keepdims=True), 1e-12)
    return np.where(total > 0, a / np.where(total > 0, total, 1.0), fallback)


def sparsity_exponent(gradient):
    """Per-pixel sparsity exponent ``0.9 + min(|grad I|, 0.1)``, in [0.9, 1.0]."""
    return 0.9 + np.minimum(np.asarray(gradient, np.float64), 0.1)


def relaxed_sparsification(laplacian, layers, gradient, *, options=RelaxedOptions(),
                           anchor=None, prior=None, progress=None):
    """Refine layers on the full pixel graph.

    Parameters
    ----------
    laplacian : (N, N) scipy.sparse matrix
    layers : (N, K) float array, grouped soft segments
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
    (N, K) float64 layers (not yet clipped; they sum to 1 up to the solver's accuracy)
    """
    lap = laplacian.tocsr()
    a0 = initial_layers(layers)
    fidelity = np.full((a0.shape[0], 1), options.fidelity)
    final_fidelity = fidelity.copy()
    if prior is not None:
        # Two quadratic pulls, toward the grouped layers and toward the prior, are one
        # pull toward their weighted mean with the summed weight.
        prior_rows, prior_values, prior_weights = prior
        extra = np.reshape(prior_weights, (-1, 1))
        own = fidelity[prior_rows]
        a0[prior_rows] = (own * a0[prior_rows] + extra * prior_values) / (own + extra)
        fidelity[prior_rows] = own + extra
    if anchor is not None:
        rows, values, weight = anchor
        a0[rows] = values
        fidelity[rows] = weight
        final_fidelity[rows] = weight
    expo = sparsity_exponent(gradient)[:, None]
    diag_l = lap.diagonal()[:, None]
    a = a0.copy()
    for r in range(options.rounds):
        u = np.maximum(np.abs(a), options.clamp) ** (expo - 2.0)
        v = np.maximum(np.abs(1.0 - a), options.clamp) ** (expo - 2.0)
        a = solve_layers(lap, diag_l, u + v + fidelity, options.sum_weight,
                         v + fidelity * a0 + options.sum_weight, a, options.cg_steps,
                         options.rtol)
        if progress is not None:
            progress(r + 1, options.rounds + 1)
    # The last solve keeps only smoothness, fidelity to the current result and sum-to-one.
    fid = np.broadcast_to(final_fidelity, a.shape)
    if anchor is not None:
        a[rows] = values
    a = solve_layers(lap, diag_l, fid, options.sum_weight, fid * a + options.sum_weight,
                     a, options.final_cg_steps, options.rtol)
    if progress is not None:
        progress(options.rounds + 1, options.rounds + 1)
    return a


def apply_system(lap, diag_weights, sum_weight, x):
    """``(I kron L) x + diag_weights * x + sum_weight * (x 1) 1^T`` for x of shape (N, K)."""
    return lap @ x + diag_weights * x + sum_weight * x.sum(axis=1, keepdims=True)


def solve_layers(lap, diag_l, diag_weights, sum_weight, rhs, x, steps, rtol):
    """Solve ``(I kron L + diag(diag_weights) + sum_weight 1 1^T kron I) x = rhs`` by PCG.

    Preconditioned by the exact inverse of each pixel's K x K block (Sherman-Morrison);
    stops after ``steps`` steps, at relative residual ``rtol``, or on non-positive
    curvature.

    Parameters
    ----------
    lap : (N, N) scipy.sparse matrix
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
    denom = 1.0 + sum_weight * inv_d.sum(axis=1, keepdims=True)

    def precondition(z):
        zd = z * inv_d
        return zd - (sum_weight * zd.sum(axis=1, keepdims=True) / denom) * inv_d

    r = rhs - apply_system(lap, diag_weights, sum_weight, x)
    norm_b = np.linalg.norm(rhs)
    z = precondition(r)
    p = z.copy()
    rz = np.vdot(r, z)
    for _ in range(steps):
        if np.linalg.norm(r) <= rtol * norm_b:
            break
        q = apply_system(lap, diag_weights, sum_weight, p)
        curvature = np.vdot(p, q)
        if curvature <= 0.0:
            break
        step = rz / curvature
        x = x + step * p
        r = r - step * q
        z = precondition(r)
        rz_new = np.vdot(r, z)
        if rz_new == 0.0:
            break
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x
