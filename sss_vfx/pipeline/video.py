"""The video pipeline: soft layers for every frame of a shot, coherent in time
(DESIGN section 2).

Frames stream through windows of ``window`` consecutive frames that share ``overlap``
frames with the next. In a window, every frame's Laplacian is joined to the next
frame's by the temporal affinity along the optical flow, and the method runs once on
the joined graph, so the window's frames share their layers. A window after the first
groups its soft segments by the shot's layers over the whole window (those given to the
shared frames, carried along the flow over the later ones), not by clustering them
afresh, so an object keeps its layer whatever basis the eigensolver returned; its layers
cross-fade from the given ones across the shared frames, and a shared frame where a
layer hands most of its mass to another gets a note (the manifest's).
Only one window of frames is held at a time: memory does not grow with the shot.

A resumed run gives the same bits as an uninterrupted one: at every window boundary
the runner hands its state (the layers given to the frames the next window shares and
to the last frame emitted) to a checkpoint, and a resumed run restarts from the last
state before its first unfinished frame, recomputing (not rewriting) the finished
frames after it.
"""

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.errors import InputError, SssError
from sss_vfx.graph.flow import carried_prior, frame_flow
from sss_vfx.graph.window import window_laplacian
from sss_vfx.io.features import resize_features
from sss_vfx.io.guides import Guides
from sss_vfx.pipeline.inputs import ShotInputs, prepare_shot, refuse_prepared
from sss_vfx.pipeline.layers import (
    eigenvector_count,
    final_layers,
    frame_laplacian,
    soft_layers,
    stack_work,
    working_frame,
)
from sss_vfx.pipeline.limits import check_eigenvectors
from sss_vfx.progress import StageClock
from sss_vfx.segments.identity import (
    hand_over,
    match_layers,
    pad_layers,
    uncertain_handovers,
    window_anchor,
    window_reference,
)
from sss_vfx.segments.upsample import downsample_layers

log = logging.getLogger("sss_vfx")

__all__ = ["VIDEO_STAGES", "FrameLayers", "segment_video"]

VIDEO_STAGES = ("superpixels", "affinities", "flow", "eigenvectors", "initial_segments",
                "constrained_sparsification", "grouping", "relaxed_sparsification",
                "upsampling", "refinement", "colours")


@dataclass
class FrameLayers:
    """The soft layers of one frame of a shot.

    Attributes
    ----------
    number : int
        The frame number (the sequence's, or ``start`` + index for a video file).
    alphas : (H, W, K) float32
        Layer opacities summing to 1, K the same for the whole shot (for a ``skipped``
        frame, the finished result it already had).
    plate : (H, W, 3) float32
        The display-referred working image of the frame.
    index : int
        Position in the shot, from 0.
    total : int or None
        Frames in the shot, when known.
    skipped : bool
        The frame's result already existed (a resumed run) and was not recomputed.
    colours : (H, W, K, 3) float32 or None
        Premultiplied layer colours summing to the plate; None for skipped frames and
        when not asked for.
    timings : dict of str to float
        Seconds per stage spent so far in the whole shot.
    notes : list of str
    device : str
        The device the run used.
    """

    number: int
    alphas: np.ndarray
    plate: np.ndarray
    index: int
    total: object
    skipped: bool = False
    colours: object = None
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    device: str = "numpy"


@dataclass
class _Entry:
    """A frame held in the current window."""

    index: int
    number: int
    frame: object                 # WorkingFrame
    finished: object = None       # (H, W, K) result it already had (resumed run)
    laplacian: object = None
    eigenvectors: object = None   # (values, vectors) of the frame's own Laplacian
    temporal: object = None       # temporal affinity to the next frame
    flow: object = None           # FrameFlow to the next frame
    given: object = None          # (h*w, K) layers given so far
    anchored: bool = False        # given = the finished result (no checkpoint state)

    @property
    def done(self):
        return self.finished is not None


