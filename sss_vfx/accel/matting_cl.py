"""Matting affinity and Laplacian on an OpenCL device (host code of ``kernels/matting.cl``).

The numpy reference is :mod:`sss_vfx.graph.matting`. Each pixel gathers, for each of its
25 neighbours, the contributions of the 3x3 windows they share and writes its own CSR
row: no atomics and a fixed sparsity pattern. Per window the kernels form the 9x9 block
``(1 + v_a . v_b) / 9`` with ``v = L^-1 (I - mu)`` and L the Cholesky factor of the
regularised covariance (backward stable, unlike an explicit inverse). On devices with
large local memory (CPUs) one kernel computes the blocks of a tile's windows in local
memory and gathers from there (``'tile'``); elsewhere the blocks of a band of windows go
to global memory between two kernels (``'two-pass'``).

Memory: the CSR arrays are allocated once on the host and are the only large
allocation; devices that share memory with the host (CPUs) write straight into them,
others write bands that are copied back. Images larger than the device's memory are
processed in bands of rows with a two-row halo, the band height following from the
device's memory and largest allocation; a row too wide for the device raises
:class:`~sss_vfx.errors.DeviceMemoryError` (``device='auto'`` then falls back to
numpy).

Precision, relative to the largest entry: with ``cl_khr_fp64`` the kernels run in
float64 and agree with the numpy reference to 1e-8 (measured: at most 3.2e-9, the
reference's own rounding in near-flat windows; against an extended-precision
computation the kernels are within 1e-13). Without fp64 they run in float32: about 1e-6
on random colours and 1e-4 on 8-bit photographs, but up to several percent in windows
that straddle an edge with sub-quantisation noise, where float32 cannot resolve the
covariance against eps/9.
"""

import numpy as np
import scipy.sparse

from sss_vfx.accel.context import device_errors, get_context
from sss_vfx.errors import DeviceMemoryError
from sss_vfx.graph.matting import check_matting_image

__all__ = ["matting_affinity_cl", "matting_laplacian_cl", "matting_row_lengths"]

_SOURCE = "matting.cl"
_MiB = 2 ** 20


def matting_row_lengths(height, width):
    """Non-zeros of each matting row: the in-image pixels within distance 2.

    Returns
    -------
    (H*W,) int64
    """
    def per_axis(n):
        pos = np.arange(n)
        return np.minimum(pos, 2) + np.minimum(n - 1 - pos, 2) + 1
    return np.outer(per_axis(height), per_axis(width)).ravel()


def index_dtype(nnz, n):
    """int32 when scipy can keep int32 CSR indices, else int64."""
    return np.dtype(np.int32 if max(nnz, n) < 2 ** 31 - 1 else np.int64)


def empty_aligned(size, dtype, align=4096):
    """An uninitialised 1-D array whose data start on an ``align``-byte boundary (some
    OpenCL drivers only share page-aligned host memory without copying)."""
    dtype = np.dtype(dtype)
    extra = align // dtype.itemsize
    # Over-allocate in the same dtype: scipy copies views of a much larger base.
    raw = np.empty(size + extra, dtype=dtype)
    offset = ((-raw.ctypes.data) % align) // dtype.itemsize
    return raw[offset:offset + size]


#: Pixels per work group of the one-kernel (tiled) form, and its local memory.
TILE = (32, 8)


def _tile_bytes(real):
    tile_w, tile_h = TILE
    return 45 * (tile_w + 4) * (tile_h + 2) * real.itemsize


def choose_method(ctx, real):
    """``'tile'`` (one kernel, window blocks in local memory) where the device's local
    memory holds a tile's blocks, else ``'two-pass'`` (blocks in global memory)."""
    return "tile" if ctx.local_memory >= _tile_bytes(real) else "two-pass"


