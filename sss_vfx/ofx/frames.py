"""Frames between the plugin and the server, as files in the plugin's spool folder.

The spool folder is on disk (``$XDG_CACHE_HOME/sss-vfx/ofx-frames`` by default; the
plugin names it in every request), private to the user. A source frame is
``frames/<hash>.f32``: float32 RGBA, rows from the bottom of the image up (OFX's
order), written atomically by the plugin under the content hash it computed. A result
is ``out/<random>.f32`` in the same layout, written atomically by the server and
removed by the plugin once read. :class:`FrameFile` turns a frame into the working
image exactly as ``sss-vfx video`` reads an EXR frame (or a float TIFF, for
display-referred frames): see :mod:`sss_vfx.ofx.colour`.
"""

import os
import uuid
from pathlib import Path

import numpy as np

from sss_vfx.errors import InputError
from sss_vfx.ofx.colour import frame_is_linear, working_image
from sss_vfx.ofx.runtime import FRAMES, OUT, private_dir

__all__ = ["FrameFile", "frame_path", "missing_frames", "write_result"]


def frame_path(spool, frame_hash):
    """The file of the frame with content hash `frame_hash` (16 hex digits)."""
    return Path(spool) / FRAMES / f"{frame_hash}.f32"


def _expected_bytes(width, height):
    return width * height * 4 * 4


def missing_frames(request):
    """Frame numbers of `request` whose files are absent or of the wrong size."""
    expected = _expected_bytes(request.width, request.height)
    missing = []
    for number, frame_hash in zip(request.numbers, request.hashes):
        try:
            size = frame_path(request.spool, frame_hash).stat().st_size
        except OSError:
            size = -1
        if size != expected:
            missing.append(number)
    return missing


class FrameFile:
    """A frame file read lazily, when numpy asks for it as an array.

    ``np.asarray(FrameFile(...))`` is the ``(H, W, 3)`` float32 display-referred working
    image in [0, 1], top row first (:func:`~sss_vfx.ofx.colour.working_image`). A list
    of them is a shot in memory that holds one frame at a time.

    Parameters
    ----------
    path : pathlib.Path
    number : int
        The frame's number, for messages.
    width, height : int
    linear : bool, optional
        Whether the frame is scene-linear (default) or display-referred, when the host
        names no colour space.
    colourspace : str, optional
        The colour space the host names.
    """

    def __init__(self, path, number, width, height, linear=True, colourspace=None):
        self.path, self.number = Path(path), number
        self.width, self.height, self.linear = width, height, linear
        self.colourspace = colourspace

    def rgba(self):
        """The frame as stored: ``(H, W, 4)`` float32, top row first."""
        data = np.fromfile(self.path, dtype="<f4")
        if data.size != self.width * self.height * 4:
            raise InputError(f"frame {self.number} ({self.path}) holds {data.size} values, "
                             f"not {self.width}x{self.height} RGBA; render again")
        return data.reshape(self.height, self.width, 4)[::-1]

    def __array__(self, dtype=None, copy=None):
        pixels = working_image(self._rgb(), self.colourspace, self.linear)
        return pixels if dtype is None else pixels.astype(dtype)

    def plate_values(self):
        """The scene-linear RGB as the host holds it, in which the layer colours are
        made (as ``sss-vfx video`` makes them in a plate's values); None for a
        display-referred frame (its working image is its values)."""
        return self._rgb() if frame_is_linear(self.colourspace, self.linear) else None

    def _rgb(self):
        rgb = np.array(self.rgba()[:, :, :3], dtype=np.float32)
        bad = np.count_nonzero(~np.isfinite(rgb))
        if bad:
            raise InputError(f"source frame {self.number} holds {bad} NaN/inf values; "
                             "clamp or fill them before this effect")
        return rgb


def write_result(spool, rgba):
    """Write a ``(H, W, 4)`` float32 result (top row first) for the plugin to read.

    Returns
    -------
    pathlib.Path
        ``<spool>/out/<random>.f32`` (the spool resolved), rows bottom-up, written
        atomically.
    """
    folder = private_dir(Path(spool).resolve() / OUT)
    name = uuid.uuid4().hex
    final = folder / f"{name}.f32"
    temporary = folder / f".{name}.tmp"
    try:
        np.ascontiguousarray(rgba[::-1], dtype="<f4").tofile(temporary)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return final
