"""The video pipeline: soft layers for every frame of a shot, coherent in time
(DESIGN section 2).

Frames stream through windows of ``window`` consecutive frames that share ``overlap``
frames with the next. In a window, every frame's Laplacian is joined to the next
frame's by the temporal affinity along the optical flow, and the method runs once on
the joined graph, so the window's frames share their layers. Each window's layers are
matched to the layers already given on the shared frames and cross-fade across them.
Only one window of frames is held at a time: memory does not grow with the shot.
"""

import logging
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from sss_vfx.accel.devices import resolve_device
from sss_vfx.errors import InputError, SssError
from sss_vfx.features.preprocess import fit_feature_projection
from sss_vfx.graph.flow import carry_forward, frame_flow, warp_back
from sss_vfx.graph.method_laplacian import temporal_with_device
from sss_vfx.graph.window import window_laplacian
from sss_vfx.io.features import resize_features
from sss_vfx.io.shot import open_shot
from sss_vfx.options import SegmentationOptions, TemporalOptions
from sss_vfx.pipeline.layers import frame_laplacian, soft_layers, working_frame
from sss_vfx.pipeline.stages import StageClock
from sss_vfx.segments.identity import crossfade, match_layers, pad_layers
from sss_vfx.segments.refine import refine_layers
from sss_vfx.segments.upsample import normalise_layers, upsample_layers
from sss_vfx.spectral import smallest_magnitude_eigs, window_eigs

log = logging.getLogger("sss_vfx")

__all__ = ["VIDEO_STAGES", "FrameLayers", "segment_video"]

VIDEO_STAGES = ("superpixels", "affinities", "flow", "eigenvectors", "initial_segments",
                "constrained_sparsification", "grouping", "relaxed_sparsification",
                "upsampling", "refinement")


@dataclass
class FrameLayers:
    """The soft layers of one frame of a shot.

    Attributes
    ----------
    number : int
        The frame number (the sequence's, or ``start`` + index for a video file).
    alphas : (H, W, K) float32 or None
        Layer opacities summing to 1, K the same for the whole shot; None for a frame
        whose result already existed (``finished``) and was not recomputed.
    plate : (H, W, 3) float32
        The display-referred working image of the frame.
    index : int
        Position in the shot, from 0.
    total : int or None
        Frames in the shot, when known.
    timings : dict of str to float
        Seconds per stage spent so far in the whole shot.
    notes : list of str
    device : str
        The device that built the affinities.
    """

    number: int
    alphas: object
    plate: np.ndarray
    index: int
    total: object
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    device: str = "numpy"

    @property
    def skipped(self):
        """True when the frame's result already existed and was not recomputed."""
        return self.alphas is None


@dataclass
class _Entry:
    """A frame held in the current window."""

    index: int
    number: int
    frame: object                 # WorkingFrame
    laplacian: object = None
    eigenvectors: object = None   # (values, vectors) of the frame's own Laplacian
    flow_to_next: object = None   # temporal affinity to the next frame
    flow: object = None           # FrameFlow to the next frame
    given: object = None          # (h*w, K) layers already given for this frame
    done: bool = False            # its file exists: used for matching, not rewritten


