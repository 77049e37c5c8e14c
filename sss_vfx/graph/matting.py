"""Matting affinity of closed-form matting (Levin, Lischinski, Weiss 2008).

For every 3x3 window k with colour mean mu_k and covariance S_k, and pixels i, j in it::

    W_ij += (1 + (I_i - mu_k)^T (S_k + eps/9 Id)^-1 (I_j - mu_k)) / 9

Every pixel thus gets non-zeros to the 25 pixels within distance 2 (fewer at the border,
where a pixel lies in fewer windows). The numpy code here is the reference that the
OpenCL builder is compared against.
"""

import numpy as np
import scipy.sparse

from sss_vfx.errors import InputError

#: (dy, dx) of the 25 neighbours a pixel can share a 3x3 window with, row-major.
NEIGHBOUR_OFFSETS = np.array([(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)])

_WINDOW = [(dy, dx) for dy in range(3) for dx in range(3)]


def check_matting_image(image):
    """The image as a float array, validated for the matting affinity.

    Raises
    ------
    InputError
        Not ``(H, W, 3)``, smaller than 3x3 (no complete window), or not finite.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be an (H, W, 3) colour array, got shape {image.shape}")
    if image.shape[0] < 3 or image.shape[1] < 3:
        raise InputError(f"image is {image.shape[1]}x{image.shape[0]} pixels; the matting "
                         "affinity needs at least 3x3 (one complete window)")
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        raise InputError(f"image must hold real numbers in [0, 1], got dtype {image.dtype}")
    if not np.isfinite(image).all():
        raise InputError("image holds NaN or infinite values; replace them before "
                         "building the affinity")
    return image


def window_statistics(image, eps=1e-7):
    """Mean and regularised inverse covariance of every complete 3x3 window.

    Parameters
    ----------
    image : (H, W, 3) float array
    eps : float
        Regulariser; the covariance gets ``eps / 9`` added on its diagonal.

    Returns
    -------
    mean : (H-2, W-2, 3) float64
        Window means; window (y, x) covers rows y..y+2 and columns x..x+2.
    inv_cov : (H-2, W-2, 3, 3) float64
        ``(S_k + eps/9 Id)^-1`` for every window.
    """
    img = np.asarray(image, dtype=np.float64)
    h, w, _ = img.shape
    patches = [img[dy:h - 2 + dy, dx:w - 2 + dx] for dy, dx in _WINDOW]
    mean = sum(patches) / 9.0
    second = sum(p[..., :, None] * p[..., None, :] for p in patches) / 9.0
    cov = second - mean[..., :, None] * mean[..., None, :]
    cov += (eps / 9.0) * np.eye(3)
    return mean, np.linalg.inv(cov)


def matting_affinity_values(image, eps=1e-7):
    """Matting affinity of every pixel to its 25 neighbours, as a dense stencil.

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1]
    eps : float

    Returns
    -------
    values : (25, H, W) float64
        ``values[n, y, x]`` is ``W_ij`` for pixel i = (y, x) and j = i +
        ``NEIGHBOUR_OFFSETS[n]``; zero where j is outside the image or shares no window.
    """
    img = np.asarray(image, dtype=np.float64)
    h, w, _ = img.shape
    mean, inv_cov = window_statistics(img, eps)
    centred = [img[dy:h - 2 + dy, dx:w - 2 + dx] - mean for dy, dx in _WINDOW]
    projected = [np.einsum("...ij,...j->...i", inv_cov, c) for c in centred]
    values = np.zeros((25, h, w))
    for a, (ay, ax) in enumerate(_WINDOW):
        for b, (by, bx) in enumerate(_WINDOW):
            n = (by - ay + 2) * 5 + (bx - ax + 2)
            term = (1.0 + np.einsum("...i,...i->...", projected[a], centred[b])) / 9.0
            values[n, ay:h - 2 + ay, ax:w - 2 + ax] += term
    return values


def stencil_to_csr(values):
    """Assemble a 25-neighbour stencil into a sparse matrix.

    Parameters
    ----------
    values : (25, H, W) float array, as from :func:`matting_affinity_values`

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W)
        Row-major pixel order; entries that fall outside the image are dropped.
    """
    _, h, w = values.shape
    ys, xs = np.mgrid[0:h, 0:w]
    rows, cols, data = [], [], []
    for n, (dy, dx) in enumerate(NEIGHBOUR_OFFSETS):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        rows.append((ys * w + xs)[inside])
        cols.append((ny * w + nx)[inside])
        data.append(values[n][inside])
    # Stacking then sorting by row keeps the 25 columns of a row ascending, as CSR wants.
    rows, cols, data = (np.concatenate(v) for v in (rows, cols, data))
    order = np.lexsort((cols, rows))
    indptr = np.zeros(h * w + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=h * w), out=indptr[1:])
    return scipy.sparse.csr_matrix((data[order], cols[order], indptr), shape=(h * w, h * w))


def matting_affinity(image, eps=1e-7):
    """Matting affinity matrix W of an image (DESIGN step 3).

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1]
    eps : float, optional
        Covariance regulariser, 1e-7 in the paper.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Symmetric, 25 non-zeros per interior pixel.

    Examples
    --------
    >>> import numpy as np
    >>> W = matting_affinity(np.random.default_rng(0).random((8, 8, 3)))
    >>> W.shape
    (64, 64)
    """
    return stencil_to_csr(matting_affinity_values(image, eps))
