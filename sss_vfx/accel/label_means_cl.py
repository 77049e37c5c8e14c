"""Per-label means on an OpenCL device (host code of ``kernels/label_means.cl``).

The numpy reference is :func:`sss_vfx.graph.superpixels.label_means`. The kernel sums
fixed-point values with integer atomics, so results are the same bit for bit on every
run; they differ from the float64 reference by at most ``2.4e-10 * (max - min)`` of each
channel with float64 on the device, ``1e-7 * (max - min)`` with float32.
"""

import numpy as np

from sss_vfx.accel.context import device_errors, get_context
from sss_vfx.errors import InputError

__all__ = ["label_means_cl"]

_SOURCE = "label_means.cl"
_FIXED_POINT = 2.0 ** 31
_CHUNK = 64


def _check(labels, values, count):
    labels = np.asarray(labels)
    values = np.asarray(values)
    if labels.ndim != 2:
        raise InputError(f"labels must be an (H, W) array, got shape {labels.shape}")
    if values.shape[:2] != labels.shape or values.ndim not in (2, 3):
        raise InputError(f"values must be (H, W) or (H, W, C) with (H, W) = "
                         f"{labels.shape}, got shape {values.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be integers, got dtype {labels.dtype}")
    count = int(count)
    if labels.size and (labels.min() < 0 or labels.max() >= count):
        raise InputError(f"labels must lie in 0..{count - 1} (count={count}), got "
                         f"{labels.min()}..{labels.max()}")
    return labels, values.reshape(labels.size, -1), count


def _channel_range(flat):
    """Per-channel min and max of (n, C) values (folded so numpy reduces contiguously)."""
    n, channels = flat.shape
    fold = 16
    m = n - n % fold
    parts = [flat[m:]] if m < n else []
    if m:
        head = flat[:m].reshape(-1, fold * channels)
        parts += [head.min(axis=0).reshape(fold, channels),
                  head.max(axis=0).reshape(fold, channels)]
    stacked = np.concatenate(parts)
    return stacked.min(axis=0).astype(np.float64), stacked.max(axis=0).astype(np.float64)


def label_means_cl(labels, values, count, *, device="opencl", precision=None):
    """Mean of ``values`` over each label, on an OpenCL device.

    Parameters
    ----------
    labels : (H, W) int array, values 0..count-1
    values : (H, W, C) or (H, W) float array, finite
    count : int
        Number of labels S.
    device : str or Device, optional
        An OpenCL device spec.
    precision : {None, 'float64', 'float32'}, optional

    Returns
    -------
    (count, C) float64
        Zero for labels no pixel carries, like the numpy reference.

    Raises
    ------
    InputError
        Mismatched shapes, labels out of range or non-finite values.
    DeviceError
        The device cannot be opened or the kernel fails.
    """
    labels, flat, count = _check(labels, values, count)
    ctx = get_context(device)
    real = ctx.real_dtype(precision)
    n, channels = flat.shape
    if n == 0 or count == 0:
        return np.zeros((count, channels))
    lo, hi = _channel_range(flat)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise InputError("values hold NaN or infinite entries")
    span = hi - lo
    scale = np.where(span > 0, _FIXED_POINT / np.where(span > 0, span, 1.0), 0.0)
    sums = np.zeros((count, channels, 2), dtype=np.uint32)
    counts = np.zeros(count, dtype=np.uint32)
    options = ctx.build_options(real) + (f"-DCHANNELS={channels}", f"-DCHUNK={_CHUNK}")
    with device_errors("the label means", ctx.device):
        kernel = ctx.kernel(_SOURCE, "label_sums", options)
        mf = ctx.cl.mem_flags
        sums_buf = ctx.cl.Buffer(ctx.context, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=sums)
        counts_buf = ctx.cl.Buffer(ctx.context, mf.READ_WRITE | mf.COPY_HOST_PTR,
                                   hostbuf=counts)
        ctx.launch(kernel, (-(-n // _CHUNK),),
                   ctx.upload(labels.astype(np.int32, copy=False).ravel()),
                   ctx.upload(flat.astype(real, copy=False)), ctx.upload(lo.astype(real)),
                   ctx.upload(scale.astype(real)), np.int64(n), sums_buf, counts_buf)
        ctx.read(sums, sums_buf)
        ctx.read(counts, counts_buf)
    totals = sums[..., 1].astype(np.float64) * 2.0 ** 32 + sums[..., 0]
    sizes = counts.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = lo + totals / np.where(scale > 0, scale, 1.0) / sizes[:, None]
    means[sizes == 0] = 0.0
    return means
