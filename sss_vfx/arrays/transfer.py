"""Data into and out of a torch device: the only host <-> device copies of a run.

The stage registry's runner moves a stage's numpy arrays and scipy matrices to the
device before the stage and its results back after it; inside a stage nothing crosses.
"""

import numpy as np
import scipy.sparse
from array_api_compat import is_torch_array

from sss_vfx.arrays.namespace import import_torch
from sss_vfx.arrays.sparse import torch_csr

__all__ = ["to_device", "to_host"]


def to_device(value, device):
    """Numpy arrays and scipy sparse matrices in ``value`` as tensors on a torch device.

    Tuples and lists are converted item by item; other values (options, numbers,
    tensors already there) pass unchanged. The one way data enters a torch stage.

    Parameters
    ----------
    value : object
    device : torch.device

    Returns
    -------
    object of the same structure
    """
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    torch = import_torch()
    if scipy.sparse.issparse(value):
        return torch_csr(value, device)
    if isinstance(value, np.ndarray):
        array = value if value.flags.writeable and value.flags.c_contiguous \
            else np.ascontiguousarray(value).copy()
        return torch.from_numpy(array).to(device)
    if isinstance(value, torch.Tensor):
        return value.to(device)
    return value


def to_host(value):
    """Tensors in ``value`` (tuples and lists too) as numpy arrays; the one way results
    leave a torch stage."""
    if isinstance(value, (tuple, list)):
        return type(value)(to_host(v) for v in value)
    if is_torch_array(value):
        return value.detach().cpu().numpy()
    return value
