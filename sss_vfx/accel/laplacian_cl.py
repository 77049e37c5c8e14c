"""Laplacian assembly on an OpenCL device: ``L = diag(W 1) - W``.

Two entry points, with :func:`sss_vfx.graph.laplacian.affinity_to_laplacian` as the
numpy reference of both:

:func:`affinity_to_laplacian_cl`
    Any CSR affinity (per-frame matting plus temporal blocks of a video window, ...),
    one work item per row (``kernels/laplacian.cl``).
:func:`method_laplacian_cl`
    The Laplacian of the method, ``W_matting + W_extra`` with ``W_extra`` the few
    long-range superpixel edges: the matting rows are written as Laplacian rows straight
    from the matting kernel, into a CSR layout that leaves room in the rows of the
    centroid pixels for their extra entries; the host merges those few rows.
"""

import numpy as np
import scipy.sparse

from sss_vfx.accel.context import device_errors, get_context
from sss_vfx.accel.matting_cl import (allocate_csr, check_matting_image, empty_aligned,
                                      index_dtype, matting_row_lengths, write_matting_rows)
from sss_vfx.errors import DeviceMemoryError, InputError

__all__ = ["affinity_to_laplacian_cl", "method_laplacian_cl"]


def _with_diagonal(affinity):
    """Canonical CSR copy of ``affinity`` holding every diagonal entry (zero if absent)."""
    n = affinity.shape[0]
    matrix = scipy.sparse.csr_matrix(affinity, dtype=np.float64, copy=True)
    matrix.sum_duplicates()
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
    has = np.zeros(n, dtype=bool)
    has[rows[matrix.indices == rows]] = True
    if has.all():
        return matrix
    missing = np.flatnonzero(~has)
    coo = matrix.tocoo()
    # coo -> csr sums duplicates and keeps explicit zeros.
    return scipy.sparse.coo_matrix(
        (np.concatenate([coo.data, np.zeros(missing.size)]),
         (np.concatenate([coo.row, missing]), np.concatenate([coo.col, missing]))),
        shape=matrix.shape).tocsr()


def affinity_to_laplacian_cl(affinity, *, device="opencl", precision=None):
    """Graph Laplacian of a symmetric affinity matrix, on an OpenCL device.

    Parameters
    ----------
    affinity : (N, N) scipy.sparse matrix
        Symmetric; may hold negative entries. Not modified.
    device : str or Device, optional
    precision : {None, 'float64', 'float32'}, optional
        float32 sums rows to about 1e-7 relative.

    Returns
    -------
    scipy.sparse.csr_matrix, (N, N) float64
        Zero row sums; the pattern of ``affinity`` plus the diagonal.

    Raises
    ------
    InputError
        A matrix that is not square.
    DeviceError
        The device cannot be opened or the kernel fails; :class:`DeviceMemoryError`
        when the matrix does not fit the device (this builder does not tile).
    """
    if affinity.ndim != 2 or affinity.shape[0] != affinity.shape[1]:
        raise InputError(f"affinity must be a square matrix, got shape {affinity.shape}")
    matrix = _with_diagonal(affinity)
    ctx = get_context(device)
    real = ctx.real_dtype(precision)
    n, nnz = matrix.shape[0], matrix.nnz
    index = index_dtype(nnz, n)
    need = nnz * (2 * real.itemsize + index.itemsize)
    if not ctx.zero_copy and need > ctx.device.global_memory // 2 or \
            nnz * real.itemsize > ctx.device.max_allocation:
        raise DeviceMemoryError(f"a Laplacian of {nnz} non-zeros needs {need} bytes, more "
                                f"than {ctx.device} offers; use device='numpy'")
    indptr = matrix.indptr.astype(index, copy=True)
    indices = matrix.indices.astype(index, copy=True)
    out = empty_aligned(nnz, np.float64)
    with device_errors("the Laplacian", ctx.device):
        kernel = ctx.kernel("laplacian.cl", "csr_laplacian", ctx.build_options(real, index))
        out_buf = ctx.buffer(nnz * real.itemsize)
        ctx.launch(kernel, (n,), ctx.upload(indptr), ctx.upload(indices),
                   ctx.upload(matrix.data.astype(real, copy=False)), index.type(n), out_buf)
        staging = out if real == np.float64 else np.empty(nnz, dtype=real)
        ctx.read(staging, out_buf)
        if staging is not out:
            out[:] = staging
    return scipy.sparse.csr_matrix((out, indices, indptr), shape=(n, n))


