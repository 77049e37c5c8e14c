"""Atomic file replacement: a reader never sees a half-written output.

Writers write to a hidden temporary file beside the final one and move it into place
with :func:`os.replace` only once it is complete, so a crash, a full disk or an
exception leaves either the old file or nothing, never a truncated file.
"""

import contextlib
import os
import pathlib
import secrets

from sss_vfx.errors import OutputError

__all__ = ["atomic_path", "atomic_write_text", "temporary_sibling"]

TEMP_MARKER = ".sss-tmp-"


def temporary_sibling(final_path):
    """Return a fresh hidden temporary path beside `final_path`.

    The name keeps the final extension because OpenCV and OpenEXR choose the file
    format from it: ``out/layers.exr`` gives ``out/.layers.sss-tmp-1a2b3c4d.exr``.

    Parameters
    ----------
    final_path : str or os.PathLike
        The path the finished file will have.

    Returns
    -------
    pathlib.Path
        A path in the same directory that does not exist yet (with overwhelming
        probability: 32 random bits).
    """
    final = pathlib.Path(final_path)
    token = secrets.token_hex(4)
    return final.with_name(f".{final.stem}{TEMP_MARKER}{token}{final.suffix}")


@contextlib.contextmanager
def atomic_path(final_path):
    """Yield a temporary path that replaces `final_path` when the block succeeds.

    Parameters
    ----------
    final_path : str or os.PathLike
        Where the finished file must end up. Its directory must exist.

    Yields
    ------
    pathlib.Path
        A hidden path in the same directory, with the same extension, for the block to
        write the complete file to.

    Raises
    ------
    OutputError
        If the block finished without creating the temporary file, or the file could
        not be moved onto `final_path`.

    Notes
    -----
    If the block raises, the temporary file is removed, `final_path` is left as it
    was, and the exception propagates unchanged.

    Examples
    --------
    >>> with atomic_path("out/matte.png") as tmp:  # doctest: +SKIP
    ...     tmp.write_bytes(data)
    """
    final = pathlib.Path(final_path)
    tmp = temporary_sibling(final)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(
                f"cannot write {final}: the writer produced no file; "
                "check free disk space and the directory's permissions"
            )
        try:
            os.replace(tmp, final)
        except OSError as exc:
            raise OutputError(
                f"cannot write {final}: {exc.strerror or exc}; "
                "choose another -o or fix its permissions"
            ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path, text):
    """Write `text` to `path` as UTF-8, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its directory must exist.
    text : str
        The complete contents, written exactly (no newline added).

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    final = pathlib.Path(path)
    with atomic_path(final) as tmp:
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        except OSError as exc:
            raise OutputError(
                f"cannot write {final}: {exc.strerror or exc}; "
                "choose another -o or fix its permissions"
            ) from exc
