"""Nuke runs this at start-up, in every mode (renders included), for each folder on
``NUKE_PATH`` or added with ``nuke.pluginAddPath``: it makes the ``sss_nuke`` package
importable, which scripts with SemanticSoftSegmentation nodes need for their buttons."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
