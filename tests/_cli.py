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


def one_error(err):
    """The one ``sss-vfx: error`` line of a failed command's stderr (no traceback)."""
    errors = [line for line in err.splitlines() if line.startswith("sss-vfx: error")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]
