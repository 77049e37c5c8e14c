"""Baselines the soft layers are scored against: a coarse-mask trimap and closed-form matting.

Closed-form matting (Levin, Lischinski, Weiss, PAMI 2008) with a trimap minimises
``alpha^T L alpha`` subject to the known pixels; ``L`` is the matting Laplacian
(:func:`sss_vfx.matting_laplacian`). Two exact-enough formulations are offered:

* ``"restricted"`` (default): the known values are hard constraints, so only the
  unknown pixels are solved for, ``L_uu alpha_u = -L_uk alpha_k`` (the standard trimap
  solve; the system is as large as the unknown band, not the image).
* ``"penalty"``: the paper's soft-constraint form over all pixels,
  ``(L + lambda D) alpha = lambda D t`` with ``D`` the diagonal indicator of known pixels.

Both are solved by a sparse direct solver (SuperLU, ``scipy.sparse.linalg.spsolve``) or by
conjugate gradients with a Jacobi preconditioner. The benchmarks only need this module,
numpy, scipy and OpenCV; ``sss_vfx`` supplies the Laplacian.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

__all__ = ["make_trimap", "closed_form_alpha", "TRIMAP_BG", "TRIMAP_UNKNOWN", "TRIMAP_FG"]

TRIMAP_BG, TRIMAP_UNKNOWN, TRIMAP_FG = 0.0, 0.5, 1.0


def make_trimap(mask, *, threshold=0.5, radius=10):
    """Trimap from a soft mask: a band of ``radius`` px around its 0.5 contour is unknown.

    The mask is thresholded to a binary foreground; pixels that an erosion by a
    ``(2 radius + 1)``-wide elliptical structuring element keeps are known foreground,
    pixels outside its dilation are known background, the rest is unknown. With the
    default radius that is a 21 x 21 ellipse, i.e. every pixel within 10 px of the
    binary mask's boundary is unknown.

    Parameters
    ----------
    mask : (H, W) array_like
        Soft foreground mask, values in [0, 1] (e.g. ``sss_vfx.data.coarse_mask``).
    threshold : float, optional
        Foreground where ``mask > threshold``.
    radius : int, optional
        Half-width of the unknown band in pixels, >= 0 (0: no unknown pixels).

    Returns
    -------
    trimap : (H, W) float32 ndarray
        ``TRIMAP_BG`` (0) known background, ``TRIMAP_UNKNOWN`` (0.5), ``TRIMAP_FG`` (1)
        known foreground.

    Examples
    --------
    >>> m = np.zeros((40, 40)); m[10:30, 10:30] = 1
    >>> t = make_trimap(m, radius=3)
    >>> float(t[20, 20]), float(t[10, 20]), float(t[0, 0])
    (1.0, 0.5, 0.0)
    """
    mask = np.asarray(mask, dtype=np.float64)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    binary = (mask > threshold).astype(np.uint8)
    if radius == 0:
        return binary.astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # Border value = the pixel's own value, so the image edge is not taken for a contour.
    fg = cv2.erode(binary, kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    not_bg = cv2.dilate(binary, kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    trimap = np.full(mask.shape, TRIMAP_UNKNOWN, dtype=np.float32)
    trimap[fg] = TRIMAP_FG
    trimap[~not_bg] = TRIMAP_BG
    return trimap


def closed_form_alpha(image, trimap, *, laplacian=None, formulation="restricted",
                      solver="direct", lam=100.0, eps=1e-7, tol=1e-7, maxiter=20000,
                      info=None):
    """Closed-form matting of ``image`` constrained by ``trimap``, at full resolution.

    Parameters
    ----------
    image : (H, W, 3) float array
        RGB in [0, 1].
    trimap : (H, W) float array
        0 known background, 1 known foreground, anything strictly between unknown
        (as returned by :func:`make_trimap`).
    laplacian : (H*W, H*W) scipy.sparse matrix, optional
        Precomputed matting Laplacian of ``image``; built with
        ``sss_vfx.matting_laplacian(image, eps=eps)`` when omitted.
    formulation : {'restricted', 'penalty'}, optional
        ``'restricted'``: solve ``L_uu a_u = -L_uk a_k`` (known pixels exact).
        ``'penalty'``: solve ``(L + lam D) a = lam D t`` over every pixel.
    solver : {'direct', 'cg'}, optional
        SuperLU (``spsolve``) or Jacobi-preconditioned conjugate gradients.
    lam : float, optional
        Weight of the known pixels in the ``'penalty'`` formulation.
    eps : float, optional
        Regulariser of the matting Laplacian when it is built here.
    tol, maxiter : float, int, optional
        Relative residual tolerance and iteration cap of CG.
    info : dict, optional
        Filled with ``unknown`` (pixel count), ``system`` (unknowns of the solved
        system), ``iterations`` (CG only), ``laplacian_s`` and ``solve_s`` (seconds).

    Returns
    -------
    alpha : (H, W) float32 ndarray
        The matte, clipped to [0, 1]; equal to the trimap on known pixels
        (``'restricted'``).
    """
    image = np.asarray(image, dtype=np.float64)
    trimap = np.asarray(trimap, dtype=np.float64)
    h, w = trimap.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and trimap {trimap.shape} differ in size")
    if formulation not in ("restricted", "penalty"):
        raise ValueError(f"formulation must be 'restricted' or 'penalty', got {formulation!r}")
    if solver not in ("direct", "cg"):
        raise ValueError(f"solver must be 'direct' or 'cg', got {solver!r}")
    info = {} if info is None else info
    t0 = time.perf_counter()
    if laplacian is None:
        import sss_vfx  # deferred: the trimap maker does not need it
        laplacian = sss_vfx.matting_laplacian(image, eps=eps)
    lap = scipy.sparse.csr_matrix(laplacian)
    info["laplacian_s"] = time.perf_counter() - t0

    t = trimap.ravel()
    known = (t <= 0.0) | (t >= 1.0)
    known_values = (t >= 1.0).astype(np.float64)
    unknown = np.flatnonzero(~known)
    info["unknown"] = int(unknown.size)
    t0 = time.perf_counter()
    if formulation == "restricted":
        alpha = known_values.copy()
        if unknown.size:
            known_idx = np.flatnonzero(known)
            rows = lap[unknown]
            a_uu = rows[:, unknown].tocsr()
            rhs = -(rows[:, known_idx] @ known_values[known_idx])
            alpha[unknown] = _solve(a_uu, rhs, solver, tol, maxiter, info)
        info["system"] = int(unknown.size)
    else:
        d = lam * known.astype(np.float64)
        a = (lap + scipy.sparse.diags(d)).tocsr()
        alpha = _solve(a, d * known_values, solver, tol, maxiter, info)
        info["system"] = int(h * w)
    info["solve_s"] = time.perf_counter() - t0
    return np.clip(alpha, 0.0, 1.0).reshape(h, w).astype(np.float32)


def _solve(matrix, rhs, solver, tol, maxiter, info):
    if solver == "direct":
        return scipy.sparse.linalg.spsolve(matrix.tocsc(), rhs)
    diag = matrix.diagonal()
    inv_diag = 1.0 / np.where(np.abs(diag) > 1e-12, diag, 1.0)
    jacobi = scipy.sparse.linalg.LinearOperator(matrix.shape, matvec=lambda v: inv_diag * v)
    count = [0]

    def step(_):
        count[0] += 1

    x, status = scipy.sparse.linalg.cg(matrix, rhs, rtol=tol, maxiter=maxiter, M=jacobi,
                                       callback=step)
    info["iterations"] = count[0]
    info["converged"] = status == 0
    return x
