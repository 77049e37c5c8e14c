"""The exceptions sss_vfx raises on purpose.

Every error a user can cause (a bad path, a wrong size, an unwritable folder) is an
:class:`SssError`; its message says what is wrong and what to do, in one line, and the
command prints exactly that line and exits with status 2.
"""


class SssError(Exception):
    """Root of the errors sss_vfx raises for bad input or a bad environment."""


class InputError(SssError):
    """An image or video input is missing, unreadable, unsupported or unusable."""


class FeatureError(SssError):
    """Semantic features are missing, of the wrong size, or hold NaN/inf."""


class OptionError(SssError, ValueError):
    """A parameter is out of its range or of the wrong type (also a ValueError)."""


class OutputError(SssError):
    """An output location cannot be written."""


class DeviceError(SssError):
    """A compute device cannot be found, opened or used for a computation."""


class KernelBuildError(DeviceError):
    """An OpenCL program failed to build; the message names the kernel and options."""


class DeviceMemoryError(DeviceError):
    """A computation does not fit the device's memory, even in tiles."""
