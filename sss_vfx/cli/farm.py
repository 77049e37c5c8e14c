"""``sss-vfx farm plan|chunk|finalise|openjd``: a shot as render-farm tasks.

Each step is one plain command with a real exit status, logs on standard error and
idempotent outputs (:mod:`sss_vfx.farm`): ``plan`` once, then every ``chunk`` in any
order on any machine sharing the output folder, then ``finalise``. ``openjd`` writes an
Open Job Description template of the three steps.
"""

import json
import sys

from sss_vfx.cli.flags import (
    add_method_flags,
    add_plate_flags,
    add_run_flags,
    add_temporal_flags,
    add_wait_flag,
    flag_name,
    method_options,
    plate_options,
    temporal_options,
)
from sss_vfx.cli.semantic import add_semantic_flags
from sss_vfx.cli.video import parse_frame_range
from sss_vfx.farm.chunk import chunk_for_frames, run_chunk
from sss_vfx.farm.chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_HANDLES
from sss_vfx.farm.finalise import finalise_shot
from sss_vfx.farm.layout import FarmFolder
from sss_vfx.farm.openjd import write_job_template
from sss_vfx.farm.plan import plan_shot
from sss_vfx.helptext import HelpFormatter, epilog, sections
from sss_vfx.options import SegmentationOptions, TemporalOptions

__all__ = ["add_parser", "run"]


def _add_shot_flags(parser):
    inputs, farm = sections(parser)["inputs"], sections(parser)["farm"]
    inputs.add_argument("input", help="an image sequence (shot.%%04d.exr, shot.####.exr) "
                                      "or a video file, on storage every machine mounts")
    inputs.add_argument("--frames", type=parse_frame_range, metavar="FIRST-LAST",
                        help="frame range of the shot, inclusive (default: all)")
    inputs.add_argument("--start", type=int, default=0,
                        help="number of a video file's first frame (default 0)")
    inputs.add_argument("--features", help="per-frame semantic features: a sequence "
                                           "pattern numbered like the frames; or "
                                           "'person' for the built-in person model "
                                           "(needs sss_vfx[people])")
    add_semantic_flags(parser, video=True)
    add_plate_flags(parser)
    inputs.add_argument("--allow-missing", action="store_true",
                        help="process the frames of a sequence that exist despite gaps")
    _add_output(parser, "the shot's output folder, shared by every step")
    sections(parser)["outputs"].add_argument(
        "--no-colours", action="store_true",
        help="EXRs hold the mattes only, no premultiplied R, G, B")
    farm.add_argument("--chunk-frames", type=int, default=DEFAULT_CHUNK_FRAMES,
                      help=f"frames each chunk owns (default {DEFAULT_CHUNK_FRAMES})")
    farm.add_argument("--handles", type=int, default=DEFAULT_HANDLES,
                      help="frames a chunk starts before its own: its key frame and "
                           f"the joins cross-faded (default {DEFAULT_HANDLES})")
    add_temporal_flags(parser)
    add_method_flags(parser)


def _add_output(parser, text, positional=False):
    names = ("output",) if positional else ("-o", "--output")
    sections(parser)["outputs"].add_argument(
        *names, help=text, **({} if positional else {"required": True}))


def _step(steps, name, usage, text, example):
    """A farm step's parser: ``text`` is its one-line help, and its description."""
    return steps.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                            usage=f"%(prog)s {usage}", formatter_class=HelpFormatter,
                            epilog=epilog(example, "guides/farm"))


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "farm", help="a shot as render-farm steps: plan, chunks, finalise",
        description="Cut a shot into chunks that run concurrently on different machines "
                    "sharing the output folder, with one layer order for the whole shot.",
        formatter_class=HelpFormatter, epilog=epilog(
            "sss-vfx farm plan 'plates/shot.%04d.exr' -o out/shot", "guides/farm"))
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    plan = _step(steps, "plan", "INPUT -o OUTPUT [options]",
                 "cut the shot into chunks and segment the key frames (farm/plan.json, "
                 "farm/keys/)", "sss-vfx farm plan 'plates/shot.%04d.exr' -o out/shot")
    _add_shot_flags(plan)
    sections(plan)["outputs"].add_argument(
        "--force", action="store_true",
        help="replace a plan and results of other inputs or parameters")
    add_run_flags(plan)
    chunk = _step(steps, "chunk", "OUTPUT (--chunk N | --frames FIRST-LAST) [options]",
                  "compute one chunk (or those a frame range meets); does nothing when "
                  "already finished", "sss-vfx farm chunk out/shot --chunk 3")
    _add_output(chunk, "the shot's output folder holding farm/plan.json", positional=True)
    which = sections(chunk)["farm"].add_mutually_exclusive_group(required=True)
    which.add_argument("--chunk", type=int, action="append",
                       help="chunk index from 0 (repeatable)")
    which.add_argument("--frames", type=parse_frame_range, metavar="FIRST-LAST",
                       help="run the chunks owning frames in this range (a farm task's "
                            "frame range)")
    add_wait_flag(chunk)
    add_run_flags(chunk)
    final = _step(steps, "finalise", "OUTPUT [options]",
                  "cross-fade the chunk joins and write manifest.json once every chunk "
                  "finished", "sss-vfx farm finalise out/shot")
    _add_output(final, "the shot's output folder", positional=True)
    sections(final)["run"].add_argument("--verbose", action="store_true",
                                        help="tracebacks on errors")
    openjd = _step(steps, "openjd", "INPUT -o OUTPUT [options]",
                   "write an Open Job Description job template (plan, chunks, finalise)",
                   "sss-vfx farm openjd 'plates/shot.%04d.exr' -o out/shot")
    _add_shot_flags(openjd)
    sections(openjd)["outputs"].add_argument(
        "--template", help="where to write the template (default "
                           "OUTPUT/job.template.json)")
    sections(openjd)["farm"].add_argument(
        "--command", default="sss-vfx", dest="program",
        help="the sss-vfx command on the farm's machines (default sss-vfx)")
    add_run_flags(openjd)
    return parser


