"""Relaxed sparsification again, at the plate's resolution, over the layers' transitions.

Layers found at a working resolution and brought back by guided upsampling are right
where they are ~0 or ~1, but their soft transitions were decided on a coarser grid.
This step minimises the relaxed-sparsification energy of
:mod:`~sss_vfx.segments.relaxed` again, now on the plate's own matting Laplacian
(DESIGN step 3, the matting term alone), but only over a *band*: the pixels where some
layer is neither ~0 nor ~1, dilated by a few pixels. Pixels outside the band keep their
upsampled values and act as a Dirichlet boundary: with ``B`` the band and ``F`` its
fixed neighbours,

    (I kron L_BB + diag(u + v + 1) + 100 (1 1^T kron I)) a_B = v + a0_B + 100 - L_BF a_F

is solved by the relaxed step's preconditioned conjugate gradients, ``u, v`` being the
reweighted sparsity terms, ``a0`` the upsampled layers (fidelity weight 1). Only the
band's rows of the Laplacian are built, so time and memory follow the band, not the
plate.
"""

import cv2
import numpy as np
import scipy.sparse

from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.graph.matting import NEIGHBOUR_OFFSETS
from sss_vfx.errors import OptionError
from sss_vfx.options import RefineOptions, RelaxedOptions
from sss_vfx.segments.relaxed import solve_layers, sparsity_exponent
from sss_vfx.segments.upsample import normalise_layers

__all__ = ["refine_layers", "refine_with"]

#: (dy, dx) of the nine pixels of the 3x3 window centred on a pixel, row-major.
_WINDOW = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
#: For window pixels a, b: the index in NEIGHBOUR_OFFSETS of b's offset from a.
_PAIR_OFFSET = ((_WINDOW[None, :, 0] - _WINDOW[:, None, 0] + 2) * 5
                + _WINDOW[None, :, 1] - _WINDOW[:, None, 1] + 2)
#: Windows per chunk when building the band's Laplacian rows (about 50 MB of work arrays).
_CHUNK = 65_536


def refine_with(plate, alphas, refine=RefineOptions()):
    """:func:`refine_layers` with its parameters from one :class:`RefineOptions` (the
    signature of the stage registry's ``refinement`` stage).

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
    alphas : (H, W, K) float array, upsampled layers summing to 1
    refine : RefineOptions

    Returns
    -------
    (H, W, K) float32, as :func:`refine_layers`
    """
    return refine_layers(plate, alphas, refine.band, tolerance=refine.tolerance,
                         rounds=refine.rounds, cg_steps=refine.cg_steps, eps=refine.eps)


def refine_layers(plate, alphas, band=3, *, tolerance=RefineOptions.tolerance,
                  rounds=RefineOptions.rounds, cg_steps=RefineOptions.cg_steps,
                  eps=RefineOptions.eps, options=RelaxedOptions()):
    """Re-solve the relaxed sparsification at full resolution over the transition band.

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
        The image the layers belong to (display-referred).
    alphas : (H, W, K) float array
        Layers at the plate's resolution (upsampled), in [0, 1], summing to 1.
    band : int, optional
        Pixels where some layer lies in ``(tolerance, 1 - tolerance)`` are dilated by
        this many pixels (a disc) to make the band; 0 returns the layers unchanged.
    tolerance : float, optional
        How close to 0 or 1 a layer counts as decided, in (0, 0.5).
    rounds : int, optional
        Reweighting rounds of the sparsity terms (the working-resolution step runs 20
        from a far coarser start; the band starts from the upsampled layers).
    cg_steps : int, optional
        Conjugate-gradient steps per round at most; the last solve, without the
        sparsity terms, gets ``options.final_cg_steps``.
    eps : float, optional
        Regulariser of the matting Laplacian (the method's ``matting_eps``).
    options : RelaxedOptions, optional
        Sum-to-one and fidelity weights, IRLS clamp and CG tolerance of the relaxed step.

    Returns
    -------
    (H, W, K) float32
        The layers, in [0, 1] and summing to 1; pixels outside the band are the input's
        values exactly (as float32).

    Raises
    ------
    OptionError
        ``alphas`` not of the plate's height and width, or ``band`` negative.

    Examples
    --------
    >>> from sss_vfx.data import two_region_image
    >>> img, alpha = two_region_image((32, 32))
    >>> layers = np.stack([alpha, 1 - alpha], axis=-1)
    >>> refine_layers(img, layers, 2).shape
    (32, 32, 2)
    """
    plate = np.asarray(plate, np.float64)
    a = np.asarray(alphas, np.float32)
    if a.ndim != 3 or a.shape[:2] != plate.shape[:2]:
        raise OptionError(f"alphas must be (H, W, K) with the plate's H, W "
                         f"{plate.shape[:2]}, got {a.shape}")
    if band < 0:
        raise OptionError(f"band must be >= 0 pixels, got {band}")
    out = a.copy()
    mask = _transition_band(a, band, tolerance)
    if not mask.any():
        return out
    k = a.shape[2]
    flat = a.reshape(-1, k).astype(np.float64)
    lap, inside, ring = _band_laplacian(plate, mask, eps)
    a0 = flat[inside]
    rhs_fixed = -(lap[:, len(inside):] @ flat[ring])
    lap = lap[:, :len(inside)].tocsr()
    diag_l = lap.diagonal()[:, None]
    expo = sparsity_exponent(gradient_magnitude(plate).ravel()[inside])[:, None]
    fid = np.full_like(a0, options.fidelity)
    x = a0.copy()
    for _ in range(rounds):
        u = np.maximum(np.abs(x), options.clamp) ** (expo - 2.0)
        v = np.maximum(np.abs(1.0 - x), options.clamp) ** (expo - 2.0)
        x = solve_layers(lap, diag_l, u + v + fid, options.sum_weight,
                         v + fid * a0 + options.sum_weight + rhs_fixed, x, cg_steps,
                         options.rtol)
    x = solve_layers(lap, diag_l, fid, options.sum_weight,
                     fid * x + options.sum_weight + rhs_fixed, x, options.final_cg_steps,
                     options.rtol)
    out.reshape(-1, k)[inside] = normalise_layers(x)
    return out


