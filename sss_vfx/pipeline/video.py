"""The video pipeline: soft layers for every frame of a shot, coherent in time
(DESIGN section 2).

Frames stream through windows of ``window`` consecutive frames that share ``overlap``
frames with the next; each window is segmented as one graph
(:mod:`~sss_vfx.pipeline.window_step`), and its frames that no later window shares are
emitted. One window of frames is held at a time, and on numpy with more than one
core the next two windows' new frames are read ahead (fewer where memory is short)
and solve their eigenvectors on other threads while the window before them is
segmented: memory does not grow with the shot.

A resumed run gives the same bits as an uninterrupted one: at every window boundary
the runner hands its state (:class:`~sss_vfx.pipeline.window_state.WindowState`) to a
checkpoint, and a resumed run restarts from the last state before its first unfinished
frame, recomputing (not rewriting) the finished frames after it.
"""


import itertools
import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.accel.stages import pipeline_stages
from sss_vfx.errors import InputError, SssError
from sss_vfx.io.features import resize_features
from sss_vfx.io.guides import Guides
from sss_vfx.pipeline.inputs import ShotInputs, prepare_shot, refuse_prepared
from sss_vfx.pipeline.layers import final_layers, working_frame
from sss_vfx.pipeline.limits import check_eigenvectors, frames_read_ahead
from sss_vfx.pipeline.lookahead import read_ahead
from sss_vfx.pipeline.window_state import WindowState
from sss_vfx.pipeline.window_step import (WindowFrame, give_layers, segment_window,
                                          start_eigenpairs)
from sss_vfx.progress import StageClock
from sss_vfx.segments.upsample import downsample_layers
from sss_vfx.spectral.threads import new_pool

log = logging.getLogger("sss_vfx")

__all__ = ["VIDEO_STAGES", "FrameLayers", "segment_video"]

