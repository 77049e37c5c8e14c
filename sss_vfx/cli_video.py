"""The ``sss-vfx video`` command: phases check, prepare output, segment frames, preview.

Every frame's files are written as soon as the frame is final, atomically; the preview
MP4 is encoded while frames go by and appears only when the shot is complete. An
interrupted or failed run leaves complete frame files and a manifest saying where it
stopped; the same command resumes it.
"""

import contextlib
import os
import platform
import signal
import time

import numpy as np

from sss_vfx.errors import OptionError, SssError
from sss_vfx.io.outputs import render_preview, write_manifest
from sss_vfx.io.shot import is_sequence_pattern, open_shot
from sss_vfx.io.shot_outputs import ShotOutputs, frame_name, run_key
from sss_vfx.io.video import write_preview_video
from sss_vfx.options import SegmentationOptions, TemporalOptions
from sss_vfx.pipeline.stages import peak_rss_bytes
from sss_vfx.progress import FrameProgress
from sss_vfx.segments.colours import layer_colours, premultiplied_colours

__all__ = ["add_video_options", "parse_frame_range", "run_video"]

#: Widest preview (plate and layers side by side); wider shots are scaled down.
PREVIEW_MAX_WIDTH = 2048


def add_video_options(parser):
    """The flags of ``sss-vfx video`` beyond the method's."""
    parser.add_argument("input", help=("a video file FFmpeg decodes (MOV, MP4, MKV...) or "
                                       "an image sequence: shot.%%04d.exr or shot.####.exr"))
    parser.add_argument("-o", "--output", required=True, help="output directory (created)")
    parser.add_argument("--frames", type=parse_frame_range, metavar="FIRST-LAST",
                        help="frame range to process, inclusive (default: all)")
    parser.add_argument("--start", type=int, default=0,
                        help="number of a video file's first frame (default 0)")
    parser.add_argument("--features", help="per-frame semantic features: a sequence "
                                           "pattern numbered like the frames")
    parser.add_argument("--no-temporal", action="store_true",
                        help="segment every frame on its own (the per-frame baseline)")
    defaults = TemporalOptions()
    for name, text in (("window", "frames joined into one graph"),
                       ("overlap", "frames shared by consecutive windows"),
                       ("temporal_weight", "weight of the temporal affinity (lambda_T)"),
                       ("temporal_sigma", "colour scale of the temporal affinity"),
                       ("anchor_weight", "how strongly a window keeps the layers the "
                                         "previous window gave their shared frames"),
                       ("carry_weight", "how strongly a window's later frames follow the "
                                        "previous window's layers carried along the "
                                        "flow")):
        default = getattr(defaults, name)
        parser.add_argument("--" + name.replace("_", "-"), type=type(default),
                            default=default, help=f"{text} (default {default})")
    parser.add_argument("--pngs", action="store_true",
                        help="also write 16-bit PNG mattes to mattes/sss_layerNN.NNNN.png")
    parser.add_argument("--no-colours", action="store_true",
                        help="skip the layer colours: each EXR holds the mattes (A) only, "
                             "no premultiplied R, G, B")
    parser.add_argument("--force", action="store_true",
                        help="recompute every frame, replacing results in the folder")
    parser.add_argument("--allow-missing", action="store_true",
                        help="process the frames of a sequence that exist despite gaps")


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


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM (a farm or a host killing the job) into KeyboardInterrupt."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:          # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _inputs(args):
    return {"source": os.path.abspath(args.input) if not is_sequence_pattern(args.input)
            else args.input,
            "features": args.features, "frames": args.frames, "start": args.start,
            "allow_missing": args.allow_missing}


def _preview_frame(plate, alphas):
    preview = render_preview(plate, alphas)
    if preview.shape[1] <= PREVIEW_MAX_WIDTH:
        return preview
    import cv2

    scale = PREVIEW_MAX_WIDTH / preview.shape[1]
    size = (PREVIEW_MAX_WIDTH, max(2, round(preview.shape[0] * scale)))
    return cv2.resize(preview, size, interpolation=cv2.INTER_AREA)


