"""Layer colours (DESIGN step 8): one colour per layer, the layers summing to the plate.

For soft layers ``a_1..a_K`` of a plate ``I`` (every pixel's alphas summing to 1), the
colours ``F_1..F_K`` minimise, on a copy downscaled to at most 16384 pixels::

    sum_p |sum_k a_kp F_kp - I_p|^2                                   (data)
    + smoothness * sum_k sum_{p~q} w_kpq |F_kp - F_kq|^2               (smooth per layer)
    + prior * sum_{k,p} |F_kp - I_p|^2                                 (weak pull to I)

over 4-neighbours ``p~q``, with ``w_kpq = (a_kp + a_kq) / 2 + presence``: a layer's
colour is smooth where the layer is present, and the small ``presence`` carries it into
the pixels where ``a_k = 0`` so that ``F_k`` is defined (and smooth) everywhere. The
three channels share one system matrix,

    (smoothness * L_k + prior) blocks per layer + a_p a_p^T per pixel,

solved for all channels at once by conjugate gradients preconditioned by the exact
inverse of each pixel's K x K block (its diagonal plus the rank-one data term, by
Sherman-Morrison), as in :mod:`sss_vfx.segments.relaxed`. The colours are then taken
to the plate's resolution (bilinear: they are smooth) and corrected there so that the
layers sum to the plate exactly: with ``r = I - sum_j a_j F_j``,
``F_k += a_k r / sum_j a_j^2``, then clipped to [0, 1]. Clipping would break the
sum where a layer saturates; the residual is then given again to the layers that can
still move in its direction (water-filling, at most K more rounds), which is always
possible when the alphas sum to 1 and ``I`` lies in [0, 1] (``F_k = I`` for all k is
one solution). The premultiplied ``a_k F_k`` are what a compositor merges (stored
as half floats they sum to the plate within about 1e-3).
:func:`layer_colours` is written against the array namespace of the alphas (numpy, or
torch on any device, where the system is a sparse CSR tensor).
The idea of colour layers that add up to the image follows Aksoy et al. 2017
(unmixing-based soft colour segmentation); closed-form matting (Levin et al. 2008)
estimates a foreground and background colour from alpha by a similar least squares.
"""

import numpy as np

from sss_vfx.arrays.namespace import (as_array, asarray, contiguous, device_of, einsum,
                                      namespace)
from sss_vfx.arrays.resample import resize_area, resize_linear
from sss_vfx.arrays.sparse import block_diagonal, sparse_from_triplets
from sss_vfx.errors import OptionError

__all__ = ["layer_colours", "premultiplied_colours", "unit_range"]

#: Pixels of the copy the system is solved on. The colours are smooth and the exact
#: correction at the plate's resolution restores the detail, so this is a quarter of
#: the layers' default working size: on docia (640x640, 5 layers) the colours solved at
#: 128x128 differ from those solved at 256x256 by 0.0013 on average (alpha-weighted),
#: for a solve 13x faster.
SOLVE_MAX_PIXELS = 16_384
#: Residual below which a pixel counts as summing to the plate (float32 colours round
#: to about 6e-8).
EXACT_TOLERANCE = 5e-7
#: Rows of the plate corrected at a time (bounds the temporaries at 4K).
BAND_ROWS = 256


