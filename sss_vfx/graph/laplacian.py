"""The graph Laplacian of the method: ``L = diag(W 1) - W`` (DESIGN step 3)."""

import numpy as np
import scipy.sparse


def affinity_to_laplacian(affinity):
    """Graph Laplacian of a symmetric affinity matrix.

    Parameters
    ----------
    affinity : (N, N) scipy.sparse matrix
        Symmetric; may hold negative entries (the semantic affinity), in which case the
        Laplacian is indefinite.

    Returns
    -------
    scipy.sparse.csr_matrix, (N, N) float64
        Symmetric with zero row sums.
    """
    affinity = scipy.sparse.csr_matrix(affinity, dtype=np.float64)
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    return (scipy.sparse.diags(degree, format="csr") - affinity).tocsr()
