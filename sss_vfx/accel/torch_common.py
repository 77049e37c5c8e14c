"""What the torch stages share: importing torch, moving arrays, CUDA devices, memory.

torch is optional (``pip install 'sss_vfx[gpu]'``): it is imported inside the functions
here, never at import of :mod:`sss_vfx`, and a missing torch raises one
:class:`~sss_vfx.errors.DeviceError` naming the extra. Every torch stage takes numpy
arrays or scipy matrices *or* torch tensors, so results can stay on the device between
stages; it returns tensors when given tensors, numpy arrays otherwise (see
:func:`given_tensor` and :func:`returned`).
"""

import warnings
from contextlib import contextmanager

import numpy as np
import scipy.sparse

from sss_vfx.errors import DeviceError, DeviceMemoryError

__all__ = ["as_tensor", "cuda_devices", "given_tensor", "import_torch", "memory_guard",
           "returned", "sparse_csr", "torch_device"]

_INSTALL = "pip install 'sss_vfx[gpu]'"


def import_torch():
    """The torch module, or a DeviceError saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise DeviceError(f"torch is not installed ({exc}); the torch and cuda devices "
                          f"need it: {_INSTALL}") from None
    return torch


def torch_device(device=None):
    """A ``torch.device`` from a torch device, a spec string or a Device-like object.

    Parameters
    ----------
    device : torch.device, str or None
        ``'torch:cpu'`` / ``'cpu'``, ``'cuda'``, ``'cuda:N'``, a ``torch.device``, or
        an object with a ``torch_device`` attribute (the pipeline's resolved device);
        None is the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceError
        torch is missing, the spec is not a torch device, or CUDA is not available.
    """
    torch = import_torch()
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    elif hasattr(device, "torch_device"):
        return torch_device(device.torch_device)
    else:
        text = str(getattr(device, "spec", device)).strip().lower()
        if text.startswith("torch:"):
            text = text[len("torch:"):]
        try:
            dev = torch.device(text)
        except RuntimeError:
            raise DeviceError(f"device must be 'torch:cpu', 'cuda' or 'cuda:N' for a torch "
                              f"stage, got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(dev)!r}: torch sees no CUDA GPU; use "
                              "device='torch:cpu' or 'numpy'")
        index = 0 if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device 'cuda:{index}' does not exist; torch sees "
                              f"{torch.cuda.device_count()} CUDA device(s)")
        dev = torch.device("cuda", index)
    elif dev.type != "cpu":
        raise DeviceError(f"device must be 'torch:cpu', 'cuda' or 'cuda:N' for a torch "
                          f"stage, got {device!r}")
    return dev


def given_tensor(*values):
    """True when any of ``values`` is a torch tensor (results then stay tensors)."""
    try:
        import torch
    except ImportError:
        return False
    return any(isinstance(v, torch.Tensor) for v in values)


def as_tensor(value, device, dtype=None):
    """``value`` (numpy array, tensor, list) as a tensor on ``device``.

    Parameters
    ----------
    value : array_like or torch.Tensor
    device : torch.device
    dtype : torch.dtype, optional
        Converted to it; the value's own dtype (float64 for numpy floats) otherwise.

    Returns
    -------
    torch.Tensor
    """
    torch = import_torch()
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=dtype or value.dtype)
    array = np.asarray(value)
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array).copy()
    return torch.from_numpy(array).to(device=device, dtype=dtype)


def returned(value, as_tensors):
    """A result as the caller gave its inputs: the tensor itself, or a numpy array."""
    if as_tensors:
        return value
    return value.detach().cpu().numpy()


def sparse_csr(matrix, device, dtype=None):
    """A square sparse matrix as a torch sparse CSR tensor on ``device``.

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


def cuda_devices():
    """The CUDA devices torch sees, for ``sss-vfx devices``.

    Never raises: without torch or CUDA the list is empty.

    Returns
    -------
    list of dict
        ``{"spec": "cuda:N", "name": str, "memory": int bytes, "capability": "8.0"}``.
    """
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    found = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        found.append({"spec": f"cuda:{index}", "name": props.name,
                      "memory": int(props.total_memory),
                      "capability": f"{props.major}.{props.minor}"})
    return found


@contextmanager
def memory_guard(stage, device, record=None, pixels=None):
    """Run one stage: record its GPU peak memory, turn out-of-memory into one line.

    Parameters
    ----------
    stage : str
        Stage name, for the record and the message.
    device : torch.device
    record : dict, optional
        ``record[stage]`` receives the peak bytes allocated on a CUDA device during the
        stage (``torch.cuda.max_memory_allocated``); unchanged on the CPU.
    pixels : int, optional
        Pixels of the problem, named in the message.

    Raises
    ------
    DeviceMemoryError
        The stage ran out of device memory.
    """
    torch = import_torch()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield
    except torch.OutOfMemoryError:
        total = torch.cuda.get_device_properties(device).total_memory if cuda else 0
        size = f" ({pixels} working pixels)" if pixels else ""
        if cuda:
            torch.cuda.empty_cache()
        raise DeviceMemoryError(
            f"the {stage} stage does not fit the memory of {device}{size}"
            + (f", {total / 2**30:.1f} GiB" if total else "")
            + "; lower max_pixels or use device='numpy'") from None
    if cuda and record is not None:
        record[stage] = max(record.get(stage, 0), int(torch.cuda.max_memory_allocated(device)))
