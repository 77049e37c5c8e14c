"""OpenCV's box filter and resizes for either namespace: OpenCV itself on numpy arrays,
the same definitions on torch tensors.

The torch branches reproduce OpenCV exactly in its definitions: the normalised box filter
with ``BORDER_REFLECT`` borders (``fedcba|abcdef|fedcba``) by cumulative sums,
``INTER_LINEAR`` resizing (half-pixel centres, clamped at the borders) by
``torch.nn.functional.interpolate``, and ``INTER_AREA`` downscaling by its overlap
weights as two small dense matrices.
"""

import cv2
import numpy as np

from sss_vfx.arrays.namespace import import_torch

__all__ = ["box_filter", "resize_area", "resize_linear"]


def box_filter(x, radius):
    """Mean over ``(2 radius + 1)^2`` windows of the first two axes, reflected borders.

    Parameters
    ----------
    x : (H, W) or (H, W, C) float array (C <= 4 for numpy), or (H, W, ...) tensor
    radius : int

    Returns
    -------
    Array of the shape and dtype of ``x`` (``cv2.boxFilter(..., BORDER_REFLECT)``).
    """
    size = 2 * radius + 1
    if isinstance(x, np.ndarray):
        return cv2.boxFilter(x, -1, (size, size), normalize=True,
                             borderType=cv2.BORDER_REFLECT)
    torch = import_torch()
    for dim in (0, 1):
        n = x.shape[dim]
        index = torch.arange(-radius, n + radius, device=x.device) % (2 * n)
        padded = x.index_select(dim, torch.where(index < n, index, 2 * n - 1 - index))
        sums = torch.cumsum(padded, dim=dim)
        sums = torch.cat([torch.zeros_like(sums.narrow(dim, 0, 1)), sums], dim=dim)
        x = (sums.narrow(dim, size, n) - sums.narrow(dim, 0, n)) / size
    return x


def resize_linear(x, shape_hw):
    """Bilinear resize of the first two axes, as ``cv2.resize(..., INTER_LINEAR)``.

    Parameters
    ----------
    x : (h, w, ...) float array or tensor
    shape_hw : (int, int), the new (H, W)

    Returns
    -------
    (H, W, ...) array of the dtype of ``x``
    """
    h, w = x.shape[:2]
    rest = tuple(x.shape[2:])
    if isinstance(x, np.ndarray):
        out = cv2.resize(x.reshape(h, w, -1), (shape_hw[1], shape_hw[0]),
                         interpolation=cv2.INTER_LINEAR)
        return out.reshape(*shape_hw, *rest)
    torch = import_torch()
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


def resize_area(x, shape_hw):
    """Area-average downscale of the first two axes, as ``cv2.resize(..., INTER_AREA)``.

    Parameters
    ----------
    x : (H, W, C) float array or (H, W, ...) tensor
    shape_hw : (int, int), the new (h, w), each at most the old size

    Returns
    -------
    (h, w, C) array of the dtype of ``x``
    """
    h, w = shape_hw
    if isinstance(x, np.ndarray):
        # OpenCV's area resize takes at most 4 channels at a time.
        return np.concatenate(
            [cv2.resize(x[:, :, c:c + 4], (w, h), interpolation=cv2.INTER_AREA)
             .reshape(h, w, -1) for c in range(0, x.shape[2], 4)], axis=2)
    torch = import_torch()
    rows = torch.as_tensor(_area_matrix(x.shape[0], h), dtype=x.dtype, device=x.device)
    cols = torch.as_tensor(_area_matrix(x.shape[1], w), dtype=x.dtype, device=x.device)
    return torch.einsum("ih,hw...,jw->ij...", rows, x, cols)
