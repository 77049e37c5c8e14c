"""``sss-vfx video``: phases check, prepare output, segment frames, preview.

Every frame's files are written as soon as the frame is final, atomically; the preview
MP4 is encoded while frames go by. An interrupted or failed run leaves complete frame
files, a preview of the frames done and a manifest saying where it stopped; the same
command resumes it (and writes the whole preview).
"""

import logging
import os
import platform
import re
import time

import cv2
import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.cli.flags import (
    add_method_flags,
    add_plate_flags,
    add_wait_flag,
    add_run_flags,
    add_temporal_flags,
    method_options,
    plate_options,
    temporal_options,
)
from sss_vfx.cli.semantic import add_semantic_flags, feature_model, semantic_record
from sss_vfx.errors import OptionError, SssError
from sss_vfx.features.sources import FrameCache
from sss_vfx.helptext import HelpFormatter, epilog, sections
from sss_vfx.io.outputs import render_preview, write_manifest
from sss_vfx.io.shot import is_sequence_pattern
from sss_vfx.io.shot_outputs import ShotOutputs, frame_name, run_key
from sss_vfx.io.video import write_preview_video
from sss_vfx.pipeline.inputs import prepare_shot
from sss_vfx.pipeline.video import segment_video
from sss_vfx.progress import Progress, peak_rss_bytes
from sss_vfx.version import __version__

__all__ = ["add_parser", "parse_frame_range", "run"]

log = logging.getLogger("sss_vfx")

#: Folder of the output keeping each frame's model outputs (person masks, features).
FEATURES_FOLDER = "features"
#: Widest preview (plate and layers side by side); wider shots are scaled down.
PREVIEW_MAX_WIDTH = 2048


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "video", help="split every frame of a shot into soft layers, coherent in time",
        usage="%(prog)s INPUT -o OUTPUT [options]",
        description="Split every frame of a video file or image sequence into soft layers "
                    "that keep their identity through the shot. Writes layers.NNNN.exr "
                    "per frame (the input's frame numbers), preview.mp4 and "
                    "manifest.json; rerunning the same command resumes an interrupted "
                    "run.",
        formatter_class=HelpFormatter, epilog=epilog(
            "sss-vfx video 'plates/shot.%04d.exr' --frames 1001-1100 -o out/shot",
            "guides/video"))
    inputs, outputs = sections(parser)["inputs"], sections(parser)["outputs"]
    inputs.add_argument("input", help=("a video file FFmpeg decodes (MOV, MP4, MKV...) or "
                                       "an image sequence in any still format OpenImageIO "
                                       "reads: shot.%%04d.exr, shot.####.dpx"))
    # Parsed in run(), inside the error boundary: a bad range is one line, not usage.
    inputs.add_argument("--frames", metavar="FIRST-LAST",
                        help="frame range to process, inclusive, e.g. 1001-1100 or "
                             "--frames=-5--1 (default: all)")
    inputs.add_argument("--start", type=int, default=0,
                        help="number of a video file's first frame (default 0)")
    inputs.add_argument("--allow-missing", action="store_true",
                        help="process the frames of a sequence that exist despite gaps")
    inputs.add_argument("--features", help="per-frame semantic features: a sequence "
                                           "pattern numbered like the frames; or "
                                           "'person' for the built-in person model "
                                           "(needs sss_vfx[people])")
    add_semantic_flags(parser, video=True)
    outputs.add_argument("-o", "--output", required=True, help="output directory (created)")
    outputs.add_argument("--pngs", action="store_true",
                         help="also write 16-bit PNG mattes to mattes/sss_layerNN.NNNN.png")
    outputs.add_argument("--no-colours", action="store_true",
                         help="skip the layer colours: each EXR holds the mattes (A) only, "
                              "no premultiplied R, G, B")
    outputs.add_argument("--force", action="store_true",
                         help="recompute every frame, replacing results in the folder")
    add_wait_flag(parser)
    add_plate_flags(parser)
    add_temporal_flags(parser)
    add_method_flags(parser)
    add_run_flags(parser)
    return parser


def parse_frame_range(text):
    """``'1001-1100'`` -> ``(1001, 1100)``; a single number is a one-frame range;
    numbers may be negative (``'-5--1'``)."""
    match = _FRAME_RANGE.fullmatch(text.strip())
    if match is None:
        raise OptionError(f"--frames {text!r} is not FIRST-LAST, e.g. 1001-1100 (or one "
                          "frame number); give whole numbers")
    first = int(match["first"])
    last = int(match["last"]) if match["last"] is not None else first
    if first > last:
        raise OptionError(f"--frames {text} is reversed; give FIRST-LAST with "
                          "FIRST <= LAST")
    return first, last


_FRAME_RANGE = re.compile(r"(?P<first>-?\d+)(?:\s*-\s*(?P<last>-?\d+))?")


class _Tally:
    """What a run has done so far, for the manifest."""

    def __init__(self):
        self.started = time.perf_counter()
        self.first = self.last = self.size = self.result = None
        self.count = self.computed = 0

    def add(self, result):
        self.first = result.number if self.first is None else self.first
        self.last = result.number
        self.count += 1
        self.computed += not result.skipped
        self.size = result.plate.shape[:2]
        self.result = result

    def summary(self):
        summary = {"frames": [self.first, self.last], "frame_count": self.count,
                   "frames_computed": self.computed,
                   "timings_s": dict(self.result.timings if self.result else {},
                                     total=round(time.perf_counter() - self.started, 4)),
                   "peak_rss_bytes": peak_rss_bytes()}
        if self.size is not None:
            summary["size"] = {"width": int(self.size[1]), "height": int(self.size[0])}
        if self.result is not None:
            summary["notes"] = self.result.notes
            summary["device"] = self.result.device
        return summary


