"""A run's inputs, prepared once, before any stage runs.

:func:`prepare_image` (a still) and :func:`prepare_shot` (a shot) read and check
everything a run is given besides its parameters' values: the plate, the semantic
inputs (features, a feature network, guides, the person model), and what they decide
of the run: the layer count (:func:`semantic_layers`) and, for a shot, how its features
map to colours (one :class:`~sss_vfx.features.preprocess.FeatureProjection` fitted on
its first frame). The CLI, :func:`~sss_vfx.segment_image`,
:func:`~sss_vfx.segment_video`, the OpenFX server and the farm all start from them, so
a bad input is refused before any output and a farm chunk reduces its features exactly
as the plan did.
"""

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from sss_vfx.errors import OptionError
from sss_vfx.features import network
from sss_vfx.features.preprocess import fit_feature_projection
from sss_vfx.features.sources import (
    FrameCache,
    check_sources,
    frame_guides,
    guided_shot,
    is_person,
    plate_canvas,
    resolve_model,
)
from sss_vfx.io.features import check_features, read_features, resize_features
from sss_vfx.io.images import as_working_image, read_image
from sss_vfx.io.shot import Shot, open_shot
from sss_vfx.options import SegmentationOptions, TemporalOptions
from sss_vfx.pipeline.layers import working_frame, working_size
from sss_vfx.pipeline.limits import check_eigenvectors

log = logging.getLogger("sss_vfx")

__all__ = ["ImageInputs", "ShotInputs", "frame_projection",
           "prepare_image", "prepare_shot", "refuse_prepared", "semantic_layers",
           "shot_options"]


def refuse_prepared(what, **given):
    """Refuse inputs given beside prepared ones (they carry their own).

    Raises
    ------
    OptionError
        Any of ``given`` is not None.
    """
    named = sorted(name for name, value in given.items() if value is not None)
    if named:
        raise OptionError(f"{', '.join(named)} given with a prepared {what}, which "
                          "carries its own; give them to prepare_image/prepare_shot "
                          "instead")


def _fixed_layers(opts, layers, why="", notes=None):
    """Options for a layer count fixed by the objects (guides, feature classes).

    Parameters
    ----------
    opts : SegmentationOptions
    layers : int, objects + 1 (or the feature classes)
    why : str, what fixes the count, for the note
    notes : list of str, optional, gets a note when ``opts.layers`` differs

    Returns
    -------
    SegmentationOptions with ``layers`` set (and ``initial_segments`` at least that)
    """
    if layers == opts.layers:
        return opts
    if notes is not None:
        notes.append(f"{why} give {layers} layers; layers={opts.layers} not used")
    return opts.with_overrides(layers=layers,
                               initial_segments=max(opts.initial_segments, layers))


def semantic_layers(opts, *, objects=0, classes=0, notes=None):
    """The layer count the semantic inputs fix: one layer per guided object and one for
    the rest; else, for features that are a few classes (a network's masks, see
    :mod:`~sss_vfx.features.classes`) unless ``feature_classes`` is off, one layer per
    class; else ``opts.layers``.

    Parameters
    ----------
    opts : SegmentationOptions
    objects : int
        Guided objects (0 without guides).
    classes : int
        Classes the features are (0 when they are not classes).
    notes : list of str, optional
        Gets a note when the count differs from ``opts.layers``.

    Returns
    -------
    SegmentationOptions
    """
    if objects:
        return _fixed_layers(opts, objects + 1, f"{objects} guided object(s) and the rest",
                            notes)
    if classes and opts.feature_classes == "auto":
        return _fixed_layers(opts, classes, "the features are few classes (a network's "
                            f"masks): {classes} classes", notes)
    return opts


def shot_options(options=None, temporal=None, **overrides):
    """The :class:`SegmentationOptions` and :class:`TemporalOptions` of a shot.

    Parameters
    ----------
    options : SegmentationOptions, optional
    temporal : TemporalOptions or bool, optional
        A bool sets ``TemporalOptions.temporal``.
    **overrides
        Fields of either class.

    Returns
    -------
    (SegmentationOptions, TemporalOptions)

    Raises
    ------
    OptionError
        An unknown or out-of-range option.
    """
    if isinstance(temporal, bool):
        overrides["temporal"] = temporal
        temporal = None
    method_names = {f.name for f in dataclasses.fields(SegmentationOptions)}
    linking_names = {f.name for f in dataclasses.fields(TemporalOptions)}
    unknown = sorted(set(overrides) - method_names - linking_names)
    if unknown:
        raise OptionError(f"unknown option(s) {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(method_names | linking_names))}")
    opts = (options or SegmentationOptions()).with_overrides(
        **{k: v for k, v in overrides.items() if k in method_names})
    linking = (temporal or TemporalOptions()).with_overrides(
        **{k: v for k, v in overrides.items() if k in linking_names})
    return opts, linking


