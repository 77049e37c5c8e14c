"""Nuke runs this at start-up of the interface: the menu and toolbar entries that
create a SemanticSoftSegmentation node, and the executable preference."""

import nuke

from sss_nuke.node import NODE_LABEL, create_node
from sss_nuke.preferences import add_preferences


def _add_entries() -> None:
    nuke.menu("Nuke").addCommand("sss_vfx/" + NODE_LABEL, create_node)
    nodes = nuke.toolbar("Nodes")
    if nodes is not None:
        nodes.addMenu("sss_vfx").addCommand(NODE_LABEL, create_node)
    add_preferences()


_add_entries()