def layer_colours(image, alphas, *, max_pixels=SOLVE_MAX_PIXELS, smoothness=1.0,
                  presence=0.01, prior=1e-4, rtol=1e-4, max_steps=500):
    """Per-layer colours whose alpha-weighted sum is the plate.

    Parameters
    ----------
    image : (H, W, 3) array_like, float in [0, 1]
        The plate the layers were computed on (display-referred).
    alphas : (H, W, K) array_like or tensor, float in [0, 1]
        Soft layers summing to 1 at every pixel (within 1e-3). Its namespace and device
        are where the computation runs.
    max_pixels : int, optional
        The least-squares system is solved on a copy of at most this many pixels
        (area-downscaled image and alphas; default 16384); 0 solves at the plate's
        resolution. The exact-sum correction always runs at the plate's resolution.
    smoothness : float, optional
        Weight of the per-layer smoothness term, > 0.
    presence : float, optional
        Smoothness weight where a layer is absent, > 0 (defines ``F_k`` there).
    prior : float, optional
        Weight of the pull toward the plate colour, > 0.
    rtol : float, optional
        Relative residual at which conjugate gradients stop.
    max_steps : int, optional
        Conjugate-gradient steps at most.

    Returns
    -------
    (H, W, K, 3) float32 array, of the namespace of ``alphas``
        Unpremultiplied colours ``F`` in [0, 1] with ``sum_k a_k F_k = I`` to float32
        round-off (about 1e-7) wherever the alphas sum to 1. On a composite of known
        foreground and background with the true alpha as two layers
        (``strands_shot((60, 80))``), ``F`` of the foreground layer is 0.016 from the
        true foreground on average where alpha > 0.1 (0.018 when solved at 40x30 and
        upsampled), where the plate itself is 0.097 away; the background layer is
        0.007 from the true background where alpha < 0.9 (the plate: 0.046).

    Raises
    ------
    OptionError
        If the shapes do not match, a value is out of range or not finite, or a
        parameter is not positive.

    Examples
    --------
    >>> from sss_vfx.data import two_region_image
    >>> image, alpha = two_region_image((32, 40))
    >>> alphas = np.stack([alpha, 1 - alpha], axis=-1)
    >>> colours = layer_colours(image, alphas)
    >>> bool(np.allclose((alphas[..., None] * colours).sum(axis=2), image, atol=1e-5))
    True
    """
    image, alphas = _checked_inputs(image, alphas)
    xp = namespace(alphas)
    _check_solver(smoothness, presence, prior, rtol, max_steps, max_pixels)
    height, width, k = alphas.shape
    h, w = _solve_shape(height, width, int(max_pixels))
    if (h, w) == (height, width):
        small_image, small_alphas = xp.astype(image, xp.float64), xp.astype(alphas, xp.float64)
    else:
        small_image = xp.astype(resize_area(image, (h, w)), xp.float64)
        small_alphas = xp.astype(resize_area(alphas, (h, w)), xp.float64)
    colours, _ = _solve_colours(small_image, small_alphas, smoothness, presence, prior,
                                rtol, int(max_steps))
    colours = xp.astype(xp.clip(colours, 0.0, 1.0), xp.float32)
    if (h, w) != (height, width):
        colours = resize_linear(colours, (height, width))
    # Corrected in place, band by band, through views.
    colours = contiguous(colours, xp.float32)
    for top in range(0, height, BAND_ROWS):
        rows = slice(top, top + BAND_ROWS)
        _sum_to_plate(colours[rows], alphas[rows], image[rows])
    return colours


def unit_range(plate):
    """A plate of any finite values mapped to [0, 1] for :func:`layer_colours`.

    The colour problem is equivariant under a per-channel affine map of the plate when
    the alphas sum to 1 (constant colours solve it for a constant plate), so colours
    solved on ``(I - low) / scale`` and mapped back by ``F * scale + low`` sum to
    ``I``; clipping to [0, 1] there is clipping to ``[low, low + scale]`` here, a range
    that holds the plate. Used for scene-linear and log plates, whose layer colours
    stay in the plate's own colour space.

    Parameters
    ----------
    plate : (H, W, 3) array_like, finite

    Returns
    -------
    unit : (H, W, 3) float32 ndarray in [0, 1]
        `plate` itself (as float32) when it already lies in [0, 1].
    low, scale : (3,) float32 ndarray, or None
        Per channel ``low = min(0, min I)``, ``scale = max(1, max I) - low``; None when
        the plate lies in [0, 1] (no map: the layer colours are bit for bit those of a
        display-referred plate).
    """
    plate = np.asarray(plate, dtype=np.float32)
    if plate.size == 0 or (plate.min() >= 0.0 and plate.max() <= 1.0):
        return plate, None, None
    if not np.isfinite(plate).all():
        raise OptionError("the plate holds NaN/inf values; remove them first")
    low = np.minimum(0.0, plate.min(axis=(0, 1))).astype(np.float32)
    scale = (np.maximum(1.0, plate.max(axis=(0, 1))) - low).astype(np.float32)
    unit = np.clip((plate - low) / scale, 0.0, 1.0)
    return unit, low, scale


