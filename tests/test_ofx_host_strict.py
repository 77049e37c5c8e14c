"""The OpenFX plugin in a host as strict as the standard lets one be: each test is a
defect a real host would show (issue 21's OpenFX list, issue 25's tiling host) and
failed on the plugin before it was fixed."""

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from ofx_host import FAILED, INFINITE_MAX, INFINITE_MIN, OK
from ofx_support import (ORIGIN, bundle, expected, frames, isolated_python,  # noqa: F401
                         open_instance, reference, runtime, serve_script, server_pid,
                         stop_server)
from sss_vfx.ofx.install import install_bundle

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", f"command -v {os.environ.get('CC', 'cc')}"],
                   capture_output=True).returncode != 0, reason="no C compiler")

RANGE = [3.0, -2.0, 43.0, 30.0]            # the source's region of definition


def computed_shots(runtime):
    log = runtime / "serve.log"
    return log.read_text().count("computing shot") if log.exists() else 0


def test_regions_of_interest_ask_for_the_whole_source_frame(bundle, frames):
    host, instance = open_instance(bundle, frames)
    window = (ORIGIN[0] + 5, ORIGIN[1] + 4, ORIGIN[0] + 9, ORIGIN[1] + 8)
    status, roi = instance.regions_of_interest(2, window)
    assert status == OK and roi == RANGE
    status, needed = instance.frames_needed(3)
    assert status == OK and needed == [1.0, 4.0]


