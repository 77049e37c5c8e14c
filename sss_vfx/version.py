"""The installed package's version, written once, in ``pyproject.toml``."""

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("sss_vfx")
except metadata.PackageNotFoundError:      # a checkout used without installing it
    __version__ = "0+unknown"