def premultiplied_colours(colours, alphas):
    """``a_k F_k``: the colours as a compositor merges them.

    Parameters
    ----------
    colours : (H, W, K, 3) array_like
        Unpremultiplied colours from :func:`layer_colours`.
    alphas : (H, W, K) array_like

    Returns
    -------
    (H, W, K, 3) float32 ndarray; summed over K it is the plate.
    """
    colours = np.asarray(colours, np.float32)
    alphas = np.asarray(alphas, np.float32)
    if colours.shape != alphas.shape + (3,):
        raise OptionError(f"colours must have shape {alphas.shape + (3,)} to match the "
                          f"alphas, got {colours.shape}")
    return colours * alphas[..., None]


def _check_solver(smoothness, presence, prior, rtol, max_steps, max_pixels):
    """Refuse solver parameters out of range, naming the parameter."""
    for name, value in (("smoothness", smoothness), ("presence", presence),
                        ("prior", prior), ("rtol", rtol)):
        if not np.isfinite(value) or value <= 0:
            raise OptionError(f"{name} must be a positive number, got {value!r}")
    if int(max_steps) < 1 or int(max_pixels) < 0:
        raise OptionError(f"max_steps must be >= 1 and max_pixels >= 0, got "
                          f"{max_steps!r} and {max_pixels!r}")


def _checked_inputs(image, alphas):
    """Image and alphas as float32 arrays of the alphas' namespace, clipped to [0, 1],
    or an OptionError naming what is wrong."""
    alphas = as_array(alphas)
    xp = namespace(alphas)
    image = asarray(image, alphas)
    if image.ndim != 3 or image.shape[2] != 3:
        raise OptionError(f"image must have shape (H, W, 3), got {tuple(image.shape)}")
    if alphas.ndim != 3 or alphas.shape[:2] != image.shape[:2] or alphas.shape[2] < 1:
        raise OptionError(f"alphas must have shape (H, W, K) with (H, W) = "
                          f"{tuple(image.shape[:2])}, got {tuple(alphas.shape)}")
    image = xp.astype(image, xp.float32)
    alphas = xp.astype(alphas, xp.float32)
    for name, array in (("image", image), ("alphas", alphas)):
        if not bool(xp.all(xp.isfinite(array))) or float(xp.min(array)) < -1e-3 or \
                float(xp.max(array)) > 1 + 1e-3:
            raise OptionError(f"{name} must be finite and in [0, 1]; convert scene-linear "
                              "plates to display-referred and normalise the mattes")
    if float(xp.max(xp.abs(xp.sum(alphas, axis=2) - 1.0))) > 1e-3:
        raise OptionError("alphas must sum to 1 at every pixel; normalise the layers "
                          "(sss_vfx.segments.upsample.normalise_layers)")
    return xp.clip(image, 0.0, 1.0), xp.clip(alphas, 0.0, 1.0)


def _solve_shape(height, width, max_pixels):
    if not max_pixels or height * width <= max_pixels:
        return height, width
    scale = np.sqrt(max_pixels / (height * width))
    return max(2, int(height * scale)), max(2, int(width * scale))


