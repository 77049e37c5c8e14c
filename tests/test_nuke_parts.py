"""The Nuke plugin's parts that need no Nuke: frame patterns, settings, the command
line, progress lines, EXR headers, the cache key, the executable, the preview colours
and the subprocess runner."""

import json
import os
import stat
import sys
import tempfile
import textwrap
import time

import numpy as np
import OpenEXR
import pytest

from sss_vfx.io.exr import write_layers_exr
from sss_vfx.io.outputs import layer_palette

pytest_plugins = ["nuke_double"]  # the fake_nuke and plugin fixtures


def test_frame_patterns(plugin):
    frames = plugin.frames
    assert frames.printf_pattern("/s/plate.####.exr") == "/s/plate.%04d.exr"
    assert frames.printf_pattern("/s/plate.%04d.exr") == "/s/plate.%04d.exr"
    assert frames.frame_path("/s/plate.####.exr", 7) == "/s/plate.0007.exr"
    assert frames.frame_path("/s/plate.%d.png", 1001) == "/s/plate.1001.png"
    assert frames.frame_paths("a.%03d.tif", 9, 11) == ["a.009.tif", "a.010.tif", "a.011.tif"]
    assert frames.is_sequence("a.#.exr") and not frames.is_sequence("/s/still.exr")


@pytest.mark.parametrize("kwargs, fragment", [
    ({"first": 10, "last": 9}, "frame range 10-9"),
    ({"first": -1, "last": 3}, "frame range -1-3"),
    ({"layers": 0}, "layers is 0"),
    ({"max_pixels": -5}, "working resolution is -5"),
    ({"temporal_weight": 0.0}, "temporal weight is 0.0"),
])
def test_settings_refuse_what_the_command_cannot_take(plugin, kwargs, fragment):
    values = dict({"first": 1, "last": 3}, **kwargs)
    with pytest.raises(plugin.errors.SettingsError, match=fragment):
        plugin.settings.ComputeSettings(values.pop("first"), values.pop("last"), **values)


def test_extra_arguments_split_like_a_shell(plugin):
    split = plugin.settings.split_extra_args
    assert split("--superpixels 60  --seed '3'") == ("--superpixels", "60", "--seed", "3")
    with pytest.raises(plugin.errors.SettingsError, match="close the quotes"):
        split("--features 'open")


def test_command_line(plugin):
    settings = plugin.settings.ComputeSettings(
        1001, 1010, layers=3, max_pixels=0, temporal_weight=0.05, device="opencl:0:1",
        extra_args=("--superpixels", "60"))
    command = plugin.command.build_command("/bin/sss-vfx", "/s/p.%04d.exr", "/c/k", settings,
                                           features="/s/f.%04d.exr")
    assert command == ["/bin/sss-vfx", "video", "/s/p.%04d.exr", "-o", "/c/k",
                       "--frames", "1001-1010", "--layers", "3", "--max-pixels", "0",
                       "--device", "opencl:0:1", "--progress", "json",
                       "--temporal-weight", "0.05", "--features", "/s/f.%04d.exr",
                       "--superpixels", "60"]
    per_frame = plugin.settings.ComputeSettings(1, 2, temporal=False)
    command = plugin.command.build_command("sss-vfx", "p.%04d.png", "out", per_frame)
    assert "--no-temporal" in command and "--temporal-weight" not in command
    assert "--features" not in command


def test_progress_lines(plugin):
    parse = plugin.progress.parse_progress_line
    line = json.dumps({"frame": 1003, "done": 3, "total": 10, "fps": 0.5, "eta_s": 14.0})
    progress = parse(line + "\n")
    assert progress == (1003, 3, 10, 0.5, 14.0)
    assert progress.percent == 30
    assert progress.describe() == "frame 1003 done: 3 of 10, about 14 s left"
    first = parse('{"frame": 1, "done": 1, "total": 4, "fps": null, "eta_s": null}')
    assert first.eta_s is None and first.describe() == "frame 1 done: 1 of 4"
    for other in ("sss-vfx: warning: no OpenCL device", "{not json", '{"stage": "x"}', "[]",
                  '{"frame": "a", "done": 1, "total": 2}'):
        assert parse(other) is None


def test_exr_header_lists_the_layers_in_the_attribute_order(plugin, tmp_path):
    path = tmp_path / "layers.1001.exr"
    alphas = np.full((8, 8, 3), 1.0 / 3.0, dtype=np.float32)
    write_layers_exr(path, alphas)
    header = plugin.exr_header.read_exr_header(str(path))
    assert header["sss_layers"] == ("string", b"sss_layer01,sss_layer02,sss_layer03")
    assert plugin.exr_header.channel_names(header) == [
        "sss_layer01.A", "sss_layer02.A", "sss_layer03.A"]
    assert plugin.exr_header.sss_layer_names(str(path)) == [
        "sss_layer01", "sss_layer02", "sss_layer03"]


