"""The ``sss-vfx`` command: one module per sub-command, flags in :mod:`.flags`.

``main(argv)`` parses, runs the sub-command's phases and turns every
:class:`~sss_vfx.errors.SssError` into one line on standard error (parameter names
written as flags) and exit status 2; a traceback appears only with ``--verbose``.
SIGTERM (a farm or a host stopping the job) is handled like Ctrl-C: exit 130, finished
files complete, nothing half-written.
"""

import argparse
import contextlib
import logging
import signal
import sys

from sss_vfx.cli import batch, devices, farm, models, ofx, segment, serve, video
from sss_vfx.cli.flags import to_flags
from sss_vfx.errors import SssError
from sss_vfx.helptext import HelpFormatter, epilog
from sss_vfx.io.folder_lock import release_folders
from sss_vfx.version import __version__

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "build_parser", "main"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

#: Sub-command name -> module with ``add_parser(subparsers)`` and ``run(args)``.
COMMANDS = {"segment": segment, "video": video, "devices": devices, "serve": serve,
            "ofx": ofx, "farm": farm, "batch": batch, "models": models}


def build_parser():
    """The argument parser of ``sss-vfx`` and its sub-commands."""

    parser = argparse.ArgumentParser(
        prog="sss-vfx",
        description="Automatic soft mattes by Semantic Soft Segmentation (Aksoy et al. "
                    "2018). Each command's --help lists its flags under headings.",
        formatter_class=HelpFormatter,
        epilog=epilog("sss-vfx segment sample_shots/strands.png "
                      "--guides sample_shots/strands_roto.png -o out/strands", "index"))
    parser.add_argument("--version", action="version", version=f"sss-vfx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    parser.commands = sub.choices     # name -> the sub-command's parser
    return parser


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt while a command runs."""
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


class _FlagFormatter(logging.Formatter):
    def format(self, record):
        return to_flags(super().format(record))


def _configure_logging(verbose):
    """As ``logging.basicConfig``: a stderr handler unless one exists already."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_FlagFormatter("sss-vfx: warning: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv=None):
    """Run ``sss-vfx``; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:     # the usage of the sub-command they were meant for
        parser.commands.get(args.command, parser).error(
            f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    verbose = getattr(args, "verbose", False)
    _configure_logging(verbose)
    try:
        with _terminate_as_interrupt():
            status = COMMANDS[args.command].run(args)
    except SssError as exc:
        if verbose:
            raise
        print(f"sss-vfx: error: {to_flags(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("sss-vfx: interrupted; finished files are complete, nothing half-written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        if verbose:
            raise
        print("sss-vfx: error: out of memory; lower --max-pixels (the working image) "
              "or --eigenvectors", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        release_folders()       # the output folder's lock (sss_vfx.io.folder_lock)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
