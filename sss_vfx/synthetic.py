"""Procedural shots with known ground-truth alpha.

Everything here composites exactly: ``image = alpha * F + (1 - alpha) * B`` with the
returned foreground ``F`` and background ``B``, so tests and benchmarks can score a
matte against the alpha that produced the image. The coarse "network-like" semantic
features are made from an alpha by :func:`coarse_features`, the same recipe the quality
benchmark applies to real photos with true alpha.

All outputs are ``float32``: images and features ``(H, W, 3)`` in [0, 1], alphas and
masks ``(H, W)`` in [0, 1]. Every generator is deterministic for a given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sss_vfx.errors import InputError, OptionError

__all__ = [
    "Shot",
    "coarse_features",
    "coarse_mask",
    "moving_shot",
    "regions_shot",
    "strands_shot",
    "two_region_image",
]

# Supersampling factor per axis for anti-aliased coverage: 4 x 4 = 16 samples a pixel.
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class Shot:
    """A synthetic shot and its ground truth.

    Attributes
    ----------
    image : (H, W, 3) float32 ndarray
        The composite ``alpha * foreground + (1 - alpha) * background``, in [0, 1].
    alpha : (H, W) float32 ndarray
        True foreground opacity in [0, 1].
    features : (H, W, 3) float32 ndarray
        Coarse semantic features from :func:`coarse_features` on ``alpha``, in [0, 1].
    foreground : (H, W, 3) float32 ndarray
        Foreground colour ``F`` everywhere (also where alpha is 0), in [0, 1].
    background : (H, W, 3) float32 ndarray
        Background colour ``B`` everywhere (also where alpha is 1), in [0, 1].
    """

    image: np.ndarray
    alpha: np.ndarray
    features: np.ndarray
    foreground: np.ndarray
    background: np.ndarray


# --------------------------------------------------------------------------- helpers


def _check_shape(shape, name="shape", minimum=8):
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise OptionError(
            f"{name} must be a (height, width) pair of ints; got {shape!r}"
        ) from None
    if h < minimum or w < minimum:
        raise OptionError(f"{name} must be at least ({minimum}, {minimum}); got ({h}, {w})")
    return h, w


def _smooth_noise(shape, rng, sigma):
    """Gaussian-filtered white noise rescaled to zero mean and unit std.

    ``sigma`` is a scalar or a per-axis pair (anisotropic streaks); wrap mode keeps the
    texture statistics uniform up to the image border.
    """
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _composite(alpha, fg, bg):
    alpha = alpha.astype(np.float32)
    fg = fg.astype(np.float32)
    bg = bg.astype(np.float32)
    a = alpha[..., None]
    image = a * fg + (1.0 - a) * bg
    return image, alpha, fg, bg


def _fine_grid(h, w, s):
    """Sample positions of an ``s`` x ``s`` supersampling grid, in pixel units.

    Pixel ``(y, x)`` covers ``[y - 0.5, y + 0.5] x [x - 0.5, x + 0.5]``; the samples are
    the centres of its ``s * s`` sub-cells.
    """
    ys = (np.arange(h * s) + 0.5) / s - 0.5
    xs = (np.arange(w * s) + 0.5) / s - 0.5
    return ys, xs


def _box_average(fine, s):
    h, w = fine.shape[0] // s, fine.shape[1] // s
    return fine.reshape(h, s, w, s).mean(axis=(1, 3))


# ------------------------------------------------------------------ two_region_image


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
    h, w = _check_shape(shape)
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
    fg = fg_base + 0.05 * np.stack([_smooth_noise((h, w), rng, sigma) for _ in range(3)], -1)
    bg = bg_base + 0.05 * np.stack([_smooth_noise((h, w), rng, sigma) for _ in range(3)], -1)
    fg += 0.01 * rng.standard_normal((h, w, 3))
    bg += 0.01 * rng.standard_normal((h, w, 3))
    fg = np.clip(fg, 0.02, 0.98)
    bg = np.clip(bg, 0.02, 0.98)

    image, alpha, _, _ = _composite(alpha, fg, bg)
    return image, alpha


# ----------------------------------------------------------------------- strands_shot


def _render_strands(fine, ys, xs, strands):
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


def _make_strands(rng, n_strands, cy, cx, ry, rx, h):
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


def _hair_colour(h, w, rng):
    base = np.array([0.44, 0.27, 0.14])
    streaks = _smooth_noise((h, w), rng, (7.0, 0.8))
    broad = _smooth_noise((h, w), rng, 20.0)
    tint = _smooth_noise((h, w), rng, 30.0)
    shade = 1.0 + 0.22 * streaks + 0.12 * broad
    fg = base * shade[..., None] + 0.05 * tint[..., None] * np.array([1.0, 0.55, 0.15])
    fg += 0.008 * rng.standard_normal((h, w, 3))
    return np.clip(fg, 0.01, 0.99)


def _scene_colour(h, w, rng):
    """Gradient sky over rolling ground of grass and bare soil (some of it hair-brown)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = yy / (h - 1)
    sky_top = np.array([0.38, 0.58, 0.86])
    sky_horizon = np.array([0.78, 0.84, 0.90])
    sky = sky_top + (sky_horizon - sky_top) * np.clip(t / 0.7, 0, 1)[..., None]
    sky += 0.04 * _smooth_noise((h, w), rng, (6.0, 25.0))[..., None]

    phase = rng.uniform(0, 2 * np.pi)
    horizon = h * (0.70 + 0.035 * np.sin(2 * np.pi * xx / w * 1.3 + phase))
    grass = np.array([0.30, 0.42, 0.17])
    soil = np.array([0.47, 0.34, 0.20])
    patches = _smoothstep(0.5 + 0.8 * _smooth_noise((h, w), rng, 12.0))[..., None]
    ground = grass + (soil - grass) * patches
    ground = ground * (1.0 + 0.12 * _smooth_noise((h, w), rng, 1.2))[..., None]

    to_ground = _smoothstep((yy - horizon) / 2.0 + 0.5)[..., None]
    bg = sky + (ground - sky) * to_ground
    bg += 0.008 * rng.standard_normal((h, w, 3))
    return np.clip(bg, 0.01, 0.99)


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
    h, w = _check_shape(shape, minimum=32)
    n_strands = int(n_strands)
    if n_strands < 0:
        raise OptionError(f"n_strands must be >= 0; got {n_strands}")
    defocus_sigma = float(defocus_sigma)
    if not np.isfinite(defocus_sigma) or defocus_sigma < 0:
        raise OptionError(f"defocus_sigma must be >= 0 pixels; got {defocus_sigma}")
    rng = np.random.default_rng(seed)

    cy, cx = 0.52 * h, 0.5 * w
    ry, rx = 0.27 * h, 0.19 * w
    s = _SUPERSAMPLE
    ys, xs = _fine_grid(h, w, s)
    fine = ((ys[:, None] - cy) / ry) ** 2 + ((xs[None, :] - cx) / rx) ** 2 <= 1.0
    fine |= (ys[:, None] >= cy) & (np.abs(xs[None, :] - cx) <= 0.45 * rx)
    _render_strands(fine, ys, xs, _make_strands(rng, n_strands, cy, cx, ry, rx, h))
    sharp = _box_average(fine, s)

    if defocus_sigma > 0:
        blurred = ndimage.gaussian_filter(sharp, defocus_sigma, mode="nearest")
        xx = np.arange(w, dtype=np.float64)
        to_blur = _smoothstep((xx - cx) / (0.5 * rx) + 0.5)[None, :]
        alpha = sharp + (blurred - sharp) * to_blur
    else:
        alpha = sharp
    alpha = np.clip(alpha, 0.0, 1.0)

    fg = _hair_colour(h, w, rng)
    bg = _scene_colour(h, w, rng)
    image, alpha, fg, bg = _composite(alpha, fg, bg)
    return Shot(
        image=image,
        alpha=alpha,
        features=coarse_features(alpha),
        foreground=fg,
        background=bg,
    )


