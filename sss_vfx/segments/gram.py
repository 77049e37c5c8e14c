"""Weighted Gram matrices of the eigenvectors, ``E^T diag(w_k) E``, for the IRLS of the
constrained sparsification (:mod:`~sss_vfx.segments.constrained`).

Two builders return the same matrices:

* :class:`ProductGram` (every clamp): the pairwise products ``E[:, i] * E[:, j]`` laid
  out as rows of one matrix, so all K Gram matrices are one GEMM against the weights.
  Cost ``N M^2 K`` per iteration, ``N M^2 / 2`` numbers held.
* :class:`SupportGram` (a clamp of at least :data:`SUPPORT_CLAMP`): most pixels lie far
  from a given layer, where ``|alpha| < clamp`` and the weight is the clamp's constant
  ``c``; the Gram matrix is ``c E^T E`` (computed once) plus a correction over the
  pixels where the weight differs from ``c``: the layer's support and its soft rim. Cost
  follows the sum of the supports, about ``0.14 N M^2 K`` at a clamp of 1e-2, and only
  the eigenvectors are held. Exact: the pixels left out have exactly the weight ``c``.

Both sum over all pixels or, for a sampled iteration, over one sampling phase (the
pixels ``p`` with ``p % stride == phase``, scaled to all pixels).

Written against the array namespace of the eigenvectors (numpy, torch).
"""

import itertools

import numpy as np

from sss_vfx.arrays.namespace import contiguous, device_of, namespace, triu_indices
from sss_vfx.spectral.threads import single_blas_thread, thread_map, workers

__all__ = ["SUPPORT_CLAMP", "ProductGram", "SupportGram", "gram_builder", "phase_bounds"]

#: The smallest clamp at which :func:`gram_builder` takes :class:`SupportGram`. Below it
#: too few pixels sit at the clamp for the support to pay, and the clamp's weight
#: (``clamp ** (sparsity - 2)``) is so far above the smallest weights that ``c E^T E``
#: minus a float32 correction would lose them.
SUPPORT_CLAMP = 1e-3
#: Blocks of pair rows :class:`ProductGram`'s product is cut into, one per thread at a
#: time: a fixed count, so the sums are the same bits on one core or many (and, with
#: OpenBLAS on the paper's sizes, those of the uncut product).
PAIR_BLOCKS = 8


def phase_bounds(n, stride):
    """Where each sampling phase starts when the pixels ``p`` are stored phase after
    phase (phase ``p % stride``): ``stride + 1`` ints from 0 to ``n``."""
    return [0, *itertools.accumulate(len(range(p, n, stride)) for p in range(stride))]


def gram_builder(eigenvectors, options, dtype, stride, constant):
    """The Gram builder for these options.

    Parameters
    ----------
    eigenvectors : (N, M) float64 array or tensor
    options : ConstrainedOptions
    dtype : the namespace's float32 or float64, the precision of the sums
    stride : int, >= 1, the sampling stride
    constant : float
        The IRLS weight of a pixel whose ``|alpha|`` (or ``|1 - alpha|``) is below the
        clamp.

    Returns
    -------
    SupportGram when ``options.clamp >= SUPPORT_CLAMP``, else ProductGram.
    """
    if options.clamp >= SUPPORT_CLAMP:
        return SupportGram(eigenvectors, dtype, stride, constant)
    return ProductGram(eigenvectors, options.product_budget, dtype, stride)