def _shot_kwargs(args):
    options, linking = method_options(args), temporal_options(args)
    return dict(features=args.features, frames=args.frames, start=args.start,
                allow_missing=args.allow_missing, chunk_frames=args.chunk_frames,
                handles=args.handles, options=options, temporal=linking,
                colours=not args.no_colours, **semantic_kwargs(args))


def semantic_kwargs(args):
    """The guides, feature model and plate options of parsed arguments, as
    :func:`~sss_vfx.farm.plan_shot` takes them."""
    return dict(guides=args.guides, guide_names=args.guides_names,
                feature_model=args.feature_model,
                feature_model_mean=args.feature_model_mean,
                feature_model_std=args.feature_model_std, plate=plate_options(args))


def semantic_flags(kwargs):
    """The flags giving the semantic inputs and plate options of ``kwargs`` (popped
    from it), for the plan step of a job template."""
    flags = []
    for pattern in kwargs.pop("guides") or ():
        flags += ["--guides", str(pattern)]
    for key, flag in (("guide_names", "--guides-names"), ("feature_model", "--feature-model"),
                      ("feature_model_mean", "--feature-model-mean"),
                      ("feature_model_std", "--feature-model-std")):
        value = kwargs.pop(key)
        if value is not None:
            flags += [flag, str(value)]
    for name, value in kwargs.pop("plate").as_dict().items():
        if value is not None:
            flags += [flag_name(name), str(value)]
    if kwargs.get("features") == "person":
        flags += ["--features", kwargs.pop("features")]
    return flags


def run(args):
    """The ``farm`` command; returns None or an exit status."""
    return {"plan": _plan, "chunk": _chunk, "finalise": _finalise,
            "openjd": _openjd}[args.step](args)


def _plan(args):
    plan = plan_shot(args.input, args.output, device=args.device, force=args.force,
                     **_shot_kwargs(args))
    print(f"planned {len(plan['numbers'])} frames in {len(plan['chunks'])} chunks "
          f"(run key {plan['run_key']}) in {args.output}")


def _chunk(args):
    indices = args.chunk or chunk_for_frames(FarmFolder(args.output).read_plan(),
                                             *args.frames)

    def progress(number, skipped):
        if args.progress != "none":
            print(f"sss-vfx: frame {number} {'kept' if skipped else 'done'}",
                  file=sys.stderr, flush=True)

    for index in indices:
        summary = run_chunk(args.output, index, device=args.device, progress=progress,
                            wait=args.wait)
        print(json.dumps(summary) if args.progress == "json" else
              f"chunk {index}: " + ("finished already" if summary["skipped"] else
                                    f"{summary['computed']} frames computed in "
                                    f"{summary['seconds']:.1f} s"))


def _finalise(args):
    manifest = finalise_shot(args.output)
    print(f"finalised {manifest['frame_count']} frames of {manifest['chunks']} chunks "
          f"in {args.output}" + (f"; layer order differs at frames {manifest['join_swaps']}"
                                 if manifest["join_swaps"] else ""))
    return 1 if manifest["join_swaps"] else None


def _openjd(args):
    kwargs = _shot_kwargs(args)
    kwargs.pop("colours")
    semantic = semantic_flags(kwargs)
    path = write_job_template(
        args.input, args.output, args.template, program=args.program,
        plan_flags=option_flags(kwargs.pop("options"), kwargs.pop("temporal")) + semantic
        + (["--no-colours"] if args.no_colours else [])
        + (["--device", args.device] if args.device else []),
        chunk_flags=["--device", args.device] if args.device else [], **kwargs)
    print(f"wrote {path}")


def option_flags(options, linking):
    """The flags that give ``options`` and ``linking`` where they differ from the
    defaults (the template's plan step repeats them)."""
    flags = [] if linking.temporal else ["--no-temporal"]
    for current, default in ((options, SegmentationOptions()), (linking, TemporalOptions())):
        for name, value in current.as_dict().items():
            if name != "temporal" and value != getattr(default, name):
                flags += [flag_name(name), str(value)]
    return flags
