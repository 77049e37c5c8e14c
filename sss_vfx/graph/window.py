"""The Laplacian of a window of consecutive frames (DESIGN section 2).

Each frame keeps its own Laplacian on the block diagonal; consecutive frames are joined
by the temporal affinity ``T_t`` (frame t's pixels to frame t+1's), stored at block
``(t, t+1)`` and, transposed, at ``(t+1, t)``. The window's Laplacian is::

    L = blockdiag(L_0 .. L_{F-1}) + (D_T - W_T)

with ``W_T`` the symmetric temporal affinity and ``D_T`` its degrees, so it stays
symmetric with zero row sums. Pixel ``p`` of frame ``t`` is row ``t * H * W + p``.
"""

import numpy as np
import scipy.sparse

from sss_vfx.errors import InputError
from sss_vfx.graph.laplacian import affinity_to_laplacian

__all__ = ["temporal_window_affinity", "window_laplacian"]


def temporal_window_affinity(temporals, pixels):
    """The symmetric temporal affinity of a window of ``len(temporals) + 1`` frames.

    Parameters
    ----------
    temporals : sequence of (N, N) sparse matrices
        ``T_t`` for t = 0 .. F-2, N = ``pixels``.
    pixels : int
        Pixels per frame, N.

    Returns
    -------
    scipy.sparse.csr_matrix, (F*N, F*N) float64, symmetric
    """
    frames = len(temporals) + 1
    blocks = [[None] * frames for _ in range(frames)]
    for t, temporal in enumerate(temporals):
        temporal = scipy.sparse.csr_matrix(temporal, dtype=np.float64)
        if temporal.shape != (pixels, pixels):
            raise InputError(f"temporal affinity {t} is {temporal.shape}, expected "
                             f"{(pixels, pixels)}")
        blocks[t][t + 1] = temporal
        blocks[t + 1][t] = temporal.T
    if frames == 1:
        return scipy.sparse.csr_matrix((pixels, pixels))
    for t in range(frames):
        # bmat needs every block row and column to have a known size.
        blocks[t][t] = scipy.sparse.csr_matrix((pixels, pixels))
    return scipy.sparse.bmat(blocks, format="csr")


def window_laplacian(frame_laplacians, temporals):
    """Laplacian of a window of frames joined by temporal affinities.

    Parameters
    ----------
    frame_laplacians : sequence of F (N, N) sparse matrices
        Each frame's Laplacian (symmetric, zero row sums).
    temporals : sequence of F-1 (N, N) sparse matrices
        ``T_t`` from :func:`~sss_vfx.graph.temporal.temporal_affinity`, frame t to t+1.

    Returns
    -------
    scipy.sparse.csr_matrix, (F*N, F*N) float64
        Symmetric with zero row sums.

    Raises
    ------
    InputError
        Frame Laplacians of different sizes, or the wrong number of temporal blocks.

    Examples
    --------
    >>> import numpy as np, scipy.sparse
    >>> L0 = scipy.sparse.csr_matrix(np.array([[1., -1.], [-1., 1.]]))
    >>> T = scipy.sparse.identity(2, format="csr")
    >>> window_laplacian([L0, L0], [T]).shape
    (4, 4)
    """
    frame_laplacians = list(frame_laplacians)
    temporals = list(temporals)
    if not frame_laplacians:
        raise InputError("a window needs at least one frame")
    if len(temporals) != len(frame_laplacians) - 1:
        raise InputError(f"{len(frame_laplacians)} frames need {len(frame_laplacians) - 1} "
                         f"temporal affinities, got {len(temporals)}")
    pixels = frame_laplacians[0].shape[0]
    if any(lap.shape != (pixels, pixels) for lap in frame_laplacians):
        raise InputError("the frames of a window must share one working size")
    spatial = scipy.sparse.block_diag(frame_laplacians, format="csr", dtype=np.float64)
    if not temporals:
        return spatial
    temporal = affinity_to_laplacian(temporal_window_affinity(temporals, pixels))
    return (spatial + temporal).tocsr()
