"""One run at a time in an output folder: the holder is named, a killed run's lock is
taken over, ``--wait`` waits."""

import os
import platform
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import OpenImageIO as oiio
import pytest

from sss_vfx.cli import main
from sss_vfx.errors import OutputError
from sss_vfx.io.folder_lock import LOCK_NAME, hold_folder, release_folders
from sss_vfx.data import two_region_image

TINY = ["--layers", "2", "--eigenvectors", "10", "--initial-segments", "4",
        "--superpixels", "40", "--progress", "none"]


def holder(folder, seconds=60.0, name=LOCK_NAME):
    """A second process holding `folder`'s lock for `seconds`; returns once it holds."""
    code = textwrap.dedent(f"""
        import sys, time
        from sss_vfx.io.folder_lock import hold_folder
        hold_folder({str(folder)!r}, name={name!r})
        print("held", flush=True)
        time.sleep({seconds})
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               env=dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep
                                        + os.environ.get("PYTHONPATH", "")), text=True)
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.fixture(autouse=True)
def _release():
    yield
    release_folders()


def test_a_held_folder_is_refused_naming_host_and_pid(tmp_path):
    process = holder(tmp_path)
    try:
        with pytest.raises(OutputError) as info:
            hold_folder(tmp_path)
        message = str(info.value)
        assert f"pid {process.pid}" in message and platform.node() in message
        assert "--wait" in message
    finally:
        process.kill()
        process.wait()


def test_a_killed_runs_lock_is_taken_over(tmp_path):
    process = holder(tmp_path)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (tmp_path / LOCK_NAME).exists()     # the file stays; its lock died
    hold_folder(tmp_path)
    assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_NAME).read_text()


def test_wait_waits_for_the_holder_to_finish(tmp_path):
    process = holder(tmp_path, seconds=1.0)
    started = time.monotonic()
    hold_folder(tmp_path, wait=True)
    assert process.wait(timeout=5) == 0
    assert time.monotonic() - started > 0.3


def test_a_second_segment_run_refuses_and_writes_nothing(tmp_path, capsys):
    image, _ = two_region_image((32, 40))
    plate = tmp_path / "plate.png"
    assert oiio.ImageBuf((image * 255).round().astype(np.uint8)).write(str(plate))
    out = tmp_path / "out"
    out.mkdir()
    process = holder(out)
    try:
        status = main(["segment", str(plate), "-o", str(out), *TINY])
        err = capsys.readouterr().err
        assert status == 2
        lines = [line for line in err.splitlines() if line.startswith("sss-vfx: error")]
        assert len(lines) == 1 and f"pid {process.pid}" in lines[0], err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    finally:
        process.kill()
        process.wait()
    # The holder gone, the same command runs, and removes the lock file when it returns.
    assert main(["segment", str(plate), "-o", str(out), *TINY]) == 0
    assert not (out / LOCK_NAME).exists() and (out / "layers.exr").exists()


def test_a_finished_run_leaves_no_lock_file_and_a_waiter_gets_the_new_one(tmp_path):
    process = holder(tmp_path, seconds=0.5)
    hold_folder(tmp_path, wait=True)        # the holder released and removed its file
    assert process.wait(timeout=5) == 0
    assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_NAME).read_text()
    release_folders()
    assert not (tmp_path / LOCK_NAME).exists()
