"""Multi-layer EXR files: the soft segments as Nuke layers, and raw channel reading.

One file per frame, single part, scanline, ZIP compression, half floats. Layer ``k``
(0-based) is the Nuke layer ``sss_layerNN`` with ``NN = k + 1`` on at least two digits;
its matte is channel ``sss_layerNN.A`` and, when layer colours were computed, its
premultiplied colour is ``sss_layerNN.R/.G/.B``. The header attribute ``sss_layers``
lists the layer names in order, so readers need not rely on channel sorting.
"""

import dataclasses
import fractions
import pathlib

import numpy as np
import OpenEXR

from sss_vfx.errors import InputError, OptionError, OutputError
from sss_vfx.io.atomic import atomic_path
from sss_vfx.io.half import to_half
from sss_vfx.io.plates import PlateHeader, on_canvas, windows_of_header

__all__ = [
    "LAYERS_ATTRIBUTE",
    "LayersEXR",
    "check_alphas",
    "layer_names",
    "read_exr_channels",
    "read_layers_exr",
    "write_layers_exr",
]

LAYERS_ATTRIBUTE = "sss_layers"
EXR_MAGIC = b"\x76\x2f\x31\x01"
HALF_MAX = 65504.0
# Values this far outside [0, 1] are solver round-off and are clipped; anything
# further is a bug upstream and is refused.
ALPHA_TOLERANCE = 1e-3
RESERVED_ATTRIBUTES = frozenset({"colorSpace", "framesPerSecond", "timeCode",
    "channels", "chunkCount", "compression", "dataWindow", "displayWindow",
    "lineOrder", "name", "pixelAspectRatio", "screenWindowCenter",
    "screenWindowWidth", "tiles", "type", "version", LAYERS_ATTRIBUTE,
})


@dataclasses.dataclass(frozen=True)
class LayersEXR:
    """The content of a layers EXR written by :func:`write_layers_exr`.

    Attributes
    ----------
    alphas : ndarray, shape (H, W, K), float32
        The mattes, in the order of the ``sss_layers`` header attribute.
    colours : ndarray, shape (H, W, K, 3), float32, or None
        Premultiplied layer colours, or None when the file holds mattes only.
    layer_names : list of str
        ``['sss_layer01', 'sss_layer02', ...]``, in layer order.
    header : dict of str to str
        Every string attribute of the header, ``sss_layers`` included.
    channel_names : list of str
        All channel names, as stored (sorted).
    compression : str
        Compression name without suffix, e.g. ``'ZIP'``.
    pixel_types : dict of str to str
        Channel name to ``'HALF'``, ``'FLOAT'`` or ``'UINT'``.
    plate_header : PlateHeader
        The windows, pixel aspect, time code, frame rate and colour space the file
        carries (for rewriting it with the same).
    """

    alphas: np.ndarray
    colours: np.ndarray | None
    layer_names: list
    header: dict
    channel_names: list
    compression: str
    pixel_types: dict
    plate_header: object = None


