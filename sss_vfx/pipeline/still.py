"""The still-image pipeline: DESIGN section 1 from plate to soft layers."""

import logging
from dataclasses import dataclass, field

import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.accel.stages import pipeline_stages
from sss_vfx.features.sources import (
    check_sources,
    frame_guides,
    is_person,
    plate_canvas,
    resolve_model,
)
from sss_vfx.io.features import check_features, read_features, resize_features
from sss_vfx.io.images import as_working_image, read_image
from sss_vfx.options import SegmentationOptions
from sss_vfx.pipeline.layers import (
    final_layers,
    fixed_layers,
    frame_laplacian,
    soft_layers,
    stack_work,
    working_frame,
    working_size,
)
from sss_vfx.pipeline.limits import check_eigenvectors
from sss_vfx.progress import StageClock

log = logging.getLogger("sss_vfx")

__all__ = ["STAGES", "Segmentation", "segment_image", "working_size"]

STAGES = pipeline_stages()


@dataclass
class Segmentation:
    """Soft layers of one image and the intermediate results that produced them.

    Attributes
    ----------
    alphas : (H, W, K) float32
        Layer opacities in [0, 1] at the plate's resolution, summing to 1 per pixel,
        largest layer first (with guides: in the guides' order, the rest last).
    image : (H, W, 3) float32
        The display-referred working image of the plate.
    working_image : (h, w, 3) float64
        The image the spectral stages ran on (the plate itself when not downscaled).
    features : (h, w, 3) float64 or None
        Preprocessed features at working resolution.
    laplacian : (h*w, h*w) scipy.sparse.csr_matrix
    eigenvalues : (M,) float64, eigenvectors : (h*w, M) float64
    initial_segments : (h, w) int64
        Hard k-means segments that started the constrained sparsification.
    soft_segments : (h, w, S) float64
        Result of the constrained sparsification.
    grouped : (h, w, K) float64
        Soft segments summed by group.
    working_alphas : (h, w, K) float64
        Result of the relaxed sparsification at working resolution.
    options : SegmentationOptions
    colours : (H, W, K, 3) float32 or None
        Premultiplied layer colours summing to the plate (DESIGN step 8); None when not
        asked for.
    timings : dict of str to float, seconds per stage
    peak_rss : dict of str to int, process peak memory after each stage, bytes
    notes : list of str
        Things the caller should know (alpha dropped, features resized...).
    device : str
        The device the run used (``'numpy'`` after an ``auto`` fallback).
    stage_devices : dict of str to str
        Where each stage ran (see :attr:`~sss_vfx.accel.compute.Compute.ran`).
    objects : tuple of str
        With guides (or the person model): the name of each layer, the objects in the
        guides' order then ``'rest'``; empty otherwise.
    plate_header : PlateHeader or None
        A file's windows, pixel aspect, time code and colour space (the colour space
        of ``colours``), for the outputs; None for an array.
    """

    alphas: np.ndarray
    image: np.ndarray
    working_image: np.ndarray
    features: object
    laplacian: object
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    initial_segments: np.ndarray
    soft_segments: np.ndarray
    grouped: np.ndarray
    working_alphas: np.ndarray
    options: SegmentationOptions
    colours: object = None
    timings: dict = field(default_factory=dict)
    peak_rss: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    device: str = "numpy"
    stage_devices: dict = field(default_factory=dict)
    gpu_peak_bytes: dict = field(default_factory=dict)
    objects: tuple = ()
    plate_header: object = None


