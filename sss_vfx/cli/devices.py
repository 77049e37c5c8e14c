"""``sss-vfx devices``: what the device choice can pick, and what ``auto`` picks."""

from sss_vfx.accel import (NUMPY, DeviceError, find_cuda_devices, find_opencl_devices,
                           resolve_device)
from sss_vfx.helptext import HelpFormatter, epilog, sections

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "devices", help="list the compute devices and the one 'auto' picks",
        description="List the CUDA GPUs torch sees and the OpenCL platforms and devices "
                    "found (with their memory), and the device that --device auto "
                    "would use.",
        formatter_class=HelpFormatter, epilog=epilog("sss-vfx devices", "getting-started"))
    sections(parser)["run"].add_argument("-v", "--verbose", action="store_true",
                                         help="show tracebacks and debug messages")
    return parser


def run(args):
    """Print every device, one per line, then the ``auto`` choice."""
    cuda = find_cuda_devices()
    if cuda:
        print("CUDA devices (torch):")
    for device in cuda:
        print(f"  {device.describe()}")
    try:
        found = find_opencl_devices()
    except DeviceError as exc:
        found = []
        print(f"OpenCL: none ({exc})")
    if found:
        print("OpenCL devices:")
    for device in found:
        print(f"  {device.describe()}")
    print(f"  {NUMPY.describe()}")
    print(f"auto: {resolve_device('auto').spec}")
