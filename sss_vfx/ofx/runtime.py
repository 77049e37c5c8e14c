"""Where the render server and the plugin meet: a private per-user runtime folder.

The folder is ``$SSS_VFX_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/sss-vfx``, else
``/tmp/sss-vfx-<uid>`` (the plugin's C code, ``ofx_bridge/sss_client.c``, finds it the
same way). It must belong to the user with mode 0700, or both sides refuse it. It
holds only the socket ``server.sock`` (mode 0600), the lock ``server.lock`` that makes
one server per user and the log ``serve.log``: it is often a small tmpfs, so frames
go to the plugin's spool folder on disk (see :mod:`sss_vfx.ofx.frames`).
"""

import os
import stat
from pathlib import Path

from sss_vfx.ofx.errors import ServeError

__all__ = ["FRAMES", "LOCK_NAME", "LOG_NAME", "OUT", "SOCKET_NAME", "private_dir",
           "runtime_dir"]

SOCKET_NAME = "server.sock"
LOCK_NAME = "server.lock"
LOG_NAME = "serve.log"
FRAMES = "frames"
OUT = "out"


def runtime_dir(environ=None):
    """The runtime folder's path (not created).

    Parameters
    ----------
    environ : mapping, optional
        Environment to read (default ``os.environ``).

    Returns
    -------
    pathlib.Path
    """
    environ = os.environ if environ is None else environ
    if environ.get("SSS_VFX_RUNTIME_DIR"):
        return Path(environ["SSS_VFX_RUNTIME_DIR"])
    if environ.get("XDG_RUNTIME_DIR"):
        return Path(environ["XDG_RUNTIME_DIR"]) / "sss-vfx"
    return Path("/tmp") / f"sss-vfx-{os.getuid()}"


def private_dir(path, uid=None):
    """Create `path` with mode 0700 if needed and check that only `uid` can use it.

    Parameters
    ----------
    path : str or os.PathLike
    uid : int, optional
        The owner required (default: this process's user).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ServeError
        If it is not a folder (a symbolic link included), belongs to another user, or
        is open to group or others.
    """
    path = Path(path)
    uid = os.getuid() if uid is None else uid
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ServeError(f"cannot create the runtime folder {path}: {exc.strerror}; "
                         "set SSS_VFX_RUNTIME_DIR to a folder of yours") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise ServeError(f"the runtime folder {path} is not a folder; remove it")
    if info.st_uid != uid:
        raise ServeError(f"the runtime folder {path} belongs to user {info.st_uid}, not "
                         f"to you ({uid}); remove it or set SSS_VFX_RUNTIME_DIR")
    if info.st_mode & 0o077:
        raise ServeError(f"the runtime folder {path} has mode "
                         f"{stat.S_IMODE(info.st_mode):03o}, open to other users; "
                         f"run chmod 700 {path}")
    return path