def _solve_colours(image, alphas, smoothness, presence, prior, rtol, max_steps):
    """PCG on the colour system. image (h, w, 3), alphas (h, w, K), both float64.

    Returns ((h, w, K, 3) float64 colours, conjugate-gradient steps taken).
    """
    xp = namespace(alphas)
    matrix, inverse_blocks, rhs = _colour_system(image, alphas, smoothness, presence, prior)
    h, w, k = alphas.shape
    x = xp.reshape(xp.broadcast_to(image[:, :, None, :], (h, w, k, 3)), (-1, 3), copy=True)
    r = rhs - matrix @ x
    limit = rtol * rtol * _dot(rhs, rhs)
    z = inverse_blocks @ r
    p = z
    # The loop's tests read scalars: on a GPU one host sync per step.
    rz = _dot(r, z)
    steps = 0
    while steps < max_steps and _dot(r, r) > limit:
        q = matrix @ p
        step = rz / _dot(p, q)
        x += step * p
        r -= step * q
        z = inverse_blocks @ r
        rz_new = _dot(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
        steps += 1
    return xp.reshape(x, (h, w, k, 3)), steps


def _dot(u, v):
    # Not np.vdot: BLAS threads spinning on a shared machine made each call 100x slower.
    return float(einsum("ij,ij->", u, v))


def _colour_system(image, alphas, smoothness, presence, prior):
    """The normal equations of the colour energy, unknowns ordered pixel-major.

    Returns the (N K, N K) sparse matrix (scipy CSR, or torch sparse CSR), the exact
    inverse of its per-pixel K x K diagonal blocks as a block-diagonal operator (the
    preconditioner), and the (N K, 3) right-hand side ``(a_kp + prior) I_p``.
    """
    xp = namespace(alphas)
    dev = device_of(alphas)
    h, w, k = alphas.shape
    n = h * w
    a = xp.reshape(alphas, (n, k))
    unknown = xp.reshape(xp.arange(n * k, device=dev), (h, w, k))
    wx = smoothness * (0.5 * (alphas[:, 1:] + alphas[:, :-1]) + presence)
    wy = smoothness * (0.5 * (alphas[1:] + alphas[:-1]) + presence)
    diag = xp.full((h, w, k), prior, dtype=xp.float64, device=dev)
    diag[:, 1:] += wx
    diag[:, :-1] += wx
    diag[1:] += wy
    diag[:-1] += wy
    diag = xp.reshape(diag, (n, k))
    layer = xp.arange(k, device=dev)
    blocks = a[:, :, None] * a[:, None, :]
    blocks[:, layer, layer] += diag
    per_pixel = xp.reshape(unknown, (n, k))
    rows = [xp.repeat(per_pixel, k, axis=1), unknown[:, 1:], unknown[:, :-1],
            unknown[1:], unknown[:-1]]
    cols = [xp.tile(per_pixel, (1, k)), unknown[:, :-1], unknown[:, 1:],
            unknown[:-1], unknown[1:]]
    values = [blocks, -wx, -wx, -wy, -wy]
    matrix = sparse_from_triplets(*[xp.concat([xp.reshape(v, (-1,)) for v in part])
                                    for part in (values, rows, cols)], (n * k, n * k))
    # (D + a a^T)^-1 = D^-1 - D^-1 a a^T D^-1 / (1 + a^T D^-1 a), D the block's diagonal.
    a_d = a / diag
    inverse = -a_d[:, :, None] * a_d[:, None, :] / \
        (1.0 + xp.sum(a * a_d, axis=1))[:, None, None]
    inverse[:, layer, layer] += 1.0 / diag
    rhs = xp.reshape((a + prior)[:, :, None] * xp.reshape(image, (n, 1, 3)), (n * k, 3))
    return matrix, block_diagonal(inverse), rhs


def _sum_to_plate(colours, alphas, image):
    """Make ``sum_k a_k F_k = I`` with F in [0, 1], in place. (n, m, K, 3) float32,
    ``colours`` C-contiguous (corrected through a view)."""
    xp = namespace(colours)
    k = alphas.shape[-1]
    f = colours.reshape(-1, k, 3)
    a = alphas.reshape(-1, k)
    plate = image.reshape(-1, 3)
    # The plain correction, everywhere.
    residual = plate - einsum("nk,nkc->nc", a, f)
    f += (a / einsum("nk,nk->n", a, a)[:, None])[:, :, None] * residual[:, None, :]
    f[...] = xp.clip(f, 0.0, 1.0)
    # Where clipping broke the sum (usually few pixels), water-filling: the residual goes
    # to the layers that can still move its way; each round saturates one more layer.
    residual = plate - einsum("nk,nkc->nc", a, f)
    index = xp.nonzero(xp.max(xp.abs(residual), axis=1) > EXACT_TOLERANCE)[0]
    for _ in range(k):
        if index.shape[0] == 0:
            return
        sub, aa = f[index], a[index]
        residual = plate[index] - einsum("nk,nkc->nc", xp.astype(aa, xp.float64), sub)
        off = xp.max(xp.abs(residual), axis=1) > EXACT_TOLERANCE
        index, sub, aa = index[off], sub[off], aa[off]
        residual = xp.astype(residual[off], xp.float32)
        free = xp.where(residual[:, None, :] > 0, sub < 1.0, sub > 0.0) & (aa[..., None] > 0)
        weight = einsum("nk,nkc->nc", aa * aa, xp.astype(free, xp.float32))
        step = xp.where(weight > 0, residual / xp.where(weight > 0, weight, 1.0), 0.0)
        sub += aa[..., None] * free * step[:, None, :]
        f[index] = xp.clip(sub, 0.0, 1.0)