def test_input_cropped_against_the_region_of_interest_is_refused(bundle, frames, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    instance.honour_roi = False
    window = (ORIGIN[0], ORIGIN[1], ORIGIN[0] + 20, ORIGIN[1] + 32)
    status, _ = instance.render(2, [window])
    assert status == FAILED
    assert "needs whole frames" in host.messages[-1][1]
    assert host.modal_in_render == [] and host.fetched == host.released


def test_hashes_are_kept_between_begin_and_end_of_a_sequence(bundle, frames, reference,
                                                             runtime):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    fetches = []
    with instance.sequence(1, 4):
        for number in (1, 2, 3, 4):
            before = instance.source_fetches
            status, out = instance.render(number)
            assert status == OK, host.messages
            fetches.append(instance.source_fetches - before)
            np.testing.assert_allclose(out, expected(reference, frames, number, 1),
                                       atol=2e-3)
    # the first render hashes the clip and hands it over; later ones re-read only
    # the frame they render (before: the whole clip, at every render)
    assert fetches[0] == 8 and fetches[1:] == [1, 1, 1]
    # a new sequence sees a source frame edited in between
    changed = [f.copy() for f in frames]
    changed[2][:, :20, :3] *= 0.5
    instance.frames = changed
    assert instance.render(1)[0] == OK
    assert computed_shots(runtime) == 2


def test_progress_answering_no_is_not_a_cancel(bundle, frames, reference, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=2)
    host.progress_no = 10 ** 6       # the host's main thread never catches up
    status, out = instance.render(3)
    assert status == OK, host.messages
    np.testing.assert_allclose(out, expected(reference, frames, 3, 2), atol=2e-3)
    assert host.progress.count("start") == host.progress.count("end") == 1


def test_render_scale_other_than_one_is_refused(bundle, frames, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    assert instance.region_of_definition(2, scale=0.5)[0] == FAILED
    assert instance.region_of_definition(2)[0] == OK
    status, _ = instance.render(2, scale=0.5)
    assert status == FAILED
    assert "full resolution only" in host.messages[-1][1]
    assert host.modal_in_render == [] and computed_shots(runtime) == 0


def test_clip_preferences_declare_premultiplied_layers(bundle, frames):
    host, instance = open_instance(bundle, frames)
    status, preferences = instance.clip_preferences()
    assert status == OK
    assert preferences.get("OfxImageEffectPropPreMultiplication") == "OfxImageOpaque"
    assert preferences.values["OfxImageClipPropPreferredColourspaces_Source"] == [
        "lin_rec709_srgb", "srgb_tx", "ofx_linear", "ofx_sdr"]
    instance.set("outputLayer", 2)
    status, preferences = instance.clip_preferences()
    assert preferences.get("OfxImageEffectPropPreMultiplication") == \
        "OfxImageAlphaPremultiplied"


def test_a_field_renders_the_frame_it_belongs_to(bundle, frames, reference, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    status, out = instance.render(2.5, field="OfxFieldUpper")   # second field of 2
    assert status == OK, host.messages
    np.testing.assert_allclose(out, expected(reference, frames, 2, 1), atol=2e-3)
    assert computed_shots(runtime) == 1


def test_missing_frame_is_black_and_outside_the_range_is_clean(bundle, frames, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    instance.missing = {3}
    for number in (1, 3):
        status, out = instance.render(number)
        assert status == OK, host.messages
        assert not np.isnan(out).any()
    status, out = instance.render(9)                  # after the clip's last frame
    assert status == OK and not out.any()
    assert host.messages == [] and computed_shots(runtime) == 1


def test_unbounded_frame_range_is_one_frame(bundle, frames, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=1,
                                   frame_range=[float(INFINITE_MIN), float(INFINITE_MAX)])
    assert instance.frames_needed(2) == (OK, [2.0, 2.0])
    status, out = instance.render(2)
    assert status == OK, host.messages
    assert not np.isnan(out).any()


def test_colour_space_named_by_the_host_decides(bundle, frames, reference, runtime):
    # the frames are scene-linear: the host says so, whatever the switch says
    host, instance = open_instance(bundle, frames, outputLayer=1, linearInput=0)
    instance.colourspace = "lin_rec709_srgb"
    status, out = instance.render(2)
    assert status == OK, host.messages
    np.testing.assert_allclose(out, expected(reference, frames, 2, 1), atol=2e-3)
    instance.colourspace = "ACEScct"
    status, _ = instance.render(2)
    assert status == FAILED and "colour space 'ACEScct'" in host.messages[-1][1]


@pytest.mark.slow
def test_request_for_a_long_clip_is_sent(bundle, runtime):
    """60000 frames: beyond the old 1 MiB message cap, which read as 'server crashed'.
    The server answers (here: the layer asked for does not exist)."""
    frame = np.full((16, 16, 4), 0.25, np.float32)
    host, instance = open_instance(bundle, [frame] * 60000, outputLayer=4)
    status, _ = instance.render(1)
    assert status == FAILED
    assert "outputLayer is 4 but there are 3 layers" in host.messages[-1][1]


def test_non_ascii_folders_with_trailing_slashes(bundle, frames, reference, tmp_path,
                                                 monkeypatch):
    runtime = tmp_path / "rtë"
    monkeypatch.setenv("SSS_VFX_RUNTIME_DIR", str(runtime) + "/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cachë") + "/")
    monkeypatch.setenv("SSS_VFX_EXECUTABLE",
                       str(serve_script(tmp_path / "sss-vfx", tmp_path / "cache")))
    try:
        host, instance = open_instance(bundle, frames, outputLayer=1)
        status, out = instance.render(4)
        assert status == OK, host.messages
        np.testing.assert_allclose(out, expected(reference, frames, 4, 1), atol=2e-3)
    finally:
        stop_server(runtime)


def test_frames_go_to_a_disk_spool_not_the_runtime_folder(bundle, frames, runtime,
                                                          tmp_path):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    assert instance.render(1)[0] == OK, host.messages
    assert sorted(p.name for p in runtime.iterdir()) == ["serve.log", "server.lock",
                                                         "server.sock"]
    spool = tmp_path / "xdg-cache" / "sss-vfx" / "ofx-frames"
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert (spool / "out").is_dir() and not list((spool / "out").iterdir())
    # the shot is cached and the render is over: its frames leave the disk
    deadline = time.monotonic() + 10
    while list((spool / "frames").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((spool / "frames").iterdir()) == []


def _status_field(pid, name):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(name + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {name} in /proc/{pid}/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_server_leaves_the_host_python_descriptors_and_signals(bundle, frames, runtime,
                                                                tmp_path, monkeypatch):
    # a host that bundles Python, holds a lock file and blocks or ignores signals
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "host" / "python"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "host" / "lib"))
    held = os.open(tmp_path / "host.lock", os.O_RDWR | os.O_CREAT)
    os.set_inheritable(held, True)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    ignored = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        host, instance = open_instance(bundle, frames, outputLayer=1)
        status, _ = instance.render(1)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGUSR2, ignored)
        os.close(held)
    assert status == OK, host.messages
    pid = server_pid(runtime)
    assert _status_field(pid, "SigBlk") == 0
    assert not _status_field(pid, "SigIgn") & (1 << (signal.SIGUSR2 - 1))
    assert str(tmp_path / "host.lock") not in _open_files(pid)


def _open_files(pid):
    """What a process's descriptors point to; one it closes while they are listed (the
    server opens and closes frame files as it works) is left out."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return targets


def test_recorded_python_runs_the_server_isolated(frames, tmp_path, monkeypatch):
    record = tmp_path / "serve"
    python = isolated_python(tmp_path / "python", record, tmp_path / "cache")
    bundle = install_bundle(tmp_path / "plugins", python=python)
    runtime = tmp_path / "rt"
    monkeypatch.setenv("SSS_VFX_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SSS_VFX_EXECUTABLE", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "host-lib"))
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "host-python"))
    try:
        host, instance = open_instance(bundle, frames, outputLayer=1)
        status, _ = instance.render(1)
        assert status == OK, host.messages
    finally:
        stop_server(runtime)
    assert (tmp_path / "serve.argv").read_text().split() == [
        "-I", "-m", "sss_vfx.ofx", "serve", "--ready-fd", "3"]
    env = (tmp_path / "serve.env").read_text().splitlines()
    assert not [line for line in env if line.startswith("PYTHON")]
