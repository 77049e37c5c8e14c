"""Reading still images into the working image: (H, W, 3) float32 display-referred RGB.

The segmentation works on display-referred values in [0, 1], as the images the method
was designed on. 8- and 16-bit files are scaled, float files are clipped, and
scene-linear EXRs are clamped to [0, 1] and encoded with the sRGB transfer curve.
"""

import contextlib
import dataclasses
import pathlib

import cv2
import numpy as np

from sss_vfx.errors import InputError
from sss_vfx.io.exr import read_exr_channels

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
SUPPORTED_EXTENSIONS = RASTER_EXTENSIONS + (".exr",)
# Python arrays may carry round-off from earlier processing; beyond this it is
# a scale mistake (0-255 data, scene-linear data) and is refused.
RANGE_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class ImageData:
    """An image read from disk, as the working image plus where it came from.

    Attributes
    ----------
    pixels : ndarray, shape (H, W, 3), float32
        Display-referred RGB in [0, 1].
    path : str
        The file it was read from.
    source_kind : str
        ``'8-bit'``, ``'16-bit'``, ``'float'`` (float TIFF) or ``'exr-linear'``.
    had_alpha : bool
        The file had an alpha channel, which was dropped.
    was_gray : bool
        The file had one grey channel, replicated to RGB.
    """

    pixels: np.ndarray
    path: str
    source_kind: str
    had_alpha: bool
    was_gray: bool


def read_image(path):
    """Read a PNG, JPEG, TIFF or EXR file as the working image.

    Parameters
    ----------
    path : str or os.PathLike
        The image file. PNG/JPEG/TIFF at 8 or 16 bits, float TIFF (clipped to
        [0, 1]), or EXR holding scene-linear R, G, B (or Y, or one grey channel).

    Returns
    -------
    ImageData
        ``pixels`` is a new ``(H, W, 3)`` float32 array in [0, 1].

    Raises
    ------
    InputError
        If the path is missing or not a file, the extension is unsupported, the file
        cannot be decoded, it has an unusable channel layout, holds NaN/inf, or is
        smaller than ``MIN_SIDE`` pixels on a side.

    Examples
    --------
    >>> data = read_image("plate.exr")  # doctest: +SKIP
    >>> data.pixels.shape, data.source_kind  # doctest: +SKIP
    ((1080, 1920, 3), 'exr-linear')
    """
    path = require_file(path)
    extension = path.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise InputError(
            f"{path}: unsupported image type '{path.suffix}'; "
            f"convert it to one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    if extension == ".exr":
        rgb, had_alpha, was_gray = _exr_rgb(path)
        pixels = linear_to_srgb(rgb)
        kind = "exr-linear"
    else:
        raster = read_raster(path)
        kind = _source_kind(raster.dtype, path)
        if kind == "float":
            _require_finite(raster, path)
        pixels, had_alpha, was_gray = _to_rgb(to_unit_float(raster), path)
        pixels = np.clip(pixels, 0.0, 1.0)
    _require_min_side(pixels.shape, path)
    return ImageData(pixels=pixels, path=str(path), source_kind=kind,
                     had_alpha=had_alpha, was_gray=was_gray)


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


def linear_to_srgb(linear):
    """Clamp scene-linear values to [0, 1] and apply the sRGB transfer curve.

    Parameters
    ----------
    linear : array_like
        Linear values, any shape; must be finite.

    Returns
    -------
    ndarray, same shape, float32
        ``12.92 x`` for ``x <= 0.0031308``, else ``1.055 x**(1/2.4) - 0.055``.
    """
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)
    return encoded.astype(np.float32)


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


def _source_kind(dtype, path):
    if dtype == np.uint8:
        return "8-bit"
    if dtype == np.uint16:
        return "16-bit"
    if np.issubdtype(dtype, np.floating):
        return "float"
    raise InputError(
        f"{path} stores {dtype} samples; convert it to 8-bit, 16-bit or float"
    )


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


def _exr_rgb(path):
    channels = read_exr_channels(path)
    names = set(channels)
    colour = [name for name in names if name != "A"]
    if {"R", "G", "B"} <= names:
        rgb = np.stack([channels["R"], channels["G"], channels["B"]], axis=-1)
        was_gray = False
    elif "Y" in names or len(colour) == 1:
        grey = channels["Y"] if "Y" in names else channels[colour[0]]
        rgb = np.repeat(grey[:, :, np.newaxis], 3, axis=2)
        was_gray = True
    else:
        raise InputError(
            f"{path} has channels {', '.join(sorted(names))} but no R, G, B or Y; "
            "shuffle the image into R, G, B before exporting"
        )
    _require_finite(rgb, path)
    return rgb, "A" in names, was_gray


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
