"""Stages shared by the still and video pipelines: working frames, their Laplacian, and
soft layers from a Laplacian (DESIGN steps 1-7).

A "stack" is one frame (the still pipeline) or a window of F frames (the video
pipeline) whose pixels are numbered frame after frame: pixel p of frame t is row
``t * h * w + p`` of the Laplacian, the eigenvectors and the layers.
"""

from dataclasses import dataclass

import cv2
import numpy as np


from sss_vfx.features.classes import class_probabilities, fit_feature_classes
from sss_vfx.features.guides import guide_features
from sss_vfx.features.preprocess import apply_feature_projection, preprocess_features
from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.io.features import resize_features
from sss_vfx.segments.class_confidence import weigh_by_confidence
from sss_vfx.segments.class_evidence import hold_to_classes
from sss_vfx.segments.evidence import evidence_layers
from sss_vfx.segments.grouping import (
    collapse_note,
    group_by_reference,
    group_segments,
    grouping_descriptors,
    split_swallowed_regions,
)
from sss_vfx.segments.identity import match_layers, pad_layers
from sss_vfx.segments.objects import fit_class_layers, group_by_objects
from sss_vfx.segments.upsample import normalise_layers

__all__ = [
    "SoftLayers",
    "WorkingFrame",
    "final_layers",
    "frame_laplacian",
    "soft_layers",
    "stack_work",
    "working_frame",
    "working_size",
]