def segment_video(source, features=None, *, frames=None, start=0, allow_missing=False,
                  finished=None, checkpoint=None, options=None, temporal=None,
                  device=None, progress=None, colours=True, guides=None, guide_names=None,
                  feature_model=None, cache=None, projection=None, **overrides):
    """Soft layers for every frame of a shot, with one stable set of K layers.

    Parameters
    ----------
    source : str, os.PathLike, sequence of (H, W, 3) arrays, Shot, or ShotInputs
        A video file, an image-sequence pattern (``shot.%04d.exr``, ``shot.####.exr``),
        frames in memory (floats in [0, 1]), a shot already opened by
        :func:`~sss_vfx.io.shot.open_shot` (then ``features``, ``frames``, ``start``
        and ``allow_missing`` are its own), or a shot's inputs prepared by
        :func:`~sss_vfx.pipeline.inputs.prepare_shot` (then every input and option is
        theirs: only ``finished``, ``checkpoint``, ``device``, ``progress`` and
        ``colours`` may be given).
    features : str or sequence of arrays, optional
        Per-frame semantic features: a sequence pattern numbered like the frames, or
        one array per frame.
    frames : (int, int), optional
        Inclusive range of frame numbers.
    start : int, optional
        Number of the first frame of a video file or of in-memory frames.
    allow_missing : bool, optional
        Process the frames of a sequence that exist despite gaps.
    finished : callable(number) -> (H, W, K) array or None, optional
        Layers of a frame already done (a resumed run): such a frame is yielded as
        it is (``skipped``), never recomputed into a new result. Without
        ``checkpoint`` state, its layers anchor the identity of the layers after it.
    checkpoint : object with ``save(number, state)`` and ``load(number)``, optional
        Keeps the window state: ``save`` is called at every window boundary with the
        number of the last frame the window emits and a dict of arrays; ``load``
        returns that dict, or None. With it, a resumed run restarts from the last
        state before its first unfinished frame and gives the same bits as an
        uninterrupted run (see :class:`~sss_vfx.io.shot_outputs.WindowStates`).
    options : SegmentationOptions, optional
        The method's parameters; ``layers`` is the K of the whole shot (layers not
        found stay empty).
    temporal : TemporalOptions or bool, optional
        How frames are linked; a bool switches temporal mode alone.
    device : str, Device or Compute, optional
        As :func:`~sss_vfx.segment_image`.
    progress : callable(stage, done, total), optional
        Told as each stage of each window starts.
    colours : bool, optional
        Also compute each computed frame's premultiplied layer colours.
    guides : str, sequence of str, or sequence of arrays, optional
        Per-frame object guides: a sequence pattern numbered like the frames (or
        several, in object order), or one ``(H, W, O)`` array per frame. The layers
        are then the objects in the guides' order, then the rest (``layers`` is
        set to objects + 1). ``features='person'`` adds the person model's mask.
    guide_names : str, optional
        Object patterns to pick (``'hero,car*'``), required for Cryptomatte.
    feature_model : path or FeatureModel, optional
        A network computing every frame's features (see :func:`segment_image`).
    cache : str or os.PathLike, optional
        Folder keeping each frame's person mask or network features, so a resumed
        run does not compute them again.
    projection : FeatureProjection, optional
        How raw features map to colours for the whole shot; fitted on the first frame
        when None (a part of a shot, e.g. a farm chunk, passes the shot's).
    **overrides
        Fields of :class:`~sss_vfx.options.SegmentationOptions` or
        :class:`~sss_vfx.options.TemporalOptions`.

    Yields
    ------
    FrameLayers
        One per frame, in frame order, as soon as the frame is final.

    Raises
    ------
    InputError, FeatureError, OptionError, DeviceError
        Bad source, features or options: before the first frame where they can be
        known beforehand, else at the frame concerned (after the frames before it).

    Examples
    --------
    >>> from sss_vfx.synthetic import two_region_image
    >>> clip = [two_region_image((24, 32), seed=s)[0] for s in range(3)]
    >>> out = list(segment_video(clip, layers=2, eigenvectors=10, initial_segments=4,
    ...                          superpixels=40))
    >>> [f.alphas.shape for f in out]
    [(24, 32, 2), (24, 32, 2), (24, 32, 2)]
    """
    compute = Compute.resolve(device)
    if isinstance(source, ShotInputs):
        refuse_prepared("shot", features=features, frames=frames, options=options,
                        temporal=temporal, guides=guides, guide_names=guide_names,
                        feature_model=feature_model, cache=cache, projection=projection,
                        **overrides)
        inputs = source
    else:
        inputs = prepare_shot(
            source, features, guides=guides, guide_names=guide_names,
            feature_model=feature_model, cache=cache, compute=compute, options=options,
            temporal=temporal, frames=frames, start=start, allow_missing=allow_missing,
            projection=projection, **overrides)
    runner = _WindowRunner(inputs, compute, StageClock(VIDEO_STAGES, progress),
                           finished, colours, checkpoint)
    yield from runner.run(inputs.shot.frames())


