"""Synthetic shots with known alpha in every frame: moving strands, and moving
regions."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sss_vfx.data._render import check_shape, composite, scene_colour, smooth_noise
from sss_vfx.data.coarse import coarse_features
from sss_vfx.data.shot import Shot
from sss_vfx.data.stills import strands_shot
from sss_vfx.errors import OptionError

__all__ = ["REGION_FEATURES", "moving_shot", "regions_shot"]


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
    h, w = check_shape(shape, minimum=32)
    frames = int(frames)
    if frames < 2:
        raise OptionError(f"frames must be at least 2; got {frames}")
    if not noise >= 0:
        raise OptionError(f"noise must be >= 0; got {noise}")
    rng = np.random.default_rng(seed)
    obj = strands_shot((h, w), seed=seed, n_strands=n_strands)
    travel_bg = np.abs(np.asarray(bg_speed, np.float64)) * frames
    pad_y, pad_x = int(np.ceil(travel_bg[1])) + 2, int(np.ceil(travel_bg[0])) + 2
    big = scene_colour(h + 2 * pad_y, w + 2 * pad_x, rng)
    big = big * (1.0 + 0.15 * smooth_noise(big.shape[:2], rng, 1.5))[..., None]
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
        image, alpha, fg, bg = composite(alpha, fg, bg)
        shots.append(Shot(image=image, alpha=alpha,
                          features=coarse_features(alpha, seed=seed * 1000 + t),
                          foreground=fg, background=bg))
    return shots


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
    h, w = check_shape(shape, minimum=32)
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
    patches = smooth_noise((h, wide), rng, h / 8.0) > 0.0
    labels = np.where(yy < ridge, 0, np.where(yy < horizon, 1, np.where(patches, 3, 2)))
    base = np.array([[0.45, 0.62, 0.88], [0.35, 0.40, 0.45], [0.30, 0.45, 0.18],
                     [0.50, 0.36, 0.22]])
    texture = 1.0 + 0.15 * smooth_noise((h, wide), rng, 1.2)
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
        image, alpha32, fg32, bg32 = composite(alpha, fg, bg)
        image = np.clip(image + 0.005 * rng.standard_normal(image.shape), 0.0, 1.0)
        a3 = alpha[..., None]
        features = a3 * REGION_FEATURES[4] + (1.0 - a3) * bg_feat
        shots.append(Shot(image=image.astype(np.float32), alpha=alpha32,
                          features=features.astype(np.float32), foreground=fg32,
                          background=bg32))
    return shots
