"""Which device builds the affinities: discovery and choice, never interactive.

A device is named by a short string:

``"numpy"``
    The float64 numpy reference, always available.
``"opencl"``
    The first OpenCL GPU, else the first OpenCL device of any type.
``"opencl:<platform>:<device>"``
    One OpenCL device by its indices, as ``sss-vfx devices`` lists them.
``"cuda"``, ``"cuda:N"``
    The whole pipeline on an NVIDIA GPU through torch (``pip install 'sss_vfx[gpu]'``);
    the affinities are built by the first OpenCL GPU where there is one, else numpy.
``"torch:cpu"``
    The torch code path on the CPU (what CI tests the GPU code with).
``"auto"``
    ``"cuda"`` when torch sees a CUDA GPU, else ``"opencl"`` when an OpenCL device
    exists, else numpy with one logged warning. An OpenCL failure at build time (kernel
    build, memory) also falls back to numpy.

``None`` means the environment variable ``SSS_VFX_DEVICE``, else ``"auto"``.

Nothing here creates OpenCL objects at import: pyopencl is imported inside the functions
that need it, so the package imports (and runs on numpy) without it. The ``pyopencl``
wheel carries its own ICD loader, which finds the PoCL CPU runtime installed with
``pocl-binary-distribution`` without any environment variable; a system ICD loader reads
``/etc/OpenCL/vendors`` or ``OCL_ICD_VENDORS`` as usual.
"""

import logging
import os
from dataclasses import dataclass, replace

from sss_vfx.errors import DeviceError

__all__ = ["ENV_VAR", "NUMPY", "TORCH_CPU", "Device", "find_cuda_devices",
           "find_opencl_devices", "list_devices", "resolve_device"]

log = logging.getLogger("sss_vfx")

#: Environment variable holding the default device spec.
ENV_VAR = "SSS_VFX_DEVICE"

_SPEC_HELP = ("'auto', 'numpy', 'opencl', 'opencl:<platform>:<device>', 'cuda', "
              "'cuda:<index>' or 'torch:cpu'")
_warned = set()


@dataclass(frozen=True)
class Device:
    """A compute device for the affinity builders.

    Attributes
    ----------
    kind : {'numpy', 'opencl', 'torch'}
    platform_index, device_index : int
        Position in ``pyopencl.get_platforms()`` and the platform's device list
        (-1 for numpy); for torch, ``device_index`` is the CUDA index (-1 for the CPU).
    platform : str
        OpenCL platform name.
    name : str
        Device name.
    type : str
        ``'GPU'``, ``'CPU'``, ``'ACCELERATOR'`` ... (``'host'`` for numpy).
    global_memory, max_allocation : int
        Bytes of device memory and of the largest single buffer.
    fp64 : bool
        The device computes in double precision (``cl_khr_fp64``).
    fallback : bool
        Chosen by ``'auto'``: a failure on this device falls back to numpy.
    """

    kind: str
    platform_index: int = -1
    device_index: int = -1
    platform: str = ""
    name: str = "numpy (float64 reference)"
    type: str = "host"
    global_memory: int = 0
    max_allocation: int = 0
    fp64: bool = True
    fallback: bool = False

    @property
    def spec(self):
        """The string that names this device: ``'numpy'``, ``'opencl:P:D'``,
        ``'cuda:N'`` or ``'torch:cpu'``."""
        if self.kind == "numpy":
            return "numpy"
        if self.kind == "torch":
            return "torch:cpu" if self.device_index < 0 else f"cuda:{self.device_index}"
        return f"opencl:{self.platform_index}:{self.device_index}"

    @property
    def torch_device(self):
        """The torch device string (``'cpu'``, ``'cuda:N'``) of a torch device."""
        return "cpu" if self.device_index < 0 else f"cuda:{self.device_index}"

    @property
    def is_gpu(self):
        return self.type == "GPU"

    def describe(self):
        """One line: spec, platform, device name, type and memory."""
        if self.kind == "numpy":
            return f"numpy  {self.name}"
        if self.kind == "torch":
            memory = (f", {self.global_memory / 2**30:.1f} GiB" if self.global_memory
                      else "")
            return f"{self.spec}  torch / {self.name}  [{self.type}{memory}]"
        return (f"{self.spec}  {self.platform} / {self.name}  [{self.type}, "
                f"{self.global_memory / 2**30:.1f} GiB, "
                f"{'fp64' if self.fp64 else 'fp32 only'}]")

    def __str__(self):
        return self.spec if self.kind == "numpy" else f"{self.spec} ({self.name})"


