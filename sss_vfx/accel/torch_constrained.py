"""Constrained sparsification on a torch device (twin of
:mod:`sss_vfx.segments.constrained`).

The same IRLS: weights from the current layers, the K weighted Gram matrices
``E^T diag(w_k) E`` by one product of the packed pairwise eigenvector products with the
``(N, K)`` weights, and the block-structured normal equations solved through their
common block (batched LU of the ``A_k``). Everything stays on the device; the packed
products are held in ``options.precision`` within ``options.product_budget`` bytes and
rebuilt in chunks beyond it, as in the reference; ``gram_stride`` > 1 samples the same
pixels at the same iterations (:func:`sss_vfx.segments.constrained.gram_phase`).
"""

import numpy as np

from sss_vfx.accel.torch_common import (as_tensor, given_tensor, import_torch, returned,
                                        torch_device)
from sss_vfx.segments.constrained import PhaseRows, phase_bounds

__all__ = ["torch_constrained_sparsification"]


def _default_options():
    try:
        from sss_vfx.options import ConstrainedOptions
    except ImportError:
        from sss_vfx.segments.constrained import ConstrainedOptions
    return ConstrainedOptions()


def torch_constrained_sparsification(eigenvectors, eigenvalues, initial_labels, *,
                                     options=None, laplacian_ones=None, progress=None,
                                     device=None, gram_stride=None):
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
    gram_stride : int, optional
        None reads ``options.gram_stride``; 1 = faithful (see the reference).

    Returns
    -------
    (N, K') float64 soft segments summing to 1 at every pixel (a tensor on ``device``
    when the eigenvectors are a tensor).
    """
    from sss_vfx.errors import OptionError
    from sss_vfx.segments.constrained import gram_phase

    torch = import_torch()
    options = options or _default_options()
    stride = int(options.gram_stride if gram_stride is None else gram_stride)
    if stride < 1:
        raise OptionError(f"gram_stride must be a positive integer, got {stride!r}")
    dev = torch_device(device)
    tensors = given_tensor(eigenvectors)
    e64 = as_tensor(eigenvectors, dev, torch.float64)
    lam = as_tensor(eigenvalues, dev, torch.float64)
    labels = as_tensor(initial_labels, dev, torch.int64)
    n, m = e64.shape
    alpha = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).to(torch.float64)
    dtype = torch.float32 if np.dtype(options.precision) == np.float32 else torch.float64
    gram = _GramBuilder(e64, options.product_budget, dtype, stride)
    extra = (torch.zeros(m, dtype=torch.float64, device=dev) if laplacian_ones is None
             else e64.T @ as_tensor(laplacian_ones, dev, torch.float64))
    next_drop = options.drop_every
    # As in the reference: a sampled iteration reads and solves on its pixels only.
    sample = None
    for it in range(1, options.iterations + 1):
        phase = gram_phase(it, stride, options)
        layers = alpha if phase == sample else alpha[gram.rows(phase)]
        pull_one, pull_zero = _irls_weights(layers, options)
        grams = gram(pull_one + pull_zero, phase)
        scale = n / layers.shape[0] if phase is not None else 1.0
        sub = gram.basis(phase)
        rhs = scale * (sub.T @ pull_one[:, :-1].to(torch.float64))
        last = scale * (sub.T @ pull_zero[:, -1].to(torch.float64)) + extra
        y = _solve_coupled(grams, lam, rhs, last)
        check = it > next_drop
        sample = None if check or it == options.iterations else \
            gram_phase(it + 1, stride, options)
        basis = gram.basis(sample)
        alpha = torch.empty((basis.shape[0], y.shape[1] + 1), dtype=torch.float64,
                            device=dev)
        alpha[:, :-1] = basis @ y
        alpha[:, -1] = 1.0 - alpha[:, :-1].sum(dim=1)
        if check:
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


class _GramBuilder(PhaseRows):
    """``E^T diag(w_k) E`` for every column k of w, as one product (see the reference)."""

    def __init__(self, eigenvectors, budget, dtype, stride=1):
        torch = import_torch()
        self.dtype = dtype
        n = eigenvectors.shape[0]
        dev = eigenvectors.device
        # Pixels of one sampling phase stored together, phase after phase.
        self.order = torch.cat([torch.arange(p, n, stride, device=dev)
                                for p in range(stride)])
        self.bounds = phase_bounds(n, stride)
        self.identity = stride == 1
        self.e64 = eigenvectors
        self.sorted = eigenvectors if self.identity else eigenvectors[self.order]
        self.et = self.sorted.T.to(dtype).contiguous()
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

    def __call__(self, weights, phase=None):
        """Exact from every pixel's (N, K) weights, or sampled from the (n, K) weights
        of one phase's :meth:`rows` (see the reference)."""
        torch = import_torch()
        weights = weights.to(self.dtype)
        if phase is None:
            if not self.identity:
                weights = weights[self.order]
            lo, hi = 0, self.bounds[-1]
        else:
            lo, hi = self.bounds[phase], self.bounds[phase + 1]
        held = min(max(lo, self.held), hi)
        packed = self.products[:, lo:held] @ weights[:held - lo]
        for start in range(held, hi, self.chunk):
            stop = min(start + self.chunk, hi)
            packed += self._products(start, stop) @ weights[start - lo:stop - lo]
        if phase is not None:
            packed *= self.bounds[-1] / (hi - lo)
        packed = packed.T.to(torch.float64)
        grams = torch.empty((weights.shape[1], self.m, self.m), dtype=torch.float64,
                            device=weights.device)
        grams[:, self.upper[0], self.upper[1]] = packed
        grams[:, self.upper[1], self.upper[0]] = packed
        return grams
