"""OpenCL acceleration of the affinity builders, with numpy references beside them.

Importing this package creates no OpenCL object and does not import pyopencl; the
builders import it when first called. See :mod:`sss_vfx.accel.devices` for device
choice (``device='auto' | 'numpy' | 'opencl' | 'opencl:P:D'``).
"""

from sss_vfx.accel.devices import (ENV_VAR, NUMPY, Device, find_opencl_devices,
                                   list_devices, resolve_device)
from sss_vfx.errors import DeviceError, DeviceMemoryError, KernelBuildError

__all__ = ["ENV_VAR", "NUMPY", "Device", "DeviceError", "DeviceMemoryError",
           "KernelBuildError", "find_opencl_devices", "list_devices", "resolve_device"]
