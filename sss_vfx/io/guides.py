"""Reading guides: rough per-object mattes (roto, ID passes, Cryptomatte) as (H, W, O).

A compositor's guides come as

* one image or EXR with **one channel per object** (a grey roto matte, an RGB(A) image
  with a shape per channel, a multi-channel EXR); channels identical to an earlier one
  (RGBA renders of one roto) count once;
* a **label/ID image**: one channel, one object per distinct value, 0 = no object (a
  segmentation tool's label map, an object-index pass);
* **several files**, each giving one or more objects, in the order given;
* a **Cryptomatte** EXR, whose objects are picked by name patterns (``'hero,car*'``,
  one object per pattern).

The order of the objects is the order of the files, then of the channels (sorted by
name in an EXR), label values or patterns: it fixes the order of the layers, so a shot
keeps it from frame to frame. Values need not be exact: the features stage expects
guides off by pixels, polygonal and not summing to one.
"""

import dataclasses
import fnmatch
import os
import pathlib
import re

import cv2
import numpy as np

from sss_vfx.errors import FeatureError, InputError, OptionError
from sss_vfx.io.cryptomatte import cryptomatte_layers, object_mattes, parse_patterns
from sss_vfx.io.exr import _open_exr
from sss_vfx.io.features import check_features
from sss_vfx.io.images import read_raster, require_file
from sss_vfx.io.plates import on_canvas, windows_of_header

__all__ = ["GUIDE_EXTENSIONS", "GUIDE_KINDS", "MAX_OBJECTS", "Guides", "check_guides",
           "label_names", "read_guides"]

GUIDE_EXTENSIONS = (".png", ".tif", ".tiff", ".exr", ".npy")
GUIDE_KINDS = ("auto", "mattes", "labels", "cryptomatte")
#: Each object becomes a layer; more than this is an ID pass to pick objects from.
MAX_OBJECTS = 32
# A label map's objects are flat plateaus; a matte has one plateau and soft edges made
# of many rare values. A value is a plateau when it holds this share of the object pixels.
_PLATEAU_SHARE = 0.02
# A label map holds nearly all its non-zero pixels on plateaus.
_LABEL_COVERAGE = 0.98


@dataclasses.dataclass(frozen=True)
class Guides:
    """Per-object guide mattes of one frame.

    Attributes
    ----------
    masks : ndarray, shape (H, W, O), float32
        One matte per object, values in [0, 1]; they need not sum to one.
    names : tuple of str
        One name per object, in layer order.
    kind : str
        How they were read: ``'mattes'``, ``'labels'``, ``'cryptomatte'``, ``'array'``,
        or several of these joined by ``'+'`` for several files.
    """

    masks: np.ndarray
    names: tuple
    kind: str


