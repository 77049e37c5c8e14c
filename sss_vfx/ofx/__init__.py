"""The OpenFX bridge's Python side: the ``sss-vfx serve`` render process and the
``sss-vfx ofx install`` command.

The compiled plugin (``ofx_bridge/``) runs inside the host and holds no numerics; it
talks to one render server per user over a private Unix socket with versioned JSON
messages (:mod:`~sss_vfx.ofx.protocol`), hands frames over as files in a private
spool folder on disk (:mod:`~sss_vfx.ofx.frames`), and reads back one frame at a time. The
server computes a whole shot once with :func:`sss_vfx.segment_video` and answers from
its cache (:mod:`~sss_vfx.ofx.shot_cache`).
"""

from sss_vfx.ofx.errors import InstallError, ProtocolError, ServeError

__all__ = ["InstallError", "ProtocolError", "ServeError"]
