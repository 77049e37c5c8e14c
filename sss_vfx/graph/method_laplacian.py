"""The full affinity and Laplacian of Semantic Soft Segmentation (DESIGN step 3).

Both builders run on a device: ``device='numpy'`` is the float64 reference, an OpenCL
device runs the kernels of :mod:`sss_vfx.accel` (see
:func:`~sss_vfx.accel.devices.resolve_device` for the specs and the ``SSS_VFX_DEVICE``
default). Under ``'auto'`` an OpenCL failure (no runtime, a kernel that fails to build,
an image that cannot fit) logs one warning and falls back to numpy.
"""

import logging
from dataclasses import dataclass

import scipy.sparse

from sss_vfx.accel.devices import NUMPY, resolve_device
from sss_vfx.errors import DeviceError
from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import matting_affinity
from sss_vfx.graph.superpixel_affinity import (colour_affinity, pairs_to_pixel_affinity,
                                               semantic_affinity, semantic_affinity_values)
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.graph.temporal import temporal_affinity

log = logging.getLogger("sss_vfx")


@dataclass(frozen=True)
class AffinityWeights:
    """Weights of the three affinities and their parameters (paper defaults)."""

    matting_eps: float = 1e-7
    semantic: float = 0.01
    colour: float = 0.01
    colour_radius: float = 0.2
    superpixels: int = 2500


def _check_image(image):
    # Imported here: the accel host modules import pyopencl only when called.
    from sss_vfx.accel.matting_cl import check_matting_image
    return check_matting_image(image)


def _on_device(device, what, opencl_build, numpy_build):
    """Run ``opencl_build(device)`` or ``numpy_build()``; returns (result, Device)."""
    device = resolve_device(device)
    if device.kind == "opencl":
        try:
            return opencl_build(device), device
        except DeviceError as exc:
            if not device.fallback:
                raise
            log.warning("%s on %s failed, building it with numpy: %s", what, device, exc)
    return numpy_build(), NUMPY


def laplacian_with_device(image, features=None, *, weights=AffinityWeights(),
                          superpixels=None, device=None):
    """:func:`laplacian`, also returning the Device that built it (after any fallback).

    Returns
    -------
    (scipy.sparse.csr_matrix, Device)
    """
    image = _check_image(image)
    device = resolve_device(device)
    if superpixels is None:
        superpixels = compute_superpixels(image, n_segments=weights.superpixels)

    def numpy_build():
        affinity = matting_affinity(image, eps=weights.matting_eps)
        if weights.colour:
            affinity = affinity + weights.colour * colour_affinity(superpixels,
                                                                   weights.colour_radius)
        if features is not None and weights.semantic:
            affinity = affinity + weights.semantic * semantic_affinity(superpixels, features)
        return affinity_to_laplacian(scipy.sparse.csr_matrix(affinity))

    def opencl_build(dev):
        from sss_vfx.accel.label_means_cl import label_means_cl
        from sss_vfx.accel.laplacian_cl import method_laplacian_cl

        extra = None
        if weights.colour:
            extra = weights.colour * colour_affinity(superpixels, weights.colour_radius)
        if features is not None and weights.semantic:
            means = label_means_cl(superpixels.labels, features, superpixels.count,
                                   device=dev)
            pairs = superpixels.adjacency
            values = semantic_affinity_values(means[pairs[:, 0]], means[pairs[:, 1]])
            semantic = weights.semantic * pairs_to_pixel_affinity(superpixels, pairs, values)
            extra = semantic if extra is None else extra + semantic
        return method_laplacian_cl(image, extra, eps=weights.matting_eps, device=dev)

    return _on_device(device, "the Laplacian", opencl_build, numpy_build)


def temporal_with_device(frame, next_frame, flow, confidence, *, lambda_t=1.0, sigma=0.1,
                         device=None):
    """:func:`~sss_vfx.graph.temporal.temporal_affinity` on a device.

    Returns
    -------
    (scipy.sparse.csr_matrix (H*W, H*W), Device)
        The affinity and the device that built it (after any fallback).
    """
    def opencl_build(dev):
        from sss_vfx.accel.temporal_cl import temporal_affinity_cl
        return temporal_affinity_cl(frame, next_frame, flow, confidence,
                                    lambda_t=lambda_t, sigma=sigma, device=dev)

    return _on_device(device, "the temporal affinity", opencl_build,
                      lambda: temporal_affinity(frame, next_frame, flow, confidence,
                                                lambda_t=lambda_t, sigma=sigma))


def laplacian(image, features=None, *, weights=AffinityWeights(), superpixels=None,
              device=None):
    """Laplacian of ``W_matting + w_s W_semantic + w_c W_colour``.

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1], H, W >= 3
    features : (H, W, 3) float array in [0, 1], optional
        Preprocessed semantic features; without them the semantic term is off.
    weights : AffinityWeights, optional
    superpixels : Superpixels, optional
        Reused when given, computed from the image otherwise.
    device : str or Device, optional
        ``'auto'``, ``'numpy'``, ``'opencl'`` or ``'opencl:<platform>:<device>'``;
        None reads ``SSS_VFX_DEVICE``, else ``'auto'``. Devices agree to about 1e-9 of
        the largest entry (float64 kernels; see the README for float32-only devices).

    Returns
    -------
    scipy.sparse.csr_matrix, (H*W, H*W) float64
        Symmetric, zero row sums; indefinite when the semantic term is on.

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
    >>> abs(L.sum(axis=1)).max() < 1e-9
    True
    """
    return laplacian_with_device(image, features, weights=weights,
                                 superpixels=superpixels, device=device)[0]


def matting_laplacian(image, *, eps=1e-7, device=None):
    """Matting Laplacian of closed-form matting alone (3x3 windows).

    Parameters
    ----------
    image : (H, W, 3) float array, values in [0, 1], H, W >= 3
    eps : float, optional
    device : str or Device, optional
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
    image = _check_image(image)

    def opencl_build(dev):
        from sss_vfx.accel.matting_cl import matting_laplacian_cl
        return matting_laplacian_cl(image, eps, device=dev)

    return _on_device(device, "the matting Laplacian", opencl_build,
                      lambda: affinity_to_laplacian(matting_affinity(image, eps=eps)))[0]
