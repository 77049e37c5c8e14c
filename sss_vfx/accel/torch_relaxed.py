"""Relaxed sparsification on a torch device (twin of :mod:`sss_vfx.segments.relaxed`).

The same reweighting rounds and preconditioned conjugate gradients, with the Laplacian
as a sparse CSR tensor and the ``(N, K)`` layers as one dense block, so one sparse
product applies ``I_K kron L`` to all layers at once.
"""

from sss_vfx.accel.torch_common import (as_tensor, given_tensor, import_torch, returned,
                                        sparse_csr, torch_device)

__all__ = ["torch_initial_layers", "torch_relaxed_sparsification", "torch_solve_layers"]


def _default_options():
    try:
        from sss_vfx.options import RelaxedOptions
    except ImportError:
        from sss_vfx.segments.relaxed import RelaxedOptions
    return RelaxedOptions()


def torch_initial_layers(layers):
    """Twin of :func:`sss_vfx.segments.relaxed.initial_layers` on a float64 tensor."""
    torch = import_torch()
    a = layers.clone()
    a[a < 0.1] = 0.0
    a[a > 0.9] = 1.0
    total = a.sum(dim=1, keepdim=True)
    fallback = layers.clamp(min=0.0)
    fallback = fallback / fallback.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return torch.where(total > 0, a / torch.where(total > 0, total, torch.ones_like(total)),
                       fallback)


def torch_relaxed_sparsification(laplacian, layers, gradient, *, options=None, anchor=None,
                                 prior=None, progress=None, device=None):
    """Refine layers on the full pixel graph, on ``device``.

    Twin of :func:`sss_vfx.segments.relaxed.relaxed_sparsification`; same parameters
    (arrays or tensors), plus ``device``.

    Returns
    -------
    (N, K) float64 layers (a tensor on ``device`` when ``layers`` is a tensor)
    """
    torch = import_torch()
    options = options or _default_options()
    dev = torch_device(device)
    tensors = given_tensor(layers)
    lap = sparse_csr(laplacian, dev)
    grouped = as_tensor(layers, dev, torch.float64)
    a0 = torch_initial_layers(grouped)
    fidelity = torch.full((a0.shape[0], 1), float(options.fidelity), dtype=torch.float64,
                          device=dev)
    final_fidelity = fidelity.clone()
    if prior is not None:
        prior_rows = as_tensor(prior[0], dev, torch.int64)
        prior_values = as_tensor(prior[1], dev, torch.float64)
        extra = as_tensor(prior[2], dev, torch.float64).reshape(-1, 1)
        own = fidelity[prior_rows]
        a0[prior_rows] = (own * a0[prior_rows] + extra * prior_values) / (own + extra)
        fidelity[prior_rows] = own + extra
    if anchor is not None:
        rows = as_tensor(anchor[0], dev, torch.int64)
        values = as_tensor(anchor[1], dev, torch.float64)
        weight = float(anchor[2])
        a0[rows] = values
        fidelity[rows] = weight
        final_fidelity[rows] = weight
    expo = 0.9 + torch.clamp(as_tensor(gradient, dev, torch.float64).reshape(-1, 1), max=0.1)
    diag_l = _diagonal(lap)[:, None]
    a = a0.clone()
    for r in range(options.rounds):
        u = torch.clamp(a.abs(), min=options.clamp) ** (expo - 2.0)
        v = torch.clamp((1.0 - a).abs(), min=options.clamp) ** (expo - 2.0)
        a = torch_solve_layers(lap, diag_l, u + v + fidelity, options.sum_weight,
                               v + fidelity * a0 + options.sum_weight, a, options.cg_steps,
                               options.rtol)
        if progress is not None:
            progress(r + 1, options.rounds + 1)
    fid = final_fidelity.expand_as(a)
    if anchor is not None:
        a[rows] = values
    a = torch_solve_layers(lap, diag_l, fid, options.sum_weight,
                           fid * a + options.sum_weight, a, options.final_cg_steps,
                           options.rtol)
    if progress is not None:
        progress(options.rounds + 1, options.rounds + 1)
    return returned(a, tensors)


def _diagonal(lap):
    """The diagonal of a sparse CSR tensor, (N,)."""
    torch = import_torch()
    n = lap.shape[0]
    rows = torch.repeat_interleave(torch.arange(n, device=lap.device),
                                   lap.crow_indices().diff())
    on_diag = rows == lap.col_indices()
    diag = torch.zeros(n, dtype=lap.dtype, device=lap.device)
    diag.index_add_(0, rows[on_diag], lap.values()[on_diag])
    return diag


def torch_solve_layers(lap, diag_l, diag_weights, sum_weight, rhs, x, steps, rtol):
    """Twin of :func:`sss_vfx.segments.relaxed.solve_layers` on tensors.

    Parameters
    ----------
    lap : (N, N) sparse CSR tensor
    diag_l : (N, 1) tensor, the diagonal of ``lap``
    diag_weights : (N, K) tensor
    sum_weight : float
    rhs, x : (N, K) tensors

    Returns
    -------
    (N, K) float64 tensor
    """
    torch = import_torch()

    def apply(z):
        return lap @ z + diag_weights * z + sum_weight * z.sum(dim=1, keepdim=True)

    inv_d = 1.0 / (diag_l + diag_weights)
    denom = 1.0 + sum_weight * inv_d.sum(dim=1, keepdim=True)

    def precondition(z):
        zd = z * inv_d
        return zd - (sum_weight * zd.sum(dim=1, keepdim=True) / denom) * inv_d

    r = rhs - apply(x)
    norm_b = float(torch.linalg.vector_norm(rhs))
    z = precondition(r)
    p = z.clone()
    rz = float(torch.vdot(r.ravel(), z.ravel()))
    # Host syncs (float()) once per step, as the reference's stopping tests need them.
    for _ in range(steps):
        if float(torch.linalg.vector_norm(r)) <= rtol * norm_b:
            break
        q = apply(p)
        curvature = float(torch.vdot(p.ravel(), q.ravel()))
        if curvature <= 0.0:
            break
        step = rz / curvature
        x = x + step * p
        r = r - step * q
        z = precondition(r)
        rz_new = float(torch.vdot(r.ravel(), z.ravel()))
        if rz_new == 0.0:
            break
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x
