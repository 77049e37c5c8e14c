"""Devices: the OpenCL affinity builders, device choice, the stage registry
(:mod:`sss_vfx.accel.stages`) and the dispatch that runs each stage where it may run
(the stages after the Laplacian are written once against the array namespace and run on
numpy or torch).

Importing this package creates no OpenCL or torch object and imports neither pyopencl
nor torch; the builders import them when first called. See
:mod:`sss_vfx.accel.devices` for device choice (``device='auto' | 'numpy' | 'opencl' |
'opencl:P:D' | 'cuda' | 'cuda:N' | 'torch:cpu'``) and :class:`~sss_vfx.accel.compute.
Compute` for the object that carries the choice through a run.
"""

from sss_vfx.accel.compute import Compute
from sss_vfx.accel.devices import (ENV_VAR, NUMPY, TORCH_CPU, Device, find_cuda_devices,
                                   find_opencl_devices, list_devices, resolve_device)
from sss_vfx.errors import DeviceError, DeviceMemoryError, KernelBuildError

__all__ = ["ENV_VAR", "NUMPY", "TORCH_CPU", "Compute", "Device", "DeviceError",
           "DeviceMemoryError", "KernelBuildError", "find_cuda_devices",
           "find_opencl_devices", "list_devices", "resolve_device"]
