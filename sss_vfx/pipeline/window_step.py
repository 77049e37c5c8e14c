"""One window of a shot: its frames' layers from their working frames and the state the
windows before it carried (DESIGN section 2).

In a window, every frame's Laplacian is joined to the next frame's by the temporal
affinity along the optical flow, and the method runs once on the joined graph, so the
window's frames share their layers. A window after the first groups its soft segments
by the shot's layers over the whole window (those given to the shared frames, carried
along the flow over the later ones), not by clustering them afresh, so an object keeps
its layer whatever basis the eigensolver returned; its layers cross-fade from the given
ones across the shared frames, and a shared frame where a layer hands most of its mass
to another gets a note.

Nothing here knows of streams, checkpoints or emitting: :mod:`~sss_vfx.pipeline.video`
sequences the windows.
"""

import concurrent.futures
import logging
from dataclasses import dataclass

import numpy as np

from sss_vfx.graph.flow import carried_prior, frame_flow, patch_agreement
from sss_vfx.graph.window import window_laplacian
from sss_vfx.pipeline.layers import eigenvector_count, frame_laplacian, soft_layers, \
    stack_work
from sss_vfx.segments.identity import (
    hand_over,
    match_layers,
    pad_layers,
    uncertain_handovers,
    window_anchor,
    window_reference,
)
from sss_vfx.spectral.threads import thread_map

log = logging.getLogger("sss_vfx")

__all__ = ["WindowFrame", "give_layers", "segment_window", "start_eigenpairs"]


@dataclass
class WindowFrame:
    """A frame held in a window, with what is computed of it once (its Laplacian,
    eigenvectors, temporal link to the next frame) and the layers given to it."""

    index: int
    number: int
    frame: object                 # WorkingFrame
    finished: object = None       # (H, W, K) result it already had (resumed run)
    laplacian: object = None
    eigenvectors: object = None   # (values, vectors) of the frame's own Laplacian, or
                                  # the Future computing them (start_eigenpairs)
    temporal: object = None       # temporal affinity to the next frame
    flow: object = None           # FrameFlow to the next frame (fine: the links')
    regions: object = None        # FrameFlow to the next frame (the preset's: carrying)
    given: object = None          # (h*w, K) layers given so far
    anchored: bool = False        # given = the finished result (no checkpoint state)

    @property
    def done(self):
        return self.finished is not None


def segment_window(frames, opts, linking, compute, clock):
    """Soft layers of a window's frames, in the window's own order.

    Parameters
    ----------
    frames : list of WindowFrame
        The window's frames, one working size; those with ``given`` layers anchor it.
    opts : SegmentationOptions
    linking : TemporalOptions
    compute : Compute
    clock : StageClock

    Returns
    -------
    (F, h*w, K) float array, bool, str or None
        The layers; whether they were anchored to layers already given; why fewer
        layers than asked came out, when that happened.
    """
    clock.plan(stack_work([e.frame for e in frames], opts),
               frames=max(len(frames) - linking.shared_frames, 1))
    for entry in frames:
        if entry.laplacian is None:
            entry.laplacian = frame_laplacian(entry.frame, opts, compute, clock)
    for entry, nxt in zip(frames, frames[1:]):
        if entry.temporal is None:
            with clock.stage("flow"):
                entry.flow = frame_flow(entry.frame.image, nxt.frame.image)
                # A vector may be consistent both ways and still wrong (an object of
                # its ground's colour given the ground's motion): its patch must agree.
                confidence = entry.flow.confidence * patch_agreement(
                    entry.frame.image, nxt.frame.image, entry.flow.forward)
                entry.temporal = compute.temporal(
                    entry.frame.image, nxt.frame.image, entry.flow.forward,
                    confidence, lambda_t=linking.temporal_weight,
                    sigma=linking.temporal_sigma)
    lap = window_laplacian([e.laplacian for e in frames],
                           [e.temporal for e in frames[:-1]])
    h, w = frames[0].frame.image.shape[:2]
    anchor = window_anchor([e.given for e in frames], h * w, linking.anchor_weight)
    prior, reference = _prior(frames, linking, clock), _reference(frames, anchor, clock)
    result = soft_layers(lap, [e.frame for e in frames], opts, compute, clock,
                         anchor=anchor,
                         eigenpairs=_eigenpairs(frames, lap, opts, compute, clock),
                         prior=prior, reference=reference,
                         sparse_rows=_new_pixels(frames, opts))
    layers = pad_layers(np.clip(result.layers, 0.0, 1.0), opts.layers)
    return (layers.reshape(len(frames), -1, opts.layers), anchor is not None,
            result.note)


def give_layers(frames, layers, anchored, previous):
    """The layers each frame of a window is given: the window's, in the shot's order,
    cross-faded from those already given across the shared frames.

    Parameters
    ----------
    frames : list of WindowFrame
    layers : (F, h*w, K) float array
        The window's layers (:func:`segment_window`).
    anchored : bool
        They were anchored to the layers already given (then in the shot's order).
    previous : (h*w, K) float array or None
        The layers given to the last frame emitted before the window.

    Returns
    -------
    (list of (h*w, K) arrays, list of str)
        One per frame; the notes of uncertain hand-overs.
    """
    notes = []
    # Guided layers keep the guides' order: nothing to match.
    guided = frames[0].frame.probabilities is not None
    if not anchored and previous is not None and not guided:
        layers = layers[:, :, match_layers(previous, layers[0])]
    if not guided:
        notes = _check_handover(frames, layers)
    given = hand_over([e.given for e in frames], layers, [e.anchored for e in frames])
    return list(given), notes