# ------------------------------------------------------------------- coarse features


def _check_alpha(alpha):
    arr = np.asarray(alpha)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"alpha must be a 2-D (H, W) array; got shape {arr.shape}")
    arr = arr.astype(np.float64)  # a copy: the caller's array is never touched
    if not np.all(np.isfinite(arr)):
        raise InputError("alpha holds NaN or inf; replace them before making features")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1.0 + 1e-6:
        raise InputError(
            f"alpha must hold values in [0, 1]; got [{lo:g}, {hi:g}] "
            "(divide an 8-bit matte by 255, a 16-bit one by 65535)"
        )
    return np.clip(arr, 0.0, 1.0)


def _block_mean(arr, scale):
    """Area average over ``scale`` x ``scale`` blocks; edge blocks average what they hold."""
    h, w = arr.shape
    rows = np.arange(0, h, scale)
    cols = np.arange(0, w, scale)
    sums = np.add.reduceat(np.add.reduceat(arr, rows, axis=0), cols, axis=1)
    counts = np.outer(np.minimum(rows + scale, h) - rows, np.minimum(cols + scale, w) - cols)
    return sums / counts


def _linear_weights(n_out, n_in, scale):
    """Indices and weights for bilinear upsampling along one axis by ``scale``.

    Output pixel ``x`` sits at coarse coordinate ``(x + 0.5) / scale - 0.5`` (block
    centres aligned), clamped at the ends.
    """
    u = np.clip((np.arange(n_out) + 0.5) / scale - 0.5, 0.0, n_in - 1)
    i0 = np.floor(u).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, u - i0


