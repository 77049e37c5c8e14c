"""Reading still images: the working image, (H, W, 3) float32 display-referred RGB, and the
plate's own values.

The segmentation works on display-referred values in [0, 1], as the images the method
was designed on. Files are read through OpenImageIO (:mod:`sss_vfx.io.plates`): EXR
(a part chosen by name, data and display windows), DPX, TIFF, PNG, JPEG and the other
still formats it reads. The working copy is made from the plate by OpenColorIO
(:mod:`sss_vfx.colour`): 8- and 16-bit sRGB files are scaled and used as they are, a
scene-linear EXR or a log DPX is converted to the config's sRGB-encoded colour space and
clipped to [0, 1].
"""

import contextlib
import dataclasses
import pathlib

import cv2
import numpy as np

from sss_vfx import colour
from sss_vfx.colour import linear_to_srgb
from sss_vfx.errors import InputError, OptionError
from sss_vfx.io.plates import PlateHeader, read_raster_plate, still_extensions
from sss_vfx.options import PlateOptions

__all__ = [
    "MIN_SIDE",
    "SUPPORTED_EXTENSIONS",
    "ImageData",
    "as_working_image",
    "linear_to_srgb",
    "read_image",
    "read_raster",
    "require_file",
]

MIN_SIDE = 16
RASTER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Still formats read as plates (what OpenImageIO reads; movies go to PyAV).
SUPPORTED_EXTENSIONS = tuple(sorted(set(RASTER_EXTENSIONS + (".exr", ".dpx"))
                                    | set(still_extensions())))
# Python arrays may carry round-off from earlier processing; beyond this it is
# a scale mistake (0-255 data, scene-linear data) and is refused.
RANGE_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class ImageData:
    """An image read from disk, as the working image plus where it came from.

    Attributes
    ----------
    pixels : ndarray, shape (H, W, 3), float32
        The working copy: display-referred RGB in [0, 1].
    path : str
        The file it was read from.
    source_kind : str
        ``'8-bit'``, ``'10-bit'``, ``'12-bit'``, ``'16-bit'``, ``'float'`` (float
        TIFF...) or ``'exr-linear'`` (any EXR).
    had_alpha : bool
        The file had an alpha channel, which was dropped.
    was_gray : bool
        The file had one grey channel, replicated to RGB.
    values : ndarray, shape (H, W, 3), float32, or None
        The plate in its own colour space (or in ``layers_colorspace``), not clipped:
        what the layer colours sum to; None for arrays given in memory.
    colour_space : str or None
        The plate's colour space (a name of the OCIO config).
    header : PlateHeader
        Windows, pixel aspect, time code, frame rate and the colour space of the layer
        colours, for the outputs.
    notes : tuple of str
        Things the caller should know (the colour space assumed...).
    """

    pixels: np.ndarray
    path: str
    source_kind: str
    had_alpha: bool
    was_gray: bool
    values: object = None
    colour_space: object = None
    header: PlateHeader = PlateHeader()
    notes: tuple = ()