def _band_height(ctx, height, width, real, index, zero_copy_out, method, band_bytes=None):
    r, i = real.itemsize, index.itemsize
    temp_row = width * ((3 if method == "tile" else 48) * r + i)
    out_row = 25 * width * (r + i)
    if band_bytes is None:
        if zero_copy_out:
            band_bytes = int(np.clip(height * out_row // 8, 4 * _MiB, 64 * _MiB))
        else:
            band_bytes = ctx.device.global_memory // 2
    per_row = temp_row + (0 if zero_copy_out else out_row)
    rows = (band_bytes - 4 * temp_row) // per_row
    if ctx.device.max_allocation:
        rows = min(rows, ctx.device.max_allocation // (25 * width * max(r, i)))
    if rows < 1:
        raise DeviceMemoryError(
            f"one image row of {width} pixels needs {per_row + 4 * temp_row} bytes on "
            f"{ctx.device}, more than the {band_bytes} it can use; use device='numpy'")
    return int(min(rows, height))


def write_matting_rows(ctx, image, eps, indptr, data, indices, *, laplacian, real,
                       band_rows=None, method=None):
    """Fill CSR ``data`` and ``indices`` with the matting affinity (or Laplacian) rows.

    Row i's in-image 5x5 neighbours are written in ascending column order from position
    ``indptr[i]``; positions after them up to ``indptr[i + 1]`` are left untouched.

    Parameters
    ----------
    ctx : DeviceContext
    image : (H, W, 3) float array, validated
    eps : float
    indptr : (H*W + 1,) int32 or int64
    data : (nnz,) float64, indices : (nnz,) of indptr's dtype
        Written in place.
    laplacian : bool
        Write ``L = D - W`` instead of ``W``.
    real : numpy dtype, float32 or float64
    band_rows : int, optional
        Rows per band; default: as many as the device's memory allows.
    method : {None, 'tile', 'two-pass'}, optional
        Kernel form; None picks by the device's local memory (:func:`choose_method`).
    """
    height, width, _ = image.shape
    index = indptr.dtype
    method = method or choose_method(ctx, real)
    options = ctx.build_options(real, index)
    if method == "tile":
        options += (f"-DTILE_W={TILE[0]}", f"-DTILE_H={TILE[1]}")
        tile_kernel = ctx.kernel(_SOURCE, "matting_tile", options)
    else:
        gram_kernel = ctx.kernel(_SOURCE, "window_gram", options)
        rows_kernel = ctx.kernel(_SOURCE, "matting_rows", options)
    zero_copy_out = ctx.zero_copy and real == np.float64
    band = _band_height(ctx, height, width, real, index, zero_copy_out, method)
    if band_rows is not None:
        band = max(1, min(band, int(band_rows)))
    # (H, 3, W): a band of rows is contiguous and each channel run is vector-loadable.
    img = np.ascontiguousarray(np.asarray(image, dtype=real).transpose(0, 2, 1))
    r, cl, queue = real.itemsize, ctx.cl, ctx.queue
    img_buf = ctx.buffer((band + 4) * width * 3 * r, read_only=True)
    if method != "tile":
        gram_buf = ctx.buffer((band + 2) * (width - 2) * 45 * r)
    starts_buf = ctx.buffer(band * width * index.itemsize, read_only=True)
    bands = [(r0, min(height, r0 + band)) for r0 in range(0, height, band)]
    if not zero_copy_out:
        most = max(int(indptr[r1 * width] - indptr[r0 * width]) for r0, r1 in bands)
        data_dev = ctx.buffer(most * r)
        indices_dev = ctx.buffer(most * index.itemsize)
        staging = np.empty(most, dtype=real) if real != data.dtype else None
    eps9 = real.type(eps / 9.0)
    for r0, r1 in bands:
        img_r0, img_r1 = max(0, r0 - 2), min(height, r1 + 2)
        cl.enqueue_copy(queue, img_buf, img[img_r0:img_r1])
        cl.enqueue_copy(queue, starts_buf, np.ascontiguousarray(indptr[r0 * width:r1 * width]))
        start, stop = int(indptr[r0 * width]), int(indptr[r1 * width])
        if zero_copy_out:
            out_data = ctx.wrap(data[start:stop])
            out_indices = ctx.wrap(indices[start:stop])
        else:
            out_data, out_indices = data_dev, indices_dev
        common = (np.int32(bool(laplacian)), out_data, out_indices)
        if method == "tile":
            ctx.launch(tile_kernel, (-(-width // 4), r1 - r0),
                       img_buf, np.int32(height), np.int32(width), np.int32(img_r0),
                       np.int32(img_r1 - img_r0), np.int32(r0), np.int32(r1 - r0), eps9,
                       starts_buf, index.type(start), *common,
                       local_size=(TILE[0] // 4, TILE[1]))
        else:
            win_r0, win_r1 = max(1, r0 - 1), min(height - 2, r1)
            ctx.launch(gram_kernel, ((width + 1) // 4, win_r1 - win_r0 + 1), img_buf,
                       np.int32(width), np.int32(img_r0), np.int32(img_r1 - img_r0),
                       np.int32(win_r0), np.int32(win_r1 - win_r0 + 1), eps9, gram_buf)
            ctx.launch(rows_kernel, ((width + 3) // 4, r1 - r0), np.int32(height),
                       np.int32(width), gram_buf, np.int32(win_r0),
                       np.int32(win_r1 - win_r0 + 1), np.int32(r0), np.int32(r1 - r0),
                       starts_buf, index.type(start), *common)
        if zero_copy_out:
            ctx.sync(out_data, data[start:stop])
            ctx.sync(out_indices, indices[start:stop])
            out_data.release()
            out_indices.release()
        else:
            if staging is None:
                cl.enqueue_copy(queue, data[start:stop], data_dev)
            else:
                cl.enqueue_copy(queue, staging[:stop - start], data_dev)
                data[start:stop] = staging[:stop - start]
            cl.enqueue_copy(queue, indices[start:stop], indices_dev)
    ctx.finish()


def allocate_csr(lengths):
    """Uninitialised CSR arrays for rows of the given lengths.

    Parameters
    ----------
    lengths : (N,) int array, non-zeros per row

    Returns
    -------
    indptr : (N+1,) filled; data : (nnz,) float64; indices : (nnz,) int32 or int64
    """
    n = len(lengths)
    nnz = int(lengths.sum())
    index = index_dtype(nnz, n)
    indptr = np.empty(n + 1, dtype=index)
    indptr[0] = 0
    np.cumsum(lengths, dtype=index, out=indptr[1:])
    return indptr, empty_aligned(nnz, np.float64), empty_aligned(nnz, index)


def _matting_csr(image, eps, device, precision, laplacian, band_rows, method=None):
    image = check_matting_image(image)
    ctx = get_context(device)
    real = ctx.real_dtype(precision)
    height, width, _ = image.shape
    n = height * width
    indptr, data, indices = allocate_csr(matting_row_lengths(height, width))
    what = "the matting " + ("Laplacian" if laplacian else "affinity")
    with device_errors(what, ctx.device):
        write_matting_rows(ctx, image, eps, indptr, data, indices, laplacian=laplacian,
                           real=real, band_rows=band_rows, method=method)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n))


def matting_affinity_cl(image, eps=1e-7, *, device="opencl", precision=None,
                        band_rows=None, method=None):
    """Matting affinity W of an image, built on an OpenCL device.

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1], H, W >= 3
    eps : float, optional
        Covariance regulariser (1e-7 in the paper).
    device : str or Device, optional
        An OpenCL device spec (see :func:`~sss_vfx.accel.devices.resolve_device`).
    precision : {None, 'float64', 'float32'}, optional
        None: float64 where the device supports it.
    band_rows : int, optional
        Rows per band (default: as many as the device's memory allows); the result
        does not depend on it.
    method : {None, 'tile', 'two-pass'}, optional
        Kernel form (default: by the device's local memory); the result does not
        depend on it.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Same pattern and values as :func:`sss_vfx.graph.matting.matting_affinity`.

    Raises
    ------
    InputError
        Image of the wrong shape, smaller than 3x3 or not finite.
    DeviceError
        The device cannot be opened, a kernel fails to build or run, or a single row
        does not fit its memory (:class:`DeviceMemoryError`).

    Examples
    --------
    >>> import numpy as np
    >>> W = matting_affinity_cl(np.random.default_rng(0).random((8, 8, 3)))  # doctest: +SKIP
    >>> W.shape  # doctest: +SKIP
    (64, 64)
    """
    return _matting_csr(image, eps, device, precision, False, band_rows, method)


def matting_laplacian_cl(image, eps=1e-7, *, device="opencl", precision=None,
                         band_rows=None, method=None):
    """Matting Laplacian ``L = D - W`` of an image, built on an OpenCL device.

    The diagonal (row sums of W less W_ii) is formed in the kernel, so the Laplacian
    costs no more than the affinity. Parameters, errors and precision as
    :func:`matting_affinity_cl`.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Symmetric positive semi-definite, zero row sums.
    """
    return _matting_csr(image, eps, device, precision, True, band_rows, method)