def _inputs(args):
    inputs = {"source": os.path.abspath(args.input) if not is_sequence_pattern(args.input)
              else args.input,
              "features": args.features, "frames": args.frames, "start": args.start,
              "allow_missing": args.allow_missing}
    return dict(inputs, **plate_options(args).record())


def _preview_frame(plate, alphas):
    preview = render_preview(plate, alphas)
    if preview.shape[1] <= PREVIEW_MAX_WIDTH:
        return preview
    scale = PREVIEW_MAX_WIDTH / preview.shape[1]
    size = (PREVIEW_MAX_WIDTH, max(2, round(preview.shape[0] * scale)))
    return cv2.resize(preview, size, interpolation=cv2.INTER_AREA)


def run(args):
    """The ``video`` command; returns the manifest."""
    if isinstance(args.frames, str):
        args.frames = parse_frame_range(args.frames)
    compute = Compute.resolve(args.device)
    model = feature_model(args, compute)
    cache = FrameCache()
    # Bad input (missing frames, features or guides that do not match, a model that
    # does not load) stops before any output.
    inputs = prepare_shot(
        args.input, args.features, guides=args.guides, guide_names=args.guides_names,
        feature_model=model, cache=cache, compute=compute, options=method_options(args),
        temporal=temporal_options(args), frames=args.frames, start=args.start,
        allow_missing=args.allow_missing, plate=plate_options(args))
    shot, options, linking = inputs.shot, inputs.options, inputs.temporal
    parameters = {**options.as_dict(), **linking.as_dict(), "colours": not args.no_colours}
    record = dict(_inputs(args), **semantic_record(args, model, inputs.objects))
    outputs = ShotOutputs(args.output, run_key(record, parameters), options.layers,
                          force=args.force, pngs=args.pngs, wait=args.wait)
    # Each frame's person mask or network features, kept for a resumed run.
    cache.attach(outputs.directory / FEATURES_FOLDER, outputs.key)
    _note_killed_run(outputs)
    manifest = {"command": "video", "version": __version__, "inputs": record,
                "parameters": parameters, "run_key": outputs.key,
                "paper": getattr(args, "paper", False),
                "departures_from_paper": options.departures(),
                "layers": outputs.names, "colours": not args.no_colours,
                "status": "running", "missing_frames": shot.missing,
                "process": {"host": platform.node(), "pid": os.getpid()},
                "platform": {"python": platform.python_version(), "numpy": np.__version__,
                             "machine": platform.machine()}}
    write_manifest(outputs.directory / "manifest.json", manifest)
    progress = Progress(args.progress, total_frames=shot.total)
    frames = segment_video(inputs, finished=outputs.finished, checkpoint=outputs.states,
                           device=compute, progress=progress,
                           colours=not args.no_colours)
    tally = _Tally()
    try:
        _write_frames(frames, shot, outputs, args, tally, progress, __version__)
    except (SssError, KeyboardInterrupt) as exc:
        manifest.update(tally.summary(), status="interrupted" if isinstance(
            exc, KeyboardInterrupt) else "failed", error=str(exc) or None)
        write_manifest(outputs.directory / "manifest.json", manifest)
        raise
    manifest.update(tally.summary(), status="complete", fps=float(shot.fps),
                    outputs=[frame_name("layers", 0, ".exr").replace(".0000.", ".%04d."),
                             "preview.mp4", "manifest.json"]
                    + (["mattes/sss_layerNN.%04d.png"] if args.pngs else []))
    write_manifest(outputs.directory / "manifest.json", manifest)
    print(f"wrote {manifest['frame_count']} frames of {len(manifest['layers'])} layers "
          f"to {args.output} ({manifest['frames_computed']} computed) in "
          f"{manifest['timings_s']['total']:.1f} s")
    return manifest


def _note_killed_run(outputs):
    """Say so when the folder's last run died without a word (SIGKILL, power cut): its
    manifest still says ``running`` and its process is gone. The rerun resumes it."""
    previous = outputs.previous
    if previous is None:
        return
    process = previous.get("process") or {}
    if previous.get("status") != "running" or _alive(process):
        return
    log.warning("the previous run in %s stopped without finishing (killed?); resuming "
                "it: finished frames are kept", outputs.directory)


def _alive(process):
    """Whether a run's process still runs (on this host; another host's is assumed so)."""
    if process.get("host") != platform.node():
        return process.get("host") is not None
    try:
        os.kill(int(process.get("pid", 0)), 0)
    except (OSError, ValueError):
        return False
    return int(process.get("pid", 0)) > 0


def _write_frames(frames, shot, outputs, args, tally, progress, version):
    """Write every frame and encode the preview on the way."""

    stopped = []

    def previews():
        try:
            for result in frames:
                if not result.skipped:
                    outputs.write_frame(result.number, result.alphas, {
                        "sss_version": version, "sss_source": str(args.input),
                        "sss_frame": str(result.number)}, colours=result.colours,
                        header=shot.plates.header(result.number))
                tally.add(result)
                progress.frame(result.number, skipped=result.skipped)
                yield _preview_frame(result.plate, result.alphas)
        except (SssError, KeyboardInterrupt) as exc:
            # The preview of the frames done is still worth having; report after it.
            stopped.append(exc)

    try:
        write_preview_video(outputs.directory / "preview.mp4", previews(), shot.fps)
    except SssError:
        if not stopped:     # no frame done before the stop: nothing to preview
            raise
    finally:
        progress.finish()
    if stopped:
        raise stopped[0]