@dataclass
class ImageInputs:
    """A still's inputs, read and checked.

    Attributes
    ----------
    plate : (H, W, 3) float32 in [0, 1]
        The display-referred working copy the affinities use.
    values : (H, W, 3) float32
        The plate's own values (its colour space), for the layer colours.
    header : PlateHeader or None
        A file's windows, pixel aspect, time code and colour space; None for an array.
    features : (H, W, C) float array or None
        Raw features at the plate's size (from a file, an array or a network).
    guides : Guides or None
        The objects' guides at the plate's size (guides, the person model).
    options : SegmentationOptions
        The run's options; the layer count is fixed on the working frame
        (:func:`semantic_layers`).
    notes : list of str
        What the caller should know of the inputs (alpha ignored, features resized...).
    """

    plate: np.ndarray
    values: np.ndarray
    header: object
    features: object
    guides: object
    options: SegmentationOptions
    notes: list = field(default_factory=list)

    @property
    def objects(self):
        """The layer names when guided (the objects, then ``'rest'``), else ``()``."""
        return () if self.guides is None else tuple(self.guides.names) + ("rest",)


def prepare_image(image, features=None, *, guides=None, guide_names=None,
                  feature_model=None, options=None, compute=None, plate=None,
                  **overrides):
    """Read and check a still's inputs (see :func:`~sss_vfx.segment_image`).

    Parameters
    ----------
    image, features, guides, guide_names, feature_model, options, plate, **overrides
        As :func:`~sss_vfx.segment_image`.
    compute : Compute, optional
        Where a TorchScript feature model runs (its GPU when it has one).

    Returns
    -------
    ImageInputs

    Raises
    ------
    InputError, FeatureError, OptionError
        As :func:`~sss_vfx.segment_image`, before any stage runs.
    """
    opts = (options or SegmentationOptions()).with_overrides(**overrides)
    check_sources(features, guides, feature_model)
    notes = []
    pixels, values, header = _load_plate(image, notes, plate)
    check_eigenvectors(opts, pixels.shape[:2])
    person = is_person(features)
    found = frame_guides(pixels, guides, guide_names, person, canvas=plate_canvas(header))
    if found is not None:
        feats = None
    elif feature_model is not None:
        feats = network.network_features(pixels, resolve_model(feature_model, compute))
    else:
        feats = _load_features(None if person else features, pixels.shape[:2], notes)
    return ImageInputs(plate=pixels, values=values, header=header, features=feats,
                       guides=found, options=opts, notes=notes)


def _load_plate(image, notes, plate):
    """(working copy, the plate's own values, PlateHeader) of an array or a file."""
    if isinstance(image, np.ndarray):
        pixels = as_working_image(image)
        return pixels, pixels, None
    data = read_image(image, plate=plate)
    if data.had_alpha:
        notes.append("the input's alpha channel was ignored")
    notes.extend(data.notes)
    if not np.array_equal(data.pixels, data.values):
        notes.append(f"plate in {data.colour_space}: affinities computed on an OCIO "
                     "working copy, layer colours in the plate's colour space")
    return data.pixels, data.values, data.header


def _load_features(features, shape_hw, notes):
    if features is None:
        return None
    raw = read_features(features) if not isinstance(features, np.ndarray) else features
    raw = check_features(raw, shape_hw)
    if raw.shape[:2] != tuple(shape_hw):
        message = (f"features of size {raw.shape[1]}x{raw.shape[0]} resized to the image's "
                   f"{shape_hw[1]}x{shape_hw[0]}")
        log.warning(message)
        notes.append(message)
        raw = resize_features(raw, shape_hw)
    return raw


