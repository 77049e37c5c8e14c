"""Drawing primitives of the synthetic shots: smooth noise, supersampled coverage,
strands of hair, backgrounds, and the exact composite ``alpha * F + (1 - alpha) * B``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sss_vfx.errors import OptionError

__all__ = ["SUPERSAMPLE", "box_average", "check_shape", "composite", "fine_grid",
           "hair_colour", "make_strands", "render_strands", "scene_colour",
           "smooth_noise", "smoothstep"]


# Supersampling factor per axis for anti-aliased coverage: 4 x 4 = 16 samples a pixel.
SUPERSAMPLE = 4


def check_shape(shape, name="shape", minimum=8):
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise OptionError(
            f"{name} must be a (height, width) pair of ints; got {shape!r}"
        ) from None
    if h < minimum or w < minimum:
        raise OptionError(f"{name} must be at least ({minimum}, {minimum}); got ({h}, {w})")
    return h, w


def smooth_noise(shape, rng, sigma):
    """Gaussian-filtered white noise rescaled to zero mean and unit std.

    ``sigma`` is a scalar or a per-axis pair (anisotropic streaks); wrap mode keeps the
    texture statistics uniform up to the image border.
    """
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def composite(alpha, fg, bg):
    alpha = alpha.astype(np.float32)
    fg = fg.astype(np.float32)
    bg = bg.astype(np.float32)
    a = alpha[..., None]
    image = a * fg + (1.0 - a) * bg
    return image, alpha, fg, bg


def fine_grid(h, w, s):
    """Sample positions of an ``s`` x ``s`` supersampling grid, in pixel units.

    Pixel ``(y, x)`` covers ``[y - 0.5, y + 0.5] x [x - 0.5, x + 0.5]``; the samples are
    the centres of its ``s * s`` sub-cells.
    """
    ys = (np.arange(h * s) + 0.5) / s - 0.5
    xs = (np.arange(w * s) + 0.5) / s - 0.5
    return ys, xs


def box_average(fine, s):
    h, w = fine.shape[0] // s, fine.shape[1] // s
    return fine.reshape(h, s, w, s).mean(axis=(1, 3))


def render_strands(fine, ys, xs, strands):
    """OR thick polylines into the boolean supersampled canvas ``fine`` in place.

    ``strands`` is a list of ``(points, radii)``: points ``(n, 2)`` as (y, x) in pixel
    units, radii ``(n - 1,)`` half-widths per segment. Each segment only touches the
    samples in its own bounding box, which keeps the cost proportional to strand area.
    """
    hf, wf = fine.shape
    for points, radii in strands:
        for (py, px), (qy, qx), r in zip(points[:-1], points[1:], radii):
            i0 = max(int(np.searchsorted(ys, min(py, qy) - r)), 0)
            i1 = min(int(np.searchsorted(ys, max(py, qy) + r, side="right")), hf)
            j0 = max(int(np.searchsorted(xs, min(px, qx) - r)), 0)
            j1 = min(int(np.searchsorted(xs, max(px, qx) + r, side="right")), wf)
            if i0 >= i1 or j0 >= j1:
                continue
            sy = ys[i0:i1, None] - py
            sx = xs[None, j0:j1] - px
            dy, dx = qy - py, qx - px
            t = np.clip((sy * dy + sx * dx) / (dy * dy + dx * dx + 1e-12), 0.0, 1.0)
            dist2 = (sy - t * dy) ** 2 + (sx - t * dx) ** 2
            fine[i0:i1, j0:j1] |= dist2 <= r * r


def make_strands(rng, n_strands, cy, cx, ry, rx, h):
    """Random curved hair strands rooted on the upper arc of the head ellipse."""
    strands = []
    step = 2.5
    for _ in range(n_strands):
        # Roots on the upper arc only, so the head's sides at its widest row stay clean
        # edges (one sharp, one defocused) that can be measured.
        theta = rng.uniform(-np.pi + 0.35, -0.35)
        root = np.array([cy + 0.9 * ry * np.sin(theta), cx + 0.9 * rx * np.cos(theta)])
        normal = np.array([np.sin(theta) / ry, np.cos(theta) / rx])
        phi = np.arctan2(normal[0], normal[1]) + rng.uniform(-0.35, 0.35)
        curvature = rng.uniform(-0.012, 0.012)
        length = rng.uniform(0.08, 0.26) * h + 0.1 * ry
        n_seg = max(int(length / step), 2)
        points = [root]
        for _ in range(n_seg):
            phi += curvature * step + rng.normal(0.0, 0.015)
            points.append(points[-1] + step * np.array([np.sin(phi), np.cos(phi)]))
        width = rng.uniform(0.7, 2.0)
        radii = 0.5 * width * np.linspace(1.0, 0.6, n_seg)
        strands.append((np.array(points), radii))
    return strands


def hair_colour(h, w, rng):
    base = np.array([0.44, 0.27, 0.14])
    streaks = smooth_noise((h, w), rng, (7.0, 0.8))
    broad = smooth_noise((h, w), rng, 20.0)
    tint = smooth_noise((h, w), rng, 30.0)
    shade = 1.0 + 0.22 * streaks + 0.12 * broad
    fg = base * shade[..., None] + 0.05 * tint[..., None] * np.array([1.0, 0.55, 0.15])
    fg += 0.008 * rng.standard_normal((h, w, 3))
    return np.clip(fg, 0.01, 0.99)


def scene_colour(h, w, rng):
    """Gradient sky over rolling ground of grass and bare soil (some of it hair-brown)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = yy / (h - 1)
    sky_top = np.array([0.38, 0.58, 0.86])
    sky_horizon = np.array([0.78, 0.84, 0.90])
    sky = sky_top + (sky_horizon - sky_top) * np.clip(t / 0.7, 0, 1)[..., None]
    sky += 0.04 * smooth_noise((h, w), rng, (6.0, 25.0))[..., None]

    phase = rng.uniform(0, 2 * np.pi)
    horizon = h * (0.70 + 0.035 * np.sin(2 * np.pi * xx / w * 1.3 + phase))
    grass = np.array([0.30, 0.42, 0.17])
    soil = np.array([0.47, 0.34, 0.20])
    patches = smoothstep(0.5 + 0.8 * smooth_noise((h, w), rng, 12.0))[..., None]
    ground = grass + (soil - grass) * patches
    ground = ground * (1.0 + 0.12 * smooth_noise((h, w), rng, 1.2))[..., None]

    to_ground = smoothstep((yy - horizon) / 2.0 + 0.5)[..., None]
    bg = sky + (ground - sky) * to_ground
    bg += 0.008 * rng.standard_normal((h, w, 3))
    return np.clip(bg, 0.01, 0.99)