def _upsample(coarse, shape, scale):
    h, w = shape
    i0, i1, fy = _linear_weights(h, coarse.shape[0], scale)
    j0, j1, fx = _linear_weights(w, coarse.shape[1], scale)
    rows = coarse[i0] * (1.0 - fy)[:, None] + coarse[i1] * fy[:, None]
    return rows[:, j0] * (1.0 - fx)[None, :] + rows[:, j1] * fx[None, :]


def _check_scale_sigma(scale, blur_sigma):
    try:
        valid = not isinstance(scale, bool) and int(scale) == scale and int(scale) >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise OptionError(f"scale must be an integer >= 1; got {scale!r}")
    try:
        blur_sigma = float(blur_sigma)
    except (TypeError, ValueError):
        blur_sigma = float("nan")
    if not np.isfinite(blur_sigma) or blur_sigma < 0:
        raise OptionError(f"blur_sigma must be >= 0 coarse pixels; got {blur_sigma}")
    return int(scale), blur_sigma


def _coarse_soft_mask(alpha, scale, blur_sigma, seed):
    coarse = (_block_mean(alpha, scale) >= 0.5).astype(np.float64)
    if blur_sigma > 0:
        coarse = ndimage.gaussian_filter(coarse, blur_sigma, mode="nearest")
    if seed is not None:
        # Smooth low-amplitude wobble: a network's confidence is never perfectly flat.
        rng = np.random.default_rng(seed)
        wobble = ndimage.gaussian_filter(rng.standard_normal(coarse.shape), 1.5, mode="nearest")
        std = wobble.std()
        if std > 0:
            coarse = coarse + 0.08 * wobble / std
    return np.clip(_upsample(np.clip(coarse, 0.0, 1.0), alpha.shape, scale), 0.0, 1.0)