#: The numpy reference device.
NUMPY = Device("numpy")
#: The torch code path on the CPU.
TORCH_CPU = Device("torch", name="torch CPU", type="CPU")


def _import_pyopencl():
    try:
        import pyopencl
    except ImportError as exc:
        raise DeviceError(f"pyopencl is not installed ({exc}); install sss_vfx with its "
                          "dependencies (pyopencl, pocl-binary-distribution)") from None
    return pyopencl


def _get_platforms():
    """``pyopencl.get_platforms()``; tests replace this to simulate a bare machine."""
    return _import_pyopencl().get_platforms()


def _device_type(cl, cl_device):
    kinds = [(cl.device_type.GPU, "GPU"), (cl.device_type.CPU, "CPU"),
             (cl.device_type.ACCELERATOR, "ACCELERATOR")]
    for flag, label in kinds:
        if cl_device.type & flag:
            return label
    return "OTHER"


def find_opencl_devices():
    """Every OpenCL device on every platform, in platform then device order.

    Returns
    -------
    list of Device
        Possibly empty when platforms exist but hold no device.

    Raises
    ------
    DeviceError
        pyopencl is missing or no OpenCL platform can be queried; the message says why.
    """
    try:
        platforms = _get_platforms()
    except DeviceError:
        raise
    except Exception as exc:  # pyopencl raises its own RuntimeError/LogicError kinds
        raise DeviceError(f"no OpenCL platform could be queried ({exc}); install an "
                          "OpenCL runtime (pip: pocl-binary-distribution, or a GPU "
                          "driver's ICD)") from None
    cl = _import_pyopencl()
    found = []
    for p, platform in enumerate(platforms):
        try:
            cl_devices = platform.get_devices()
        except Exception as exc:  # a platform without devices raises DEVICE_NOT_FOUND
            log.debug("OpenCL platform %s lists no device: %s", platform.name, exc)
            continue
        for d, dev in enumerate(cl_devices):
            found.append(Device(
                kind="opencl", platform_index=p, device_index=d,
                platform=platform.name.strip(), name=dev.name.strip(),
                type=_device_type(cl, dev), global_memory=int(dev.global_mem_size),
                max_allocation=int(dev.max_mem_alloc_size),
                fp64="cl_khr_fp64" in dev.extensions.split()))
    return found


def _import_torch():
    try:
        import torch
    except ImportError:
        raise DeviceError("torch is not installed; the cuda and torch:cpu devices need "
                          "pip install 'sss_vfx[gpu]'") from None
    return torch


def _torch_installed():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


#: The GPU driver libraries torch's CUDA (or ROCm) build loads, per platform.
_DRIVER_LIBRARIES = {"linux": ("libcuda.so.1", "libamdhip64.so"), "win32": ("nvcuda.dll",)}


def _gpu_driver_present():
    """Whether a CUDA (or ROCm) driver library loads: without one torch sees no GPU.

    Importing torch to ask costs 1-2 s of CPU, more than a still's superpixels and
    affinities together, on every run of a machine without a GPU; loading the driver
    library costs nothing. ROCm's kernel driver (``/dev/kfd``) counts as present, as
    its wheels carry their own runtime.
    """
    import ctypes
    import sys
    if sys.platform.startswith("linux") and os.path.exists("/dev/kfd"):
        return True
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    for name in _DRIVER_LIBRARIES.get(platform, ()):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def find_cuda_devices():
    """Every CUDA GPU torch sees, as torch devices; empty without torch, without a GPU
    driver (torch is then not imported) or without a CUDA device.

    Returns
    -------
    list of Device
    """
    if not _torch_installed() or not _gpu_driver_present():
        return []
    torch = _import_torch()
    if not torch.cuda.is_available():
        return []
    found = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        found.append(Device(kind="torch", device_index=index, platform="CUDA",
                            name=props.name, type="GPU",
                            global_memory=int(props.total_memory),
                            max_allocation=int(props.total_memory)))
    return found


