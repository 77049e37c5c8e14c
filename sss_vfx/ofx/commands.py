"""The ``sss-vfx serve`` and ``sss-vfx ofx`` sub-commands."""

import argparse
import dataclasses
import os
from pathlib import Path

from sss_vfx.errors import OptionError
from sss_vfx.helptext import HelpFormatter, epilog, sections
from sss_vfx.ofx.install import install_bundle
from sss_vfx.ofx.runtime import runtime_dir
from sss_vfx.ofx.server import RenderServer
from sss_vfx.ofx.shot_cache import ShotCache
from sss_vfx.options import SegmentationOptions, TemporalOptions

__all__ = ["add_ofx_parser", "add_serve_parser", "run_ofx", "run_serve", "server_options"]

#: Plugin parameters: the plugin sends them with every request, so the server's
#: --option cannot set them.
PLUGIN_PARAMETERS = ("layers", "max_pixels", "temporal", "device", "linear")
DEFAULT_IDLE_TIMEOUT_S = 900
DEFAULT_CACHE_GB = 10.0


def _default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sss-vfx" / "ofx-shots"


def add_serve_parser(subparsers):
    """Add ``serve`` to an argparse sub-parser set; returns its parser."""
    parser = subparsers.add_parser(
        "serve", help="the render server of the OpenFX plugin (started by the plugin)",
        description="Serve the SemanticSoftSegmentation OpenFX plugin: listen on a Unix "
                    "socket only you can open (in $SSS_VFX_RUNTIME_DIR, else "
                    "$XDG_RUNTIME_DIR/sss-vfx, else /tmp/sss-vfx-UID), compute each shot "
                    "once with the plugin's parameters, cache it, and exit when idle. The "
                    "plugin starts it on first use; one runs per user.",
        formatter_class=HelpFormatter,
        epilog=epilog("sss-vfx serve --idle-timeout 3600 --option window=5",
                      "guides/openfx"))
    groups = sections(parser)
    run, outputs = groups["run"], groups["outputs"]
    run.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S,
                     metavar="SECONDS",
                     help=f"exit after this long without work (default "
                          f"{DEFAULT_IDLE_TIMEOUT_S})")
    outputs.add_argument("--cache-dir", type=Path, default=None,
                         help="where computed shots are kept (default: "
                              "$XDG_CACHE_HOME/sss-vfx/ofx-shots or ~/.cache/...)")
    outputs.add_argument("--cache-gb", type=float, default=DEFAULT_CACHE_GB,
                         help=f"keep at most this many GB of shots, oldest dropped first "
                              f"(default {DEFAULT_CACHE_GB:g})")
    groups["method"].add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE",
        help="a further option of the method or of the temporal linking for every shot "
             "(e.g. --option window=5, --option eigenvectors=50); the plugin's own "
             "parameters (layers, maxPixels, temporal, device, linearInput) come from "
             "the host")
    run.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    run.add_argument("-v", "--verbose", action="store_true",
                     help="show tracebacks and debug messages")
    return parser


def add_ofx_parser(subparsers):
    """Add ``ofx`` (with ``ofx install``) to an argparse sub-parser set; returns it."""
    parser = subparsers.add_parser(
        "ofx", help="build and install the OpenFX plugin",
        description="The SemanticSoftSegmentation OpenFX plugin for Resolve, Fusion, "
                    "Natron, Flame, Vegas and Nuke's OFX host.",
        formatter_class=HelpFormatter,
        epilog=epilog("sss-vfx ofx install", "guides/openfx"))
    actions = parser.add_subparsers(dest="ofx_command", metavar="ACTION")
    install = actions.add_parser(
        "install", help="compile the plugin and install its bundle",
        description="Compile SemanticSoftSegmentation.ofx.bundle with the system C "
                    "compiler ($CC, else cc) and install it into the first folder of "
                    "OFX_PLUGIN_PATH, else /usr/OFX/Plugins, or --dest DIR.",
        formatter_class=HelpFormatter,
        epilog=epilog("sss-vfx ofx install --dest /studio/ofx", "guides/openfx"))
    run = sections(install)["run"]
    sections(install)["outputs"].add_argument(
        "--dest", type=Path, default=None,
        help="plug-in folder to install into (created if needed)")
    run.add_argument("--executable", type=Path, default=None,
                     help="a program the plugin starts as 'PROGRAM serve' (a wrapper "
                          "script that sets options); default: this environment's "
                          "Python, as 'python -I -m sss_vfx.ofx serve'")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="show tracebacks and debug messages")
    parser.set_defaults(ofx_parser=parser)
    return parser


def server_options(pairs):
    """``['window=5', ...]`` -> keyword options of :func:`sss_vfx.segment_video`.

    Raises
    ------
    OptionError
        A pair without ``=``, an unknown name, a plugin parameter, or a bad value.
    """
    fields = {}
    for cls in (SegmentationOptions, TemporalOptions):
        defaults = cls()
        for field in dataclasses.fields(cls):
            fields[field.name] = (cls, getattr(defaults, field.name))
    chosen = {cls: {} for cls in (SegmentationOptions, TemporalOptions)}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise OptionError(f"--option {pair!r} is not NAME=VALUE, e.g. --option "
                              "window=5")
        if name in PLUGIN_PARAMETERS:
            raise OptionError(f"--option {name} is a plugin parameter; set it in the host")
        if name not in fields:
            raise OptionError(f"--option {name}: unknown option; known: "
                              f"{', '.join(sorted(set(fields) - set(PLUGIN_PARAMETERS)))}")
        cls, default = fields[name]
        try:
            value = (text.strip().lower() in ("1", "true", "yes", "on")
                     if isinstance(default, bool) else type(default)(text))
        except ValueError:
            raise OptionError(f"--option {name}={text}: expected "
                              f"{type(default).__name__}") from None
        chosen[cls][name] = value
    for cls, values in chosen.items():
        cls(**values)                   # validates, with the option's own message
    return {name: value for values in chosen.values() for name, value in values.items()}


def run_serve(args):
    """The ``serve`` command; returns the exit status."""
    options = server_options(args.option)
    if not args.idle_timeout > 0:
        raise OptionError(f"--idle-timeout must be positive, got {args.idle_timeout}")
    if not args.cache_gb > 0:
        raise OptionError(f"--cache-gb must be positive, got {args.cache_gb}")
    cache = ShotCache(args.cache_dir or _default_cache_dir(), int(args.cache_gb * 1e9))
    server = RenderServer(runtime_dir(), cache, options, args.idle_timeout)
    return server.serve(ready_fd=args.ready_fd)


def run_ofx(args):
    """The ``ofx`` command; returns the exit status."""
    if getattr(args, "ofx_command", None) != "install":
        args.ofx_parser.print_help()
        return 2
    bundle = install_bundle(args.dest, executable=args.executable)
    print(f"installed {bundle}")
    return 0
