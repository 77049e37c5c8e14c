"""The OpenFX plugin, compiled with the system C compiler and driven by a test host
(tests/ofx_host.py): the actions a host runs, and every rendered frame compared with
``sss-vfx video`` on the same frames, rendered in tiles with the source cropped to the
region of interest the plugin declares."""

import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from ofx_host import FAILED, FILTER, GENERAL, OK, OfxTestHost
from ofx_support import (ORIGIN, bundle, expected, frames, open_instance,  # noqa: F401
                         reference, runtime, server_pid, stale_socket, tiles)
from sss_vfx.ofx.install import bundle_binary
from sss_vfx.options import DEFAULT_MAX_PIXELS

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None,
                                reason="no C compiler")

def test_describe_declares_what_hosts_read(bundle):
    host = OfxTestHost(bundle_binary(bundle))
    assert host.load() == OK
    status, props = host.describe()
    assert status == OK
    assert props.get("OfxPropLabel") == "SemanticSoftSegmentation"
    assert props.get("OfxImageEffectPluginPropGrouping") == "sss_vfx"
    assert props.values["OfxImageEffectPropSupportedContexts"] == [FILTER, GENERAL]
    assert props.values["OfxImageEffectPropSupportedPixelDepths"] == ["OfxBitDepthFloat"]
    assert props.get("OfxImageEffectPropTemporalClipAccess") == 1
    # the standard's name (the macro kOfxImageEffectPropSupportsMultipleClipDepths)
    assert props.values["OfxImageEffectPropMultipleClipDepths"] == [0]
    assert "OfxImageEffectPropSupportsMultipleClipDepths" not in props.values
    # inputs of any size and offset; fielded footage rendered once per frame
    assert props.get("OfxImageEffectPropSupportsMultiResolution") == 1
    assert props.get("OfxImageEffectPluginPropFieldRenderTwiceAlways") == 0
    assert props.get("OfxImageEffectPropClipPreferencesSlaveParam") == "outputLayer"
    assert props.get("OfxImageEffectPropColourManagementStyle") == \
        "OfxImageEffectPropColourManagementCore"
    assert props.get("OfxImageEffectPluginRenderThreadSafety") == \
        "OfxImageEffectRenderFullySafe"
    status, clips, params = host.describe_in_context(FILTER)
    assert status == OK and sorted(clips) == ["Output", "Source"]
    status, clips, params = host.describe_in_context(GENERAL)
    assert status == OK and sorted(clips) == ["Guides", "Output", "Source"]
    assert clips["Guides"].get("OfxImageClipPropOptional") == 1
    # whole input frames (no input tiles), both fields of interlaced material
    assert clips["Source"].get("OfxImageEffectPropSupportsTiles") == 0
    assert clips["Output"].get("OfxImageEffectPropSupportsTiles") == 1
    assert clips["Source"].get("OfxImageClipPropFieldExtraction") == "OfxFieldBoth"
    defaults = {name: p.get("OfxParamPropDefault") for name, p in params.items()}
    assert defaults == {"layers": 5, "outputLayer": 0, "temporal": 1, "linearInput": 1,
                        "maxPixels": DEFAULT_MAX_PIXELS, "device": "auto"}
    assert (params["layers"].get("OfxParamPropMin"),
            params["layers"].get("OfxParamPropMax")) == (1, 16)
    assert {p.get("OfxParamPropScriptName") for p in params.values()} == set(params)
    assert host.unload() == OK


def test_renders_every_frame_as_the_cli_in_any_order(bundle, frames, reference, runtime,
                                                     capsys):
    runtime.mkdir(mode=0o700)
    stale_socket(runtime / "server.sock")      # a server that died before
    host, instance = open_instance(bundle, frames)
    status, rod = instance.region_of_definition(2)
    assert status == OK and rod == [3.0, -2.0, 43.0, 30.0]
    status, needed = instance.frames_needed(2)
    assert status == OK and needed == [1.0, 4.0]
    timings = []
    for number in (3, 1, 4, 2):
        for layer in (1, 0, 3, 2):
            instance.set("outputLayer", layer)
            started = time.perf_counter()
            status, out = instance.render(number, tiles())
            timings.append(time.perf_counter() - started)
            assert status == OK, host.messages
            assert not np.isnan(out).any()
            np.testing.assert_allclose(out, expected(reference, frames, number, layer),
                                       atol=2e-3 if layer else 1.5 / 255)
    assert host.fetched == host.released          # every image given back
    assert "start" in host.progress and "end" in host.progress
    assert (runtime / "server.sock").stat().st_mode & 0o777 == 0o600
    assert instance.destroy() == OK and host.unload() == OK
    with capsys.disabled():
        print(f"\nOFX render 4x{frames[0].shape[1]}x{frames[0].shape[0]}: first (server "
              f"start + shot) {timings[0]:.2f} s, cached median "
              f"{sorted(timings[1:])[len(timings) // 2]:.4f} s")