class _Phases:
    """The eigenvectors with their pixels stored phase after phase, so that each
    sampling phase's rows are one contiguous range (a view)."""

    def __init__(self, eigenvectors, stride):
        xp = namespace(eigenvectors)
        n = eigenvectors.shape[0]
        dev = device_of(eigenvectors)
        self.order = xp.concat([xp.arange(p, n, stride, device=dev) for p in range(stride)])
        self.bounds = phase_bounds(n, stride)
        self.e64 = eigenvectors
        self.sorted = eigenvectors if stride == 1 else eigenvectors[self.order]
        self.m = eigenvectors.shape[1]

    def rows(self, phase):
        """The pixels a call with ``phase`` sums over (all pixels for None), in the
        order :meth:`basis` and the weights of the builder's call use."""
        if phase is None:
            return slice(None)
        return self.order[self.bounds[phase]:self.bounds[phase + 1]]

    def basis(self, phase):
        """The float64 eigenvector rows of :meth:`rows` (a view), (n, M)."""
        if phase is None:
            return self.e64
        return self.sorted[self.bounds[phase]:self.bounds[phase + 1]]

    def _stored(self, weights, phase):
        """The weights in storage order, the stored range they cover and the factor
        that scales a phase's sum to all pixels."""
        if phase is None:
            return weights[self.order], 0, self.bounds[-1], 1.0
        lo, hi = self.bounds[phase], self.bounds[phase + 1]
        return weights, lo, hi, self.bounds[-1] / (hi - lo)


