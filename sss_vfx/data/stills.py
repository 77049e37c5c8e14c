"""Synthetic stills with known alpha: two soft regions, and hair strands over a scene."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sss_vfx.data._render import (
    SUPERSAMPLE,
    box_average,
    check_shape,
    composite,
    fine_grid,
    hair_colour,
    make_strands,
    render_strands,
    scene_colour,
    smooth_noise,
    smoothstep,
)
from sss_vfx.data.coarse import coarse_features
from sss_vfx.data.shot import Shot
from sss_vfx.errors import OptionError

__all__ = ["strands_shot", "two_region_image"]


def two_region_image(shape=(48, 64), *, edge_width=6.0, seed=0):
    """Two textured colour regions separated by a slanted, linearly soft edge.

    The foreground (warm orange) is on the left, the background (cool blue-green) on
    the right. Along every row the alpha falls linearly from 1 to 0 over ``edge_width``
    pixels, centred on a near-vertical line slanted by about 6 degrees. Both colours vary
    smoothly and carry faint per-pixel noise, so no 3 x 3 colour covariance is singular.

    Parameters
    ----------
    shape : (int, int), optional
        ``(H, W)`` of the image; each at least 8.
    edge_width : float, optional
        Width in pixels, measured along a row, of the alpha ramp; > 0.
    seed : int, optional
        Seed of the texture.

    Returns
    -------
    image : (H, W, 3) float32 ndarray
        ``alpha * F + (1 - alpha) * B``, in [0, 1].
    alpha : (H, W) float32 ndarray
        True alpha in [0, 1], 1 on the left.

    Raises
    ------
    OptionError
        If ``shape`` or ``edge_width`` is invalid.

    Examples
    --------
    >>> image, alpha = two_region_image((32, 40), edge_width=4.0)
    >>> image.shape, alpha.shape
    ((32, 40, 3), (32, 40))
    """
    h, w = check_shape(shape)
    edge_width = float(edge_width)
    if not np.isfinite(edge_width) or edge_width <= 0:
        raise OptionError(f"edge_width must be a positive number of pixels; got {edge_width}")
    rng = np.random.default_rng(seed)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    edge_x = 0.5 * (w - 1) + 0.1 * (yy - 0.5 * (h - 1))
    alpha = np.clip((edge_x - xx) / edge_width + 0.5, 0.0, 1.0)

    fg_base = np.array([0.86, 0.46, 0.16])
    bg_base = np.array([0.14, 0.46, 0.56])
    sigma = max(h, w) / 6.0
    fg = fg_base + 0.05 * np.stack([smooth_noise((h, w), rng, sigma) for _ in range(3)], -1)
    bg = bg_base + 0.05 * np.stack([smooth_noise((h, w), rng, sigma) for _ in range(3)], -1)
    fg += 0.01 * rng.standard_normal((h, w, 3))
    bg += 0.01 * rng.standard_normal((h, w, 3))
    fg = np.clip(fg, 0.02, 0.98)
    bg = np.clip(bg, 0.02, 0.98)

    image, alpha, _, _ = composite(alpha, fg, bg)
    return image, alpha


def strands_shot(shape=(240, 320), *, seed=0, n_strands=90, defocus_sigma=3.0):
    """A hairy head against sky and ground, with thin strands and one defocused side.

    The foreground is a head-like ellipse on a neck, with ``n_strands`` curved hair
    strands (0.7 to 2 px wide, tapering) leaving the upper half of its outline. Coverage
    is rendered on a 4 x 4 supersampled grid, so thin strands and the anti-aliased
    outline have true fractional alpha. The right side of the object is out of focus:
    there the alpha is blurred by a Gaussian of ``defocus_sigma`` px, blending smoothly
    into the sharp left side across the middle of the head. The foreground is textured
    hair colour; the background is a gradient sky over grass with patches of brown soil
    close to the hair colour, so colour alone does not separate them everywhere.

    Parameters
    ----------
    shape : (int, int), optional
        ``(H, W)``; each at least 32. The scene scales with the shape.
    seed : int, optional
        Seed of the strands and the textures; the head outline does not depend on it.
    n_strands : int, optional
        Number of hair strands, >= 0.
    defocus_sigma : float, optional
        Standard deviation in pixels of the defocus blur on the right side, >= 0
        (0 keeps both sides sharp).

    Returns
    -------
    Shot
        ``image``, ``alpha``, ``features``, ``foreground`` and ``background``; see
        :class:`Shot`. ``features = coarse_features(alpha)`` with its defaults.

    Raises
    ------
    OptionError
        If ``shape``, ``n_strands`` or ``defocus_sigma`` is invalid.

    Examples
    --------
    >>> shot = strands_shot((120, 160), n_strands=30)
    >>> shot.image.shape, shot.alpha.dtype
    ((120, 160, 3), dtype('float32'))
    """
    h, w = check_shape(shape, minimum=32)
    n_strands = int(n_strands)
    if n_strands < 0:
        raise OptionError(f"n_strands must be >= 0; got {n_strands}")
    defocus_sigma = float(defocus_sigma)
    if not np.isfinite(defocus_sigma) or defocus_sigma < 0:
        raise OptionError(f"defocus_sigma must be >= 0 pixels; got {defocus_sigma}")
    rng = np.random.default_rng(seed)

    cy, cx = 0.52 * h, 0.5 * w
    ry, rx = 0.27 * h, 0.19 * w
    s = SUPERSAMPLE
    ys, xs = fine_grid(h, w, s)
    fine = ((ys[:, None] - cy) / ry) ** 2 + ((xs[None, :] - cx) / rx) ** 2 <= 1.0
    fine |= (ys[:, None] >= cy) & (np.abs(xs[None, :] - cx) <= 0.45 * rx)
    render_strands(fine, ys, xs, make_strands(rng, n_strands, cy, cx, ry, rx, h))
    sharp = box_average(fine, s)

    if defocus_sigma > 0:
        blurred = ndimage.gaussian_filter(sharp, defocus_sigma, mode="nearest")
        xx = np.arange(w, dtype=np.float64)
        to_blur = smoothstep((xx - cx) / (0.5 * rx) + 0.5)[None, :]
        alpha = sharp + (blurred - sharp) * to_blur
    else:
        alpha = sharp
    alpha = np.clip(alpha, 0.0, 1.0)

    fg = hair_colour(h, w, rng)
    bg = scene_colour(h, w, rng)
    image, alpha, fg, bg = composite(alpha, fg, bg)
    return Shot(
        image=image,
        alpha=alpha,
        features=coarse_features(alpha),
        foreground=fg,
        background=bg,
    )
