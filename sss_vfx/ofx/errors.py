"""Errors of the OpenFX bridge, each an :class:`~sss_vfx.errors.SssError`."""

from sss_vfx.errors import SssError

__all__ = ["InstallError", "ProtocolError", "ServeError"]


class ServeError(SssError):
    """The render server cannot run: its runtime folder or socket is unsafe or taken."""


class ProtocolError(SssError):
    """A message that is malformed, oversized, of another version, or not understood."""


class InstallError(SssError):
    """The plugin cannot be built or installed: no compiler, no sources, no write access."""
