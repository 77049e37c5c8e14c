"""Helpers of the OpenCL tests: the devices to run parity tests on, or why none.

Kernel tests are parametrised over every OpenCL device found (parity on every device);
without any, they skip with the reason the platform query gave.
"""

import pytest

from sss_vfx.accel import DeviceError, find_opencl_devices


def _discover():
    try:
        found = find_opencl_devices()
    except DeviceError as exc:
        return [], str(exc)
    return found, "no OpenCL device found" if not found else ""


DEVICES, REASON = _discover()

#: Parametrisation over the OpenCL devices (one skipped case when there is none).
OPENCL = pytest.mark.parametrize(
    "device", DEVICES or [pytest.param(None, marks=pytest.mark.skip(reason=REASON))],
    ids=[d.spec for d in DEVICES] or ["no-opencl"])

#: Devices with double precision, where the float64 tolerances apply.
FP64 = pytest.mark.parametrize(
    "device", [d for d in DEVICES if d.fp64]
    or [pytest.param(None, marks=pytest.mark.skip(reason=REASON or "no fp64 device"))],
    ids=[d.spec for d in DEVICES if d.fp64] or ["no-fp64-device"])


def relative_difference(a, b):
    """max |a - b| / max |a| of two sparse (or dense) matrices."""
    scale = abs(a).max()
    return abs(a - b).max() / (scale if scale else 1.0)
