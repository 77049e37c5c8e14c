"""Sphinx configuration of the sss_vfx documentation.

Build (from the repository root, with ``pip install '.[docs]'``)::

    python -m sphinx -W -n -b html docs docs/_build/html
    python -m sphinx -W -n -b doctest docs docs/_build/doctest
"""

import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))     # this checkout's sss_vfx, installed or not

project = "sss_vfx"
author = "the sss_vfx authors"
copyright = "the sss_vfx authors, MIT licence"
try:
    release = metadata.version("sss_vfx")
except metadata.PackageNotFoundError:
    release = "unknown"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "numpydoc",
    "sss_options",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_api_modules.rst", "gallery/*.py"]
templates_path = ["_templates"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The module index is included into api.md, so name it for the stub generator.
autosummary_generate = ["_api_modules.rst"]
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
# Types in numpydoc sections are prose ("(H, W, 3) float array"), not references.
numpydoc_xref_param_type = False
# A class re-exported by its package (sss_vfx.accel.Device is sss_vfx.accel.devices.Device)
# is one object documented under both names; a short reference to it is not ambiguous.
suppress_warnings = ["ref.python"]

# Only the examples written as ```{doctest} in the pages run in the doctest builder;
# the docstrings' own examples run in the test suite (tests/test_doctests.py).
doctest_test_doctest_blocks = ""
doctest_global_setup = "import numpy as np\nimport sss_vfx"

html_theme = "furo"
html_title = f"sss_vfx {release}"
html_static_path = ["_static"]


def _write_module_index():
    """``_api_modules.rst``: every module of sss_vfx (``__main__`` aside), one
    autosummary per package, so a new module joins the API reference by itself."""
    import pkgutil

    import sss_vfx

    packages = {}
    for info in pkgutil.walk_packages(sss_vfx.__path__, "sss_vfx."):
        if info.name.endswith("__main__"):
            continue
        parts = info.name.split(".")
        key = ".".join(parts[:2]) if (len(parts) > 2 or info.ispkg) else "sss_vfx"
        packages.setdefault(key, []).append(info.name)
    lines = []
    for key in sorted(packages, key=lambda k: (k != "sss_vfx", k)):
        title = "Top-level modules" if key == "sss_vfx" else f"``{key}``"
        lines += [title, "-" * len(title), "", ".. autosummary::", "   :toctree: generated",
                  ""]
        lines += [f"   {name}" for name in sorted(packages[key])]
        lines.append("")
    out = HERE / "_api_modules.rst"
    text = "\n".join(lines)
    if not out.is_file() or out.read_text() != text:
        out.write_text(text)


_write_module_index()