def test_one_tile_touches_only_its_window(bundle, frames, reference, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=2)
    window = (ORIGIN[0] + 5, ORIGIN[1] + 7, ORIGIN[0] + 30, ORIGIN[1] + 20)
    status, out = instance.render(2, [window])
    assert status == OK, host.messages
    inside = np.zeros(out.shape[:2], bool)
    # rows of `out` run top to bottom; OFX y runs bottom to top
    height = out.shape[0]
    inside[height - (window[3] - ORIGIN[1]):height - (window[1] - ORIGIN[1]),
           window[0] - ORIGIN[0]:window[2] - ORIGIN[0]] = True
    assert np.isnan(out[~inside]).all()
    np.testing.assert_allclose(out[inside], expected(reference, frames, 2, 2)[inside],
                               atol=2e-3)


def test_concurrent_renders_start_one_server(bundle, frames, reference, runtime):
    host, instance = open_instance(bundle, frames, outputLayer=3)
    results = {}

    def render(number):
        results[number] = instance.render(number)

    threads = [threading.Thread(target=render, args=(n,)) for n in (4, 1, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for number, (status, out) in results.items():
        assert status == OK, host.messages
        np.testing.assert_allclose(out, expected(reference, frames, number, 3), atol=2e-3)
    assert (runtime / "serve.log").read_text().count("computing shot") == 1
    assert host.fetched == host.released
    assert host.nested_progress == 0              # one progress owner per instance


def test_changed_parameter_or_frame_recomputes(bundle, frames, runtime, tmp_path):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    status, first = instance.render(1)
    assert status == OK, host.messages
    instance.set("temporal", 0)
    status, per_frame = instance.render(1)
    assert status == OK
    changed = [f.copy() for f in frames]
    changed[2][:, :20, :3] *= 0.5                 # a source frame edited in the host
    instance.frames = changed
    status, edited = instance.render(1)
    assert status == OK
    shots = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert len(shots) == 3
    assert not np.array_equal(first, per_frame)


def test_frame_size_changing_mid_clip_fails_clearly(bundle, frames, runtime):
    odd = [f.copy() for f in frames]
    odd[2] = odd[2][:30]
    host, instance = open_instance(bundle, frames)
    instance.frames = odd
    status, out = instance.render(1)
    assert status == FAILED
    assert "frame 3 is 40x30 but frame 1 is 40x32" in host.messages[-1][1]
    assert host.modal_in_render == []           # a persistent message, not a dialog
    assert host.fetched == host.released
    assert server_pid(runtime) is None            # failed before any server work


@pytest.mark.parametrize("kills", [1, 2])
def test_killed_server_is_restarted_once(bundle, frames, reference, runtime, kills):
    host, instance = open_instance(bundle, frames, outputLayer=1)
    killed = []

    def killer():
        deadline = time.monotonic() + 120
        while len(killed) < kills and time.monotonic() < deadline:
            log = runtime / "serve.log"
            text = log.read_text() if log.exists() else ""
            pid = server_pid(runtime)
            if text.count("computing shot") > len(killed) and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    status, out = instance.render(4)
    thread.join()
    assert len(killed) == kills
    if kills == 1:
        assert status == OK, host.messages
        np.testing.assert_allclose(out, expected(reference, frames, 4, 1), atol=2e-3)
    else:
        assert status == FAILED
        assert "stopped during the render" in host.messages[-1][1]


def test_server_that_cannot_start_fails_the_render(bundle, frames, runtime, tmp_path,
                                                   monkeypatch):
    broken = tmp_path / "broken-sss-vfx"
    broken.write_text("#!/bin/sh\necho 'sss-vfx: error: torch is broken' >&2\nexit 2\n")
    broken.chmod(0o755)
    monkeypatch.setenv("SSS_VFX_EXECUTABLE", str(broken))
    host, instance = open_instance(bundle, frames)
    started = time.monotonic()
    status, out = instance.render(1)
    assert status == FAILED
    assert time.monotonic() - started < 20
    message = host.messages[-1][1]
    assert "did not start" in message and "torch is broken" in message


def test_recorded_executable_is_used_without_override(bundle, frames, runtime,
                                                      monkeypatch):
    monkeypatch.delenv("SSS_VFX_EXECUTABLE")
    host, instance = open_instance(bundle, frames, outputLayer=1)
    status, out = instance.render(2)
    assert status == OK, host.messages
    assert (bundle.parent.parent / "recorded-cache").is_dir()


def test_unsafe_runtime_folder_is_refused(bundle, frames, runtime):
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    host, instance = open_instance(bundle, frames)
    status, out = instance.render(1)
    assert status == FAILED
    assert "mode 755" in host.messages[-1][1] and "chmod 700" in host.messages[-1][1]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_socket_of_another_user_is_refused(bundle, frames, runtime):
    runtime.mkdir(mode=0o700)
    os.chown(stale_socket(runtime / "server.sock"), 12345, 12345)
    host, instance = open_instance(bundle, frames)
    status, out = instance.render(1)
    assert status == FAILED
    assert "not a socket of yours" in host.messages[-1][1]


def test_abort_stops_without_a_message(bundle, frames, runtime):
    host, instance = open_instance(bundle, frames)
    host.aborting = True
    status, out = instance.render(1)
    assert status == FAILED
    assert host.messages == [] and host.fetched == host.released
