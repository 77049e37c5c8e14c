"""Plates through OpenImageIO: any still format it reads (EXR with parts and windows, DPX
at 8/10/12/16 bits, TIFF, PNG, JPEG...), with the metadata the outputs carry on.

Windows: an EXR's data window (the pixels stored: a Roto's bounding box, a Crop,
overscan) may differ from its display window (the format). The plate is read on the
*canvas*, the union of the two windows: the data window is placed at its position in
the canvas and the pixels outside it are 0. A data window inside the display window
gives a plate of the display window's size (guides and plates of one shot agree in size
and mattes are not shifted); overscan gives a plate of the data window's size, and the
outputs keep both windows (:class:`PlateHeader`).
"""

import dataclasses
import fractions
import pathlib

import numpy as np

from sss_vfx.errors import InputError

__all__ = ["PlateHeader", "RasterPlate", "Windows", "on_canvas", "read_raster_plate",
           "still_extensions", "windows_of_header"]

#: Formats OpenImageIO reads that are not plates (pseudo-formats) or may be animations
#: (left to PyAV).
NOT_PLATES = frozenset({"null", "nul", "term", "zfile", "gif", "ffmpeg"})
#: DPX transfer characteristics that mean a log encoding (the ``compositing_log`` role).
LOG_TRANSFERS = frozenset({"Logarithmic", "Printing density"})
#: DPX transfer characteristics that mean scene-linear values.
LINEAR_TRANSFERS = frozenset({"Linear"})
#: DPX packings OpenImageIO decodes, as it names them.
DPX_PACKINGS = frozenset({"Packed", "Filled, method A", "Filled, method B"})
#: DPX bit depths OpenImageIO decodes.
DPX_BITS = (8, 10, 12, 16)


def still_extensions():
    """Lower-case extensions (with the dot) of the still formats OpenImageIO reads."""
    import OpenImageIO as oiio     # imported when a plate is first read: ~70 ms

    found = set()
    for entry in oiio.get_string_attribute("extension_list").split(";"):
        name, _, extensions = entry.partition(":")
        if name not in NOT_PLATES:
            found.update("." + e.lower() for e in extensions.split(",") if e)
    return tuple(sorted(found))


@dataclasses.dataclass(frozen=True)
class Windows:
    """An image's windows, ``(x, y, width, height)`` in pixels, y down (EXR's).

    Attributes
    ----------
    display : tuple of 4 int
        The display window (the format).
    data : tuple of 4 int
        The data window (the pixels stored).
    """

    display: tuple
    data: tuple

    @property
    def canvas(self):
        """The union of the data and display windows: what the plate covers."""
        x0 = min(self.display[0], self.data[0])
        y0 = min(self.display[1], self.data[1])
        x1 = max(self.display[0] + self.display[2], self.data[0] + self.data[2])
        y1 = max(self.display[1] + self.display[3], self.data[1] + self.data[3])
        return (x0, y0, x1 - x0, y1 - y0)

    @property
    def plain(self):
        """The canvas is the display window at the origin (no window to keep)."""
        return self.canvas == self.display and self.display[:2] == (0, 0)


@dataclasses.dataclass(frozen=True)
class PlateHeader:
    """What the outputs of a plate carry in their EXR headers.

    Attributes
    ----------
    windows : Windows or None
        The plate's windows: the outputs' data window is the canvas, their display
        window the plate's.
    pixel_aspect : float
    timecode : tuple of 2 int or None
        SMPTE time code as stored (time-and-flags, user data).
    fps : fractions.Fraction or None
    colour_space : str or None
        The colour space the layer colours are in (the plate's).
    frame : int or None
        The frame number the file says (DPX), else None.
    """

    windows: object = None
    pixel_aspect: float = 1.0
    timecode: object = None
    fps: object = None
    colour_space: object = None
    frame: object = None


@dataclasses.dataclass(frozen=True)
class RasterPlate:
    """An image file's pixels on its canvas, as stored, and its metadata.

    Attributes
    ----------
    pixels : ndarray, shape (H, W, C), float32
        Integer samples scaled to [0, 1], float samples as stored.
    channels : tuple of str
    bits : int
        Bits per sample as stored (8, 10, 12, 16, 32; half floats: 16).
    is_float : bool
    format : str
        OpenImageIO's format name (``'openexr'``, ``'dpx'``, ``'png'``...).
    part : str or None
        The EXR part read, by name.
    file_colour_space : str or None
        The colour space the file says, if it says one.
    log : bool
        A DPX whose header says logarithmic (or printing density).
    header : PlateHeader
        Windows, pixel aspect, time code, frame rate (no colour space yet).
    """

    pixels: np.ndarray
    channels: tuple
    bits: int
    is_float: bool
    format: str
    part: object
    file_colour_space: object
    log: bool
    header: PlateHeader


