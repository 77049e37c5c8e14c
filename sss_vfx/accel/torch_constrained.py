"""Constrained sparsification on a torch device (twin of
:mod:`sss_vfx.segments.constrained`).

The same IRLS: weights from the current layers, the K weighted Gram matrices
``E^T diag(w_k) E`` by one product of the packed pairwise eigenvector products with the
``(N, K)`` weights, and the block-structured normal equations solved through their
common block (batched LU of the ``A_k``). Everything stays on the device; the packed
products are held in ``options.precision`` within ``options.product_budget`` bytes and
rebuilt in chunks beyond it, as in the reference.
"""

import numpy as np

from sss_vfx.accel.torch_common import (as_tensor, given_tensor, import_torch, returned,
                                        torch_device)

__all__ = ["torch_constrained_sparsification"]


def _default_options():
    try:
        from sss_vfx.options import ConstrainedOptions
    except ImportError:
        from sss_vfx.segments.constrained import ConstrainedOptions
    return ConstrainedOptions()


def torch_constrained_sparsification(eigenvectors, eigenvalues, initial_labels, *,
                                     options=None, laplacian_ones=None, progress=None,
                                     device=None):
    """Sparse soft segments spanned by the eigenvectors, on ``device``.

    Twin of :func:`sss_vfx.segments.constrained.constrained_sparsification`.

    Parameters
    ----------
    eigenvectors : (N, M) float array or tensor, orthonormal columns
    eigenvalues : (M,) float array or tensor
    initial_labels : (N,) int array or tensor, values 0..K-1
    options : ConstrainedOptions, optional
    laplacian_ones : (N,) float array or tensor, optional
        ``L 1``.
    progress : callable(done, total), optional
    device : torch.device or str, optional

    Returns
    -------
    (N, K') float64 soft segments summing to 1 at every pixel (a tensor on ``device``
    when the eigenvectors are a tensor).
    """
    torch = import_torch()
    options = options or _default_options()
    dev = torch_device(device)
    tensors = given_tensor(eigenvectors)
    e64 = as_tensor(eigenvectors, dev, torch.float64)
    lam = as_tensor(eigenvalues, dev, torch.float64)
    labels = as_tensor(initial_labels, dev, torch.int64)
    n, m = e64.shape
    alpha = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).to(torch.float64)
    dtype = torch.float32 if np.dtype(options.precision) == np.float32 else torch.float64
    gram = _GramBuilder(e64, options.product_budget, dtype)
    extra = (torch.zeros(m, dtype=torch.float64, device=dev) if laplacian_ones is None
             else e64.T @ as_tensor(laplacian_ones, dev, torch.float64))
    next_drop = options.drop_every
    for it in range(1, options.iterations + 1):
        pull_one, pull_zero = _irls_weights(alpha, options)
        grams = gram(pull_one + pull_zero)
        rhs = e64.T @ pull_one[:, :-1].to(torch.float64)
        last = e64.T @ pull_zero[:, -1].to(torch.float64) + extra
        y = _solve_coupled(grams, lam, rhs, last)
        alpha = torch.empty((n, y.shape[1] + 1), dtype=torch.float64, device=dev)
        alpha[:, :-1] = e64 @ y
        alpha[:, -1] = 1.0 - alpha[:, :-1].sum(dim=1)
        if it > next_drop:
            alpha = alpha[:, alpha.abs().amax(dim=0) > options.drop_below]
            if alpha.shape[1] <= 1:
                return returned(torch.ones((n, 1), dtype=torch.float64, device=dev), tensors)
            alpha[:, -1] = 1.0 - alpha[:, :-1].sum(dim=1)
            next_drop += options.drop_every
        if progress is not None:
            progress(it, options.iterations)
    return returned(alpha, tensors)


def _irls_weights(alpha, options):
    """IRLS weights pulling each alpha to one and to zero, (N, K) float32 each."""
    torch = import_torch()
    a = alpha.to(torch.float32)
    g = options.sparsity - 2.0
    scale = float(np.float32(options.weight ** options.sparsity))
    clamp = float(np.float32(options.clamp))
    pull_one = scale * torch.clamp((a - 1.0).abs(), min=clamp) ** g
    pull_zero = scale * torch.clamp(a.abs(), min=clamp) ** g
    return pull_one, pull_zero


def _solve_coupled(grams, lam, rhs, last):
    """Solve ``(diag(A_k) + 11^T kron B) y = r + 1 kron last`` (see the reference)."""
    torch = import_torch()
    m = lam.shape[0]
    blocks = grams + torch.diag(lam)[None]
    b = blocks[-1]
    r = rhs + last[:, None]
    eye = torch.eye(m, dtype=blocks.dtype, device=blocks.device)
    stacked = torch.cat([eye.expand(blocks.shape[0] - 1, m, m), r.T[:, :, None]], dim=2)
    solved = torch.linalg.solve(blocks[:-1], stacked)
    a_inv, a_inv_r = solved[:, :, :m], solved[:, :, m]
    s = torch.linalg.solve(eye + a_inv.sum(dim=0) @ b, a_inv_r.sum(dim=0))
    return (a_inv_r - a_inv @ (b @ s)).T


class _GramBuilder:
    """``E^T diag(w_k) E`` for every column k of w, as one product (see the reference)."""

    def __init__(self, eigenvectors, budget, dtype):
        torch = import_torch()
        self.dtype = dtype
        self.et = eigenvectors.T.to(dtype).contiguous()
        m, n = self.et.shape
        self.m = m
        self.upper = torch.triu_indices(m, m, device=eigenvectors.device)
        row_bytes = self.et.element_size() * self.upper.shape[1]
        self.held = max(0, min(n, budget // row_bytes))
        self.chunk = max(1, min(n, budget // (4 * row_bytes)))
        self.products = self._products(0, self.held)

    def _products(self, start, stop):
        torch = import_torch()
        et = self.et[:, start:stop]
        out = torch.empty((self.upper.shape[1], et.shape[1]), dtype=self.dtype,
                          device=et.device)
        row = 0
        for i in range(self.m):
            torch.mul(et[i], et[i:], out=out[row:row + self.m - i])
            row += self.m - i
        return out

    def __call__(self, weights):
        torch = import_torch()
        weights = weights.to(self.dtype)
        packed = self.products @ weights[:self.held]
        for start in range(self.held, weights.shape[0], self.chunk):
            stop = start + self.chunk
            packed += self._products(start, stop) @ weights[start:stop]
        packed = packed.T.to(torch.float64)
        grams = torch.empty((weights.shape[1], self.m, self.m), dtype=torch.float64,
                            device=weights.device)
        grams[:, self.upper[0], self.upper[1]] = packed
        grams[:, self.upper[1], self.upper[0]] = packed
        return grams
