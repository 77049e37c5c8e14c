"""The C sources of the SemanticSoftSegmentation OpenFX plugin, shipped as package data
so that ``sss-vfx ofx install`` can compile them from an installed sss_vfx. No Python
code runs from here; see README.md in this folder."""

from pathlib import Path

__all__ = ["SOURCE_DIR"]

#: The folder holding ofx_api.h, sss_client.[ch] and sss_plugin.c.
SOURCE_DIR = Path(__file__).parent