def _extra_laplacian(extra, shape):
    """COO pieces of ``diag(E 1) - E`` for the extra affinity E (self-loops dropped)."""
    n = shape[0] * shape[1]
    extra = scipy.sparse.coo_matrix(extra, dtype=np.float64)
    if extra.shape != (n, n):
        raise InputError(f"extra affinity must be ({n}, {n}) for a {shape[1]}x{shape[0]} "
                         f"image, got {extra.shape}")
    off = extra.row != extra.col
    rows, cols, vals = extra.row[off], extra.col[off], extra.data[off]
    degree = np.bincount(rows, vals, minlength=n)
    touched = np.unique(rows)
    laplacian = scipy.sparse.coo_matrix(
        (np.concatenate([-vals, degree[touched]]),
         (np.concatenate([rows, touched]), np.concatenate([cols, touched]))),
        shape=(n, n)).tocsr()  # sums duplicate edges
    return laplacian.tocoo()


def _merge_rows(data, indices, indptr, mlen, extra, n):
    """Merge the extra Laplacian entries into their rows (matting entries first in each
    row's slot, then room for the extras) and sort every such row by column."""
    rows = np.unique(extra.row)
    starts, lengths = indptr[rows].astype(np.int64), mlen[rows]
    # Positions of the matting entries of those rows.
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions = np.repeat(starts, lengths) + offsets
    all_rows = np.concatenate([np.repeat(rows, lengths), extra.row.astype(np.int64)])
    all_cols = np.concatenate([indices[positions].astype(np.int64),
                               extra.col.astype(np.int64)])
    all_vals = np.concatenate([data[positions], extra.data])
    keys = all_rows * n + all_cols
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    merged = np.bincount(inverse, all_vals)
    merged_rows, merged_cols = unique_keys // n, unique_keys % n
    counts = np.bincount(merged_rows, minlength=n)[rows]
    slot = (indptr[rows + 1] - indptr[rows]).astype(np.int64)
    if not np.array_equal(counts, slot):
        raise AssertionError("merged row lengths disagree with the CSR layout")
    first = np.repeat(np.cumsum(counts) - counts, counts)
    where = np.repeat(starts, counts) + np.arange(counts.sum()) - first
    data[where] = merged
    indices[where] = merged_cols


def method_laplacian_cl(image, extra_affinity=None, *, eps=1e-7, device="opencl",
                        precision=None, band_rows=None, method=None):
    """Laplacian of ``W_matting + W_extra`` built on an OpenCL device.

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1], H, W >= 3
    extra_affinity : (H*W, H*W) sparse matrix, optional
        Symmetric long-range affinities (the weighted superpixel terms); few entries.
    eps : float, optional
        Matting regulariser.
    device, precision, band_rows, method
        As :func:`sss_vfx.accel.matting_cl.matting_laplacian_cl`.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Symmetric, zero row sums, canonical (sorted, no duplicates).

    Raises
    ------
    InputError
        Bad image, or an extra affinity of the wrong shape.
    DeviceError
        As :func:`sss_vfx.accel.matting_cl.matting_laplacian_cl`.
    """
    image = check_matting_image(image)
    ctx = get_context(device)
    real = ctx.real_dtype(precision)
    h, w, _ = image.shape
    n = h * w
    mlen = matting_row_lengths(h, w)
    lengths = mlen
    extra = None
    if extra_affinity is not None:
        extra = _extra_laplacian(extra_affinity, (h, w))
        # Entries within distance 2 fall on the matting pattern; the rest need room.
        outside = (np.abs(extra.row // w - extra.col // w) > 2) | \
                  (np.abs(extra.row % w - extra.col % w) > 2)
        lengths = mlen + np.bincount(extra.row[outside], minlength=n)
    indptr, data, indices = allocate_csr(lengths)
    del lengths
    with device_errors("the Laplacian", ctx.device):
        write_matting_rows(ctx, image, eps, indptr, data, indices, laplacian=True,
                           real=real, band_rows=band_rows, method=method)
    if extra is not None and extra.nnz:
        _merge_rows(data, indices, indptr, mlen, extra, n)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n))