class ProductGram(_Phases):
    """``E^T diag(w_k) E`` for every column k of w, as one GEMM.

    The pairwise products ``E[:, i] * E[:, j]`` (i <= j) are laid out as rows of a
    ``(M (M+1) / 2, N)`` matrix, so all K weighted Gram matrices are one product with
    the ``(N, K)`` weights. Sums in ``dtype``; float64 where the weights span twelve
    orders of magnitude (the paper's clamp), as float32 sums lose the small ones.

    Parameters
    ----------
    eigenvectors : (N, M) float64
    budget : int
        Bytes the products may occupy: those of the first pixels (in storage order) are
        kept, the rest rebuilt in chunks at every call.
    dtype : float32 or float64 of the namespace
    stride : int, >= 1
    """

    def __init__(self, eigenvectors, budget, dtype, stride=1):
        super().__init__(eigenvectors, stride)
        xp = namespace(eigenvectors)
        self.dtype = dtype
        self.et = contiguous(self.sorted.T, dtype)
        n = self.et.shape[1]
        self.upper = triu_indices(self.m, self.et)
        row_bytes = xp.finfo(dtype).bits // 8 * self.upper[0].shape[0]
        self.held = max(0, min(n, budget // row_bytes))
        self.chunk = max(1, min(n, budget // (4 * row_bytes)))
        self.products = self._products(0, self.held)
        # The GEMM's rows go to the cores in a fixed number of blocks, the same
        # whatever the thread count (on numpy; torch keeps its one product).
        pairs = self.upper[0].shape[0]
        cuts = [pairs * b // PAIR_BLOCKS for b in range(PAIR_BLOCKS + 1)]
        numpy = isinstance(eigenvectors, np.ndarray)
        self.blocks = [slice(a, b) for a, b in zip(cuts, cuts[1:])] if numpy else \
            [slice(None)]
        self.threads = workers() if numpy else 1

    def _products(self, start, stop, rows=slice(None)):
        """The pairwise products of pixels ``start:stop``, (pairs, stop - start), or of
        the pairs ``rows`` (a slice) alone."""
        xp = namespace(self.et)
        et = self.et[:, start:stop]
        if rows != slice(None):
            return et[self.upper[0][rows]] * et[self.upper[1][rows]]
        out = xp.empty((self.upper[0].shape[0], et.shape[1]), dtype=self.dtype,
                       device=device_of(et))
        row = 0
        for i in range(self.m):
            out[row:row + self.m - i] = et[i] * et[i:]
            row += self.m - i
        return out

    def __call__(self, weights, phase=None):
        """Gram matrices (K, M, M) float64: exact from the (N, K) weights of every
        pixel, or for a ``phase`` from the (n, K) weights of its :meth:`rows` (scaled
        to all pixels)."""
        xp = namespace(weights)
        weights, lo, hi, scale = self._stored(weights, phase)
        weights = contiguous(weights, self.dtype)
        # weights[i] belongs to stored pixel lo + i.
        held = min(max(lo, self.held), hi)

        def block(rows):
            packed = self.products[rows, lo:held] @ weights[:held - lo]
            for start in range(held, hi, self.chunk):
                stop = min(start + self.chunk, hi)
                packed += self._products(start, stop, rows) @ weights[start - lo:stop - lo]
            return packed

        packed = xp.concat(thread_map(block, self.blocks, self.threads), axis=0)
        if phase is not None:
            packed *= scale
        packed = xp.astype(packed.T, xp.float64)
        grams = xp.empty((weights.shape[1], self.m, self.m), dtype=xp.float64,
                         device=device_of(weights))
        grams[:, self.upper[0], self.upper[1]] = packed
        grams[:, self.upper[1], self.upper[0]] = packed
        return grams


class SupportGram(_Phases):
    """``E^T diag(w_k) E = c E^T E + E_S^T diag(w_k - c) E_S`` over the support S of
    each layer: the pixels whose weight is not the clamp's constant ``c``.

    ``E^T E`` over each phase (and over all pixels) is computed once in float64; the
    corrections are ``dtype`` products of the support's rows scaled by
    ``sqrt(|w - c|)`` (symmetric rank updates). The weights are below ``c`` on the
    support but for a sliver just above the clamp, which gets its own update.

    Parameters
    ----------
    eigenvectors : (N, M) float64
    dtype : float32 or float64 of the namespace
    stride : int, >= 1
    constant : float, the weight ``c``
    """

    def __init__(self, eigenvectors, dtype, stride, constant):
        super().__init__(eigenvectors, stride)
        self.dtype = dtype
        self.constant = constant
        self.rows_dtype = contiguous(self.sorted, dtype)
        phases = [self.sorted[lo:hi] for lo, hi in zip(self.bounds, self.bounds[1:])]
        self.phase_grams = [b.T @ b for b in phases]
        self.full_gram = sum(self.phase_grams[1:], self.phase_grams[0])
        # The layers' corrections are independent: on numpy they go to the cores side
        # by side (torch runs its own threads, and a GPU its own queue).
        self.threads = workers() if isinstance(eigenvectors, np.ndarray) else 1

    def __call__(self, weights, phase=None):
        """Gram matrices (K, M, M) float64, as :meth:`ProductGram.__call__`."""
        xp = namespace(weights)
        weights, lo, hi, scale = self._stored(weights, phase)
        rows = self.rows_dtype[lo:hi]
        base = self.full_gram if phase is None else self.phase_grams[phase]
        # One layer's excess per row: a column of the (N, K) weights would be read
        # across every cache line of the array, twice per layer.
        excess = contiguous(weights.T, self.dtype) - self.constant
        grams = xp.empty((weights.shape[1], self.m, self.m), dtype=xp.float64,
                         device=device_of(weights))

        def layer(k):
            correction = (_rank_update(rows, excess[k] > 0, excess[k]) -
                          _rank_update(rows, excess[k] < 0, -excess[k]))
            grams[k] = scale * (self.constant * base + xp.astype(correction, xp.float64))

        # Small products, one per layer: a second BLAS thread gains little on them and,
        # on a busy machine, makes each one many times slower; whole layers go to the
        # cores instead.
        with single_blas_thread():
            thread_map(layer, range(weights.shape[1]), self.threads)
        return grams


def _rank_update(rows, where, amount):
    """``sum_p amount_p rows_p rows_p^T`` over the pixels ``where`` (amount >= 0 there),
    as ``F^T F`` (one symmetric rank-k update)."""
    xp = namespace(rows)
    # Gathered by indices (numpy's boolean row mask over (N, M) copies several times
    # slower) and scaled in place: the support's rows are the stage's memory traffic.
    index = xp.nonzero(where)[0]
    scaled = xp.take(rows, index, axis=0)
    scaled *= xp.sqrt(xp.take(amount, index))[:, None]
    return scaled.T @ scaled
