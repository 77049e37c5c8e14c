"""Namespaces, devices and the operations the array API standard lacks.

The numpy branches spell each operation as the numpy references always did (``np.vdot``,
``np.linalg.norm``, ``np.bincount``, ``np.einsum``): the numpy results stay the same
bits. The torch branches use torch's own module, reached through the tensor's namespace
(array-api-compat's torch namespace re-exports torch), so torch is never imported here.
"""

import functools

import numpy as np
from array_api_compat import (array_namespace, is_array_api_obj, is_numpy_namespace,
                              is_torch_array)
from array_api_compat import device as device_of

from sss_vfx.errors import DeviceError

__all__ = ["as_array", "asarray", "bincount", "clip_", "contiguous", "device_of", "einsum",
           "first_appearance", "import_torch", "is_numpy", "namespace", "norm", "row_sums",
           "triu_indices", "unique_rows", "vdot"]

_INSTALL = "pip install 'sss_vfx[gpu]'"


def namespace(*arrays):
    """The array namespace of ``arrays`` (None and Python scalars ignored).

    Returns
    -------
    module
        ``array_api_compat.numpy`` or ``array_api_compat.torch``.
    """
    return array_namespace(*[a for a in arrays
                             if a is not None and not isinstance(a, (int, float))])


def as_array(value):
    """``value`` itself when it is an array of some namespace, else a numpy array."""
    return value if is_array_api_obj(value) else np.asarray(value)


def is_numpy(xp):
    """True for the numpy namespace."""
    return is_numpy_namespace(xp)


def asarray(value, like, dtype=None):
    """``value`` as an array of the namespace and device of ``like``.

    Parameters
    ----------
    value : array_like or tensor
    like : array or tensor
    dtype : dtype of that namespace, optional
        Converted to it; the value's own dtype otherwise.

    Returns
    -------
    array or tensor (``value`` itself when nothing changes)
    """
    xp = namespace(like)
    if is_numpy(xp):
        return np.asarray(value, dtype=dtype)
    if is_torch_array(value):
        return value.to(device=device_of(like), dtype=dtype or value.dtype)
    return xp.asarray(np.ascontiguousarray(value), dtype=dtype, device=device_of(like))


def contiguous(x, dtype):
    """``x`` converted to ``dtype``, C-contiguous (the layout the GEMMs read)."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x, dtype)
    return x.to(dtype).contiguous()


def import_torch():
    """The torch module, or a DeviceError saying how to install it."""
    try:
        import torch        # optional extra: imported only for a torch device
    except ImportError as exc:
        raise DeviceError(f"torch is not installed ({exc}); the torch and cuda devices "
                          f"need it: {_INSTALL}") from None
    return torch


def _module(x):
    """numpy, or torch itself for a tensor (through its array-api-compat namespace)."""
    return np if isinstance(x, np.ndarray) else array_namespace(x)


def einsum(subscripts, *operands):
    """``np.einsum``, or ``torch.einsum`` on the operands promoted to one dtype as numpy
    promotes them (torch's einsum takes one dtype only)."""
    if isinstance(operands[0], np.ndarray):
        return np.einsum(subscripts, *operands)
    torch = _module(operands[0])
    dtype = functools.reduce(torch.promote_types, [x.dtype for x in operands])
    return torch.einsum(subscripts, *[x.to(dtype) for x in operands])


def clip_(x, low, high):
    """Clip ``x`` to [low, high] in place (no temporary the size of ``x``); returns it."""
    if isinstance(x, np.ndarray):
        return np.clip(x, low, high, out=x)
    return x.clamp_(low, high)


def vdot(u, v):
    """Dot product of two arrays of one shape, flattened, as a Python float."""
    if isinstance(u, np.ndarray):
        return float(np.vdot(u, v))
    return float(_module(u).vdot(u.reshape(-1), v.reshape(-1)))


def row_sums(x):
    """``sum(x, axis=1, keepdims=True)`` of an (N, K) array or tensor, (N, 1).

    numpy reduces a short contiguous axis row by row, at five times the cost of adding
    the columns; for K < 8 its order is the columns' in turn (pairwise summation starts
    at 8), so the column additions give the same bits. K >= 8 takes the reduction.

    Examples
    --------
    >>> x = np.arange(6.0).reshape(3, 2)
    >>> row_sums(x).ravel().tolist()
    [1.0, 5.0, 9.0]
    """
    xp = namespace(x)
    if not 0 < x.shape[1] < 8:
        return xp.sum(x, axis=1, keepdims=True)
    total = xp.asarray(x[:, :1], copy=True)
    for j in range(1, x.shape[1]):
        total += x[:, j:j + 1]
    return total


def norm(x):
    """Euclidean norm of all entries, as a Python float."""
    if isinstance(x, np.ndarray):
        return float(np.linalg.norm(x))
    return float(_module(x).linalg.vector_norm(x))


def bincount(labels, weights, length):
    """Sum of ``weights`` (N,) or (N, D) per label (N,) in 0..length-1: (length,) or
    (length, D) float64."""
    if isinstance(labels, np.ndarray):
        if weights.ndim == 1:
            return np.bincount(labels, weights, minlength=length)
        return np.stack([np.bincount(labels, weights[:, d], minlength=length)
                         for d in range(weights.shape[1])], axis=1)
    torch = _module(labels)
    out = torch.zeros((length,) + tuple(weights.shape[1:]), dtype=weights.dtype,
                      device=weights.device)
    return out.index_add_(0, labels, weights)


def unique_rows(x):
    """Distinct rows of (N, D) ``x`` in lexicographic order, with the inverse (N,) and
    the counts."""
    if isinstance(x, np.ndarray):
        values, inverse, counts = np.unique(x, axis=0, return_inverse=True,
                                            return_counts=True)
        return values, inverse.ravel(), counts
    return _module(x).unique(x, dim=0, return_inverse=True, return_counts=True)


def first_appearance(labels):
    """The labels present in (N,) int ``labels``, ordered by their first index."""
    if isinstance(labels, np.ndarray):
        used, first = np.unique(labels, return_index=True)
        return used[np.argsort(first)]
    torch = _module(labels)
    used = torch.unique(labels)
    first = torch.full((int(labels.max()) + 1,), labels.shape[0], dtype=torch.int64,
                       device=labels.device)
    first.scatter_reduce_(0, labels, torch.arange(labels.shape[0], device=labels.device),
                          reduce="amin")
    return used[torch.argsort(first[used], stable=True)]


def triu_indices(m, like):
    """Row and column indices of the upper triangle of an (m, m) matrix, on the device
    of ``like``."""
    if isinstance(like, np.ndarray):
        return np.triu_indices(m)
    upper = _module(like).triu_indices(m, m, device=like.device)
    return upper[0], upper[1]
