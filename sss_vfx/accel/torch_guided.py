"""Guided filter, resizing and layer upsampling on a torch device (twins of
:mod:`sss_vfx.filters.guided` and :mod:`sss_vfx.segments.upsample`).

OpenCV's operations are reproduced exactly in their definitions: the normalised box
filter with ``BORDER_REFLECT`` borders (``fedcba|abcdef|fedcba``) by cumulative sums,
``INTER_LINEAR`` resizing (half-pixel centres, clamped at the borders) by
``torch.nn.functional.interpolate``, and ``INTER_AREA`` downscaling by its overlap
weights as two small dense matrices.
"""

import numpy as np

from sss_vfx.accel.torch_common import (as_tensor, given_tensor, import_torch, returned,
                                        torch_device)

__all__ = ["area_downscale", "box_filter", "linear_resize", "torch_guided_coefficients",
           "torch_guided_upsample", "torch_normalise_layers", "torch_upsample_layers"]


def _reflect_indices(n, radius, device):
    torch = import_torch()
    index = torch.arange(-radius, n + radius, device=device) % (2 * n)
    return torch.where(index < n, index, 2 * n - 1 - index)


def box_filter(x, radius):
    """Mean over ``(2 radius + 1)^2`` windows of the first two axes, reflected borders.

    Parameters
    ----------
    x : (H, W, ...) float tensor
    radius : int

    Returns
    -------
    Tensor of the shape and dtype of ``x`` (as ``cv2.boxFilter(..., BORDER_REFLECT)``).
    """
    torch = import_torch()
    size = 2 * radius + 1
    for dim in (0, 1):
        n = x.shape[dim]
        padded = x.index_select(dim, _reflect_indices(n, radius, x.device))
        sums = torch.cumsum(padded, dim=dim)
        zero = torch.zeros_like(sums.narrow(dim, 0, 1))
        sums = torch.cat([zero, sums], dim=dim)
        x = (sums.narrow(dim, size, n) - sums.narrow(dim, 0, n)) / size
    return x


def linear_resize(x, shape_hw):
    """Bilinear resize of the first two axes, as ``cv2.resize(..., INTER_LINEAR)``.

    Parameters
    ----------
    x : (h, w, ...) float tensor
    shape_hw : (int, int), the new (H, W)

    Returns
    -------
    (H, W, ...) tensor
    """
    torch = import_torch()
    h, w = x.shape[:2]
    rest = x.shape[2:]
    planes = x.reshape(h, w, -1).permute(2, 0, 1)[None]
    out = torch.nn.functional.interpolate(planes, size=tuple(shape_hw), mode="bilinear",
                                          align_corners=False)
    return out[0].permute(1, 2, 0).reshape(*shape_hw, *rest)


def _area_matrix(source, target):
    """(target, source) weights of ``INTER_AREA`` downscaling along one axis."""
    scale = source / target
    weights = np.zeros((target, source))
    for i in range(target):
        start, stop = i * scale, (i + 1) * scale
        first, last = int(np.floor(start)), int(np.ceil(stop))
        for s in range(first, min(last, source)):
            weights[i, s] = max(0.0, min(stop, s + 1) - max(start, s))
        weights[i] /= weights[i].sum()
    return weights


def area_downscale(x, shape_hw):
    """Area-average downscale of the first two axes, as ``cv2.resize(..., INTER_AREA)``.

    Parameters
    ----------
    x : (H, W, ...) float tensor
    shape_hw : (int, int), the new (h, w), each at most the old size

    Returns
    -------
    (h, w, ...) tensor of the dtype of ``x``
    """
    torch = import_torch()
    h, w = shape_hw
    rows = torch.as_tensor(_area_matrix(x.shape[0], h), dtype=x.dtype, device=x.device)
    cols = torch.as_tensor(_area_matrix(x.shape[1], w), dtype=x.dtype, device=x.device)
    return torch.einsum("ih,hw...,jw->ij...", rows, x, cols)


def torch_guided_coefficients(guide, source, radius, eps):
    """Twin of :func:`sss_vfx.filters.guided.guided_coefficients` on float64 tensors.

    Parameters
    ----------
    guide : (H, W, 3) tensor
    source : (H, W) or (H, W, C) tensor
    radius : int
    eps : float

    Returns
    -------
    a : (H, W, C, 3) float64 tensor, b : (H, W, C) float64 tensor
    """
    torch = import_torch()
    guide = guide.to(torch.float64)
    src = source.to(torch.float64)
    if src.ndim == 2:
        src = src[..., None]
    mean_i = box_filter(guide, radius)
    cov_ii = box_filter(guide[..., :, None] * guide[..., None, :], radius) \
        - mean_i[..., :, None] * mean_i[..., None, :]
    eye = torch.eye(3, dtype=torch.float64, device=guide.device)
    inv = torch.linalg.inv(cov_ii + eps * eye)
    mean_p = box_filter(src, radius)
    cov_ip = box_filter(src[..., :, None] * guide[..., None, :], radius) \
        - mean_p[..., :, None] * mean_i[..., None, :]
    a = torch.einsum("hwij,hwkj->hwki", inv, cov_ip)
    b = mean_p - torch.einsum("hwki,hwi->hwk", a, mean_i)
    return box_filter(a, radius), box_filter(b, radius)


def torch_guided_upsample(guide_small, source_small, guide_full, radius=2, eps=1e-4):
    """Twin of :func:`sss_vfx.filters.guided.guided_upsample` on tensors.

    Returns
    -------
    (H, W, C) float64 tensor
    """
    torch = import_torch()
    a, b = torch_guided_coefficients(guide_small, source_small, radius, eps)
    h, w = guide_full.shape[:2]
    # OpenCV resizes the float64 coefficients as they are; so does torch.
    a_full = linear_resize(a, (h, w))
    b_full = linear_resize(b, (h, w))
    return torch.einsum("hwkc,hwc->hwk", a_full, guide_full.to(torch.float64)) + b_full


def torch_normalise_layers(alphas):
    """Twin of :func:`sss_vfx.segments.upsample.normalise_layers`: (..., K) -> float32."""
    torch = import_torch()
    a = alphas.to(torch.float64).clamp(0.0, 1.0)
    total = a.sum(dim=-1, keepdim=True)
    k = a.shape[-1]
    ok = total > 1e-8
    a = torch.where(ok, a / torch.where(ok, total, torch.ones_like(total)),
                    torch.full_like(a, 1.0 / k))
    return a.to(torch.float32)


def torch_upsample_layers(alphas_small, image_small, image_full, *, radius=2, eps=1e-5,
                          device=None):
    """Twin of :func:`sss_vfx.segments.upsample.upsample_layers`.

    Parameters
    ----------
    alphas_small : (h, w, K) float array or tensor
    image_small : (h, w, 3) float array or tensor
    image_full : (H, W, 3) float array or tensor
    radius, eps : as the reference
    device : torch.device or str, optional

    Returns
    -------
    (H, W, K) float32 in [0, 1] summing to 1 (a tensor when ``alphas_small`` is one)
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(alphas_small)
    up = torch_guided_upsample(as_tensor(image_small, dev, torch.float64),
                               as_tensor(alphas_small, dev, torch.float64),
                               as_tensor(image_full, dev), radius=radius, eps=eps)
    return returned(torch_normalise_layers(up), tensors)