def _transition_band(alphas, band, tolerance=0.02):
    """Pixels where some layer is in ``(tolerance, 1 - tolerance)``, dilated by ``band``.

    Parameters
    ----------
    alphas : (H, W, K) float array
    band : int, dilation radius in pixels (a disc); 0 gives an empty band

    Returns
    -------
    (H, W) bool
    """
    if band <= 0:
        return np.zeros(alphas.shape[:2], bool)
    soft = ((alphas > tolerance) & (alphas < 1.0 - tolerance)).any(axis=-1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    return cv2.dilate(soft.astype(np.uint8), disc).astype(bool)


def _band_laplacian(image, mask, eps=1e-7):
    """The band's rows of the matting Laplacian, built from the windows that touch it.

    Parameters
    ----------
    image : (H, W, 3) float array in [0, 1]
    mask : (H, W) bool, the band
    eps : float

    Returns
    -------
    lap : (B, B + R) scipy.sparse.csr_matrix, float64
        Rows of :func:`~sss_vfx.graph.method_laplacian.matting_laplacian` for the B band
        pixels; columns are the band pixels, then the R pixels outside the band within
        2 px of it (the only ones a band row reaches).
    inside : (B,) int64, flat indices of the band pixels, row-major
    ring : (R,) int64, flat indices of the fixed neighbours
    """
    img = np.asarray(image, np.float64)
    h, w = mask.shape
    inside = np.flatnonzero(mask)
    n = len(inside)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ring = np.flatnonzero(near & ~mask)
    local = np.full(h * w, -1, np.int64)
    local[inside] = np.arange(n)
    local[ring] = n + np.arange(len(ring))
    # A window contributes to a band row when its 3x3 holds a band pixel; only complete
    # windows exist, so their centres keep 1 px off the border.
    centres = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    centres[[0, -1], :] = False
    centres[:, [0, -1]] = False
    cy, cx = np.nonzero(centres)
    colours = img.reshape(-1, 3)
    # stencil[i, s]: entry of band row i toward its neighbour at NEIGHBOUR_OFFSETS[s].
    stencil = np.zeros(n * 25 + 1)
    for start in range(0, len(cy), _CHUNK):
        pix = ((cy[start:start + _CHUNK, None] + _WINDOW[:, 0]) * w
               + cx[start:start + _CHUNK, None] + _WINDOW[:, 1])
        row = local[pix][:, :, None]
        # Entries of rows outside the band go to one spare bin, dropped below.
        key = np.where((row >= 0) & (row < n), row * 25 + _PAIR_OFFSET, n * 25)
        stencil += np.bincount(key.ravel(), weights=_window_values(colours[pix], eps).ravel(),
                               minlength=n * 25 + 1)
    stencil = stencil[:-1]
    y, x = np.divmod(inside, w)
    ny = y[:, None] + NEIGHBOUR_OFFSETS[:, 0]
    nx = x[:, None] + NEIGHBOUR_OFFSETS[:, 1]
    valid = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    cols = local[np.where(valid, ny * w + nx, 0)]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(valid.sum(axis=1), out=indptr[1:])
    lap = scipy.sparse.csr_matrix((stencil.reshape(n, 25)[valid], cols[valid], indptr),
                                  shape=(n, n + len(ring)))
    return lap, inside, ring


def _window_values(patches, eps):
    """``delta_ab - (1 + X_a^T (S + eps/9 Id)^-1 X_b) / 9`` for the pixel pairs (a, b)
    of M 3x3 windows: (M, 9, 3) colours -> (M, 9, 9)."""
    centred = patches - patches.mean(axis=1, keepdims=True)
    cov = np.einsum("mai,maj->mij", centred, centred) / 9.0 + (eps / 9.0) * np.eye(3)
    projected = np.einsum("maj,mjk->mak", centred, np.linalg.inv(cov))
    return np.eye(9) - (1.0 + np.einsum("mak,mbk->mab", projected, centred)) / 9.0
