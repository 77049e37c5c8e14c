"""OpenCL context, queue and program cache of one device.

One :class:`DeviceContext` per device and process, created on first use; each program
(a ``.cl`` file of ``sss_vfx/accel/kernels`` with a set of build options) is built once
per context. pyopencl errors are turned into :class:`~sss_vfx.errors.DeviceError`
at this boundary, so callers of the builders see sss_vfx errors only.
"""

import threading
from contextlib import contextmanager
from importlib import resources

import numpy as np

from sss_vfx.accel.devices import _import_pyopencl, resolve_device
from sss_vfx.errors import DeviceError, DeviceMemoryError, KernelBuildError

__all__ = ["DeviceContext", "get_context", "device_errors", "kernel_source"]

_contexts = {}
_contexts_lock = threading.Lock()

_MEMORY_ERRORS = ("MEM_OBJECT_ALLOCATION_FAILURE", "OUT_OF_RESOURCES", "OUT_OF_HOST_MEMORY",
                  "INVALID_BUFFER_SIZE")


def kernel_source(name):
    """Text of the kernel file ``name`` (e.g. ``'matting.cl'``) shipped with the package."""
    return resources.files("sss_vfx.accel").joinpath("kernels", name).read_text()


class DeviceContext:
    """An OpenCL context with one in-order queue and its built programs.

    Parameters
    ----------
    device : Device
        An OpenCL device from :func:`~sss_vfx.accel.devices.resolve_device`.

    Attributes
    ----------
    device : Device
    context, queue : pyopencl.Context, pyopencl.CommandQueue
    fp64 : bool
        The device has ``cl_khr_fp64``.
    zero_copy : bool
        Device and host share memory (CPU, integrated GPU): buffers wrap host arrays.
    """

    def __init__(self, device):
        cl = _import_pyopencl()
        self.cl = cl
        self.device = device
        with device_errors(f"opening {device}", device):
            platform = cl.get_platforms()[device.platform_index]
            self.cl_device = platform.get_devices()[device.device_index]
            self.context = cl.Context([self.cl_device])
            self.queue = cl.CommandQueue(self.context)
        self.fp64 = "cl_khr_fp64" in self.cl_device.extensions.split()
        try:
            unified = bool(self.cl_device.host_unified_memory)
        except Exception:  # deprecated query, absent on some OpenCL 3.0 drivers
            unified = False
        self.zero_copy = unified or device.type == "CPU"
        self.local_memory = int(self.cl_device.local_mem_size)
        self._programs = {}
        self._kernels = {}
        self._lock = threading.Lock()

    def real_dtype(self, precision=None):
        """numpy dtype the kernels compute in.

        Parameters
        ----------
        precision : {None, 'auto', 'float64', 'float32'}
            None/'auto': float64 where the device has ``cl_khr_fp64``, else float32.

        Raises
        ------
        DeviceError
            'float64' asked for on a device without double precision, or a bad value.
        """
        if precision in (None, "auto"):
            return np.dtype(np.float64 if self.fp64 else np.float32)
        if precision == "float32":
            return np.dtype(np.float32)
        if precision == "float64":
            if not self.fp64:
                raise DeviceError(f"{self.device} has no double precision (cl_khr_fp64); "
                                  "use precision='float32'")
            return np.dtype(np.float64)
        raise DeviceError(f"precision must be 'auto', 'float32' or 'float64', "
                          f"got {precision!r}")

    @staticmethod
    def build_options(real, index=np.int32):
        """Build options for a REAL type and a CSR index type."""
        real, index = np.dtype(real), np.dtype(index)
        options = ["-DREAL=" + ("double" if real == np.float64 else "float"),
                   "-DINDEX_T=" + ("long" if index == np.int64 else "int")]
        if real == np.float64:
            options.append("-DSSS_FP64=1")
        return tuple(options)

    def program(self, source_name, options=()):
        """The built program of a kernel file, built on first request.

        Raises
        ------
        KernelBuildError
            The build failed; the message names the file, the options and the log.
        """
        key = (source_name, tuple(options))
        with self._lock:
            program = self._programs.get(key)
            if program is None:
                program = self._build(source_name, tuple(options))
                self._programs[key] = program
        return program

    def _build(self, source_name, options):
        cl = self.cl
        try:
            return cl.Program(self.context, kernel_source(source_name)).build(
                options=list(options))
        except (cl.Error, RuntimeError) as exc:
            log = " ".join(str(exc).split())
            raise KernelBuildError(
                f"OpenCL kernel {source_name} failed to build on {self.device} with "
                f"options {' '.join(options) or '(none)'}: {log[:600]}") from None

    def kernel(self, source_name, kernel_name, options=()):
        """A kernel object, cached per (file, options, name)."""
        key = (source_name, tuple(options), kernel_name)
        kernel = self._kernels.get(key)
        if kernel is None:
            program = self.program(source_name, options)
            with self._lock:
                kernel = self._kernels.get(key)
                if kernel is None:
                    kernel = self.cl.Kernel(program, kernel_name)
                    self._kernels[key] = kernel
        return kernel

    def launch(self, kernel, global_size, *args, local_size=None):
        """Set the arguments and enqueue ``kernel`` over at least ``global_size`` work
        items (rounded up to whole work groups; kernels ignore the extra items).

        A fixed work-group size (default 64 items, 8x8 in 2-D) keeps one compiled
        variant per kernel on runtimes that specialise on it, such as PoCL.
        """
        if local_size is None:
            local_size = (64,) if len(global_size) == 1 else (8, 8)
        global_size = tuple(-(-int(g) // l) * l for g, l in zip(global_size, local_size))
        with self._lock:
            kernel.set_args(*args)
            return self.cl.enqueue_nd_range_kernel(self.queue, kernel, global_size,
                                                   tuple(local_size))

    def buffer(self, nbytes, *, read_only=False):
        """A device buffer of ``nbytes`` (at least one byte)."""
        mf = self.cl.mem_flags
        flags = mf.READ_ONLY if read_only else mf.READ_WRITE
        return self.cl.Buffer(self.context, flags, size=max(int(nbytes), 1))

    def upload(self, array):
        """A read-only device buffer holding a copy of ``array``."""
        mf = self.cl.mem_flags
        array = np.ascontiguousarray(array)
        if array.nbytes == 0:
            return self.buffer(1, read_only=True)
        return self.cl.Buffer(self.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=array)

    def wrap(self, array):
        """A buffer over a contiguous host array the kernels write into.

        Zero-copy devices use the array's memory directly; call :meth:`sync` after the
        kernels so the host sees the results on every driver.
        """
        mf = self.cl.mem_flags
        return self.cl.Buffer(self.context, mf.WRITE_ONLY | mf.USE_HOST_PTR, hostbuf=array)

    def sync(self, buffer, array):
        """Make a :meth:`wrap`-ed host array current (map and unmap the buffer)."""
        mapped, _ = self.cl.enqueue_map_buffer(
            self.queue, buffer, self.cl.map_flags.READ, 0, array.shape, array.dtype)
        mapped.base.release(self.queue)

    def read(self, array, buffer):
        """Copy a device buffer into a contiguous host array (blocking)."""
        if array.size:
            self.cl.enqueue_copy(self.queue, array, buffer)

    def finish(self):
        self.queue.finish()


@contextmanager
def device_errors(what, device):
    """Turn pyopencl errors raised in the block into DeviceError (memory ones into
    DeviceMemoryError), naming ``what`` and the device."""
    try:
        cl = _import_pyopencl()
    except DeviceError:
        yield
        return
    try:
        yield
    except cl.Error as exc:
        text = " ".join(str(exc).split())
        kind = DeviceMemoryError if any(m in text for m in _MEMORY_ERRORS) else DeviceError
        raise kind(f"{what} failed on {device}: {text}") from None


def get_context(device=None):
    """The cached :class:`DeviceContext` of an OpenCL device.

    Parameters
    ----------
    device : str, Device or None
        Anything :func:`~sss_vfx.accel.devices.resolve_device` takes; must name an
        OpenCL device.

    Raises
    ------
    DeviceError
        The device is numpy or cannot be opened.
    """
    device = resolve_device(device)
    if device.kind != "opencl":
        raise DeviceError(f"{device} is not an OpenCL device; use device='opencl' or "
                          "'opencl:<platform>:<device>'")
    key = (device.platform_index, device.device_index, device.platform, device.name)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = DeviceContext(device)
            _contexts[key] = ctx
    return ctx
