"""``python -m sss_vfx.ofx serve|ofx ...``: the bridge's commands without the ``sss-vfx``
script (tests, and environments where the script is not on PATH)."""

import argparse
import logging
import sys

from sss_vfx.errors import SssError
from sss_vfx.ofx.commands import add_ofx_parser, add_serve_parser, run_ofx, run_serve


def main(argv=None):
    """Run ``serve`` or ``ofx``; returns the exit status (2 for bad input)."""
    parser = argparse.ArgumentParser(prog="python -m sss_vfx.ofx")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_serve_parser(sub)
    add_ofx_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="sss-vfx: warning: %(message)s", stream=sys.stderr)
    try:
        return (run_serve if args.command == "serve" else run_ofx)(args)
    except SssError as exc:
        if args.verbose:
            raise
        print(f"sss-vfx: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
