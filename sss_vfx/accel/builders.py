"""The affinity builders on a device: the public ``laplacian`` and ``matting_laplacian``.

``device='numpy'`` runs the float64 references of :mod:`sss_vfx.graph`; an OpenCL
device runs the kernels of this package (see
:func:`~sss_vfx.accel.devices.resolve_device` for the specs and the ``SSS_VFX_DEVICE``
default). Under ``'auto'`` an OpenCL failure (no runtime, a kernel that fails to build,
an image that cannot fit) logs one warning and falls back to numpy.
"""

from sss_vfx.accel.compute import Compute
from sss_vfx.options import AffinityWeights

__all__ = ["laplacian", "matting_laplacian"]


def laplacian(image, features=None, *, weights=AffinityWeights(), superpixels=None,
              device=None):
    """Laplacian of ``W_matting + w_s W_semantic + w_c W_colour``, on a device.

    Parameters and result as :func:`~sss_vfx.graph.method_laplacian.method_laplacian`
    (the numpy reference), plus ``device``: a spec (``'auto'``, ``'numpy'``,
    ``'opencl'``, ``'opencl:<platform>:<device>'``; None reads ``SSS_VFX_DEVICE``, else
    ``'auto'``), a Device or a Compute. Devices agree to about 1e-9 of the largest entry
    (float64 kernels; docs/benchmarks.md gives those of float32-only devices).

    Raises
    ------
    InputError
        Not an (H, W, 3) image of at least 3x3 pixels, or non-finite values.
    DeviceError
        An unknown device spec, or a failure on an OpenCL device asked for explicitly.

    Examples
    --------
    >>> import numpy as np
    >>> L = laplacian(np.random.default_rng(0).random((32, 32, 3)), device="numpy")
    >>> bool(abs(L.sum(axis=1)).max() < 1e-9)
    True
    """
    return Compute.resolve(device).laplacian(image, features, weights=weights,
                                             superpixels=superpixels)


def matting_laplacian(image, *, eps=AffinityWeights.matting_eps, device=None):
    """Matting Laplacian of closed-form matting alone (3x3 windows).

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1], H, W >= 3
    eps : float, optional
    device : str, Device or Compute, optional
        As :func:`laplacian`.

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64, symmetric positive semi-definite

    Raises
    ------
    InputError, DeviceError
        As :func:`laplacian`.

    Examples
    --------
    >>> import numpy as np
    >>> L = matting_laplacian(np.random.default_rng(0).random((8, 8, 3)), device="numpy")
    >>> L.shape
    (64, 64)
    """
    return Compute.resolve(device).matting_laplacian(image, eps=eps)