def test_exr_header_without_the_attribute_falls_back_to_channels(plugin, tmp_path):
    path = tmp_path / "plain.exr"
    zeros = np.zeros((4, 4), dtype=np.float32)
    OpenEXR.File({"type": OpenEXR.scanlineimage},
                 {"sss_layer02.A": zeros, "sss_layer01.A": zeros, "R": zeros}).write(str(path))
    assert plugin.exr_header.sss_layer_names(str(path)) == ["sss_layer01", "sss_layer02"]
    plain = tmp_path / "rgb.exr"
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"R": zeros}).write(str(plain))
    with pytest.raises(plugin.errors.InputError, match="holds no sss_layer channels"):
        plugin.exr_header.sss_layer_names(str(plain))


def test_exr_header_refuses_damaged_files(plugin, tmp_path):
    other = tmp_path / "other.exr"
    other.write_bytes(b"PNG not an exr")
    with pytest.raises(plugin.errors.InputError, match="is not an OpenEXR file"):
        plugin.exr_header.read_exr_header(str(other))
    good = tmp_path / "good.exr"
    write_layers_exr(good, np.ones((4, 4, 1), dtype=np.float32))
    cut = tmp_path / "cut.exr"
    cut.write_bytes(good.read_bytes()[:60])
    with pytest.raises(plugin.errors.InputError, match="truncated"):
        plugin.exr_header.read_exr_header(str(cut))
    with pytest.raises(plugin.errors.InputError, match="cannot read"):
        plugin.exr_header.read_exr_header(str(tmp_path / "missing.exr"))


def _frames(directory, count=3, first=1001):
    paths = []
    for frame in range(first, first + count):
        path = directory / f"plate.{frame:04d}.png"
        path.write_bytes(b"frame %d" % frame)
        paths.append(str(path))
    return paths


def test_cache_key_changes_with_inputs_range_and_parameters(plugin, tmp_path):
    cache, Settings = plugin.cache, plugin.settings.ComputeSettings
    paths = _frames(tmp_path)

    def key(settings, graph=None):
        return cache.cache_key({"image": {"files": cache.input_signature(paths),
                                          "graph": graph}}, settings)

    base = key(Settings(1001, 1003))
    assert base == key(Settings(1001, 1003)) and len(base) == 20
    changed = {key(Settings(1001, 1002)), key(Settings(1001, 1003, layers=4)),
               key(Settings(1001, 1003, max_pixels=0)), key(Settings(1001, 1003, temporal=False)),
               key(Settings(1001, 1003, temporal_weight=0.5)),
               key(Settings(1001, 1003, device="numpy")),
               key(Settings(1001, 1003, extra_args=("--superpixels", "60"))),
               key(Settings(1001, 1003), graph=[["Grade", [], {"white": "2"}]])}
    assert base not in changed and len(changed) == 8
    os.utime(paths[1], (1, 1))
    assert key(Settings(1001, 1003)) != base, "a touched input file must recompute"
    with pytest.raises(plugin.errors.InputError, match="plate.1004.png is missing"):
        cache.input_signature(paths + [str(tmp_path / "plate.1004.png")])
    missing = str(tmp_path / "gone.mov")
    assert cache.input_signature([missing], required=False) == [[missing, None, None]]


def test_cache_finished_frames_and_root(plugin, tmp_path, monkeypatch):
    cache = plugin.cache
    (tmp_path / "layers.1001.exr").write_bytes(b"x")
    (tmp_path / "layers.1003.exr").write_bytes(b"x")
    assert cache.finished_frames(str(tmp_path), 1001, 1004) == [1001, 1003]
    assert cache.cache_root(" /k ", "/s/shot.nk") == "/k"
    assert cache.cache_root("", "/s/shot.nk") == os.path.join("/s", "sss_vfx_cache")
    monkeypatch.setenv("SSS_VFX_CACHE", "/env/cache")
    assert cache.cache_root("", "/s/shot.nk") == "/env/cache"
    monkeypatch.delenv("SSS_VFX_CACHE")
    temporary = os.path.join(tempfile.gettempdir(), "sss_vfx_cache")
    assert cache.cache_root("", None) == temporary and cache.is_temporary(temporary)
    with pytest.raises(plugin.errors.SetupError, match="temporary folder"):
        cache.cache_root(temporary, "/s/shot.nk")
    assert not cache.is_temporary(tempfile.gettempdir() + "-not")