def read_raster_plate(path, *, part=None, error=InputError):
    """Read an image file through OpenImageIO, on its canvas.

    Parameters
    ----------
    path : str or os.PathLike
        Any still format OpenImageIO reads.
    part : str, optional
        The part of a multi-part EXR, by name. Default: the first part holding R, G, B
        (or Y, or one channel).
    error : type, optional
        The :class:`~sss_vfx.errors.SssError` subclass to raise.

    Returns
    -------
    RasterPlate

    Raises
    ------
    InputError
        (or `error`) if the file cannot be opened or decoded, names no such part, is a
        deep image, or is a DPX whose packing or bit depth is not supported.
    """
    import OpenImageIO as oiio     # imported when a plate is first read: ~70 ms

    path = pathlib.Path(path)
    # Alpha as stored: a PNG's colour is not premultiplied on the way in.
    hints = oiio.ImageSpec()
    hints.attribute("oiio:UnassociatedAlpha", 1)
    source = oiio.ImageInput.open(str(path), hints)
    if source is None:
        reason = _oiio_error(oiio.geterror())
        raise error(f"cannot decode {path}: {reason}; the file is corrupt or not a "
                    f"{path.suffix or 'known'} image, export it again")
    try:
        index, name = _choose_part(source, path, part, error)
        spec = source.spec()
        if spec.deep:
            raise error(f"{path} is a deep image; flatten it to a regular image first")
        fmt = source.format_name()
        bits = int(spec.get_int_attribute("oiio:BitsPerSample", spec.format.size() * 8))
        if fmt == "dpx":
            _check_dpx(spec, bits, path, error)
        # 8- and 16-bit samples are scaled here as for every other 8/16-bit reader (by
        # 255, 65535); OpenImageIO scales 10- and 12-bit DPX samples to float itself.
        native = spec.format.basetype in (oiio.UINT8, oiio.UINT16) and bits in (8, 16)
        pixels = source.read_image(index, 0, 0, spec.nchannels,
                                   spec.format if native else "float")
        if pixels is None or not isinstance(pixels, np.ndarray):
            reason = _oiio_error(source.geterror())
            raise error(f"cannot decode the pixels of {path}: {reason}; the file is "
                        "corrupt or truncated, export it again")
    finally:
        source.close()
    pixels = np.asarray(pixels).reshape(spec.height, spec.width, spec.nchannels)
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float32) / np.float32(255.0)
    elif pixels.dtype == np.uint16:
        pixels = pixels.astype(np.float32) / np.float32(65535.0)
    else:
        pixels = pixels.astype(np.float32, copy=False)
    windows = Windows(display=(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
                      data=(spec.x, spec.y, spec.width, spec.height))
    transfer = spec.get_string_attribute("dpx:Transfer") if fmt == "dpx" else ""
    header = PlateHeader(windows=windows,
                         pixel_aspect=float(spec.get_float_attribute("PixelAspectRatio", 1.0)
                                            or 1.0),
                         timecode=_timecode(spec), fps=_fps(spec),
                         frame=_dpx_frame(spec) if fmt == "dpx" else None)
    return RasterPlate(pixels=on_canvas(pixels, windows), channels=tuple(spec.channelnames),
                       bits=bits, is_float=spec.format.basetype in (
                           oiio.FLOAT, oiio.HALF, oiio.DOUBLE),
                       format=fmt, part=name, file_colour_space=_file_colour_space(spec, fmt),
                       log=transfer in LOG_TRANSFERS, header=header)


def _oiio_error(text):
    text = " ".join(str(text or "").split())
    return text[:200] or "OpenImageIO gave no reason"


def _part_name(spec, index):
    return spec.get_string_attribute("name") or spec.get_string_attribute(
        "oiio:subimagename") or str(index)


def _colour_rank(channels):
    """0 for a part with R, G, B (also as ``layer.R``...), 1 for Y, 2 for one channel,
    3 for none of these: the default part is the lowest."""
    names = set(channels)
    if {"R", "G", "B"} <= names or {n[-2:] for n in names} >= {".R", ".G", ".B"}:
        return 0
    if "Y" in names:
        return 1
    return 2 if len(names - {"A"}) == 1 else 3


def _choose_part(source, path, part, error):
    """(index, name) of the part to read; the input is left on it."""
    parts = []
    index = 0
    while source.seek_subimage(index, 0):
        parts.append((index, _part_name(source.spec(), index), source.spec().channelnames))
        index += 1
    source.geterror()   # seeking past the last part leaves an error message behind
    if part is not None:
        for index, name, _ in parts:
            if name == part:
                break
        else:
            names = ", ".join(repr(n) for _, n, _ in parts)
            raise error(f"{path} has no part named {part!r} (its parts: {names}); pass "
                        "--part with one of them")
    elif len(parts) == 1:
        index, name, _ = parts[0]
    else:
        rank, index, name = min((_colour_rank(c), i, n) for i, n, c in parts)
        if rank == 3:
            names = ", ".join(repr(n) for _, n, _ in parts)
            raise error(f"{path} has no part with R, G, B (its parts: {names}); pass "
                        "--part NAME")
    source.seek_subimage(index, 0)
    return index, (name if len(parts) > 1 or part is not None else None)


def _check_dpx(spec, bits, path, error):
    packing = spec.get_string_attribute("dpx:Packing")
    if bits not in DPX_BITS:
        raise error(f"{path} is a {bits}-bit DPX; re-export it at 8, 10, 12 or 16 bits")
    if packing not in DPX_PACKINGS:
        raise error(f"{path} is a DPX with an unsupported packing "
                    f"({packing or 'not one the format defines'}); re-export it packed "
                    "or filled (method A is the usual 10-bit layout)")


def windows_of_header(header):
    """The :class:`Windows` of an OpenEXR header (``OpenEXR.File(...).header()``)."""
    def box(key):
        (x0, y0), (x1, y1) = (tuple(int(v) for v in corner) for corner in header[key])
        return (x0, y0, x1 - x0 + 1, y1 - y0 + 1)

    return Windows(display=box("displayWindow"), data=box("dataWindow"))


def on_canvas(pixels, windows, canvas=None):
    """The data window's pixels placed on a canvas, 0 around them.

    Parameters
    ----------
    pixels : (h, w) or (h, w, C) ndarray
        The data window's pixels.
    windows : Windows
    canvas : (x, y, width, height), optional
        Where to place them (another image's canvas: guides on an overscan plate's);
        what falls outside is cropped. Default: the canvas of `windows`.

    Returns
    -------
    ndarray, the canvas's (H, W[, C]); `pixels` itself when the canvas is the data
    window.
    """
    canvas = windows.canvas if canvas is None else tuple(int(v) for v in canvas)
    if canvas == windows.data:
        return pixels
    x0, y0, width, height = canvas
    placed = np.zeros((height, width) + pixels.shape[2:], pixels.dtype)
    x, y, w, h = windows.data
    left, top = max(x, x0), max(y, y0)
    right, bottom = min(x + w, x0 + width), min(y + h, y0 + height)
    if right > left and bottom > top:
        placed[top - y0:bottom - y0, left - x0:right - x0] = \
            pixels[top - y:bottom - y, left - x:right - x]
    return placed


def _file_colour_space(spec, fmt):
    """The colour space the file says: an EXR's colour-space attributes, a DPX's transfer.

    OpenImageIO also guesses sRGB for 8-bit formats, which is the default anyway."""
    if fmt == "openexr":
        return spec.get_string_attribute("colorSpace") or spec.get_string_attribute(
            "oiio:ColorSpace") or None
    return None


def _timecode(spec):
    value = spec.getattribute("smpte:TimeCode")
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value)[:2]
    except TypeError:
        return None


def _fps(spec):
    value = spec.getattribute("FramesPerSecond")
    if value is None:
        value = spec.getattribute("framesPerSecond")    # EXR, as OpenImageIO names it
    if value is None:
        return None
    try:
        numerator, denominator = (int(v) for v in value)
        return fractions.Fraction(numerator, denominator) if denominator else None
    except (TypeError, ValueError):
        try:
            return fractions.Fraction(float(value)).limit_denominator(1001)
        except (TypeError, ValueError):
            return None


def _dpx_frame(spec):
    value = spec.getattribute("dpx:FramePosition")
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    # 0xFFFFFFFF is DPX's "undefined".
    return value if 0 <= value < 0xFFFFFFFF else None
