"""``sss-vfx ofx install``: build and install the OpenFX plugin (see :mod:`sss_vfx.ofx`)."""

from sss_vfx.ofx.commands import add_ofx_parser as add_parser
from sss_vfx.ofx.commands import run_ofx as run

__all__ = ["add_parser", "run"]