def read_image(path, *, plate=None):
    """Read an image file as the working image and the plate's own values.

    Parameters
    ----------
    path : str or os.PathLike
        The image file: EXR (scene-linear by default; a part by name), DPX (8/10/12/16
        bit; log where its header says), PNG/JPEG/TIFF at 8 or 16 bits or float, or
        another still format OpenImageIO reads.
    plate : PlateOptions, optional
        The plate's colour space, the OCIO config, the working view and the EXR part
        (:class:`~sss_vfx.options.PlateOptions`; its defaults when None).

    Returns
    -------
    ImageData
        ``pixels`` is a new ``(H, W, 3)`` float32 array in [0, 1], on the canvas of the
        file's windows (:mod:`sss_vfx.io.plates`).

    Raises
    ------
    InputError
        If the path is missing or not a file, the extension is unsupported, the file
        cannot be decoded, it has an unusable channel layout or no such part, holds
        NaN/inf, or is smaller than ``MIN_SIDE`` pixels on a side.
    OptionError
        If the colour space, config or working view is unknown or does not load.

    Examples
    --------
    >>> data = read_image("plate.exr")  # doctest: +SKIP
    >>> data.pixels.shape, data.colour_space  # doctest: +SKIP
    ((1080, 1920, 3), 'ACEScg')
    """
    plate = plate or PlateOptions()
    path = require_file(path)
    extension = path.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise InputError(
            f"{path}: unsupported image type '{path.suffix}'; "
            "convert it to one of .png, .jpg, .tif, .exr, .dpx (or another still "
            "format OpenImageIO reads)"
        )
    # The config and names first: a bad flag is reported before the file is decoded.
    config = colour.load_config(plate.ocio)
    colour.check_working_view(config, plate.working_view)
    for name, flag in ((plate.colorspace, "--colorspace"),
                       (plate.layers_colorspace, "--layers-colorspace")):
        if name is not None:
            colour.resolve_colour_space(config, name, what=flag)
    raster = read_raster_plate(path, part=plate.part)
    if raster.format == "openexr":
        rgb, had_alpha, was_gray = _exr_rgb(raster, path)
        kind = "exr-linear"
    else:
        rgb, had_alpha, was_gray = _to_rgb(raster.pixels, path)
        kind = "float" if raster.is_float else f"{raster.bits}-bit"
    _require_finite(rgb, path)
    _require_min_side(rgb.shape, path)
    space, notes = _colour_space(config, plate.colorspace, raster)
    pixels = colour.to_working(rgb, config, space, working_view=plate.working_view)
    values, layers_space = rgb, space
    if plate.layers_colorspace is not None:
        layers_space = colour.resolve_colour_space(config, plate.layers_colorspace,
                                                   what="--layers-colorspace")
        values = colour.convert(rgb, config, space, layers_space)
    header = dataclasses.replace(raster.header, colour_space=str(layers_space))
    return ImageData(pixels=pixels, path=str(path), source_kind=kind,
                     had_alpha=had_alpha, was_gray=was_gray, values=values,
                     colour_space=str(space), header=header, notes=tuple(notes))


def _colour_space(config, asked, raster):
    """(colour space, notes): as asked, else as the file says, else by the file's kind."""
    if asked is not None:
        return colour.resolve_colour_space(config, asked), []
    if raster.format == "openexr":
        kind = colour.SCENE_LINEAR
    elif raster.format == "dpx" and raster.log:
        kind = colour.COMPOSITING_LOG
    else:
        kind = colour.SRGB
    notes = []
    if raster.file_colour_space:
        try:
            return colour.resolve_colour_space(config, raster.file_colour_space), []
        except OptionError:
            notes.append(f"the file says colour space {raster.file_colour_space!r}, "
                         "which the OCIO config lacks; assumed its default")
    space = colour.default_colour_space(config, kind)
    if kind != colour.SRGB:
        notes.append(f"colour space {space} assumed ({kind.replace('_', '-')} "
                     "default); pass --colorspace if it is another")
    return space, notes


def as_working_image(array):
    """Validate an image passed from Python and return it as the working image.

    Parameters
    ----------
    array : array_like, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Float values in [0, 1] (round-off up to 1e-3 outside is clipped), or
        uint8 / uint16 values over their full range. Grey is replicated to RGB and
        alpha is dropped.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        A new array in [0, 1]; `array` is not modified.

    Raises
    ------
    InputError
        If the dtype, channel count, size or value range is wrong, or there is NaN/inf.

    Examples
    --------
    >>> as_working_image(np.zeros((16, 16), np.uint8)).shape
    (16, 16, 3)
    """
    array = np.asarray(array)
    source = "the image array"
    if array.dtype not in (np.uint8, np.uint16) and not np.issubdtype(array.dtype, np.floating):
        raise InputError(
            f"{source} has dtype {array.dtype}; pass float values in [0, 1] or uint8/uint16"
        )
    if np.issubdtype(array.dtype, np.floating):
        _require_finite(array, source)
        low, high = float(array.min(initial=0.0)), float(array.max(initial=0.0))
        if low < -RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE:
            raise InputError(
                f"{source} has values in [{low:.4g}, {high:.4g}], outside [0, 1]; "
                "scale it to [0, 1] (convert scene-linear data to display-referred first)"
            )
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise InputError(
            f"{source} has shape {array.shape}; pass (H, W) grey, (H, W, 3) RGB "
            "or (H, W, 4) RGBA"
        )
    pixels, _, _ = _to_rgb(to_unit_float(array), source)
    _require_min_side(pixels.shape, source)
    return np.clip(pixels, 0.0, 1.0)