def run_video(args, options):
    """The ``video`` command; returns the manifest. ``options`` are the method's."""
    from sss_vfx import __version__
    from sss_vfx.pipeline.video import segment_video

    options = SegmentationOptions.from_kwargs(**options)
    linking = TemporalOptions(temporal=not args.no_temporal, window=args.window,
                              overlap=args.overlap, temporal_weight=args.temporal_weight,
                              temporal_sigma=args.temporal_sigma,
                              anchor_weight=args.anchor_weight,
                              carry_weight=args.carry_weight)
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
                "status": "running",
                "missing_frames": shot.missing,
                "platform": {"python": platform.python_version(), "numpy": np.__version__,
                             "machine": platform.machine()}}
    write_manifest(outputs.directory / "manifest.json", manifest)
    frames = segment_video(args.input, args.features, frames=args.frames, start=args.start,
                           allow_missing=args.allow_missing, finished=outputs.finished,
                           device=args.device, **linking.as_dict(), **options.as_dict())
    state = {"first": None, "last": None, "count": 0, "computed": 0, "size": None,
             "last_result": None, "colours_s": 0.0}
    started = time.perf_counter()
    try:
        with _terminate_as_interrupt():
            _run_frames(frames, shot, outputs, args, state, __version__)
    except (SssError, KeyboardInterrupt) as exc:
        manifest.update(_summary(state, started), status="interrupted" if isinstance(
            exc, KeyboardInterrupt) else "failed", error=str(exc) or None)
        write_manifest(outputs.directory / "manifest.json", manifest)
        raise
    manifest.update(_summary(state, started), status="complete", fps=float(shot.fps),
                    outputs=[frame_name("layers", 0, ".exr").replace(".0000.", ".%04d."),
                             "preview.mp4", "manifest.json"]
                    + (["mattes/sss_layerNN.%04d.png"] if args.pngs else []))
    write_manifest(outputs.directory / "manifest.json", manifest)
    return manifest


def _run_frames(frames, shot, outputs, args, state, version):
    """Write every frame and encode the preview on the way."""
    progress = FrameProgress(args.progress, total=shot.total)

    def previews():
        for result in frames:
            alphas = result.alphas
            if alphas is None:
                alphas = outputs.finished(result.number)
            else:
                outputs.write_frame(result.number, alphas, {
                    "sss_version": version, "sss_source": str(args.input),
                    "sss_frame": str(result.number)},
                    colours=None if args.no_colours else _colours(result, state))
                state["computed"] += 1
            state["first"] = result.number if state["first"] is None else state["first"]
            state["last"] = result.number
            state["count"] += 1
            state["size"] = result.plate.shape[:2]
            state["last_result"] = result
            progress(result.number, skipped=result.skipped)
            yield _preview_frame(result.plate, alphas)

    try:
        write_preview_video(outputs.directory / "preview.mp4", previews(), shot.fps)
    finally:
        progress.finish()


def _colours(result, state):
    """A frame's premultiplied layer colours (DESIGN step 8), timed into ``state``."""
    started = time.perf_counter()
    colours = premultiplied_colours(layer_colours(result.plate, result.alphas),
                                    result.alphas)
    state["colours_s"] += time.perf_counter() - started
    return colours


def _summary(state, started):
    result = state["last_result"]
    summary = {"frames": [state["first"], state["last"]], "frame_count": state["count"],
               "frames_computed": state["computed"],
               "timings_s": dict(result.timings if result else {},
                                 colours=round(state["colours_s"], 4),
                                 total=round(time.perf_counter() - started, 4)),
               "peak_rss_bytes": peak_rss_bytes()}
    if state["size"] is not None:
        summary["size"] = {"width": int(state["size"][1]), "height": int(state["size"][0])}
    if result is not None:
        summary["notes"] = result.notes
        summary["device"] = result.device
    return summary