def layer_names(k):
    """Return the Nuke layer names for `k` layers.

    Parameters
    ----------
    k : int
        Number of layers, >= 1.

    Returns
    -------
    list of str
        ``['sss_layer01', ..., 'sss_layerKK']`` (three digits from layer 100 on).

    Raises
    ------
    OptionError
        If `k` is not a positive integer.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise OptionError(f"layer count must be a positive integer, got {k!r}; pass K >= 1")
    return [f"sss_layer{n:02d}" for n in range(1, int(k) + 1)]


def check_alphas(alphas, *, name="alphas"):
    """Validate mattes and return them as a new float32 array clipped to [0, 1].

    Parameters
    ----------
    alphas : array_like, shape (H, W, K)
        Mattes, real-valued, finite, in [0, 1] up to round-off of 1e-3.
    name : str, optional
        Parameter name for error messages.

    Returns
    -------
    ndarray, shape (H, W, K), float32
        A new array in [0, 1]; `alphas` is not modified.

    Raises
    ------
    OptionError
        If the shape, dtype or values are wrong.
    """
    alphas = np.asarray(alphas)
    if alphas.ndim != 3 or min(alphas.shape) < 1:
        raise OptionError(
            f"{name} must have shape (H, W, K) with K >= 1, got {alphas.shape}; "
            "pass one matte per layer along the last axis"
        )
    if not (np.issubdtype(alphas.dtype, np.floating) or np.issubdtype(alphas.dtype, np.integer)):
        raise OptionError(f"{name} must be a real numeric array, got dtype {alphas.dtype}")
    alphas = alphas.astype(np.float32)
    bad = np.count_nonzero(~np.isfinite(alphas))
    if bad:
        raise OptionError(f"{name} has {bad} NaN/inf values; fix the segmentation first")
    low, high = float(alphas.min()), float(alphas.max())
    if low < -ALPHA_TOLERANCE or high > 1.0 + ALPHA_TOLERANCE:
        raise OptionError(
            f"{name} must lie in [0, 1], got [{low:.4g}, {high:.4g}]; normalise the mattes"
        )
    return np.clip(alphas, 0.0, 1.0)


def write_layers_exr(path, alphas, *, colours=None, attributes=None, header=None):
    """Write soft segments as one single-part, ZIP-compressed, half-float EXR.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.exr`` file; its directory must exist. Written atomically.
    alphas : array_like, shape (H, W, K)
        Mattes in [0, 1] (round-off up to 1e-3 outside is clipped).
    colours : array_like, shape (H, W, K, 3), optional
        Premultiplied RGB colour of each layer, finite.
    attributes : dict of str to str, optional
        Extra string header attributes, e.g. the program version.
    header : PlateHeader, optional
        The plate's windows (the file's data window is the plate's canvas, its display
        window the plate's), pixel aspect, time code, frame rate and colour space (of
        the colours, as ``colorSpace``), carried into the header.

    Raises
    ------
    OptionError
        If an array has the wrong shape, NaN/inf or values out of range, or an
        attribute is not a string or collides with a standard header attribute.
    OutputError
        If the file cannot be written.

    Examples
    --------
    >>> a = np.full((16, 16, 2), 0.5, np.float32)
    >>> write_layers_exr("frame.exr", a, attributes={"sss_version": "0.1"})  # doctest: +SKIP
    """
    alphas = check_alphas(alphas)
    height, width, k = alphas.shape
    names = layer_names(k)
    extra = _checked_attributes(attributes)

    channels = {}
    for index, name in enumerate(names):
        channels[f"{name}.A"] = to_half(alphas[:, :, index])
    if colours is not None:
        colours = _checked_colours(colours, (height, width, k))
        for index, name in enumerate(names):
            for c, letter in enumerate("RGB"):
                channels[f"{name}.{letter}"] = to_half(colours[:, :, index, c])

    exr_header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        LAYERS_ATTRIBUTE: ",".join(names),
        **_plate_attributes(header, (height, width)),
        **extra,
    }
    final = pathlib.Path(path)
    with atomic_path(final) as tmp:
        try:
            OpenEXR.File(exr_header, channels).write(str(tmp))
        except (RuntimeError, OSError) as exc:
            raise OutputError(
                f"cannot write {final}: {exc}; choose another -o or fix its permissions"
            ) from exc


def read_layers_exr(path):
    """Read a layers EXR written by :func:`write_layers_exr`.

    Parameters
    ----------
    path : str or os.PathLike
        An EXR whose header has the ``sss_layers`` attribute.

    Returns
    -------
    LayersEXR
        Mattes (and colours, if stored) as float32, in header order.

    Raises
    ------
    InputError
        If the file is missing or unreadable, lacks ``sss_layers``, or lacks a
        listed layer's ``.A`` channel or part of its ``.R/.G/.B`` channels.
    """
    exr_file = _open_exr(path)
    header = exr_file.header()
    strings = {key: value for key, value in header.items() if isinstance(value, str)}
    if not strings.get(LAYERS_ATTRIBUTE):
        raise InputError(
            f"{path} has no '{LAYERS_ATTRIBUTE}' header attribute, so it is not an "
            "sss_vfx layers file; give an EXR written by sss-vfx"
        )
    names = strings[LAYERS_ATTRIBUTE].split(",")
    channels = exr_file.channels()

    missing = [f"{name}.A" for name in names if f"{name}.A" not in channels]
    if missing:
        raise InputError(
            f"{path} lists layers it does not contain (missing {', '.join(missing)}); "
            "the file is damaged, render it again"
        )
    alphas = np.stack([_as_float32(channels[f"{n}.A"].pixels) for n in names], axis=-1)

    colour_names = [f"{n}.{c}" for n in names for c in "RGB"]
    present = [name in channels for name in colour_names]
    if all(present):
        colours = np.stack(
            [np.stack([_as_float32(channels[f"{n}.{c}"].pixels) for c in "RGB"], axis=-1)
             for n in names],
            axis=2,
        )
    elif not any(present):
        colours = None
    else:
        absent = [name for name, ok in zip(colour_names, present) if not ok]
        raise InputError(
            f"{path} has colour channels for only some layers (missing "
            f"{', '.join(absent)}); the file is damaged, render it again"
        )

    return LayersEXR(
        alphas=alphas,
        colours=colours,
        layer_names=names,
        header=strings,
        channel_names=sorted(channels),
        compression=header["compression"].name.removesuffix("_COMPRESSION"),
        pixel_types={name: ch.type().name for name, ch in channels.items()},
        plate_header=_plate_header(header),
    )


def _plate_attributes(header, shape_hw):
    """The EXR header attributes of a PlateHeader (none when it is None)."""
    if header is None:
        return {}
    attributes = {}
    windows = header.windows
    if windows is not None and not windows.plain:
        x, y, width, height = windows.canvas
        if (height, width) != tuple(shape_hw):
            raise OptionError(f"the layers are {shape_hw[1]}x{shape_hw[0]} but the plate's "
                              f"canvas is {width}x{height}; write them with that plate's "
                              "header")
        attributes["dataWindow"] = _box(x, y, width, height)
        attributes["displayWindow"] = _box(*windows.display)
    if header.pixel_aspect and header.pixel_aspect != 1.0:
        attributes["pixelAspectRatio"] = float(header.pixel_aspect)
    if header.timecode is not None:
        attributes["timeCode"] = _timecode(*header.timecode)
    if header.fps:
        attributes["framesPerSecond"] = fractions.Fraction(header.fps)
    if header.colour_space:
        attributes["colorSpace"] = str(header.colour_space)
    return attributes


def _timecode(time_and_flags, user_data=0):
    """An OpenEXR TimeCode from the SMPTE 12M (TV60) packed word OpenImageIO reads."""
    def bcd(shift, tens_bits):
        word = int(time_and_flags) >> shift
        return (word & 0xF) + 10 * ((word >> 4) & ((1 << tens_bits) - 1))

    code = OpenEXR.TimeCode()
    code.hours, code.minutes, code.seconds, code.frame = (bcd(24, 2), bcd(16, 3),
                                                          bcd(8, 3), bcd(0, 2))
    code.dropFrame = bool(int(time_and_flags) >> 6 & 1)
    code.userData = int(user_data)
    return code


def _plate_header(header):
    """The PlateHeader of an OpenEXR header (what :func:`_plate_attributes` wrote)."""

    windows = windows_of_header(header)
    code = header.get("timeCode")
    timecode = None
    if code is not None:
        timecode = (_packed_timecode(code), int(code.userData))
    fps = header.get("framesPerSecond")
    return PlateHeader(windows=None if windows.plain else windows,
                       pixel_aspect=float(header.get("pixelAspectRatio", 1.0)),
                       timecode=timecode,
                       fps=fractions.Fraction(fps) if fps is not None else None,
                       colour_space=header.get("colorSpace"))


def _packed_timecode(code):
    def bcd(value, shift):
        return (value % 10 | (value // 10) << 4) << shift

    return (bcd(code.hours, 24) | bcd(code.minutes, 16) | bcd(code.seconds, 8)
            | bcd(code.frame, 0) | int(bool(code.dropFrame)) << 6)


def _box(x, y, width, height):
    return (np.array([x, y], np.int32), np.array([x + width - 1, y + height - 1], np.int32))


def read_exr_channels(path):
    """Read every channel of a single-part scanline or tiled EXR.

    Parameters
    ----------
    path : str or os.PathLike
        The EXR file.

    Returns
    -------
    dict of str to ndarray
        Channel name to a new ``(H, W)`` float32 array, values as stored (not
        clipped; may hold NaN/inf, which callers check), on the canvas of the data and
        display windows (:func:`~sss_vfx.io.plates.on_canvas`: a bounding box lands
        where the display window has it, 0 around it).

    Raises
    ------
    InputError
        If the file is missing, not an EXR, corrupt, multi-part, deep, or has
        subsampled channels.
    """

    exr_file = _open_exr(path)
    windows = windows_of_header(exr_file.header())
    full = (windows.data[3], windows.data[2])
    # Subsampled channels are left as they are (and refused below).
    channels = {name: on_canvas(pixels, windows) if pixels.shape == full else pixels
                for name, pixels in ((name, _as_float32(ch.pixels))
                                     for name, ch in exr_file.channels().items())}
    shapes = {array.shape for array in channels.values()}
    if len(shapes) > 1:
        raise InputError(
            f"{path} has subsampled channels (shapes {sorted(shapes)}); "
            "convert it to full-resolution channels (e.g. RGB instead of luma/chroma)"
        )
    if not channels:
        raise InputError(f"{path} holds no channels; give an EXR with image data")
    return channels


def _open_exr(path):
    path = pathlib.Path(path)
    # Checking the magic number first turns a wrong or truncated file into a clear
    # message instead of the library's generic failure (and its stderr noise).
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError as exc:
        raise InputError(f"{path} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a directory; give an EXR file") from exc
    except OSError as exc:
        raise InputError(
            f"cannot read {path}: {exc.strerror or exc}; check its permissions") from exc
    if magic != EXR_MAGIC:
        raise InputError(f"{path} is not an OpenEXR file; give a valid .exr file")

    try:
        exr_file = OpenEXR.File(str(path), separate_channels=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {path}: {exc}; the file is corrupt or truncated, export it again"
        ) from exc
    # The library reports damaged pixel data by returning no parts or empty channels.
    if not exr_file.parts or any(ch.pixels is None for ch in exr_file.channels().values()):
        raise InputError(
            f"cannot read the pixels of {path}: the file is corrupt or truncated, "
            "export it again"
        )
    if len(exr_file.parts) != 1:
        raise InputError(
            f"{path} has {len(exr_file.parts)} parts; sss_vfx reads single-part EXR "
            "files, so write the channels you need into one part"
        )
    storage = exr_file.header().get("type")
    if storage is not None and storage.name.startswith("deep"):
        raise InputError(f"{path} is a deep EXR; flatten it to a regular image first")
    return exr_file


def _as_float32(pixels):
    return np.array(pixels, dtype=np.float32, copy=True)


def _checked_colours(colours, alpha_shape):
    colours = np.asarray(colours)
    expected = (*alpha_shape, 3)
    if colours.shape != expected:
        raise OptionError(
            f"colours must have shape {expected} to match the alphas, got {colours.shape}"
        )
    colours = np.asarray(colours, np.float32)      # no copy of float32 colours (4K: 0.5 GB)
    bad = np.count_nonzero(~np.isfinite(colours))
    if bad:
        raise OptionError(f"colours hold {bad} NaN/inf values; fix the layer colours first")
    if max(float(colours.max()), -float(colours.min())) > HALF_MAX:
        raise OptionError(
            f"colours exceed the half-float range (|value| > {HALF_MAX:g}); scale them down"
        )
    return colours


def _checked_attributes(attributes):
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise OptionError(
            f"attributes must be a dict of str to str, got {type(attributes).__name__}")
    for key, value in attributes.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise OptionError(
                f"EXR attribute {key!r}: names and values must be non-empty str / str, "
                f"got {type(key).__name__} / {type(value).__name__}; convert them to text"
            )
        if key in RESERVED_ATTRIBUTES:
            raise OptionError(
                f"EXR attribute {key!r} is reserved by the file format or sss_vfx; "
                "choose another name"
            )
    return dict(attributes)
