"""``sss-vfx video``: phases check, prepare output, segment frames, preview.

Every frame's files are written as soon as the frame is final, atomically; the preview
MP4 is encoded while frames go by and appears only when the shot is complete. An
interrupted or failed run leaves complete frame files and a manifest saying where it
stopped; the same command resumes it.
"""

import os
import platform
import time

import cv2
import numpy as np

from sss_vfx.cli.flags import (add_method_flags, add_run_flags, add_temporal_flags,
                               method_options, temporal_options)
from sss_vfx.errors import OptionError, SssError
from sss_vfx.io.outputs import render_preview, write_manifest
from sss_vfx.io.shot import is_sequence_pattern, open_shot
from sss_vfx.io.shot_outputs import ShotOutputs, frame_name, run_key
from sss_vfx.io.video import write_preview_video
from sss_vfx.progress import FrameProgress, peak_rss_bytes

__all__ = ["add_parser", "parse_frame_range", "run"]

#: Widest preview (plate and layers side by side); wider shots are scaled down.
PREVIEW_MAX_WIDTH = 2048


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "video", help="split every frame of a shot into soft layers, coherent in time",
        description="Split every frame of a video file or image sequence into soft layers "
                    "that keep their identity through the shot. Writes layers.NNNN.exr "
                    "per frame (the input's frame numbers), preview.mp4 and "
                    "manifest.json; rerunning the same command resumes an interrupted "
                    "run.")
    parser.add_argument("input", help=("a video file FFmpeg decodes (MOV, MP4, MKV...) or "
                                       "an image sequence: shot.%%04d.exr or shot.####.exr"))
    parser.add_argument("-o", "--output", required=True, help="output directory (created)")
    parser.add_argument("--frames", type=parse_frame_range, metavar="FIRST-LAST",
                        help="frame range to process, inclusive (default: all)")
    parser.add_argument("--start", type=int, default=0,
                        help="number of a video file's first frame (default 0)")
    parser.add_argument("--features", help="per-frame semantic features: a sequence "
                                           "pattern numbered like the frames")
    add_temporal_flags(parser)
    parser.add_argument("--pngs", action="store_true",
                        help="also write 16-bit PNG mattes to mattes/sss_layerNN.NNNN.png")
    parser.add_argument("--no-colours", action="store_true",
                        help="skip the layer colours: each EXR holds the mattes (A) only, "
                             "no premultiplied R, G, B")
    parser.add_argument("--force", action="store_true",
                        help="recompute every frame, replacing results in the folder")
    parser.add_argument("--allow-missing", action="store_true",
                        help="process the frames of a sequence that exist despite gaps")
    add_method_flags(parser)
    add_run_flags(parser)
    return parser


def parse_frame_range(text):
    """``'1001-1100'`` -> ``(1001, 1100)``; a single number is a one-frame range."""
    first, sep, last = text.partition("-")
    try:
        pair = (int(first), int(last) if sep else int(first))
    except ValueError:
        raise OptionError(f"--frames {text!r} is not FIRST-LAST, e.g. 1001-1100") from None
    if pair[0] > pair[1]:
        raise OptionError(f"--frames {text} is reversed; give FIRST-LAST with FIRST <= LAST")
    return pair


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
    return {"source": os.path.abspath(args.input) if not is_sequence_pattern(args.input)
            else args.input,
            "features": args.features, "frames": args.frames, "start": args.start,
            "allow_missing": args.allow_missing}


def _preview_frame(plate, alphas):
    preview = render_preview(plate, alphas)
    if preview.shape[1] <= PREVIEW_MAX_WIDTH:
        return preview
    scale = PREVIEW_MAX_WIDTH / preview.shape[1]
    size = (PREVIEW_MAX_WIDTH, max(2, round(preview.shape[0] * scale)))
    return cv2.resize(preview, size, interpolation=cv2.INTER_AREA)


def run(args):
    """The ``video`` command; returns the manifest."""
    from sss_vfx import __version__
    from sss_vfx.pipeline.video import segment_video

    options, linking = method_options(args), temporal_options(args)
    parameters = {**options.as_dict(), **linking.as_dict(), "colours": not args.no_colours}
    inputs = _inputs(args)
    # Bad input (missing frames, features that do not match) stops before any output.
    shot = open_shot(args.input, frames=args.frames, start=args.start,
                     features=args.features, allow_missing=args.allow_missing)
    outputs = ShotOutputs(args.output, run_key(inputs, parameters), options.layers,
                          force=args.force, pngs=args.pngs)
    manifest = {"command": "video", "version": __version__, "inputs": inputs,
                "parameters": parameters, "run_key": outputs.key,
                "layers": outputs.names, "colours": not args.no_colours,
                "status": "running", "missing_frames": shot.missing,
                "platform": {"python": platform.python_version(), "numpy": np.__version__,
                             "machine": platform.machine()}}
    write_manifest(outputs.directory / "manifest.json", manifest)
    frames = segment_video(shot, finished=outputs.finished, options=options,
                           temporal=linking, device=args.device,
                           colours=not args.no_colours)
    tally = _Tally()
    try:
        _write_frames(frames, shot, outputs, args, tally, __version__)
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


def _write_frames(frames, shot, outputs, args, tally, version):
    """Write every frame and encode the preview on the way."""
    progress = FrameProgress(args.progress, total=shot.total)

    def previews():
        for result in frames:
            if not result.skipped:
                outputs.write_frame(result.number, result.alphas, {
                    "sss_version": version, "sss_source": str(args.input),
                    "sss_frame": str(result.number)}, colours=result.colours)
            tally.add(result)
            progress(result.number, skipped=result.skipped)
            yield _preview_frame(result.plate, result.alphas)

    try:
        write_preview_video(outputs.directory / "preview.mp4", previews(), shot.fps)
    finally:
        progress.finish()
