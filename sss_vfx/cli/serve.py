"""``sss-vfx serve``: the render server of the OpenFX plugin (see :mod:`sss_vfx.ofx`)."""

from sss_vfx.ofx.commands import add_serve_parser as add_parser
from sss_vfx.ofx.commands import run_serve as run

__all__ = ["add_parser", "run"]
