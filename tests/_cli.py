"""Running the ``sss-vfx`` command inside the test process."""

from sss_vfx.cli import main


def run_in_process(args, capsys):
    """main(argv) in this process: (status, stdout, stderr); argparse's SystemExit
    (--help, --version, a usage error) counts as a return."""
    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err