def segment_video(source, features=None, *, frames=None, start=0, allow_missing=False,
                  finished=None, progress=None, device=None, temporal=True, window=3,
                  overlap=1, temporal_weight=1.0, temporal_sigma=0.1, anchor_weight=10.0,
                  carry_weight=0.0, **options):
    """Soft layers for every frame of a shot, with one stable set of K layers.

    Parameters
    ----------
    source : str, os.PathLike or sequence of (H, W, 3) arrays
        A video file, an image-sequence pattern (``shot.%04d.exr``, ``shot.####.exr``),
        or frames in memory (floats in [0, 1]).
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
        Layers of a frame already done (a resumed run): such a frame is not
        recomputed unless its window has frames still to do, and its layers anchor
        the identity of the layers after it.
    progress : callable(stage, done, total), optional
        Told as each stage of each window starts.
    device : str, optional
        As :func:`~sss_vfx.segment_image`.
    temporal, window, overlap, temporal_weight, temporal_sigma, anchor_weight, carry_weight
        See :class:`~sss_vfx.options.TemporalOptions`.
    **options
        Any field of :class:`~sss_vfx.options.SegmentationOptions`; ``layers`` is the
        K of the whole shot (layers not found stay empty).

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
    opts = SegmentationOptions.from_kwargs(**options)
    linking = TemporalOptions(temporal=temporal, window=window, overlap=overlap,
                              temporal_weight=temporal_weight, temporal_sigma=temporal_sigma,
                              anchor_weight=anchor_weight, carry_weight=carry_weight)
    device = resolve_device(device)
    shot = open_shot(source, frames=frames, start=start, features=features,
                     allow_missing=allow_missing)
    runner = _WindowRunner(opts, linking, device, StageClock(VIDEO_STAGES, progress),
                           finished, shot.total)
    yield from runner.run(shot.frames())


class _WindowRunner:
    """Slides the window over a stream of frames; see :func:`segment_video`."""

    def __init__(self, opts, linking, device, clock, finished, total):
        self.opts, self.linking, self.device, self.clock = opts, linking, device, clock
        self.finished = finished or (lambda number: None)
        self.total = total
        self.previous = None    # (h*w, K) layers given to the last emitted frame
        self.projection = None  # FeatureProjection of the shot
        self.emitted = 0        # frames handed out so far
        self.notes = []

    def run(self, stream):
        size = self.linking.frames_per_window
        shared = self.linking.shared_frames
        held = deque()
        index = 0
        stream = iter(stream)
        while True:
            try:
                number, plate, raw = next(stream)
            except StopIteration:
                break
            except SssError:
                # A damaged file: finish the frames decoded so far, then report it.
                if held:
                    yield from self._window(list(held), keep=0)
                raise
            held.append(self._enter(index, number, plate, raw))
            index += 1
            if len(held) == size:
                yield from self._window(list(held), keep=shared)
                while len(held) > shared:
                    held.popleft()
        if held:
            yield from self._window(list(held), keep=0)

    def _enter(self, index, number, plate, raw):
        if raw is not None and raw.shape[:2] != plate.shape[:2]:
            raw = resize_features(raw, plate.shape[:2])
        if raw is not None and self.projection is None:
            # The first frame fixes how features map to colours for the whole shot.
            first = working_frame(plate, None, self.opts.max_pixels)
            small = (resize_features(raw, first.image.shape[:2]) if first.downscaled
                     else raw)
            self.projection = fit_feature_projection(small, first.image)
        frame = working_frame(plate, raw, self.opts.max_pixels, self.projection)
        if index == 0 and frame.downscaled:
            h, w = frame.image.shape[:2]
            self.notes.append(f"spectral stages ran at {w}x{h} "
                              f"(max_pixels={self.opts.max_pixels})")
        entry = _Entry(index=index, number=number, frame=frame)
        done = self.finished(number)
        if done is not None:
            entry.done = True
            entry.given = self._to_working(done, frame)
        return entry

    def _to_working(self, alphas, frame):
        """Full-resolution layers of a finished frame, at working resolution."""
        alphas = np.asarray(alphas, np.float32)
        if alphas.shape[2] != self.opts.layers:
            raise InputError(f"the finished result of a frame has {alphas.shape[2]} "
                             f"layers but this run asks for {self.opts.layers}; recompute "
                             "the shot (--force) or ask for the same layer count")
        h, w = frame.image.shape[:2]
        if frame.downscaled:
            alphas = np.stack([cv2.resize(alphas[..., k], (w, h),
                                          interpolation=cv2.INTER_AREA)
                               for k in range(alphas.shape[2])], axis=2)
        return alphas.reshape(h * w, -1).astype(np.float64)

    def _window(self, entries, keep):
        """Segment a window, give its frames their layers, emit the final ones.

        The last ``keep`` frames stay held: the next window shares them.
        """
        if any(e.given is None for e in entries):
            layers, anchored = self._segment(entries)
            self._give(entries, layers, matched=anchored)
        for position, entry in enumerate(entries):
            if position >= len(entries) - keep or entry.index < self.emitted:
                continue
            self.emitted = entry.index + 1
            yield self._emit(entry)

    def _segment(self, entries):
        """(F, h*w, K) layers of the window's frames, in the window's own order."""
        for entry in entries:
            if entry.laplacian is None:
                entry.laplacian, self.device = frame_laplacian(entry.frame, self.opts,
                                                               self.device, self.clock)
        temporals = []
        for entry, nxt in zip(entries, entries[1:]):
            if entry.flow_to_next is None:
                with self.clock.stage("flow"):
                    entry.flow_to_next, entry.flow = self._temporal(entry.frame.image,
                                                                    nxt.frame.image)
            temporals.append(entry.flow_to_next)
        lap = window_laplacian([e.laplacian for e in entries], temporals)
        pixels = entries[0].frame.image.shape[0] * entries[0].frame.image.shape[1]
        given = [i for i, e in enumerate(entries) if e.given is not None]
        anchor = None
        if given:
            rows = np.concatenate([np.arange(i * pixels, (i + 1) * pixels) for i in given])
            values = np.concatenate([entries[i].given for i in given])
            anchor = (rows, values, self.linking.anchor_weight)
        prior = self._carried(entries, given) if given else None
        eigenpairs = self._eigenpairs(entries, lap)
        result = soft_layers(lap, [e.frame for e in entries], self.opts, self.clock,
                             anchor=anchor, eigenpairs=eigenpairs, prior=prior)
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
                    n = entry.laplacian.shape[0]
                    h, w = entry.frame.image.shape[:2]
                    entry.eigenvectors = smallest_magnitude_eigs(
                        entry.laplacian, min(self.opts.eigenvectors, n - 2), shape=(h, w))
            if len(entries) == 1:
                return entries[0].eigenvectors
            return window_eigs(lap, [e.eigenvectors[1] for e in entries],
                               entries[0].eigenvectors[1].shape[1])

    def _temporal(self, image, next_image):
        """The temporal affinity of two frames and their FrameFlow."""
        flow = frame_flow(image, next_image)
        affinity, self.device = temporal_with_device(
            image, next_image, flow.forward, flow.confidence,
            lambda_t=self.linking.temporal_weight, sigma=self.linking.temporal_sigma,
            device=self.device)
        return affinity, flow

    def _carried(self, entries, given):
        """The relaxed sparsification's prior on the window's frames after the last one
        already given: its layers carried frame to frame along the flow, weighted by
        ``carry_weight`` times the product of the flow confidences; None if none."""
        last = given[-1]
        weight = self.linking.carry_weight
        if weight <= 0 or last == len(entries) - 1:
            return None
        h, w = entries[0].frame.image.shape[:2]
        values = entries[last].given.reshape(h, w, -1)
        confidence = np.ones((h, w), np.float32)
        rows, carried, weights = [], [], []
        for j in range(last + 1, len(entries)):
            flow = entries[j - 1].flow
            values, step = carry_forward(values, flow)
            confidence = warp_back(confidence, flow.backward)[0] * step
            rows.append(np.arange(j * h * w, (j + 1) * h * w))
            carried.append(values.reshape(h * w, -1))
            weights.append(weight * confidence.ravel())
        return (np.concatenate(rows), np.concatenate(carried).astype(np.float64),
                np.concatenate(weights).astype(np.float64))

    def _give(self, entries, layers, matched):
        """Hand the window's layers to its frames, in the shot's layer order.

        ``matched``: the layers were anchored to (so ordered like) the layers already
        given on shared frames; otherwise they are matched to the previous frame's.
        """
        if not matched and self.previous is not None:
            layers = layers[:, :, match_layers(self.previous, layers[0])]
        shared = sum(e.given is not None for e in entries)
        for i, entry in enumerate(entries):
            if entry.done:
                continue
            if entry.given is None:
                entry.given = layers[i]
            else:
                # Shared frames cross-fade from the previous window's layers to these.
                weight = (i + 1) / (shared + 1)
                entry.given = crossfade(entry.given, layers[i], weight)

    def _emit(self, entry):
        self.previous = entry.given
        frame = entry.frame
        if entry.done:
            alphas = None
        else:
            with self.clock.stage("upsampling"):
                h, w = frame.image.shape[:2]
                working = entry.given.reshape(h, w, -1)
                alphas = (upsample_layers(working, frame.image, frame.plate)
                          if frame.downscaled else normalise_layers(working))
            if frame.downscaled and self.opts.refine_band:
                with self.clock.stage("refinement"):
                    alphas = refine_layers(frame.plate, alphas, self.opts.refine_band)
        return FrameLayers(number=entry.number, alphas=alphas, plate=frame.plate,
                           index=entry.index, total=self.total,
                           timings=dict(self.clock.timings), notes=self.notes,
                           device=self.device.spec)
