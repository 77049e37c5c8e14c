"""sss_vfx inside Nuke: the SemanticSoftSegmentation node.

Runs in Nuke's own Python (3.7 to 3.11) with the standard library and ``nuke`` only.
The node maps its knobs to an ``sss-vfx video`` command line, runs it in a subprocess
watched from a worker thread, and reads the layer EXRs back through an internal Read.
"""

#: Label of the cache key's schema: bump it when what the key covers changes.
CACHE_SCHEMA = "SssNukeCache.2"