VIDEO_STAGES = pipeline_stages(video=True)


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
    >>> from sss_vfx.data import two_region_image
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
    """Slides the window over a stream of frames; see :func:`segment_video`.

    It admits frames one by one, segments a window when it is full
    (:mod:`~sss_vfx.pipeline.window_step`), emits the frames no later window shares,
    and hands a :class:`~sss_vfx.pipeline.window_state.WindowState` to the checkpoint at
    every window boundary.
    """

    def __init__(self, inputs, compute, clock, finished, colours, checkpoint=None):
        self.opts, self.linking = inputs.options, inputs.temporal
        self.compute, self.clock = compute, clock
        self.projection = inputs.projection
        self.values = inputs.shot.values   # the plate's own values, for the layer colours
        self.total = inputs.shot.total
        self.finished = finished or (lambda number: None)
        self.colours = colours
        self.checkpoint = checkpoint
        self.state = WindowState(notes=list(inputs.notes))
        self.emitted = 0        # frames handed out so far
        self.held = deque()     # the frames of the window being filled
        # Resuming with a checkpoint, finished frames go out as they are while the
        # runner looks for the last state before the first unfinished frame
        # (``restart``); ``pending`` are the frames after it, to replay from it.
        # Without one (or without a state that far back), finished frames anchor the
        # layers of the frames after them.
        self.mode = _REPLAY if checkpoint is not None else _ANCHOR
        self.restart = None
        self.pending = []

    def run(self, stream):
        entries = self._entries(stream)
        threads = self.compute.workers()
        first = next(entries, None)
        ahead = 0 if threads <= 1 or not isinstance(first, WindowFrame) else \
            self._frames_ahead(first)
        entries = itertools.chain([] if first is None else [first], entries)
        if ahead == 0:
            yield from self._run(entries, 0, lambda entry: None)
            return
        pool = new_pool(threads)
        try:
            yield from self._run(entries, ahead, lambda entry: self._start(entry, pool))
        finally:
            # A run stopped early waits for the solves under way (seconds), so nothing
            # of it is left running.
            pool.shutdown(wait=True, cancel_futures=True)

    def _frames_ahead(self, entry):
        """Frames to read ahead: two windows' new frames, so the frames after the next
        window's start solving while the next window's still are and no core waits;
        fewer where their memory would not fit."""
        h, w = entry.frame.image.shape[:2]
        new = self.linking.frames_per_window - self.linking.shared_frames
        return frames_read_ahead(h * w, self.opts.eigenvectors, 2 * new)

    def _run(self, entries, depth, start):
        for entry in read_ahead(entries, depth, start):
            if isinstance(entry, _Damaged):
                # Finish the frames decoded before the damaged one, then report it.
                yield from self._flush()
                raise entry.error
            yield from self._admit(entry)
        yield from self._flush()

    def _entries(self, stream):
        index = 0
        stream = iter(stream)
        while True:
            try:
                number, plate, raw = next(stream)
            except StopIteration:
                return
            except SssError as exc:
                yield _Damaged(exc)
                return
            yield self._enter(index, number, plate, raw)
            index += 1

    def _start(self, entry, pool):
        """Start the eigenvectors of a frame read ahead, unless it is finished (a
        resumed run hands it out as it is)."""
        if isinstance(entry, WindowFrame) and not entry.done:
            start_eigenpairs(entry, self.opts, self.compute, self.clock, pool)

    def _admit(self, entry):
        """Take a frame in: hand it out now (finished, resuming) or into the window."""
        if self.mode == _REPLAY and entry.done:
            self.emitted = entry.index + 1
            yield self._emit(entry)
            state = self.checkpoint.load(entry.number)
            if state is not None:
                self.restart, self.pending = WindowState.from_arrays(state), []
                if self.restart.held and self.restart.held[0][0] == entry.number:
                    # A state from before this frame (a farm chunk's key frame): the
                    # frame opens the next window with the layers the state gives it.
                    self.pending = [entry]
                return
            self.pending.append(entry)
            if len(self.pending) > self.linking.frames_per_window:
                # No state this far back (a run without checkpoints): anchor on the
                # finished results instead, as close as it can get.
                self.mode = _ANCHOR
                pending, self.pending = self.pending, []
                for held in pending:
                    yield from self._push(self._anchor(held))
            return
        if self.mode == _REPLAY:
            self.mode, pending, self.pending = _RUN, self.pending, []
            if self.restart is not None:
                self.state = self.restart
            for held in pending:
                yield from self._push(held)
        if entry.done and self.mode == _ANCHOR:
            self._anchor(entry)
        yield from self._push(entry)

    def _push(self, entry):
        if self.state.held:
            number, given = self.state.held.pop(0)
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

    def _enter(self, index, number, plate, raw):
        guides = raw.masks if isinstance(raw, Guides) else None
        raw = None if guides is not None else raw
        if raw is not None and raw.shape[:2] != plate.shape[:2]:
            raw = resize_features(raw, plate.shape[:2])
        if index == 0:
            check_eigenvectors(self.opts, plate.shape[:2])
        frame = working_frame(plate, raw, self.opts.max_pixels, self.projection,
                              guides=guides, classes=self.opts.feature_classes == "auto")
        if index == 0 and frame.downscaled:
            h, w = frame.image.shape[:2]
            self.state.notes.append(f"spectral stages ran at {w}x{h} "
                                    f"(max_pixels={self.opts.max_pixels})")
        entry = WindowFrame(index=index, number=number, frame=frame,
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
            given, notes = give_layers(entries, layers, anchored, self.state.previous)
            self.state.notes.extend(notes)
            for entry, layers_of_frame in zip(entries, given):
                entry.given = layers_of_frame
        last = len(entries) - keep
        if boundary and self.checkpoint is not None:
            state = WindowState(previous=entries[last - 1].given,
                                held=[(e.number, e.given) for e in entries[last:]],
                                notes=self.state.notes)
            self.checkpoint.save(entries[last - 1].number, state.to_arrays())
        for entry in entries[:last]:
            self.state.previous = entry.given
            if entry.index >= self.emitted:    # not handed out already (resuming)
                self.emitted = entry.index + 1
                yield self._emit(entry)

    def _segment(self, entries):
        """(F, h*w, K) layers of the window's frames, in the window's own order, and
        whether they were anchored to layers already given."""
        with self.compute.pinned():
            layers, anchored, note = segment_window(entries, self.opts, self.linking,
                                                    self.compute, self.clock)
        if note and note not in self.state.notes:
            log.warning(note)    # once per shot, not per window
            self.state.notes.append(note)
        return layers, anchored

    def _emit(self, entry):
        frame = entry.frame
        colours = None
        if entry.done:
            alphas = entry.finished
        else:
            with self.compute.pinned():
                alphas = final_layers(entry.given, frame, self.opts, self.compute,
                                      self.clock)
                if self.colours:
                    with self.clock.stage("colours"):
                        colours = self.compute.colours(
                            self.values(entry.number, frame.plate), alphas)
        return FrameLayers(number=entry.number, alphas=alphas, plate=frame.plate,
                           index=entry.index, total=self.total, skipped=entry.done,
                           colours=colours, timings=dict(self.clock.timings),
                           notes=list(self.state.notes), device=self.compute.spec)


@dataclass
class _Damaged:
    """The error a stream raised in place of a frame."""

    error: SssError


#: How the runner takes finished frames in (resumed runs).
_REPLAY, _ANCHOR, _RUN = "replay", "anchor", "run"