def list_devices():
    """All devices: CUDA GPUs (through torch), the OpenCL ones, then numpy.

    Never raises: without OpenCL the list holds numpy alone.

    Returns
    -------
    list of Device

    Examples
    --------
    >>> list_devices()[-1].spec
    'numpy'
    """
    try:
        found = find_opencl_devices()
    except DeviceError as exc:
        log.debug("%s", exc)
        found = []
    return find_cuda_devices() + found + [NUMPY]


def _first_opencl(found):
    gpus = [d for d in found if d.is_gpu]
    return (gpus or found)[0]


def _warn_once(message):
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def resolve_device(spec=None):
    """The device a spec names.

    Parameters
    ----------
    spec : str, Device or None
        ``'auto'``, ``'numpy'``, ``'opencl'`` or ``'opencl:<platform>:<device>'``
        (case-insensitive); a Device is returned as it is; None reads
        ``SSS_VFX_DEVICE``, else ``'auto'``.

    Returns
    -------
    Device

    Raises
    ------
    DeviceError
        An unknown spec, or an OpenCL device asked for explicitly that does not exist.

    Examples
    --------
    >>> resolve_device("numpy").spec
    'numpy'
    """
    if isinstance(spec, Device):
        return spec
    source = "device"
    if spec is None:
        source = ENV_VAR if os.environ.get(ENV_VAR) else "device"
        spec = os.environ.get(ENV_VAR) or "auto"
    text = spec.strip().lower() if isinstance(spec, str) else ""
    parts = text.split(":")
    well_formed = text in ("numpy", "auto", "opencl", "cuda", "torch:cpu") or (
        len(parts) == 3 and parts[0] == "opencl" and all(p.isdigit() for p in parts[1:])
    ) or (len(parts) == 2 and parts[0] == "cuda" and parts[1].isdigit())
    if not well_formed:
        raise DeviceError(f"{source} must be {_SPEC_HELP}, got {spec!r}")
    if text == "numpy":
        return NUMPY
    if text == "torch:cpu":
        _import_torch()
        return TORCH_CPU
    if parts[0] == "cuda":
        return _cuda_device(None if text == "cuda" else int(parts[1]))
    if text == "auto":
        gpus = _auto_cuda()
        if gpus:
            return replace(gpus[0], fallback=True)
        return auto_affinity_device()
    found = find_opencl_devices()
    if not found:
        raise DeviceError("no OpenCL device found; use device='numpy' or 'auto'")
    if text == "opencl":
        return _first_opencl(found)
    wanted = (int(parts[1]), int(parts[2]))
    for dev in found:
        if (dev.platform_index, dev.device_index) == wanted:
            return dev
    listing = ", ".join(d.spec for d in found)
    raise DeviceError(f"no OpenCL device {spec!r}; available: {listing} "
                      "(see `sss-vfx devices`)")


def auto_affinity_device():
    """The affinity builder ``auto`` picks: the first OpenCL GPU, else the first OpenCL
    device (both falling back to numpy on failure), else numpy with one warning."""
    try:
        found = find_opencl_devices()
    except DeviceError as exc:
        _warn_once(f"{exc}; building affinities with numpy")
        return NUMPY
    if not found:
        _warn_once("no OpenCL device found; building affinities with numpy")
        return NUMPY
    return replace(_first_opencl(found), fallback=True)


def _auto_cuda():
    """CUDA GPUs for ``'auto'``: only where torch is installed."""
    if not _torch_installed():
        return []
    try:
        return find_cuda_devices()
    except Exception as exc:  # a broken CUDA install must not stop a CPU run
        _warn_once(f"CUDA could not be queried ({exc}); not using a GPU")
        return []


def _cuda_device(index):
    found = find_cuda_devices() if _torch_installed() else _import_torch()
    if not found:
        raise DeviceError("no CUDA GPU is visible to torch; use device 'auto', 'numpy' "
                          "or 'opencl' (see `sss-vfx devices`)")
    if index is None:
        return found[0]
    if index >= len(found):
        raise DeviceError(f"no CUDA device cuda:{index}; available: "
                          f"{', '.join(d.spec for d in found)} (see `sss-vfx devices`)")
    return found[index]