def _check_handover(frames, layers):
    """A note for each shared frame where a layer hands most of its mass to another
    (the identity across the boundary is then uncertain)."""
    notes = []
    for entry, new in zip(frames, layers):
        if entry.given is None or entry.anchored:
            continue
        for i, j, moved in uncertain_handovers(entry.given, new):
            note = (f"frame {entry.number}: uncertain hand-over between windows, "
                    f"layer {i + 1:02d} passed {moved:.0%} of its mass to layer "
                    f"{j + 1:02d}")
            log.warning(note)
            notes.append(note)
    return notes


def start_eigenpairs(entry, opts, compute, clock, pool):
    """Build a frame's Laplacian here and start its eigenpairs on ``pool``.

    The video runner calls it for the frames of the next windows while it segments the
    current one: a frame's eigenpairs depend on its own Laplacian alone and are
    computed with BLAS on one thread (``compute.pinned()``), so they are the same bits
    as in the window.

    Parameters
    ----------
    entry : WindowFrame
        Its ``eigenvectors`` become a Future, which :func:`segment_window` waits for.
    opts : SegmentationOptions
    compute : Compute
        On numpy (a torch device keeps its own queue).
    clock : StageClock
    pool : concurrent.futures.Executor
    """
    if entry.laplacian is None:
        entry.laplacian = frame_laplacian(entry.frame, opts, compute, clock)
    if entry.eigenvectors is None:
        entry.eigenvectors = pool.submit(_pinned_eigenpairs, entry, opts, compute)


def _pinned_eigenpairs(entry, opts, compute):
    with compute.pinned():
        return _frame_eigenpairs(entry, opts, compute)


def _eigenpairs(frames, lap, opts, compute, clock):
    """Each frame's eigenvectors (once per frame), then the window's Ritz pairs."""
    with clock.stage("eigenvectors"):
        for entry in frames:
            if isinstance(entry.eigenvectors, concurrent.futures.Future):
                entry.eigenvectors = entry.eigenvectors.result()
        missing = [entry for entry in frames if entry.eigenvectors is None]
        # Each frame's solve is its own: a window's new frames go to the cores side by
        # side, the same bits as one after another. A torch device keeps its queue.
        threads = compute.workers()
        solved = thread_map(lambda entry: _frame_eigenpairs(entry, opts, compute),
                            missing, threads)
        for entry, pairs in zip(missing, solved):
            entry.eigenvectors = pairs
        if len(frames) == 1:
            return frames[0].eigenvectors
        return compute.run(
            "window_eigenvectors", lap, [e.eigenvectors[1] for e in frames],
            frames[0].eigenvectors[1].shape[1])


def _frame_eigenpairs(entry, opts, compute):
    """One frame's eigenpairs, from its own Laplacian."""
    h, w = entry.frame.image.shape[:2]
    return compute.run("eigenvectors", entry.laplacian, eigenvector_count(opts, h * w),
                       shape=(h, w), block=opts.eigensolver == "block")


def _new_pixels(frames, opts):
    """The pixels of the frames no earlier window segmented, whose sparsity the
    window's constrained sparsification sums (``constrained_frames='new'``): the frames
    already given layers have them; None (every pixel) for the shot's first window,
    with ``constrained_frames='all'``, or when every frame was given layers."""
    if opts.constrained_frames != "new":
        return None
    new = [i for i, e in enumerate(frames) if e.given is None]
    if len(new) in (0, len(frames)):
        return None
    h, w = frames[0].frame.image.shape[:2]
    return np.concatenate([np.arange(i * h * w, (i + 1) * h * w) for i in new])


def _reference(frames, anchor, clock):
    """The shot's layers over the window (:func:`window_reference`), which group
    its segments; None for the shot's first window."""
    if anchor is None or frames[0].frame.probabilities is not None:
        return None
    carried = _carried(frames, 1.0, clock)
    return window_reference(anchor, carried)


def _carried(frames, weight, clock):
    """The layers of the last frame already given, carried along the flow over
    the frames after it (see :func:`carried_prior`); None when no frame follows.

    They are carried along the preset's smoother flow, not the links' fine one: on a
    rendered shot whose object has the ground's colour (seed 2) the fine flow loses
    the object's confidence (0.66 where the ground keeps 0.9), its carried mass fades
    and a window regrouped half the object into the ground (an identity change at
    frame 5 with either eigensolver); carried as a region it keeps its layers (SAD
    0.098 -> 0.054), and on the nine other seeds the matte moved by at most 0.003 SAD.
    """
    given = [i for i, e in enumerate(frames) if e.given is not None]
    if not given or given[-1] == len(frames) - 1:
        return None
    last = given[-1]
    # The preset's flow is computed here, its only reader, once per frame: windows that
    # carry nothing (the shot's first; guided ones without a carried prior) skip it.
    with clock.stage("flow"):
        for entry, nxt in zip(frames[last:-1], frames[last + 1:]):
            if entry.regions is None:
                entry.regions = frame_flow(entry.frame.image, nxt.frame.image, fine=False)
    h, w = frames[0].frame.image.shape[:2]
    return carried_prior(frames[last].given.reshape(h, w, -1),
                         [e.regions for e in frames[last:-1]], last + 1, weight)


def _prior(frames, linking, clock):
    """The carried-forward prior on the frames after the last one already given."""
    if linking.carry_weight <= 0:
        return None
    return _carried(frames, linking.carry_weight, clock)
