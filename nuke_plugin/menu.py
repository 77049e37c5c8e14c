"""Nuke runs this at start-up of the interface: the menu and toolbar entries that
create a SemanticSoftSegmentation node, and the executable preference.

Kept parsable by Python 2 (a NUKE_PATH shared with Nuke 12 or older): there it only says
that the node needs Nuke 13 or later.
"""

import sys

import nuke


def _add_entries():  # type: () -> None
    from sss_nuke.node import NODE_LABEL, create_node
    from sss_nuke.preferences import add_preferences

    nuke.menu("Nuke").addCommand("sss_vfx/" + NODE_LABEL, create_node)
    nodes = nuke.toolbar("Nodes")
    if nodes is not None:
        nodes.addMenu("sss_vfx").addCommand(NODE_LABEL, create_node)
    add_preferences()


if sys.version_info[0] >= 3:
    _add_entries()
else:
    sys.stderr.write("sss_vfx: the SemanticSoftSegmentation node needs Nuke 13 or later "
                     "(Python 3); it is not added to this Nuke\n")