@dataclass
class ShotInputs:
    """A shot's inputs, opened and checked, and what they fix for the whole shot.

    Attributes
    ----------
    shot : Shot
        Its ``frames()`` yield ``(number, plate, extra)``: ``extra`` the frame's
        :class:`~sss_vfx.io.guides.Guides` (guides, the person model), its raw
        features (a file, a network), or None.
    options : SegmentationOptions
        With the layer count the semantic inputs fix (:func:`semantic_layers`).
    temporal : TemporalOptions
    objects : tuple of str
        The layer names when guided (the objects, then ``'rest'``), else ``()``.
    projection : FeatureProjection or None
        How the shot's features map to colours (and their classes), fitted on its
        first frame; None without features.
    notes : tuple of str
        What every frame's result says of the inputs (the features' classes).
    """

    shot: Shot
    options: SegmentationOptions
    temporal: TemporalOptions
    objects: tuple = ()
    projection: object = None
    notes: tuple = ()

    def subset(self, numbers):
        """These inputs on the frames ``numbers`` of the shot only (the same options
        and projection)."""
        return dataclasses.replace(self, shot=self.shot.subset(numbers))


def prepare_shot(source, features=None, *, guides=None, guide_names=None,
                 feature_model=None, mean=None, std=None, cache=None, cache_key="",
                 compute=None, options=None, temporal=None, frames=None, start=0,
                 allow_missing=False, plate=None, projection=None, **overrides):
    """Open a shot with its semantic inputs, checked before any frame is computed.

    Parameters
    ----------
    source, features, guides, guide_names, feature_model, frames, start, allow_missing
        As :func:`~sss_vfx.segment_video`.
    mean, std : sequence of 3 float, optional
        The feature model's input normalisation.
    cache : str, os.PathLike or FrameCache, optional
        Folder keeping each frame's model outputs (person masks, network features).
    cache_key : str
        The run key the cache belongs to.
    compute : Compute, optional
        Where a TorchScript feature model runs.
    options : SegmentationOptions, optional
    temporal : TemporalOptions or bool, optional
    plate : PlateOptions, optional
        As :func:`~sss_vfx.io.shot.open_shot`.
    projection : FeatureProjection, optional
        The shot's feature projection when already fitted (a farm chunk passes the
        plan's); else fitted here on the first frame.
    **overrides
        Fields of :class:`SegmentationOptions` or :class:`TemporalOptions`.

    Returns
    -------
    ShotInputs

    Raises
    ------
    InputError, FeatureError, OptionError
        Bad source, features, guides or options.
    """
    opts, linking = shot_options(options, temporal, **overrides)
    check_sources(features, guides, feature_model)
    person = is_person(features)
    if isinstance(source, Shot):
        shot = source
    else:
        shot = open_shot(source, frames=frames, start=start,
                         features=None if person else features, allow_missing=allow_missing,
                         plate=plate)
    model = None if feature_model is None else resolve_model(feature_model, compute,
                                                             mean=mean, std=std)
    keep = cache if isinstance(cache, FrameCache) else FrameCache(cache, cache_key) \
        if cache is not None else FrameCache()
    shot, objects = guided_shot(
        shot, guides=guides, names=guide_names, person=person, model=model, cache=keep,
        working_size=lambda shape: working_size(shape, opts.max_pixels))
    if objects:
        return ShotInputs(shot=shot, options=semantic_layers(opts, objects=len(objects)),
                          temporal=linking, objects=tuple(objects) + ("rest",))
    if projection is None and shot.has_features:
        _, first, raw = next(iter(shot.frames()))
        projection = frame_projection(first, raw, opts.max_pixels)
    points = None if projection is None else projection.class_points
    notes = ()
    if points is not None and opts.feature_classes == "auto":
        opts = semantic_layers(opts, classes=len(points))
        notes = (f"the features are {len(points)} classes (a network's masks): one "
                 "layer per class",)
    return ShotInputs(shot=shot, options=opts, temporal=linking, projection=projection,
                      notes=notes)


def frame_projection(plate, raw, max_pixels):
    """The feature projection fitted on one frame at its working size.

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
    raw : (H', W', C) float array, the frame's raw features (resized to the plate)
    max_pixels : int

    Returns
    -------
    FeatureProjection
    """
    if raw.shape[:2] != plate.shape[:2]:
        raw = resize_features(raw, plate.shape[:2])
    first = working_frame(plate, None, max_pixels)
    small = resize_features(raw, first.image.shape[:2]) if first.downscaled else raw
    return fit_feature_projection(small, first.image)
