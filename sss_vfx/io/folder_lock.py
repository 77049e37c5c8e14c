"""One run at a time in an output folder: a lock that dies with its process.

A farm that requeues a task while the first attempt still runs, or two artists on one
shot, would otherwise start two runs that compute every frame and both write, so frames
and manifest could come from different parameters. The run that claims a folder holds
an exclusive ``flock`` on the file :data:`LOCK_NAME` in it, with its host and process id
written inside; a second run refuses with one line naming the holder, or waits for it
(``--wait``). The kernel drops the lock when the process ends, however it ends (a
killed run's lock is stale at once and the next run takes it over; the resume logic
then keeps its finished frames).

Locks are held until :func:`release_folders` (the command does so when it returns),
which also removes the lock file, or the end of the process (a killed run leaves the
file; its lock is gone). A run that waited for a lock checks that the file it locked is
still the folder's lock file (not one removed meanwhile) and tries again if not.
"""

import contextlib
import fcntl
import json
import logging
import os
import pathlib
import platform
import time

from sss_vfx.errors import OutputError

__all__ = ["LOCK_NAME", "folder_lock", "hold_folder", "release_folders"]

log = logging.getLogger("sss_vfx")

#: The lock file in an output folder.
LOCK_NAME = ".sss-vfx.lock"

_held = {}      # resolved folder -> (lock file path, descriptor holding its lock)


def hold_folder(directory, *, wait=False, name=LOCK_NAME):
    """Take the output folder's lock for this process (again: a no-op).

    Parameters
    ----------
    directory : str or os.PathLike
        An existing folder.
    wait : bool
        Wait for the run holding it to finish instead of refusing.
    name : str
        The lock file's name (a farm chunk locks its own, ``cNNNN.lock``).

    Returns
    -------
    bool
        Whether this call took the lock (False: this process held it already).

    Raises
    ------
    OutputError
        Another process holds the folder (``wait`` not set): the message names its host
        and process id; or the lock file cannot be created.
    """
    directory = pathlib.Path(directory)
    path = directory / name
    key = os.path.realpath(path)
    if key in _held:
        return False
    while True:
        handle = _lock(path, directory, wait)
        if _is_current(handle, path):
            break
        os.close(handle)    # its holder removed it on release: lock the new one
    try:
        _write_holder(handle)
    except BaseException:
        os.close(handle)
        raise
    _held[key] = (path, handle)
    return True


@contextlib.contextmanager
def folder_lock(directory, *, wait=False, name=LOCK_NAME):
    """:func:`hold_folder` for the duration of a ``with`` block (a farm step in a
    long-lived worker process), released after it unless held before it."""
    took = hold_folder(directory, wait=wait, name=name)
    try:
        yield
    finally:
        if took:
            _release(os.path.realpath(pathlib.Path(directory) / name))


def release_folders():
    """Release every folder lock this process holds, removing the lock files."""
    for key in list(_held):
        _release(key)


def _release(key):
    path, handle = _held.pop(key)
    try:
        os.unlink(path)
    except OSError:
        pass    # gone already (the folder removed): nothing to release there
    finally:
        os.close(handle)    # closing the last descriptor releases the lock


def _lock(path, directory, wait):
    """A descriptor of `path` holding its exclusive lock."""
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot create the lock file {path}: {exc.strerror or exc}; "
                          "fix the folder's permissions or choose another -o") from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            if not wait:
                raise OutputError(
                    f"{directory} is in use by another sss-vfx run ({holder}); wait for "
                    "it to finish (or pass --wait), or choose another -o") from None
            log.warning("%s is in use by another sss-vfx run (%s); waiting for it",
                        directory, holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
    except BaseException:
        os.close(handle)
        raise
    return handle


def _is_current(handle, path):
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _holder(handle):
    """'host H, pid N, since T' as the holder wrote it (it may be writing it now)."""
    for _ in range(5):
        try:
            info = json.loads(os.pread(handle, 4096, 0).decode() or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict):
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
            return f"host {info.get('host')}, pid {info.get('pid')}, since {since}"
        time.sleep(0.05)
    return "host and pid unknown"


def _write_holder(handle):
    text = json.dumps({"host": platform.node(), "pid": os.getpid(),
                       "started": round(time.time(), 3)})
    os.ftruncate(handle, 0)
    os.pwrite(handle, text.encode(), 0)