def read_guides(paths, *, names=None, kind="auto", image_shape=None, empty_ok=False,
                canvas=None):
    """Read guides from one or several files.

    Parameters
    ----------
    paths : str, os.PathLike or sequence of them
        PNG/TIFF (8/16 bit or float), EXR or ``.npy`` (``(H, W)`` or ``(H, W, O)``).
    names : str or sequence of str, optional
        Shell-style patterns picking objects, comma-separated (``'hero,car*'``); each
        pattern becomes one object, the union of what it matches. Required for a
        Cryptomatte; for other guides they match channel names (``'R'``, ``'G'``,
        ``'hero.A'``...), label values (``'3'``) or, for a one-matte file, its stem
        less a frame number (``hero.1001.png`` is ``'hero'``). None keeps every
        object.
    kind : {'auto', 'mattes', 'labels', 'cryptomatte'}, optional
        How to read each file. ``'auto'``: Cryptomatte when the EXR header declares
        one; a single-channel file whose values are flat plateaus (at least two, over
        98 % of its non-zero pixels) is a label map; anything else is one matte per
        channel. Say ``'labels'`` for a colour ID pass (one object per distinct colour)
        or ``'mattes'`` to force one matte per channel.
    image_shape : tuple of int, optional
        ``(H, W)`` of the image: guides of another size with the same aspect ratio
        are resized (bilinear); another aspect ratio is an error.
    empty_ok : bool, optional
        Accept guides without any object, and names matching nothing (each then an
        empty matte): a shot's frame the objects have left, or not yet entered. A
        still's guides must hold one, and every name must match.
    canvas : (x, y, width, height), optional
        The plate's canvas when it has windows (overscan): EXR guides are placed on it
        by their data window's coordinates. Default: each EXR on its own canvas (the
        union of its windows).

    Returns
    -------
    Guides
        ``masks`` ``(H, W, O)`` float32 in [0, 1], 1 <= O <= ``MAX_OBJECTS``.

    Raises
    ------
    FeatureError
        If a file is missing or unreadable, files disagree in size, the guides hold no
        object anywhere, a label map has too many values, a Cryptomatte has no
        manifest or an unknown name, or the aspect ratio differs from the image's.
    OptionError
        If `kind` or `names` is invalid.

    Examples
    --------
    >>> guides = read_guides(["hero.png", "car.png"], image_shape=(1080, 1920))  # doctest: +SKIP
    >>> guides.masks.shape, guides.names  # doctest: +SKIP
    ((1080, 1920, 2), ('hero', 'car'))
    """
    if kind not in GUIDE_KINDS:
        raise OptionError(f"guides kind must be one of {', '.join(GUIDE_KINDS)}, got {kind!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise OptionError("guides: give at least one file")
    patterns = None if names is None else parse_patterns(names, parameter="guides names")
    pieces = [_read_one(path, kind, patterns if len(paths) == 1 else None, empty_ok,
                        canvas)
              for path in paths]
    shapes = {masks.shape[:2] for masks, _, _ in pieces}
    if len(shapes) > 1:
        sizes = ", ".join(f"{pathlib.Path(p).name} {m.shape[1]}x{m.shape[0]}"
                          for p, (m, _, _) in zip(paths, pieces))
        raise FeatureError(f"guide files differ in size ({sizes}); render them at one size")
    masks = np.concatenate([m for m, _, _ in pieces], axis=2)
    all_names = [n for _, names_, _ in pieces for n in names_]
    if len(paths) > 1:
        all_names = _unique(all_names)
        if patterns is not None:
            masks, all_names = _select(masks, all_names, patterns, "the guide files",
                                       empty_ok)
    kinds = "+".join(dict.fromkeys(k for _, _, k in pieces))
    return check_guides(masks, image_shape, names=all_names, kind=kinds,
                        source=", ".join(str(p) for p in paths), empty_ok=empty_ok)


def check_guides(masks, image_shape=None, *, names=None, kind="array", source="guides",
                 empty_ok=False):
    """Validate guide mattes and fit them to the image size.

    Parameters
    ----------
    masks : array_like, shape (H, W) or (H, W, O)
        Mattes, real-valued, finite; values are clipped to [0, 1].
    image_shape : tuple of int, optional
        ``(H, W)`` of the image (see :func:`read_guides`).
    names : sequence of str, optional
        One name per object; ``'object1'``, ``'object2'``... when None.
    kind : str, optional
    source : str, optional
        Name for error messages.
    empty_ok : bool, optional
        See :func:`read_guides`.

    Returns
    -------
    Guides

    Raises
    ------
    FeatureError
        If the mattes are not 2-D/3-D, hold NaN/inf, have more than ``MAX_OBJECTS``
        objects, are empty everywhere (unless ``empty_ok``), or have another aspect
        ratio than the image.
    """
    masks = check_features(masks, image_shape, source=source)
    objects = masks.shape[2]
    if objects > MAX_OBJECTS:
        raise FeatureError(
            f"{source} holds {objects} objects, more than the {MAX_OBJECTS} layers sss_vfx "
            "makes; pick the objects you need with the guides names (e.g. 'hero,car*')")
    names = [f"object{i + 1}" for i in range(objects)] if names is None else list(names)
    if len(names) != objects:
        raise OptionError(f"guides: {len(names)} names for {objects} objects; give one each")
    masks = np.clip(masks, 0.0, 1.0)
    if image_shape is not None and masks.shape[:2] != tuple(image_shape)[:2]:
        height, width = tuple(image_shape)[:2]
        masks = np.clip(cv2.resize(masks, (width, height), interpolation=cv2.INTER_LINEAR)
                        .reshape(height, width, objects), 0.0, 1.0)
    if not empty_ok and not np.any(masks > 0):
        raise FeatureError(
            f"{source} holds no object anywhere (every value is 0); draw at least one shape "
            "or check that the right channels/names were picked")
    return Guides(masks=masks.astype(np.float32), names=tuple(names), kind=kind)


def _read_one(path, kind, patterns, empty_ok=False, canvas=None):
    """(masks (H, W, O) float32, names, kind) of one file; with ``empty_ok`` a pattern
    matching nothing gives an empty matte (an object absent from this frame)."""
    path = require_file(path, error=FeatureError, what="guides")
    extension = path.suffix.lower()
    if extension not in GUIDE_EXTENSIONS:
        raise FeatureError(f"{path}: unsupported guides type '{path.suffix}'; save them as "
                           f"one of {', '.join(GUIDE_EXTENSIONS)}")
    if extension == ".exr":
        channels, header = _exr_channels(path, canvas)
        crypto = cryptomatte_layers(header, path)
        if kind == "cryptomatte" or (kind == "auto" and crypto):
            return _cryptomatte(path, channels, crypto, patterns, empty_ok)
        values, names = _plain_exr(channels, crypto)
        scale = None
    else:
        if kind == "cryptomatte":
            raise FeatureError(f"{path} is not an EXR, so it cannot be a Cryptomatte; give "
                               "the Cryptomatte EXR")
        values, names, scale = _raster_or_npy(path)
    _require_finite(values, path)
    if kind == "labels" or (kind == "auto" and values.shape[2] == 1 and _looks_like_labels(values)):
        return (*_labels(values, path, patterns, empty_ok), "labels")
    if values.shape[2] == 1:
        # A frame of a sequence (hero.1001.png) is named without its frame number.
        names = [re.sub(r"[._-]\d+$", "", path.stem) or path.stem]
    masks = values / scale if scale else values
    masks, names = _drop_repeated(masks, names)
    if patterns is not None:
        masks, names = _select(masks, names, patterns, path, empty_ok)
    return masks.astype(np.float32), names, "mattes"


def _exr_channels(path, canvas=None):
    try:
        exr_file = _open_exr(path)
    except InputError as exc:
        raise FeatureError(str(exc)) from exc
    channels = {n: np.array(c.pixels, np.float32) for n, c in exr_file.channels().items()}
    if len({c.shape for c in channels.values()}) > 1:
        raise FeatureError(f"{path} has subsampled channels; write full-resolution channels")
    # A Roto's bounding box (Nuke stores it as the data window) lands where the plate
    # has it: on the canvas of the data and display windows, 0 around it.
    header = exr_file.header()
    windows = windows_of_header(header)
    return {n: on_canvas(c, windows, canvas) for n, c in channels.items()}, header


def label_names(paths):
    """Every label of a shot's label maps, as :func:`read_guides` names them.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        One label map per frame (PNG/TIFF/EXR/``.npy``).

    Returns
    -------
    list of str
        The non-zero values (or colours) found on any frame, in increasing order: the
        shot's objects, so that one entering late has its layer from the first frame.

    Raises
    ------
    FeatureError
        If a file is unreadable, or the shot holds more than ``MAX_OBJECTS`` labels.
    """
    found = set()
    for path in paths:
        path = require_file(path, error=FeatureError, what="guides")
        if path.suffix.lower() == ".exr":
            channels, header = _exr_channels(path)
            values, _ = _plain_exr(channels, cryptomatte_layers(header, path))
        else:
            values, _, _ = _raster_or_npy(path)
        _require_finite(values, path)
        found.update(map(tuple, np.unique(_label_pixels(values), axis=0)))
    labels = sorted(v for v in found if any(v))
    if len(labels) > MAX_OBJECTS:
        raise FeatureError(
            f"the guides' label maps hold {len(labels)} distinct non-zero values over the "
            f"shot; as ID images that is more than the {MAX_OBJECTS} objects sss_vfx makes "
            "layers for: pick values with the guides names (e.g. '1,2,7')")
    return [_label_name(v) for v in labels]


def _plain_exr(channels, crypto):
    """Values (H, W, C) float32 and channel names of an EXR's channels, less the
    rank channels of its Cryptomattes (IDs, not mattes)."""
    for layer in crypto:
        channels = {n: c for n, c in channels.items() if not n.startswith(layer.name)}
    names = sorted(channels)
    return np.stack([channels[n] for n in names], axis=-1), names


def _label_pixels(values):
    """(H*W, C') rows whose distinct values are the labels: an RGB(A) ID pass by colour."""
    channels = values.shape[2]
    flat = values.reshape(-1, channels)
    return flat[:, :3] if channels in (3, 4) else flat


def _raster_or_npy(path):
    """Values (H, W, C) as stored (float32), channel names, and the full-scale value."""
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise FeatureError(f"cannot read {path} as a NumPy array: {exc}; save it with "
                               "numpy.save") from exc
        if values.ndim not in (2, 3) or not (np.issubdtype(values.dtype, np.number)
                                             or values.dtype == np.bool_):
            raise FeatureError(f"{path} has shape {values.shape} and dtype {values.dtype}; "
                               "save (H, W) or (H, W, O) numbers")
        values = values.astype(np.float32)
        values = values[..., None] if values.ndim == 2 else values
        return values, [str(i + 1) for i in range(values.shape[2])], None
    raster = read_raster(path, error=FeatureError)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(raster.dtype)
    values = raster.astype(np.float32)
    values = values[..., None] if values.ndim == 2 else values
    letters = {1: ["Y"], 2: ["Y", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}
    names = letters.get(values.shape[2], [str(i + 1) for i in range(values.shape[2])])
    return values, names, scale


def _looks_like_labels(values):
    flat = values[..., 0].ravel()
    nonzero = flat[flat != 0]
    if nonzero.size == 0 or np.any(nonzero != np.round(nonzero)):
        return False
    _, counts = np.unique(nonzero, return_counts=True)
    plateaus = counts[counts >= _PLATEAU_SHARE * nonzero.size]
    return len(plateaus) >= 2 and plateaus.sum() >= _LABEL_COVERAGE * nonzero.size


def _labels(values, path, patterns, empty_ok=False):
    """One binary matte per distinct non-zero value (or colour), in increasing order."""
    height, width, _ = values.shape
    flat = _label_pixels(values)
    uniques, inverse = np.unique(flat, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    zero = np.all(uniques == 0, axis=1)
    labels = [i for i in range(len(uniques)) if not zero[i]]
    names = [_label_name(uniques[i]) for i in labels]
    if patterns is not None:
        keep = []
        for pattern in patterns:
            matched = [i for i, n in zip(labels, names) if fnmatch.fnmatchcase(n, pattern)]
            if not matched and not empty_ok:
                raise FeatureError(f"{path}: no label matches {pattern!r}; its values are "
                                   f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}")
            keep.append((pattern, matched))
    else:
        if len(labels) > MAX_OBJECTS:
            raise FeatureError(
                f"{path} has {len(labels)} distinct non-zero values; as an ID image that is "
                f"more than the {MAX_OBJECTS} objects sss_vfx makes layers for: pick values "
                "with the guides names (e.g. '1,2,7'), or, if it is a soft matte, read it "
                "as mattes (kind='mattes')")
        keep = [(n, [i]) for i, n in zip(labels, names)]
    masks = np.zeros((height * width, len(keep)), np.float32)
    for column, (_, members) in enumerate(keep):
        masks[np.isin(inverse, members), column] = 1.0
    return masks.reshape(height, width, len(keep)), [name for name, _ in keep]


def _label_name(value):
    parts = [str(int(v)) if float(v).is_integer() else f"{float(v):g}" for v in value]
    return parts[0] if len(parts) == 1 else "/".join(parts)


def _cryptomatte(path, channels, layers, patterns, empty_ok=False):
    if not layers:
        raise FeatureError(f"{path} has no Cryptomatte metadata (cryptomatte/<key>/name); "
                           "export the Cryptomatte with its header, or read it as mattes")
    if patterns is None:
        raise FeatureError(f"{path} is a Cryptomatte: pick its objects by name with the "
                           "guides names (e.g. 'hero,car*')")
    # Several types (object, material...): the patterns may name the type first,
    # 'CryptoMaterial:skin*'; otherwise the first type (by name) is used.
    by_name = {layer.name: layer for layer in layers}
    groups = {}
    for pattern in patterns:
        type_name, _, name = pattern.rpartition(":")
        if type_name and type_name not in by_name:
            raise FeatureError(f"{path} has no Cryptomatte type {type_name!r}; it has "
                               f"{', '.join(by_name)}")
        groups.setdefault(type_name or layers[0].name, []).append((pattern, name))
    columns, names = {}, []
    for type_name, items in groups.items():
        mattes = object_mattes(channels, by_name[type_name], [n for _, n in items],
                               source=str(path), absent_ok=empty_ok)
        for index, (pattern, _) in enumerate(items):
            columns[pattern] = mattes[..., index]
    names = list(patterns)
    return np.stack([columns[p] for p in names], axis=-1), names, "cryptomatte"


def _drop_repeated(masks, names):
    keep = []
    for index in range(masks.shape[2]):
        if not any(np.array_equal(masks[..., index], masks[..., k]) for k in keep):
            keep.append(index)
    return masks[..., keep], [names[i] for i in keep]


def _select(masks, names, patterns, source, empty_ok=False):
    columns, chosen = [], []
    for pattern in patterns:
        matched = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
        if not matched and empty_ok:
            columns.append(np.zeros(masks.shape[:2], masks.dtype))
            chosen.append(pattern)
            continue
        if not matched:
            raise FeatureError(f"{source}: no object matches {pattern!r}; the objects are "
                               f"{', '.join(names)}")
        columns.append(np.max(masks[..., matched], axis=2))
        chosen.append(pattern)
    return np.stack(columns, axis=-1), chosen


def _unique(names):
    seen, result = {}, []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return result


def _require_finite(values, path):
    bad = np.count_nonzero(~np.isfinite(values))
    if bad:
        raise FeatureError(f"{path} holds {bad} NaN/inf values; clean the guides first")
