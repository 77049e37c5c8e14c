"""A window's eigenpairs from its frames' own eigenvectors (component mode synthesis).

Written against the array namespace of the frame vectors: numpy with a scipy.sparse
Laplacian, or torch (any device) with a sparse tensor.
"""

import numpy as np

from sss_vfx.arrays.namespace import as_array, device_of, namespace
from sss_vfx.arrays.sparse import as_sparse, column_block_product
from sss_vfx.errors import OptionError
from sss_vfx.spectral.checks import fixed_signs, magnitude_order
from sss_vfx.spectral.threads import single_blas_thread

__all__ = ["window_eigs"]


def window_eigs(laplacian, frame_vectors, k):
    """Eigenpairs nearest zero of a window's Laplacian, from its frames' own eigenvectors.

    Component mode synthesis: the window's low-energy modes are sought in the span of
    every frame's low-energy modes, ``Q = blockdiag(V_0, ..., V_{F-1})``. The
    Rayleigh-Ritz step diagonalises ``Q^T L Q`` (a dense matrix of the summed mode
    counts) and returns the Ritz pairs of smallest magnitude. The temporal affinity only
    couples frames, so each frame's factorisation stays 2-D and is done once per frame,
    however many windows share it; a 3-D factorisation of the window would cost far more
    fill-in.

    Parameters
    ----------
    laplacian : (F*N, F*N) scipy.sparse matrix or torch sparse tensor, symmetric
        The window's Laplacian, frame after frame.
    frame_vectors : sequence of F (N, m_t) float arrays or tensors
        Orthonormal eigenvectors of each frame's own Laplacian; the first one's
        namespace and device are where the computation runs.
    k : int
        Pairs wanted, at most the summed m_t.

    Returns
    -------
    eigenvalues : (k,) float64, Ritz values sorted by increasing magnitude
    eigenvectors : (F*N, k) float64, orthonormal columns

    Raises
    ------
    OptionError
        If the frames hold fewer than ``k`` eigenvectors.
    """
    first = as_array(frame_vectors[0])
    xp = namespace(first)
    frame_vectors = [xp.astype(as_array(v), xp.float64, copy=False) for v in frame_vectors]
    sizes = [v.shape[0] for v in frame_vectors]
    widths = [v.shape[1] for v in frame_vectors]
    if not 1 <= k <= sum(widths):
        raise OptionError(f"k={k} Ritz pairs need at least {k} frame eigenvectors")
    starts = [int(s) for s in np.concatenate([[0], np.cumsum(sizes)])]
    cols = [int(c) for c in np.concatenate([[0], np.cumsum(widths)])]
    lap = as_sparse(laplacian, first, layout="csc")
    # One BLAS thread throughout: the products are small enough that a second thread
    # gains little on an idle machine, and on a busy one its waiting made this step
    # 3-5x slower in CPU time (see sss_vfx.spectral.threads).
    with single_blas_thread():
        projected = _projected(lap, frame_vectors, starts, cols)
        values, coefficients = xp.linalg.eigh(projected)
        rank = magnitude_order(values, k)
        vectors = xp.concat([v @ coefficients[cols[t]:cols[t + 1], rank]
                             for t, v in enumerate(frame_vectors)])
    return values[rank], fixed_signs(vectors)


def _projected(lap, frame_vectors, starts, cols):
    """``Q^T L Q`` for ``Q = blockdiag(frame_vectors)``, symmetric, one frame column at a
    time (a dense (F*N, m_t) block, never Q itself).

    Only the blocks on and above the diagonal are multiplied, and only where ``L``
    couples the two frames: the temporal affinity joins consecutive frames, so in a
    window of 3 five of the nine dense products remain. A block is skipped when its rows
    of ``L Q_t`` are all zero, which makes it exactly zero, so the skip is exact.
    """
    xp = namespace(frame_vectors[0])
    size = cols[-1]
    projected = xp.zeros((size, size), dtype=xp.float64, device=device_of(frame_vectors[0]))
    for t, v in enumerate(frame_vectors):
        applied = column_block_product(lap, starts[t], starts[t + 1], v)
        for s in range(t + 1):
            rows = applied[starts[s]:starts[s + 1]]
            if s < t and not bool(xp.any(rows != 0)):
                continue
            block = frame_vectors[s].T @ rows
            if s == t:
                block = (block + block.T) / 2.0
            projected[cols[s]:cols[s + 1], cols[t]:cols[t + 1]] = block
            projected[cols[t]:cols[t + 1], cols[s]:cols[s + 1]] = block.T
    return projected
