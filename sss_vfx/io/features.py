"""Reading precomputed semantic feature maps: (H, W, C) float32, any C >= 1.

Features may come as an image (PNG/JPEG/TIFF), a NumPy ``.npy`` array or an EXR with
any channels. Their values are kept as stored (images are scaled to [0, 1]); fitting
them to the image size is the pipeline's decision, helped by :func:`resize_features`.
"""

import cv2
import numpy as np

from sss_vfx.errors import FeatureError, InputError
from sss_vfx.io.exr import read_exr_channels
from sss_vfx.io.images import read_raster, require_file, to_unit_float

__all__ = ["FEATURE_EXTENSIONS", "check_features", "read_features", "resize_features"]

FEATURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".exr")
# cv2.resize handles at most 4 channels on every code path.
RESIZE_CHUNK = 4
# Features computed at a lower resolution keep the image's aspect ratio up to
# rounding; a larger difference means the features belong to another image.
ASPECT_TOLERANCE = 0.02


def read_features(path):
    """Read a feature map from an image, ``.npy`` or EXR file.

    Parameters
    ----------
    path : str or os.PathLike
        PNG/JPEG/TIFF (8/16 bit scaled to [0, 1], float kept, RGB order, alpha
        dropped); ``.npy`` of shape ``(H, W)`` or ``(H, W, C)``; or EXR, whose
        channels are all read, sorted by channel name.

    Returns
    -------
    ndarray, shape (H, W, C), float32
        C >= 1, all values finite.

    Raises
    ------
    FeatureError
        If the file is missing, of an unsupported type, unreadable, of the wrong
        shape, or holds NaN/inf.

    Examples
    --------
    >>> np.save("features.npy", np.zeros((32, 32, 128), np.float32))  # doctest: +SKIP
    >>> read_features("features.npy").shape  # doctest: +SKIP
    (32, 32, 128)
    """
    path = require_file(path, error=FeatureError, what="features")
    extension = path.suffix.lower()
    if extension == ".npy":
        features = _read_npy(path)
    elif extension == ".exr":
        try:
            channels = read_exr_channels(path)
        except InputError as exc:
            raise FeatureError(str(exc)) from exc
        features = np.stack([channels[name] for name in sorted(channels)], axis=-1)
    elif extension in FEATURE_EXTENSIONS:
        features = _image_features(read_raster(path, error=FeatureError))
    else:
        raise FeatureError(
            f"{path}: unsupported features type '{path.suffix}'; "
            f"save them as one of {', '.join(FEATURE_EXTENSIONS)}"
        )
    return check_features(features, source=path)


def check_features(features, image_shape=None, *, source="features"):
    """Validate a feature map and return it as a new (H, W, C) float32 array.

    Parameters
    ----------
    features : array_like, shape (H, W) or (H, W, C)
        Real values, any range, any C >= 1.
    image_shape : tuple of int, optional
        ``(H, W)`` or ``(H, W, 3)`` of the image the features describe. Sizes may
        differ (the pipeline resizes), but the aspect ratios must agree within 2 %
        plus one pixel of rounding, else the features belong to another image.
    source : str or os.PathLike, optional
        Name used in error messages.

    Returns
    -------
    ndarray, shape (H, W, C), float32
        A new array; `features` is not modified.

    Raises
    ------
    FeatureError
        If the array is not 2-D or 3-D, is empty, is not real-valued, holds NaN/inf,
        or its aspect ratio differs from `image_shape`'s.
    """
    features = np.asarray(features)
    if features.ndim not in (2, 3) or features.size == 0:
        raise FeatureError(
            f"{source} has shape {features.shape}; expected (H, W) or (H, W, C) "
            "with C >= 1 and non-empty"
        )
    if not (np.issubdtype(features.dtype, np.floating)
            or np.issubdtype(features.dtype, np.integer)
            or features.dtype == np.bool_):
        raise FeatureError(
            f"{source} has dtype {features.dtype}; save real-valued (float) features")
    features = np.array(features, dtype=np.float32, copy=True)
    if features.ndim == 2:
        features = features[:, :, np.newaxis]
    bad = np.count_nonzero(~np.isfinite(features))
    if bad:
        raise FeatureError(
            f"{source} holds {bad} NaN/inf values; recompute or clean the features"
        )
    if image_shape is not None:
        _require_same_aspect(features.shape[:2], tuple(image_shape)[:2], source)
    return features


def resize_features(features, shape_hw):
    """Resize a feature map with bilinear interpolation, any channel count.

    Parameters
    ----------
    features : array_like, shape (H, W, C) or (H, W)
        Feature map; C may exceed 4.
    shape_hw : tuple of int
        Target ``(height, width)``, both >= 1.

    Returns
    -------
    ndarray, shape (height, width, C), float32
        A new array (``cv2.INTER_LINEAR``, channels resized in groups of four).

    Raises
    ------
    FeatureError
        If `features` is invalid (see :func:`check_features`) or `shape_hw` is not
        two positive integers.
    """
    features = check_features(features)
    try:
        height, width = (int(n) for n in shape_hw)
    except (TypeError, ValueError) as exc:
        raise FeatureError(
            f"target shape must be (height, width), got {shape_hw!r}") from exc
    if height < 1 or width < 1:
        raise FeatureError(f"target shape must be positive, got {(height, width)}")
    if features.shape[:2] == (height, width):
        return features
    chunks = []
    for start in range(0, features.shape[2], RESIZE_CHUNK):
        chunk = np.ascontiguousarray(features[:, :, start:start + RESIZE_CHUNK])
        resized = cv2.resize(chunk, (width, height), interpolation=cv2.INTER_LINEAR)
        chunks.append(resized.reshape(height, width, chunk.shape[2]))
    return np.concatenate(chunks, axis=2)


def _read_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FeatureError(
            f"cannot read {path} as a NumPy array: {exc}; save it with numpy.save "
            "(no pickled objects)"
        ) from exc


def _image_features(raster):
    if raster.ndim == 3 and raster.shape[2] in (2, 4):
        raster = raster[:, :, :-1]
    return to_unit_float(raster)


def _require_same_aspect(features_hw, image_hw, source):
    (fh, fw), (ih, iw) = features_hw, image_hw
    scale_y, scale_x = fh / ih, fw / iw
    relative = abs(scale_y - scale_x) / max(scale_y, scale_x)
    # Downscaled maps round their size to whole pixels: allow one pixel of that.
    if relative > ASPECT_TOLERANCE + 1.0 / min(fh, fw, ih, iw):
        raise FeatureError(
            f"{source} is {fw}x{fh} but the image is {iw}x{ih}: the aspect ratios "
            "differ, so the features belong to another image; recompute them for this one"
        )