def working_size(shape_hw, max_pixels):
    """(h, w) of at most ``max_pixels`` pixels, keeping the plate's aspect where no side
    would fall below 16 px; the plate's own size when it is small enough or
    ``max_pixels`` is 0."""
    h, w = shape_hw
    if not max_pixels or h * w <= max_pixels:
        return h, w
    scale = np.sqrt(max_pixels / (h * w))
    sh, sw = int(h * scale), int(w * scale)
    # A very elongated plate keeps 16 px on its short side and gives up aspect instead.
    if sh < 16:
        sh, sw = min(h, 16), min(w, max_pixels // min(h, 16))
    elif sw < 16:
        sh, sw = min(h, max_pixels // min(w, 16)), min(w, 16)
    return sh, sw


@dataclass
class WorkingFrame:
    """One plate brought to working resolution.

    Attributes
    ----------
    plate : (H, W, 3) float32 in [0, 1]
    image : (h, w, 3) float64 in [0, 1], the plate at working resolution
    features : (h, w, 3) float64 in [0, 1] or None, preprocessed features
    downscaled : bool
    probabilities : (h, w, O + 1) float64 or None
        Per-pixel probability of each guided object, then of the rest (guides only):
        the layers are then one per object, in the guides' order, the rest last.
    guides : (H, W, O) float32 or None
        The guides at the plate's size (guides only), the evidence the final layers are
        held to (:mod:`sss_vfx.segments.evidence`).
    classes : (H, W, O + 1) float32 or None
        Feature classes' probabilities at the plate's size, in ``probabilities``' order
        (feature classes only): the evidence the final layers are held to
        (:mod:`sss_vfx.segments.class_evidence`).
    """

    plate: np.ndarray
    image: np.ndarray
    features: object
    downscaled: bool
    probabilities: object = None
    guides: object = None
    classes: object = None


def working_frame(plate, raw_features, max_pixels, projection=None, guides=None,
                  classes=True):
    """Downscale a plate (area average) and its features to the working resolution.

    Parameters
    ----------
    plate : (H, W, 3) float array in [0, 1]
    raw_features : (H, W, C) float array or None, already the plate's size
    max_pixels : int, 0 for no cap
    projection : FeatureProjection, optional
        Reduce the features as another frame's were (a shot's frames share one
        projection); fitted on these features when None.
    guides : (H, W, O) float array in [0, 1], optional
        Object guides at the plate's size (:func:`~sss_vfx.io.guides.read_guides`):
        they replace ``raw_features`` by their own features and give the frame its
        object probabilities.
    classes : bool
        Features that are a few classes (see :mod:`sss_vfx.features.classes`) give the
        frame their class probabilities, as guides do: one layer per class, the
        largest class (the projection's first) as the rest. Their features are kept.

    Returns
    -------
    WorkingFrame
    """
    h, w = working_size(plate.shape[:2], max_pixels)
    downscaled = (h, w) != plate.shape[:2]
    small = (cv2.resize(plate, (w, h), interpolation=cv2.INTER_AREA) if downscaled
             else plate).astype(np.float64)
    feats = probabilities = full = plate_classes = None
    if guides is not None:
        masks = full = np.asarray(guides, np.float32)
        masks = masks.reshape(masks.shape[:2] + (-1,))
        if downscaled:
            masks = cv2.resize(masks, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1)
        found = guide_features(small, masks)
        feats = found.features.astype(np.float64)
        probabilities = found.probabilities.astype(np.float64)
    elif raw_features is not None:
        resized = resize_features(raw_features, (h, w)) if downscaled else raw_features
        feats = (preprocess_features(resized, small) if projection is None
                 else apply_feature_projection(projection, resized, small))
        points = None
        if classes:
            points = (fit_feature_classes(resized) if projection is None
                      else projection.class_points)
        if points is not None:
            # The largest class (the first) is the rest: objects first, rest last.
            probs = class_probabilities(points, resized).astype(np.float64)
            probabilities = np.concatenate([probs[..., 1:], probs[..., :1]], axis=2)
            plate_classes = (class_probabilities(points, raw_features) if downscaled
                             else probs.astype(np.float32))
            plate_classes = np.concatenate([plate_classes[..., 1:],
                                            plate_classes[..., :1]], axis=2)
    if full is not None:
        full = full.reshape(plate.shape[:2] + (-1,))
    return WorkingFrame(plate=plate, image=small, features=feats, downscaled=downscaled,
                        probabilities=probabilities, guides=full, classes=plate_classes)


def frame_laplacian(frame, opts, compute, clock):
    """Superpixels and the Laplacian of one working frame.

    Parameters
    ----------
    frame : WorkingFrame
    opts : SegmentationOptions
    compute : Compute
    clock : StageClock

    Returns
    -------
    scipy.sparse.csr_matrix (h*w, h*w)
    """
    with clock.stage("superpixels"):
        sp = compute_superpixels(frame.image, n_segments=opts.superpixels)
    with clock.stage("affinities"):
        return compute.laplacian(frame.image, frame.features,
                                 weights=opts.affinity_weights(), superpixels=sp)


@dataclass
class SoftLayers:
    """Soft layers of a stack and the intermediate results that produced them.

    Attributes
    ----------
    eigenvalues : (M,) float64
    eigenvectors : (N, M) float64
    initial_segments : (N,) int64
        All 0 where class layers are fitted (``class_layers='fit'``): none is made.
    soft_segments : (N, S) float64
        The fitted class layers there.
    grouped : (N, K) float64, columns in ``layers``' order
    layers : (N, K) float64
        Relaxed sparsification result, largest layer first; K <= ``opts.layers``.
        With object probabilities (guides), one layer per object in the guides'
        order, the rest last (K = objects + 1, ``opts.layers`` not used).
    note : str or None
        Why fewer layers than asked came out, when that happened (see
        :func:`collapse_note`).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    initial_segments: np.ndarray
    soft_segments: np.ndarray
    grouped: np.ndarray
    layers: np.ndarray
    note: object = None


def soft_layers(lap, frames, opts, compute, clock, anchor=None, eigenpairs=None,
                prior=None, reference=None, sparse_rows=None):
    """Eigenvectors, sparsification and grouping on the Laplacian of a stack.

    Parameters
    ----------
    lap : (N, N) scipy.sparse matrix, N = F * h * w
    frames : sequence of F WorkingFrame, one working size
    opts : SegmentationOptions
    compute : Compute
    clock : StageClock
    anchor : (rows, values, weight), optional
        Layers already given to some pixels ((P,) int rows, (P, opts.layers) values):
        the grouped layers are padded to ``opts.layers`` and reordered to match them,
        and the relaxed sparsification is pulled toward them with ``weight`` (see
        :func:`~sss_vfx.segments.relaxed.relaxed_sparsification`). Without an anchor
        layers come largest first.
    prior : (rows, values, weights), optional
        Likely layers of other pixels (a window's frames after the shared ones: the
        previous window's layers carried along the flow), in the shot's layer order;
        see :func:`~sss_vfx.segments.relaxed.relaxed_sparsification`.
    eigenpairs : (values (M,), vectors (N, M)), optional
        Eigenpairs already found (a window's, see
        :func:`~sss_vfx.spectral.window_eigs`); computed from ``lap`` when None.
    reference : (rows, values, weights), optional
        The shot's layers on the window (given, or carried along the flow), in the
        shot's layer order: the soft segments are grouped by them
        (:func:`~sss_vfx.segments.grouping.group_by_reference`) instead of clustered
        afresh, so the layers keep their identity whatever the eigenvectors' basis.
    sparse_rows : (P,) int array, optional
        The pixels the constrained sparsification's sparsity terms sum over (see
        :func:`~sss_vfx.segments.constrained.constrained_sparsification`); None: all.

    Returns
    -------
    SoftLayers
    """
    h, w = frames[0].image.shape[:2]
    n = lap.shape[0]
    feats = None
    if all(f.features is not None for f in frames):
        feats = np.concatenate([f.features.reshape(-1, 3) for f in frames])
    colours = np.concatenate([f.image.reshape(-1, 3) for f in frames])
    if eigenpairs is None:
        with clock.stage("eigenvectors"):
            eigenpairs = compute.run("eigenvectors", lap, eigenvector_count(opts, n),
                                     shape=(h, w), block=opts.eigensolver == "block")
    values, vectors = eigenpairs
    objects = all(f.probabilities is not None for f in frames)
    probabilities = np.concatenate([f.probabilities.reshape(h * w, -1) for f in frames]) \
        if objects else None
    # Fitted class layers use no soft segment: those two stages are skipped, and the
    # fitted layers stand as the soft segments.
    fit_only = objects and opts.class_layers == "fit"
    with clock.stage("initial_segments"):
        labels = np.zeros(n, np.int64) if fit_only else compute.run(
            "initial_segments", values, vectors, feats, opts.initial_segments,
            embedding_weight=opts.embedding_weight, seed=opts.seed)
    with clock.stage("constrained_sparsification"):
        soft = fit_class_layers(vectors, probabilities) if fit_only else \
            compute.run("constrained_sparsification", vectors, values, labels,
                        options=opts.constrained(), laplacian_ones=lap @ np.ones(n),
                        sparse_rows=sparse_rows)
    with clock.stage("grouping"):
        if fit_only:
            grouped = soft
        elif objects:
            # The guides fix the layers and their order: no matching to the anchor.
            grouped, _ = group_by_objects(soft, probabilities)
            if opts.class_layers == "both":
                grouped = 0.5 * (grouped + fit_class_layers(vectors, probabilities))
        else:
            descriptors = grouping_descriptors(feats, colours, opts.grouping_colour_weight)
            if reference is None:
                if feats is not None and len(frames) > 1:
                    # A window's eigenvectors are spread over its frames: a small
                    # object can lose its segment; its features give it back.
                    soft = split_swallowed_regions(soft, feats, opts.layers,
                                                     seed=opts.seed)
                grouped, _ = group_segments(soft, descriptors, opts.layers, seed=opts.seed)
            else:
                # Colours are no evidence of which layer a pixel belongs to: only
                # features split a merged segment.
                grouped, _ = group_by_reference(soft, descriptors, reference, opts.layers,
                                                split=feats is not None)
        if anchor is not None and not objects and reference is None:
            grouped = pad_layers(grouped, opts.layers)
            grouped = grouped[:, match_layers(anchor[1], grouped[anchor[0]])]
    with clock.stage("relaxed_sparsification"):
        # Per frame: a gradient across the seam between stacked frames is not an edge.
        gradient = np.concatenate([gradient_magnitude(f.image).ravel() for f in frames])
        relaxed = compute.run("relaxed_sparsification", lap, grouped, gradient,
                              options=opts.relaxed(), anchor=anchor, prior=prior)
    order = (np.arange(relaxed.shape[1]) if anchor is not None or objects
             else np.argsort(-np.clip(relaxed, 0, 1).sum(axis=0), kind="stable"))
    return SoftLayers(eigenvalues=values, eigenvectors=vectors, initial_segments=labels,
                      soft_segments=soft, grouped=grouped[:, order],
                      layers=relaxed[:, order],
                      note=None if objects or _filled(grouped, opts.layers) else
                      collapse_note(soft.shape[1], feats is not None, opts))


def _filled(grouped, layers):
    """Whether the grouping gave every one of ``layers`` layers some mass (a window's
    grouping can split what its sparsification merged)."""
    return grouped.shape[1] >= layers and bool((grouped.max(axis=0) > 0).all())


def eigenvector_count(opts, pixels):
    """Eigenvectors asked of a Laplacian of ``pixels`` rows: ``opts.eigenvectors``, at
    most ``pixels - 2`` (a tiny image has fewer modes than asked)."""
    return min(opts.eigenvectors, pixels - 2)


def stack_work(frames, opts):
    """The sizes of a stack's work, for the progress estimate
    (:func:`~sss_vfx.progress.expected_seconds`)."""
    h, w = frames[0].image.shape[:2]
    return {"pixels": len(frames) * h * w, "plate_pixels": frames[0].plate.shape[0]
            * frames[0].plate.shape[1], "eigenvectors": opts.eigenvectors,
            "iterations": opts.constrained_iterations, "rounds": opts.relaxed_rounds,
            "refine": frames[0].downscaled and opts.refine_band > 0}


def final_layers(working, frame, opts, compute, clock):
    """The tail shared by stills and frames: working-resolution layers brought to the
    plate (guided upsampling), optionally refined over their transition band, and, with
    guides, held to them where they are sure
    (``opts.guide_evidence``, :func:`~sss_vfx.segments.evidence.evidence_layers`); with
    feature classes, given back the solid regions their masks are sure of
    (:func:`~sss_vfx.segments.class_evidence.hold_to_classes`) and moved towards the
    masks as far as they are undecided
    (:func:`~sss_vfx.segments.class_confidence.weigh_by_confidence`).

    Parameters
    ----------
    working : (h*w, K) float array, the relaxed sparsification's layers
    frame : WorkingFrame
    opts : SegmentationOptions
    compute : Compute
    clock : StageClock

    Returns
    -------
    (H, W, K) float32 in [0, 1], summing to 1
    """
    h, w = frame.image.shape[:2]
    working = working.reshape(h, w, -1)
    with clock.stage("upsampling"):
        alphas = (compute.run("upsampling", working, frame.image, frame.plate)
                  if frame.downscaled else normalise_layers(working))
    if frame.downscaled and opts.refine_band:
        with clock.stage("refinement"):
            alphas = compute.run("refinement", frame.plate, alphas, opts.refine())
    if frame.guides is not None and opts.guide_evidence == "scaled":
        with clock.stage("refinement"):
            alphas = evidence_layers(frame.plate, alphas, frame.guides, eps=opts.matting_eps)
    if frame.classes is not None and opts.guide_evidence == "scaled":
        with clock.stage("refinement"):
            alphas = weigh_by_confidence(hold_to_classes(alphas, frame.classes),
                                         frame.classes)
    return alphas
