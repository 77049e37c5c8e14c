"""Temporal affinity on an OpenCL device (host code of ``kernels/temporal.cl``).

The numpy reference and the definition are in :mod:`sss_vfx.graph.temporal`. With
float64 on the device the result equals the reference to about 1e-15 relative to its
largest entry; in float32 the positions p + F(p) lose about 1e-7 * W pixels, so the
bilinear weights differ by up to about 1e-4 on large frames.
"""

import numpy as np
import scipy.sparse

from sss_vfx.accel.context import device_errors, get_context
from sss_vfx.accel.matting_cl import empty_aligned, index_dtype
from sss_vfx.graph.temporal import check_temporal_inputs
from sss_vfx.options import TemporalOptions

__all__ = ["temporal_affinity_cl"]

_SOURCE = "temporal.cl"


def temporal_affinity_cl(frame, next_frame, flow, confidence, *,
                         lambda_t=TemporalOptions.temporal_weight,
                         sigma=TemporalOptions.temporal_sigma,
                         device="opencl", precision=None):
    """Temporal affinity T of frame t's pixels to frame t+1's pixels, on a device.

    Parameters and result as :func:`sss_vfx.graph.temporal.temporal_affinity`, plus:

    Parameters
    ----------
    device : str or Device, optional
        An OpenCL device spec.
    precision : {None, 'float64', 'float32'}, optional

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64

    Raises
    ------
    InputError
        See :func:`sss_vfx.graph.temporal.check_temporal_inputs`.
    DeviceError
        The device cannot be opened or a kernel fails.
    """
    frame, next_frame, flow, confidence = check_temporal_inputs(
        frame, next_frame, flow, confidence, lambda_t, sigma)
    ctx = get_context(device)
    real = ctx.real_dtype(precision)
    h, w, _ = frame.shape
    n = h * w
    index = index_dtype(4 * n, n)
    options = ctx.build_options(real, index)
    with device_errors("the temporal affinity", ctx.device):
        count_kernel = ctx.kernel(_SOURCE, "temporal_count", options)
        rows_kernel = ctx.kernel(_SOURCE, "temporal_rows", options)
        flow_buf = ctx.upload(flow.astype(real, copy=False))
        counts_buf = ctx.buffer(n * index.itemsize)
        ctx.launch(count_kernel, (n,), flow_buf, np.int32(h), np.int32(w), counts_buf)
        indptr = np.zeros(n + 1, dtype=index)
        ctx.read(indptr[1:], counts_buf)
        np.cumsum(indptr, out=indptr)
        nnz = int(indptr[-1])
        data = empty_aligned(nnz, np.float64)
        indices = empty_aligned(nnz, index)
        if nnz:
            data_buf = ctx.buffer(nnz * real.itemsize)
            indices_buf = ctx.buffer(nnz * index.itemsize)
            ctx.launch(rows_kernel, (n,), ctx.upload(frame.astype(real, copy=False)),
                       ctx.upload(next_frame.astype(real, copy=False)), flow_buf,
                       ctx.upload(confidence.astype(real, copy=False)), np.int32(h),
                       np.int32(w), real.type(lambda_t), real.type(1.0 / sigma ** 2),
                       ctx.upload(indptr), data_buf, indices_buf)
            staging = data if real == np.float64 else np.empty(nnz, dtype=real)
            ctx.read(staging, data_buf)
            ctx.read(indices, indices_buf)
            if staging is not data:
                data[:] = staging
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n))