def coarse_mask(alpha, *, scale=8, blur_sigma=1.0):
    """The soft foreground mask a coarse segmentation network would give.

    Recipe: ``alpha`` is area-averaged over ``scale`` x ``scale`` blocks (edge blocks
    of images whose size is not a multiple of ``scale`` average the pixels they hold),
    thresholded at 0.5 to a binary coarse mask, blurred by a Gaussian of ``blur_sigma``
    coarse pixels, and upsampled bilinearly (block centres aligned) back to ``(H, W)``.

    Parameters
    ----------
    alpha : (H, W) or (H, W, 1) array_like
        True alpha in [0, 1], any real dtype (bool included). Not modified.
    scale : int, optional
        Downsampling factor, >= 1.
    blur_sigma : float, optional
        Gaussian standard deviation in coarse pixels, >= 0 (0: no blur).

    Returns
    -------
    mask : (H, W) float32 ndarray
        Soft mask in [0, 1].

    Raises
    ------
    InputError
        If ``alpha`` is not 2-D, holds NaN/inf or values outside [0, 1].
    OptionError
        If ``scale`` or ``blur_sigma`` is invalid.

    Examples
    --------
    >>> alpha = np.zeros((45, 67), np.float32); alpha[5:42, 10:60] = 1
    >>> m = coarse_mask(alpha)
    >>> m.shape, bool(m[23, 35] > 0.9), bool(m[0, 0] < 0.1)
    ((45, 67), True, True)
    """
    arr = _check_alpha(alpha)
    scale, blur_sigma = _check_scale_sigma(scale, blur_sigma)
    return _coarse_soft_mask(arr, scale, blur_sigma, None).astype(np.float32)


