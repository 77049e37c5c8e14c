"""``sss-vfx batch SHOT [SHOT ...] -o OUTROOT``: many shots as chunks on a Dask cluster.

A LocalCluster on this machine by default (``--workers N``), or a running scheduler
(``--scheduler tcp://host:8786``). Each shot goes to ``OUTROOT/<name>``; rerunning the
same command computes only what is missing. Needs ``pip install 'sss_vfx[dask]'``.
"""

from sss_vfx.cli.farm import semantic_kwargs
from sss_vfx.cli.flags import (
    add_method_flags,
    add_plate_flags,
    add_run_flags,
    add_temporal_flags,
    method_options,
    temporal_options,
)
from sss_vfx.cli.semantic import add_semantic_flags
from sss_vfx.errors import OptionError
from sss_vfx.farm.batch import batch
from sss_vfx.farm.chunks import DEFAULT_CHUNK_FRAMES, DEFAULT_HANDLES
from sss_vfx.helptext import HelpFormatter, epilog, sections

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "batch", help="segment many shots on a Dask cluster, each cut into chunks",
        usage="%(prog)s SHOT [SHOT ...] -o OUTPUT [options]",
        description="Segment many shots, each cut into chunks (see `sss-vfx farm`), as "
                    "Dask tasks on a local cluster or a running scheduler. Rerun to "
                    "resume; a worker that dies has its chunk redone elsewhere.",
        formatter_class=HelpFormatter, epilog=epilog(
            "sss-vfx batch shotA.mov shotB.mov -o out/ --workers 2", "guides/farm"))
    groups = sections(parser)
    groups["inputs"].add_argument("shots", nargs="+", metavar="SHOT",
                                  help="image sequences (shot.%%04d.exr) or video files")
    groups["inputs"].add_argument("--features", action="append",
                                  help="features pattern of each shot, in the order of "
                                       "the shots (repeat once per shot; 'person' for the "
                                       "built-in person model)")
    add_semantic_flags(parser, video=True)   # here --guides: once per shot, in order
    add_plate_flags(parser)
    groups["outputs"].add_argument("-o", "--output", required=True,
                                   help="output root: each shot goes to "
                                        "OUTPUT/<shot name>")
    groups["outputs"].add_argument("--no-colours", action="store_true",
                                   help="EXRs hold the mattes only, no premultiplied R, G, "
                                        "B")
    groups["outputs"].add_argument("--force", action="store_true",
                                   help="replace results of other inputs or parameters")
    groups["farm"].add_argument("--workers", type=int, default=None,
                                help="worker processes of the local cluster (default: one "
                                     "per GPU, else one per CPU core)")
    groups["farm"].add_argument("--scheduler", help="address of a running Dask scheduler, "
                                                    "tcp://host:8786")
    groups["farm"].add_argument("--chunk-frames", type=int, default=DEFAULT_CHUNK_FRAMES,
                                help=f"frames each chunk owns (default "
                                     f"{DEFAULT_CHUNK_FRAMES})")
    groups["farm"].add_argument("--handles", type=int, default=DEFAULT_HANDLES,
                                help=f"frames a chunk starts before its own (default "
                                     f"{DEFAULT_HANDLES})")
    add_temporal_flags(parser)
    add_method_flags(parser)
    add_run_flags(parser)
    return parser


def run(args):
    """The ``batch`` command; returns the manifests."""
    if args.workers is not None and args.workers < 1:
        raise OptionError(f"workers must be at least 1; got {args.workers}")
    manifests = batch(args.shots, args.output, workers=args.workers,
                      scheduler=args.scheduler, features=args.features,
                      **semantic_kwargs(args),
                      chunk_frames=args.chunk_frames, handles=args.handles,
                      options=method_options(args), temporal=temporal_options(args),
                      colours=not args.no_colours, device=args.device, force=args.force,
                      progress=args.progress != "none")
    swaps = sum(len(m["join_swaps"]) for m in manifests)
    print(f"batch: {len(manifests)} shots, {sum(m['frame_count'] for m in manifests)} "
          f"frames in {args.output}" + (f"; {swaps} chunk joins changed layer order"
                                        if swaps else ""))
    return 1 if swaps else None