def _program(path, body="exit 0"):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.skipif(os.name == "nt", reason="shell-script stand-ins")
def test_executable_knob_then_preference_then_environment_then_path(plugin, tmp_path):
    find, SetupError = plugin.executable.find_executable, plugin.errors.SetupError
    knob, pref, env = (_program(tmp_path / name) for name in ("knob", "pref", "env"))
    on_path = tmp_path / "bin"
    on_path.mkdir()
    program = _program(on_path / "sss-vfx")
    environ = {"SSS_VFX_EXECUTABLE": env, "PATH": str(on_path)}
    assert find(knob, pref, environ) == knob
    assert find("", pref, environ) == pref
    assert find("", "", environ) == env
    assert find("", "", {"PATH": str(on_path)}) == program
    with pytest.raises(SetupError, match="SSS_VFX_EXECUTABLE names .*not an executable"):
        find("", "", {"SSS_VFX_EXECUTABLE": str(tmp_path / "nothing")})
    with pytest.raises(SetupError, match="not found on the PATH; set .SSS_VFX_EXECUTABLE"):
        find("", "", {"PATH": str(tmp_path / "empty")})


def test_subprocess_environment_drops_nukes_python(plugin):
    env = plugin.executable.subprocess_env({"PYTHONPATH": "/nuke/lib", "PYTHONHOME": "/nuke",
                                            "PATH": "/bin", "OCIO": "/c.ocio"})
    assert env == {"PATH": "/bin", "OCIO": "/c.ocio"}


def test_preview_colours_match_the_command(plugin):
    ours = np.array(plugin.preview.layer_palette(20), dtype=np.float32)
    np.testing.assert_allclose(ours, layer_palette(20), atol=1e-6)
    red, green, blue = plugin.preview.preview_expressions(["sss_layer01", "sss_layer02"])
    assert red == ("0.3*(0.2126*r+0.7152*g+0.0722*b)+0.7*(0.9*sss_layer01.alpha"
                   "+0.1*sss_layer02.alpha)")
    assert "0.7*sss_layer02.alpha" in green and "0.35*sss_layer02.alpha" not in blue


def _python(code):
    return [sys.executable, "-c", textwrap.dedent(code)]


FAKE_VIDEO = """
    import json, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))
    for done in range(1, {frames} + 1):
        print(json.dumps({{"frame": 1000 + done, "done": done, "total": {frames},
                          "fps": 2.0, "eta_s": None}}), file=sys.stderr, flush=True)
        time.sleep({sleep})
    print("sss-vfx: warning: something to know", file=sys.stderr)
    {end}
"""


def _run(plugin, code, cancel_after=None, **kwargs):
    seen = []
    outcome = plugin.process.run_command(
        _python(code), env=os.environ, on_progress=seen.append,
        should_cancel=lambda: cancel_after is not None and len(seen) >= cancel_after,
        poll_s=0.02, **kwargs)
    return outcome, seen


def test_runner_reports_progress_and_other_lines(plugin):
    outcome, seen = _run(plugin, FAKE_VIDEO.format(frames=3, sleep=0, end=""))
    assert [p.done for p in seen] == [1, 2, 3] and seen[-1].frame == 1003
    assert outcome.ok and not outcome.cancelled
    assert outcome.messages == ["sss-vfx: warning: something to know"]


def test_runner_turns_the_error_line_into_the_error(plugin):
    code = FAKE_VIDEO.format(frames=1, sleep=0, end=(
        "print('sss-vfx: error: frame 1002 cannot be read; re-render it', file=sys.stderr);"
        " sys.exit(2)"))
    outcome, seen = _run(plugin, code)
    assert outcome.returncode == 2 and not outcome.ok and len(seen) == 1
    assert outcome.error() == "frame 1002 cannot be read; re-render it"
    crash, _ = _run(plugin, "import sys; print('Traceback: boom', file=sys.stderr); "
                            "sys.exit(1)")
    assert crash.error() == "sss-vfx stopped with exit status 1: Traceback: boom"


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics")
def test_runner_cancel_terminates_and_kill_follows_a_deaf_process(plugin):
    started = time.monotonic()
    outcome, seen = _run(plugin, FAKE_VIDEO.format(frames=50, sleep=1, end=""),
                         cancel_after=1)
    assert outcome.cancelled and outcome.returncode == 130 and len(seen) == 1
    deaf = FAKE_VIDEO.replace("lambda *a: sys.exit(130)", "signal.SIG_IGN")
    outcome, _ = _run(plugin, deaf.format(frames=50, sleep=1, end=""), cancel_after=1,
                      grace_s=0.3)
    assert outcome.cancelled and outcome.returncode == -9
    assert time.monotonic() - started < 10


def test_runner_cannot_start_a_missing_program(plugin, tmp_path):
    with pytest.raises(plugin.errors.CommandError, match="cannot start .*check the sss-vfx"):
        plugin.process.run_command([str(tmp_path / "sss-vfx")], env=os.environ,
                                   on_progress=print, should_cancel=lambda: False)
