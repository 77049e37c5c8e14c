"""The still-image pipeline: DESIGN section 1 from plate to soft layers."""

import logging
from dataclasses import dataclass, field

import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.accel.stages import pipeline_stages
from sss_vfx.options import SegmentationOptions
from sss_vfx.pipeline.inputs import (
    ImageInputs,
    prepare_image,
    refuse_prepared,
    semantic_layers,
)
from sss_vfx.pipeline.layers import (
    final_layers,
    frame_laplacian,
    soft_layers,
    stack_work,
    working_frame,
    working_size,
)
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
    image : (H, W, 3) float array in [0, 1], (H, W) grey, a path, or ImageInputs
        PNG/JPEG/TIFF (8/16 bit) or EXR (scene-linear, converted to display-referred);
        or inputs already read by :func:`~sss_vfx.pipeline.inputs.prepare_image` (then
        ``features``, ``guides``, ``guide_names``, ``feature_model``, ``options``,
        ``plate`` and overrides are theirs and must not be given).
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
    >>> from sss_vfx.data import two_region_image
    >>> img, _ = two_region_image((32, 32))
    >>> seg = segment_image(img, eigenvectors=20, initial_segments=6, layers=2)
    >>> seg.alphas.shape
    (32, 32, 2)
    """
    compute = Compute.resolve(device)
    if isinstance(image, ImageInputs):
        refuse_prepared("image", features=features, guides=guides,
                        guide_names=guide_names, feature_model=feature_model,
                        options=options, plate=plate, **overrides)
        inputs = image
    else:
        inputs = prepare_image(image, features, guides=guides, guide_names=guide_names,
                               feature_model=feature_model, options=options,
                               compute=compute, plate=plate, **overrides)
    with compute.pinned():
        seg = _segment(inputs, StageClock(STAGES, progress), compute, colours)
    seg.plate_header = inputs.header
    seg.objects = inputs.objects
    return seg


def _segment(inputs, clock, compute, colours):
    guides = None if inputs.guides is None else inputs.guides.masks
    opts, notes, plate = inputs.options, list(inputs.notes), inputs.plate
    frame = working_frame(plate, inputs.features, opts.max_pixels, guides=guides,
                          classes=opts.feature_classes == "auto")
    opts = semantic_layers(
        opts, objects=0 if guides is None else len(inputs.guides.names),
        classes=0 if frame.probabilities is None else frame.probabilities.shape[2],
        notes=notes)
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
            premultiplied = compute.colours(inputs.values, alphas)
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