def segment_image(image, features=None, *, guides=None, guide_names=None,
                  feature_model=None, options=None, device=None, progress=None,
                  colours=True, plate=None, **overrides):
    """Split an image into soft layers (Semantic Soft Segmentation).

    Parameters
    ----------
    image : (H, W, 3) float array in [0, 1], (H, W) grey, or a path
        PNG/JPEG/TIFF (8/16 bit) or EXR (scene-linear, converted to display-referred).
    features : (H, W, C) float array, path or ``'person'``, optional
        Semantic features of any channel count (image, ``.npy`` or ``.exr``). Without
        them the semantic affinity is off and layers follow colour alone.
        ``'person'`` runs the built-in person model (extra ``sss_vfx[people]``) and
        uses its mask as a guide named ``'person'``.
    guides : path, sequence of paths, (H, W, O) array or Guides, optional
        Rough per-object mattes (roto, ID/label pass, several files, Cryptomatte; see
        :func:`~sss_vfx.io.guides.read_guides`). Each object gets a layer, in the
        guides' order, then the rest of the frame (``layers`` is then not used).
    guide_names : str, optional
        Object patterns to pick, comma-separated (``'hero,car*'``); required for a
        Cryptomatte. For an array, one name per channel.
    feature_model : path or FeatureModel, optional
        A TorchScript (``.pt``, extra ``sss_vfx[gpu]``) or ONNX (``.onnx``, extra
        ``sss_vfx[onnx]``) network computing the features from the image (see
        :func:`~sss_vfx.features.network.load_feature_model`).
    options : SegmentationOptions, optional
        Every parameter of the method; the paper's defaults when None.
    device : str, Device or Compute, optional
        Where the stages run: ``'auto'``, ``'numpy'``, ``'opencl'``,
        ``'opencl:<platform>:<device>'``, ``'cuda'``, ``'cuda:<n>'`` or ``'torch:cpu'``;
        None reads ``SSS_VFX_DEVICE``, else ``'auto'``. Not a parameter of the method:
        layers agree across devices within float tolerance.
    progress : callable(stage: str, done: int, total: int), optional
        Told as each stage starts.
    colours : bool, optional
        Also compute the premultiplied layer colours (``Segmentation.colours``), in
        the plate's own colour space (they sum to the file's values).
    plate : PlateOptions, optional
        For a path: its colour space, the OCIO config, the working view, the EXR part
        (:class:`~sss_vfx.options.PlateOptions`).
    **overrides
        Fields of :class:`~sss_vfx.options.SegmentationOptions` replacing those of
        ``options``.

    Returns
    -------
    Segmentation
        With guides, ``objects`` names the layers (the objects, then ``'rest'``).

    Raises
    ------
    InputError
        Unreadable, unsupported or too small image.
    FeatureError
        Features or guides with NaN/inf, of another aspect ratio or empty; too many
        objects; a model that does not load or returns a bad output; a missing extra.
    OptionError
        Unknown or out-of-range option.
    DeviceError
        Unknown device spec, or a failure on a device asked for explicitly.

    Examples
    --------
    >>> from sss_vfx.synthetic import two_region_image
    >>> img, _ = two_region_image((32, 32))
    >>> seg = segment_image(img, eigenvectors=20, initial_segments=6, layers=2)
    >>> seg.alphas.shape
    (32, 32, 2)
    """
    opts = (options or SegmentationOptions()).with_overrides(**overrides)
    check_sources(features, guides, feature_model)
    compute = Compute.resolve(device)
    notes = []
    plate, values, header = _load_plate(image, notes, plate)
    check_eigenvectors(opts, plate.shape[:2])
    person = is_person(features)
    found = frame_guides(plate, guides, guide_names, person, canvas=plate_canvas(header))
    if found is not None:
        opts = fixed_layers(opts, len(found.names) + 1,
                            f"{len(found.names)} guided object(s) and the rest", notes)
        feats = None
    elif feature_model is not None:
        from sss_vfx.features.network import network_features
        feats = network_features(plate, resolve_model(feature_model, compute))
    else:
        feats = _load_features(None if person else features, plate.shape[:2], notes)
    seg = _segment(plate, feats, opts, notes, StageClock(STAGES, progress), compute,
                   colours, None if found is None else found.masks, values=values)
    seg.plate_header = header
    if found is not None:
        seg.objects = tuple(found.names) + ("rest",)
    return seg


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


def _segment(plate, raw_features, opts, notes, clock, compute, colours, guides=None, *,
             values=None):
    frame = working_frame(plate, raw_features, opts.max_pixels, guides=guides,
                          classes=opts.feature_classes == "auto")
    if guides is None and frame.probabilities is not None:
        opts = fixed_layers(opts, frame.probabilities.shape[2],
                            "the features are few classes (a network's masks): "
                            f"{frame.probabilities.shape[2]} classes", notes)
    h, w = frame.image.shape[:2]
    if frame.downscaled:
        notes.append(f"spectral stages ran at {w}x{h} (max_pixels={opts.max_pixels})")
    work = stack_work([frame], opts)
    clock.plan(work, [s for s in STAGES if (s != "refinement" or work["refine"])
                      and (s != "colours" or colours)])
    lap = frame_laplacian(frame, opts, compute, clock)
    result = soft_layers(lap, [frame], opts, compute, clock)
    if result.note:
        log.warning(result.note)
        notes.append(result.note)
    alphas = final_layers(result.layers, frame, opts, compute, clock)
    premultiplied = None
    if colours:
        with clock.stage("colours"):
            premultiplied = compute.colours(plate if values is None else values, alphas)
    return Segmentation(
        alphas=alphas, image=plate, working_image=frame.image, features=frame.features,
        laplacian=lap, eigenvalues=result.eigenvalues, eigenvectors=result.eigenvectors,
        initial_segments=result.initial_segments.reshape(h, w),
        soft_segments=result.soft_segments.reshape(h, w, -1),
        grouped=result.grouped.reshape(h, w, -1),
        working_alphas=result.layers.reshape(h, w, -1), options=opts,
        colours=premultiplied, timings=clock.timings, peak_rss=clock.peak_rss, notes=notes,
        device=compute.spec, stage_devices=dict(compute.ran),
        gpu_peak_bytes=dict(compute.gpu_peak_bytes))
