"""Sparse matrices for either namespace: scipy.sparse with numpy, torch sparse CSR with
torch. A stage multiplies them with ``@`` whichever it holds; this module builds them,
reads their diagonal, and applies the products torch's sparse layout has no slicing for.
"""

import warnings

import numpy as np
import scipy.sparse

from sss_vfx.arrays.namespace import import_torch, namespace

__all__ = ["as_sparse", "block_diagonal", "column_block_product", "gershgorin",
           "sparse_diagonal", "sparse_from_triplets", "sparse_device", "sparse_namespace",
           "torch_csr"]


def torch_csr(matrix, device, dtype=None):
    """A sparse matrix as a torch sparse CSR tensor on ``device``.

    Parameters
    ----------
    matrix : scipy.sparse matrix or torch sparse tensor (CSR or COO)
    device : torch.device
    dtype : torch.dtype, optional
        float64 when None.

    Returns
    -------
    torch.Tensor, sparse CSR layout
    """
    torch = import_torch()
    dtype = dtype or torch.float64
    with warnings.catch_warnings():
        # torch calls its sparse CSR support "beta" on every construction.
        warnings.simplefilter("ignore", UserWarning)
        if isinstance(matrix, torch.Tensor):
            if matrix.layout == torch.sparse_csr:
                return matrix.to(device=device, dtype=dtype)
            return matrix.to(device=device, dtype=dtype).to_sparse_csr()
        csr = scipy.sparse.csr_matrix(matrix)
        csr.sort_indices()
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data.astype(np.float64)), size=csr.shape,
            check_invariants=False).to(device=device, dtype=dtype)


def as_sparse(matrix, like, layout="csr"):
    """``matrix`` in the sparse format of the namespace of ``like``: a scipy matrix
    (``layout`` 'csr' or 'csc') for numpy, a float64 torch sparse CSR tensor on
    ``like``'s device for torch."""
    if isinstance(like, np.ndarray):
        return matrix.tocsr() if layout == "csr" else scipy.sparse.csc_matrix(matrix)
    return torch_csr(matrix, like.device)


def sparse_device(matrix):
    """The device of a sparse matrix: ``'cpu'`` for scipy matrices."""
    return "cpu" if scipy.sparse.issparse(matrix) else matrix.device


def sparse_namespace(matrix):
    """The array namespace a sparse matrix computes with: numpy for scipy matrices."""
    return namespace(np.empty(0) if scipy.sparse.issparse(matrix) else matrix)


def gershgorin(matrix):
    """An upper bound of ``||matrix||``: its largest absolute row sum, a Python float."""
    if scipy.sparse.issparse(matrix):
        return float(abs(matrix).sum(axis=1).max())
    torch = import_torch()
    rows = torch.repeat_interleave(torch.arange(matrix.shape[0], device=matrix.device),
                                   matrix.crow_indices().diff())
    sums = torch.zeros(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    sums.index_add_(0, rows, matrix.values().abs())
    return float(sums.max())


def sparse_diagonal(matrix):
    """The diagonal (N,) of a square scipy matrix or torch sparse CSR tensor."""
    if scipy.sparse.issparse(matrix):
        return matrix.diagonal()
    torch = import_torch()
    n = matrix.shape[0]
    rows = torch.repeat_interleave(torch.arange(n, device=matrix.device),
                                   matrix.crow_indices().diff())
    on_diag = rows == matrix.col_indices()
    diag = torch.zeros(n, dtype=matrix.dtype, device=matrix.device)
    diag.index_add_(0, rows[on_diag], matrix.values()[on_diag])
    return diag


def sparse_from_triplets(values, rows, cols, shape):
    """A sparse matrix from (values, rows, cols) triplets, duplicates summed.

    Parameters
    ----------
    values : (P,) float array or tensor
    rows, cols : (P,) int arrays or tensors of the same namespace
    shape : (int, int)

    Returns
    -------
    scipy CSR matrix, or torch sparse CSR tensor on the values' device
    """
    if isinstance(values, np.ndarray):
        return scipy.sparse.csr_matrix((values, (rows, cols)), shape=shape)
    torch = import_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_coo_tensor(torch.stack([rows, cols]), values,
                                       size=shape).coalesce().to_sparse_csr()


class _Blocks:
    """``blocks`` (n, k, k) as the operator of a block-diagonal (n k, n k) matrix on
    (n k, c) tensors (torch sparse has no block format)."""

    def __init__(self, blocks):
        self.blocks = blocks

    def __matmul__(self, x):
        n, k, _ = self.blocks.shape
        return (self.blocks @ x.reshape(n, k, -1)).reshape(n * k, -1)


def block_diagonal(blocks):
    """The block-diagonal matrix of (n, k, k) ``blocks``, applied with ``@`` to (n k, c)
    arrays: a scipy BSR matrix for numpy."""
    if isinstance(blocks, np.ndarray):
        n, k, _ = blocks.shape
        return scipy.sparse.bsr_matrix((blocks, np.arange(n), np.arange(n + 1)),
                                       shape=(n * k, n * k))
    return _Blocks(blocks)


def column_block_product(matrix, start, stop, v):
    """``matrix[:, start:stop] @ v`` for a scipy CSC matrix or torch sparse CSR tensor
    ((N, N), v (stop - start, m)), as an (N, m) array."""
    if scipy.sparse.issparse(matrix):
        return matrix[:, start:stop] @ v
    xp = namespace(v)
    padded = xp.zeros((matrix.shape[1], v.shape[1]), dtype=v.dtype, device=v.device)
    padded[start:stop] = v
    return matrix @ padded