class _WindowRunner:
    """Slides the window over a stream of frames; see :func:`segment_video`."""

    def __init__(self, inputs, compute, clock, finished, colours, checkpoint=None):
        self.opts, self.linking = inputs.options, inputs.temporal
        self.compute, self.clock = compute, clock
        self.finished = finished or (lambda number: None)
        self.total = inputs.shot.total
        self.colours = colours
        self.values = inputs.shot.values   # the plate's own values, for the layer colours
        self.checkpoint = checkpoint
        self.previous = None    # (h*w, K) layers given to the last emitted frame
        self.projection = inputs.projection
        self.emitted = 0        # frames handed out so far
        self.notes = list(inputs.notes)
        self.held = deque()     # the frames of the window being filled
        # Resuming: finished frames go out as they are while the runner looks for the
        # last state before the first unfinished frame; ``pending`` are the frames
        # after that state, to replay from it.
        self.replaying = checkpoint is not None
        self.anchoring = checkpoint is None   # finished frames anchor the layers
        self.restart = None     # the state to restart from; None: the shot's start
        self.pending = []
        self.restored = deque()  # (number, given) of the held frames of the restart

    def run(self, stream):
        index = 0
        stream = iter(stream)
        while True:
            try:
                number, plate, raw = next(stream)
            except StopIteration:
                break
            except SssError:
                # A damaged file: finish the frames decoded so far, then report it.
                yield from self._flush()
                raise
            yield from self._admit(self._enter(index, number, plate, raw))
            index += 1
        yield from self._flush()

    def _admit(self, entry):
        """Take a frame in: hand it out now (finished, resuming) or into the window."""
        if self.replaying and entry.done:
            self.emitted = entry.index + 1
            yield self._emit(entry)
            state = self.checkpoint.load(entry.number)
            if state is not None:
                self.restart, self.pending = state, []
                return
            self.pending.append(entry)
            if len(self.pending) > self.linking.frames_per_window:
                # No state this far back (a run without checkpoints): anchor on the
                # finished results instead, as close as it can get.
                self.replaying, self.anchoring = False, True
                pending, self.pending = self.pending, []
                for held in pending:
                    yield from self._push(self._anchor(held))
            return
        if self.replaying:
            self.replaying, pending, self.pending = False, self.pending, []
            self._restore(self.restart)
            for held in pending:
                yield from self._push(held)
        if entry.done and self.anchoring:
            self._anchor(entry)
        yield from self._push(entry)

    def _push(self, entry):
        if self.restored:
            number, given = self.restored.popleft()
            if number != entry.number:
                raise InputError(
                    f"the saved window state expects frame {number} but the shot has "
                    f"frame {entry.number} there; recompute the shot (force)")
            entry.given = given
        self.held.append(entry)
        if len(self.held) == self.linking.frames_per_window:
            yield from self._window(list(self.held), keep=self.linking.shared_frames,
                                    boundary=True)
            while len(self.held) > self.linking.shared_frames:
                self.held.popleft()

    def _flush(self):
        """The frames left at the end of the stream (or before a damaged frame)."""
        if self.held:
            yield from self._window(list(self.held), keep=0, boundary=False)
            self.held.clear()

    def _anchor(self, entry):
        entry.given = downsample_layers(entry.finished, entry.frame.image.shape[:2])
        entry.anchored = True
        return entry

    def _restore(self, state):
        if state is None:
            return
        self.previous = state["previous"]
        self.restored = deque(zip(state["held_numbers"].tolist(), state["held_given"]))
        self.notes = list(state["notes"].tolist())

    def _state(self, last, held):
        """The state after emitting ``last``, with ``held`` shared by the next window."""
        given = [e.given for e in held]
        return {"previous": last.given,
                "held_numbers": np.array([e.number for e in held], dtype=np.int64),
                "held_given": (np.stack(given) if given
                               else np.zeros((0,) + last.given.shape, last.given.dtype)),
                "notes": np.array(self.notes, dtype=str)}

    def _enter(self, index, number, plate, raw):
        guides = raw.masks if isinstance(raw, Guides) else None
        raw = None if guides is not None else raw
        if raw is not None and raw.shape[:2] != plate.shape[:2]:
            raw = resize_features(raw, plate.shape[:2])
        classes = self.opts.feature_classes == "auto"
        if index == 0:
            check_eigenvectors(self.opts, plate.shape[:2])
        frame = working_frame(plate, raw, self.opts.max_pixels, self.projection,
                              guides=guides, classes=classes)
        if index == 0 and frame.downscaled:
            h, w = frame.image.shape[:2]
            self.notes.append(f"spectral stages ran at {w}x{h} "
                              f"(max_pixels={self.opts.max_pixels})")
        entry = _Entry(index=index, number=number, frame=frame,
                       finished=self.finished(number))
        if entry.done and entry.finished.shape[2] != self.opts.layers:
            raise InputError(
                f"the finished result of frame {number} has "
                f"{entry.finished.shape[2]} layers but this run asks for "
                f"{self.opts.layers}; recompute the shot or ask for the same layer "
                "count")
        return entry

    def _window(self, entries, keep, boundary):
        """Segment a window, give its frames their layers, emit the final ones.

        The last ``keep`` frames stay held: the next window shares them. At a
        ``boundary`` (more frames follow) the state is handed to the checkpoint
        first.
        """
        if any(e.given is None for e in entries):
            layers, anchored = self._segment(entries)
            # Guided layers keep the guides' order: nothing to match.
            if not anchored and self.previous is not None and \
                    entries[0].frame.probabilities is None:
                layers = layers[:, :, match_layers(self.previous, layers[0])]
            if entries[0].frame.probabilities is None:
                self._check_handover(entries, layers)
            given = hand_over([e.given for e in entries], layers,
                              [e.anchored for e in entries])
            for entry, layers_of_frame in zip(entries, given):
                entry.given = layers_of_frame
        last = len(entries) - keep
        if boundary and self.checkpoint is not None:
            self.checkpoint.save(entries[last - 1].number,
                                 self._state(entries[last - 1], entries[last:]))
        for entry in entries[:last]:
            self.previous = entry.given
            if entry.index >= self.emitted:    # not handed out already (resuming)
                self.emitted = entry.index + 1
                yield self._emit(entry)

    def _check_handover(self, entries, layers):
        """A note for each shared frame where a layer hands most of its mass to another
        (the identity across the boundary is then uncertain)."""
        for entry, new in zip(entries, layers):
            if entry.given is None or entry.anchored:
                continue
            for i, j, moved in uncertain_handovers(entry.given, new):
                note = (f"frame {entry.number}: uncertain hand-over between windows, "
                        f"layer {i + 1:02d} passed {moved:.0%} of its mass to layer "
                        f"{j + 1:02d}")
                log.warning(note)
                self.notes.append(note)

    def _segment(self, entries):
        """(F, h*w, K) layers of the window's frames, in the window's own order, and
        whether they were anchored to layers already given."""
        self.clock.plan(stack_work([e.frame for e in entries], self.opts),
                        frames=max(len(entries) - self.linking.shared_frames, 1))
        for entry in entries:
            if entry.laplacian is None:
                entry.laplacian = frame_laplacian(entry.frame, self.opts, self.compute,
                                                  self.clock)
        for entry, nxt in zip(entries, entries[1:]):
            if entry.temporal is None:
                with self.clock.stage("flow"):
                    entry.flow = frame_flow(entry.frame.image, nxt.frame.image)
                    entry.temporal = self.compute.temporal(
                        entry.frame.image, nxt.frame.image, entry.flow.forward,
                        entry.flow.confidence, lambda_t=self.linking.temporal_weight,
                        sigma=self.linking.temporal_sigma)
        lap = window_laplacian([e.laplacian for e in entries],
                               [e.temporal for e in entries[:-1]])
        h, w = entries[0].frame.image.shape[:2]
        anchor = window_anchor([e.given for e in entries], h * w,
                               self.linking.anchor_weight)
        result = soft_layers(lap, [e.frame for e in entries], self.opts, self.compute,
                             self.clock, anchor=anchor,
                             eigenpairs=self._eigenpairs(entries, lap),
                             prior=self._prior(entries),
                             reference=self._reference(entries, anchor))
        if result.note and result.note not in self.notes:
            log.warning(result.note)    # once per shot, not per window
            self.notes.append(result.note)
        layers = pad_layers(np.clip(result.layers, 0.0, 1.0), self.opts.layers)
        return layers.reshape(len(entries), -1, self.opts.layers), anchor is not None

    def _eigenpairs(self, entries, lap):
        """Each frame's eigenvectors (once per frame), then the window's Ritz pairs."""
        with self.clock.stage("eigenvectors"):
            for entry in entries:
                if entry.eigenvectors is None:
                    h, w = entry.frame.image.shape[:2]
                    entry.eigenvectors = self.compute.eigenpairs(
                        entry.laplacian, eigenvector_count(self.opts, h * w),
                        shape=(h, w), solver=self.opts.eigensolver)
            if len(entries) == 1:
                return entries[0].eigenvectors
            return self.compute.window_eigenpairs(
                lap, [e.eigenvectors[1] for e in entries],
                entries[0].eigenvectors[1].shape[1])

    def _reference(self, entries, anchor):
        """The shot's layers over the window (:func:`window_reference`), which group
        its segments; None for the shot's first window."""
        if anchor is None or entries[0].frame.probabilities is not None:
            return None
        carried = self._carried(entries, 1.0)
        return window_reference(anchor, carried)

    def _carried(self, entries, weight):
        """The layers of the last frame already given, carried along the flow over
        the frames after it (see :func:`carried_prior`); None when no frame follows."""
        given = [i for i, e in enumerate(entries) if e.given is not None]
        if not given or given[-1] == len(entries) - 1:
            return None
        last = given[-1]
        h, w = entries[0].frame.image.shape[:2]
        return carried_prior(entries[last].given.reshape(h, w, -1),
                             [e.flow for e in entries[last:-1]], last + 1, weight)

    def _prior(self, entries):
        """The carried-forward prior on the frames after the last one already given."""
        if self.linking.carry_weight <= 0:
            return None
        return self._carried(entries, self.linking.carry_weight)

    def _emit(self, entry):
        frame = entry.frame
        colours = None
        if entry.done:
            alphas = entry.finished
        else:
            alphas = final_layers(entry.given, frame, self.opts, self.compute, self.clock)
            if self.colours:
                with self.clock.stage("colours"):
                    colours = self.compute.colours(self.values(entry.number, frame.plate),
                                                   alphas)
        return FrameLayers(number=entry.number, alphas=alphas, plate=frame.plate,
                           index=entry.index, total=self.total, skipped=entry.done,
                           colours=colours, timings=dict(self.clock.timings),
                           notes=list(self.notes), device=self.compute.spec)