def require_file(path, *, error=InputError, what="image"):
    """Check that `path` names an existing regular file.

    Parameters
    ----------
    path : str or os.PathLike
        The path to check.
    error : type, optional
        The :class:`~sss_vfx.errors.SssError` subclass to raise.
    what : str, optional
        What the file should be, for the message (``'image'``, ``'features'``).

    Returns
    -------
    pathlib.Path
        `path` as a Path.

    Raises
    ------
    InputError
        (or `error`) if the path does not exist or is not a regular file.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise error(f"{what} file {path} does not exist; check the path")
    if not path.is_file():
        article = "an" if what[:1].lower() in "aeiou" else "a"
        raise error(f"{what} path {path} is not a file (a directory?); give {article} "
                    f"{what} file")
    return path


def read_raster(path, *, error=InputError):
    """Decode a PNG, JPEG or TIFF file with OpenCV, keeping its bit depth.

    Parameters
    ----------
    path : str or os.PathLike
        The file; read as bytes, so any path the OS accepts works.
    error : type, optional
        The :class:`~sss_vfx.errors.SssError` subclass to raise.

    Returns
    -------
    ndarray, shape (H, W) or (H, W, C)
        The stored samples (uint8, uint16 or float) with colour channels in RGB(A)
        order.

    Raises
    ------
    InputError
        (or `error`) if the file cannot be read or decoded.
    """
    path = pathlib.Path(path)
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise error(
            f"cannot read {path}: {exc.strerror or exc}; check the path and its permissions"
        ) from exc
    try:
        with _quiet_opencv():
            raster = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        raster = None
    if raster is None:
        raise error(
            f"cannot decode {path}: the file is corrupt or not a {path.suffix or 'known'} "
            "image; export it again"
        )
    if raster.ndim == 3 and raster.shape[2] == 3:
        return np.ascontiguousarray(raster[:, :, ::-1])
    if raster.ndim == 3 and raster.shape[2] == 4:
        return np.ascontiguousarray(raster[:, :, [2, 1, 0, 3]])
    return raster


@contextlib.contextmanager
def _quiet_opencv():
    # OpenCV logs decoder complaints to stderr; the error we raise says it all.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def to_unit_float(array):
    """Integer samples scaled to [0, 1] (8-bit by 255, 16-bit by 65535), as new float32;
    float samples are copied as they are."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535.0)
    return array.astype(np.float32)


def _to_rgb(array, source):
    """Return (new float32 (H, W, 3), had_alpha, was_gray) from 1 to 4 channels."""
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    channels = array.shape[2] if array.ndim == 3 else None
    if channels not in (1, 2, 3, 4):
        raise InputError(
            f"{source} has shape {array.shape}; expected (H, W) grey, (H, W, 3) RGB "
            "or (H, W, 4) RGBA"
        )
    had_alpha = channels in (2, 4)
    was_gray = channels in (1, 2)
    if was_gray:
        rgb = np.repeat(array[:, :, :1], 3, axis=2)
    else:
        rgb = array[:, :, :3]
    return np.array(rgb, dtype=np.float32, copy=True), had_alpha, was_gray


def _exr_rgb(raster, path):
    channels = {name: raster.pixels[:, :, i] for i, name in enumerate(raster.channels)}
    names = set(channels)
    colour_names = [name for name in names if name != "A"]
    if not {"R", "G", "B"} <= names:
        # A part whose channels carry its layer's name (Nuke: 'beauty.R').
        layers = {n.rsplit(".", 1)[0] for n in names if n.endswith((".R", ".G", ".B"))}
        if len(layers) == 1:
            layer = layers.pop()
            channels = {n[len(layer) + 1:]: a for n, a in channels.items()
                        if n.startswith(layer + ".")}
            names = set(channels)
    if {"R", "G", "B"} <= names:
        rgb = np.stack([channels["R"], channels["G"], channels["B"]], axis=-1)
        was_gray = False
    elif "Y" in names or len(colour_names) == 1:
        grey = channels["Y"] if "Y" in names else channels[colour_names[0]]
        rgb = np.repeat(grey[:, :, np.newaxis], 3, axis=2)
        was_gray = True
    else:
        raise InputError(
            f"{path} has channels {', '.join(sorted(names))} but no R, G, B or Y; "
            "shuffle the image into R, G, B before exporting (or pass --part NAME)"
        )
    return np.ascontiguousarray(rgb, dtype=np.float32), "A" in names, was_gray


def _require_finite(array, source):
    bad = np.count_nonzero(~np.isfinite(array))
    if bad:
        raise InputError(
            f"{source} holds {bad} NaN/inf values; remove them (e.g. clamp or fill) first"
        )


def _require_min_side(shape, source):
    height, width = shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(
            f"{source} is {width}x{height} pixels; at least {MIN_SIDE} pixels on each "
            "side are needed, give a larger image"
        )