def coarse_features(
    alpha,
    *,
    scale=8,
    blur_sigma=1.0,
    fg_colour=(0.9, 0.2, 0.1),
    bg_colour=(0.1, 0.3, 0.9),
    seed=None,
):
    """Three-channel "network-like" semantic features made from a true alpha.

    ``features = m * fg_colour + (1 - m) * bg_colour`` where ``m`` is
    :func:`coarse_mask` of ``alpha``: blocky, blurred, and blind to hair-scale detail,
    like the output of a segmentation network at 1/``scale`` resolution. The quality
    benchmark uses the same recipe (``seed=None``) on real photos with true alpha.

    Parameters
    ----------
    alpha : (H, W) or (H, W, 1) array_like
        True alpha in [0, 1]. Not modified.
    scale : int, optional
        Downsampling factor, >= 1.
    blur_sigma : float, optional
        Gaussian standard deviation in coarse pixels, >= 0.
    fg_colour, bg_colour : (3,) sequence of float, optional
        Feature vectors of foreground and background, each in [0, 1].
    seed : int or None, optional
        None (default) gives the exact recipe. An int adds a smooth, seeded wobble of
        about 0.08 to the coarse mask before upsampling (still clipped to [0, 1], so
        features stay on the segment between the two colours).

    Returns
    -------
    features : (H, W, 3) float32 ndarray
        Values in [0, 1], each pixel on the segment from ``bg_colour`` to ``fg_colour``.

    Raises
    ------
    InputError
        If ``alpha`` is not 2-D, holds NaN/inf or values outside [0, 1].
    OptionError
        If ``scale``, ``blur_sigma`` or a colour is invalid.

    Examples
    --------
    >>> alpha = np.zeros((45, 67)); alpha[:, :30] = 1
    >>> f = coarse_features(alpha)
    >>> f.shape, f.dtype
    ((45, 67, 3), dtype('float32'))
    """
    arr = _check_alpha(alpha)
    scale, blur_sigma = _check_scale_sigma(scale, blur_sigma)
    colours = []
    for name, colour in (("fg_colour", fg_colour), ("bg_colour", bg_colour)):
        c = np.asarray(colour, dtype=np.float64)
        if c.shape != (3,) or not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1:
            raise OptionError(f"{name} must be 3 numbers in [0, 1]; got {colour!r}")
        colours.append(c)
    fg, bg = colours
    m = _coarse_soft_mask(arr, scale, blur_sigma, seed)[..., None]
    return np.clip(bg + (fg - bg) * m, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------- moving_shot


def moving_shot(frames=20, shape=(48, 64), *, seed=0, n_strands=40,
                fg_speed=(0.35, 0.8), bg_speed=(0.25, -0.5), noise=0.01):
    """A hairy object moving over a moving textured background, frame by frame.

    The object of :func:`strands_shot` (head, strands, a defocused side) translates by
    ``fg_speed`` pixels per frame while the background (textured sky and ground) pans by
    ``bg_speed``; both move by sub-pixel amounts, resampled bilinearly, and every frame
    composites exactly with its own alpha. Each frame gets fresh sensor noise and
    coarse features whose blocky mask wobbles from frame to frame
    (:func:`coarse_features` with a per-frame seed), as a per-frame segmentation network's
    output does: the flicker a temporally coherent method must not copy.

    Parameters
    ----------
    frames : int, optional
        Number of frames, >= 2.
    shape : (int, int), optional
        ``(H, W)`` of each frame; each at least 32.
    seed : int, optional
    n_strands : int, optional
        Hair strands of the object.
    fg_speed, bg_speed : (float, float), optional
        Motion per frame of the object and of the background, (x, y) in pixels.
    noise : float, optional
        Standard deviation of the per-frame sensor noise, >= 0.

    Returns
    -------
    list of Shot
        One per frame.

    Raises
    ------
    OptionError
        If an argument is out of range.

    Examples
    --------
    >>> clip = moving_shot(frames=3, shape=(32, 40), n_strands=10)
    >>> len(clip), clip[0].image.shape
    (3, (32, 40, 3))
    """
    h, w = _check_shape(shape, minimum=32)
    frames = int(frames)
    if frames < 2:
        raise OptionError(f"frames must be at least 2; got {frames}")
    if not noise >= 0:
        raise OptionError(f"noise must be >= 0; got {noise}")
    rng = np.random.default_rng(seed)
    obj = strands_shot((h, w), seed=seed, n_strands=n_strands)
    travel_bg = np.abs(np.asarray(bg_speed, np.float64)) * frames
    pad_y, pad_x = int(np.ceil(travel_bg[1])) + 2, int(np.ceil(travel_bg[0])) + 2
    big = _scene_colour(h + 2 * pad_y, w + 2 * pad_x, rng)
    big = big * (1.0 + 0.15 * _smooth_noise(big.shape[:2], rng, 1.5))[..., None]
    middle = (frames - 1) / 2.0
    shots = []
    for t in range(frames):
        fx, fy = (np.asarray(fg_speed, np.float64) * (t - middle))
        alpha = np.clip(ndimage.shift(obj.alpha.astype(np.float64), (fy, fx), order=1,
                                      mode="constant", cval=0.0), 0.0, 1.0)
        fg = ndimage.shift(obj.foreground.astype(np.float64), (fy, fx, 0), order=1,
                           mode="nearest")
        bx, by = np.asarray(bg_speed, np.float64) * t
        bg = ndimage.shift(big, (by, bx, 0), order=1, mode="nearest")[
            pad_y:pad_y + h, pad_x:pad_x + w]
        bg = np.clip(bg + noise * rng.standard_normal(bg.shape), 0.0, 1.0)
        image, alpha, fg, bg = _composite(alpha, fg, bg)
        shots.append(Shot(image=image, alpha=alpha,
                          features=coarse_features(alpha, seed=seed * 1000 + t),
                          foreground=fg, background=bg))
    return shots


# ------------------------------------------------------------------- regions_shot

#: Flat feature colour of each region of :func:`regions_shot`: sky, hills, grass,
#: soil, the object.
REGION_FEATURES = np.array([[0.1, 0.2, 0.9], [0.6, 0.2, 0.6], [0.1, 0.8, 0.2],
                            [0.8, 0.5, 0.1], [0.95, 0.9, 0.3]], np.float32)


def regions_shot(frames=12, shape=(120, 160), *, seed=0, speed=4.0, pan=1):
    """An object moving across textured ground, with features of five flat colours.

    The scene has five regions: a gradient sky, a band of hills, grass and soil
    patches on the ground, and a head-like object (:func:`strands_shot`'s, a few
    strands) that crosses the frame from left to right by ``speed`` pixels per frame
    while the background pans left by ``pan`` whole pixels per frame. The features
    are one flat colour per region (:data:`REGION_FEATURES`), the object's composited
    over the ground's by its alpha: a shot whose regions a method must keep in the
    same layers from the first frame to the last.

    Parameters
    ----------
    frames : int, optional
        Number of frames, >= 2.
    shape : (int, int), optional
        ``(H, W)``; each at least 32.
    seed : int, optional
        Seed of the textures, the ground's patches and the object's strands.
    speed : float, optional
        The object's motion, pixels per frame (sub-pixel amounts are resampled).
    pan : int, optional
        The background's motion, whole pixels per frame, >= 0.

    Returns
    -------
    list of Shot
        One per frame; ``alpha`` is the object's.

    Raises
    ------
    OptionError
        If an argument is out of range.

    Examples
    --------
    >>> clip = regions_shot(frames=2, shape=(32, 40))
    >>> len(clip), clip[0].features.shape
    (2, (32, 40, 3))
    """
    h, w = _check_shape(shape, minimum=32)
    frames = int(frames)
    pan = int(pan)
    if frames < 2:
        raise OptionError(f"frames must be at least 2; got {frames}")
    if pan < 0:
        raise OptionError(f"pan must be a whole number of pixels >= 0; got {pan}")
    rng = np.random.default_rng(seed)
    obj = strands_shot((h, w), seed=seed, n_strands=12, defocus_sigma=1.5)
    # The object's shape at half size, placed low so that it stands on the ground.
    small_alpha = ndimage.zoom(obj.alpha.astype(np.float64), 0.5, order=1)
    small_fg = ndimage.zoom(obj.foreground.astype(np.float64), (0.5, 0.5, 1), order=1)
    sh, sw = small_alpha.shape
    top = h - sh - max(2, h // 20)

    wide = w + pan * frames + 2
    yy, xx = np.mgrid[0:h, 0:wide].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    ridge = h * (0.38 + 0.06 * np.sin(2 * np.pi * xx / w * 1.1 + phase))
    horizon = h * (0.55 + 0.02 * np.sin(2 * np.pi * xx / w * 0.7 + 2 * phase))
    patches = _smooth_noise((h, wide), rng, h / 8.0) > 0.0
    labels = np.where(yy < ridge, 0, np.where(yy < horizon, 1, np.where(patches, 3, 2)))
    base = np.array([[0.45, 0.62, 0.88], [0.35, 0.40, 0.45], [0.30, 0.45, 0.18],
                     [0.50, 0.36, 0.22]])
    texture = 1.0 + 0.15 * _smooth_noise((h, wide), rng, 1.2)
    scene = base[labels] * texture[..., None]
    scene[labels == 0] += (0.12 * yy / h)[labels == 0][:, None]
    scene = np.clip(scene, 0.01, 0.99)

    shots = []
    for t in range(frames):
        x0 = t * pan
        bg = scene[:, x0:x0 + w]
        bg_feat = REGION_FEATURES[labels[:, x0:x0 + w]].astype(np.float64)
        alpha = np.zeros((h, w))
        fg = np.zeros((h, w, 3))
        left = 0.04 * w + speed * t
        shift = left - np.floor(left)
        a = ndimage.shift(small_alpha, (0, shift), order=1, mode="constant", cval=0.0)
        f = ndimage.shift(small_fg, (0, shift, 0), order=1, mode="nearest")
        col = int(np.floor(left))
        lo, hi = max(col, 0), min(col + sw, w)
        if hi > lo:
            alpha[top:top + sh, lo:hi] = a[:, lo - col:hi - col]
            fg[top:top + sh, lo:hi] = f[:, lo - col:hi - col]
        alpha = np.clip(alpha, 0.0, 1.0)
        fg = np.where(alpha[..., None] > 0, fg, bg)
        image, alpha32, fg32, bg32 = _composite(alpha, fg, bg)
        image = np.clip(image + 0.005 * rng.standard_normal(image.shape), 0.0, 1.0)
        a3 = alpha[..., None]
        features = a3 * REGION_FEATURES[4] + (1.0 - a3) * bg_feat
        shots.append(Shot(image=image.astype(np.float32), alpha=alpha32,
                          features=features.astype(np.float32), foreground=fg32,
                          background=bg32))
    return shots
