"""Guided filter (He, Sun, Tang 2013) with a colour guide, and its use for upsampling.

Written against the array namespace of the guide: OpenCV's box filter and resizes on
numpy arrays, their torch equivalents on tensors (:mod:`sss_vfx.arrays.resample`).
"""

from sss_vfx.arrays.namespace import as_array, asarray, device_of, einsum, namespace
from sss_vfx.arrays.resample import box_filter as _box
from sss_vfx.arrays.resample import resize_linear


def guided_coefficients(guide, source, radius, eps):
    """Per-pixel linear model ``q = A I + b`` of the guided filter.

    Parameters
    ----------
    guide : (H, W, 3) float array or tensor
        Its namespace and device are where the computation runs.
    source : (H, W, C) float array
    radius : int
        Box radius; windows are (2 r + 1)^2.
    eps : float
        Regulariser; smaller keeps more of the guide's edges.

    Returns
    -------
    a : (H, W, C, 3) float64, b : (H, W, C) float64
        Window-averaged coefficients, of the namespace of ``guide``.
    """
    guide = as_array(guide)
    xp = namespace(guide)
    guide = xp.astype(guide, xp.float64, copy=False)
    src = asarray(source, guide, xp.float64)
    if src.ndim == 2:
        src = src[..., None]
    dev = device_of(guide)
    mean_i = _box(guide, radius)
    cov_ii = xp.empty(tuple(guide.shape[:2]) + (3, 3), dtype=xp.float64, device=dev)
    for c in range(3):
        for d in range(c, 3):
            cov_ii[..., c, d] = cov_ii[..., d, c] = (
                _box(guide[..., c] * guide[..., d], radius) - mean_i[..., c] * mean_i[..., d])
    inv = xp.linalg.inv(cov_ii + eps * xp.eye(3, dtype=xp.float64, device=dev))
    a = xp.empty(tuple(src.shape) + (3,), dtype=xp.float64, device=dev)
    b = xp.empty(tuple(src.shape), dtype=xp.float64, device=dev)
    for k in range(src.shape[2]):
        p = src[..., k]
        mean_p = _box(p, radius)
        cov_ip = xp.stack([_box(guide[..., c] * p, radius) for c in range(3)], axis=-1) \
            - mean_i * mean_p[..., None]
        a[..., k, :] = einsum("...ij,...j->...i", inv, cov_ip)
        b[..., k] = mean_p - einsum("...i,...i->...", a[..., k, :], mean_i)
    a = xp.stack([xp.stack([_box(a[..., k, c], radius) for c in range(3)], axis=-1)
                  for k in range(src.shape[2])], axis=2)
    b = xp.stack([_box(b[..., k], radius) for k in range(src.shape[2])], axis=-1)
    return a, b


def guided_filter(guide, source, radius, eps):
    """Edge-aware smoothing of ``source`` following the edges of ``guide``.

    Parameters
    ----------
    guide : (H, W, 3) float array, values in [0, 1]
    source : (H, W) or (H, W, C) float array
    radius : int
    eps : float

    Returns
    -------
    Same shape as ``source``, float64.
    """
    a, b = guided_coefficients(guide, source, radius, eps)
    xp = namespace(a)
    out = einsum("hwkc,hwc->hwk", a, asarray(guide, a, xp.float64)) + b
    return xp.reshape(out, tuple(as_array(source).shape))


def guided_upsample(guide_small, source_small, guide_full, radius=2, eps=1e-4):
    """Upsample a map by the guided filter's linear model (fast guided filter).

    The coefficients are fitted at low resolution, upsampled bilinearly, and applied
    to the full-resolution guide, so fine structure of the guide (hair) reappears in
    the result.

    Parameters
    ----------
    guide_small : (h, w, 3) float array
    source_small : (h, w, C) float array
    guide_full : (H, W, 3) float array
    radius : int
        Window radius at low resolution.
    eps : float

    Returns
    -------
    (H, W, C) float64, of the namespace of ``guide_small``
    """
    a, b = guided_coefficients(guide_small, source_small, radius, eps)
    xp = namespace(a)
    h, w = guide_full.shape[:2]
    a_full = resize_linear(a, (h, w))
    out = einsum("hwkc,hwc->hwk", a_full, asarray(guide_full, a, xp.float64))
    del a_full      # the largest array: (H, W, C, 3) float64
    out += resize_linear(b, (h, w))
    return out
