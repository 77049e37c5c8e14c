"""The node's Compute flow end to end: the double of Nuke, the REAL ``sss-vfx video``
on a tiny generated sequence (a few seconds a run)."""

import os
import pathlib
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from sss_vfx.data import two_region_image

SMALL = "--eigenvectors 12 --initial-segments 6 --superpixels 60"
SIZE = (32, 32)

pytest_plugins = ["nuke_double"]  # the fake_nuke and plugin fixtures


@pytest.fixture
def program(monkeypatch, installed_script):
    """The installed ``sss-vfx``, named by $SSS_VFX_EXECUTABLE."""
    monkeypatch.setenv("SSS_VFX_EXECUTABLE", installed_script)
    return installed_script


def write_shot(directory, count=3, first=1001, size=SIZE):
    """A plate sequence ``plate.%04d.png``: a soft-edged region drifting right."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image, _ = two_region_image(size, seed=0)
        image = np.roll(image, index, axis=1)
        pixels = np.round(image[:, :, ::-1] * 255).astype(np.uint8)
        assert cv2.imwrite(str(directory / f"plate.{first + index:04d}.png"), pixels)
    return str(directory / "plate.%04d.png")


def new_node(nuke, plugin, tmp_path, source, **knobs):
    nuke.selection[:] = [source]
    group = plugin.node.create_node()
    values = dict({"layers": 2, "extra_args": SMALL, "cache_dir": str(tmp_path / "cache")},
                  **knobs)
    for name, value in values.items():
        group[name].setValue(value)
    return group


def read_of(nuke, pattern, first=1001, last=1003):
    return nuke.nodes.Read(name="plate", file=pattern.replace("%04d", "####"), first=first,
                           last=last, origfirst=first, origlast=last)


def finish(plugin, group, timeout=300):
    """Run Nuke's main loop until the node's job is over and its results are shown."""
    nuke = sys.modules["nuke"]
    job = plugin.controller.job_for(group)
    assert job is not None, group["status"].value()
    assert nuke.wait_until(lambda: not job.running, timeout), \
        f"sss-vfx still running after {timeout} s"
    return job


class Popens:
    """Records every process the plugin starts (or forbids starting any)."""

    real = subprocess.Popen

    def __init__(self, monkeypatch, plugin, allow=True):
        self.started = []

        def popen(*args, **kwargs):
            assert allow, "a subprocess was started"
            process = Popens.real(*args, **kwargs)
            self.started.append(process)
            return process

        monkeypatch.setattr(plugin.process.subprocess, "Popen", popen)


def test_compute_runs_the_command_and_shows_the_layers(fake_nuke, plugin, program,
                                                       tmp_path, monkeypatch):
    pattern = write_shot(tmp_path / "shot")
    group = new_node(fake_nuke, plugin, tmp_path, read_of(fake_nuke, pattern))
    group["compute"].execute()
    job = finish(plugin, group)

    result_dir = group["result_dir"].value()
    assert os.path.dirname(result_dir) == str(tmp_path / "cache")
    assert job.command == [program, "video", pattern, "-o", result_dir,
                           "--frames", "1001-1003", "--layers", "2", "--max-pixels", "65536",
                           "--device", "auto", "--progress", "json",
                           "--temporal-weight", "1.0",
                           # the Read's default for PNG under nuke-default, by its name
                           # in OpenColorIO's built-in config
                           "--colorspace", "sRGB Encoded Rec.709 (sRGB)"] + SMALL.split()
    assert job.outcome.returncode == 0, job.outcome.messages
    assert re.fullmatch(r"2 layers, frames 1001-1003: computed in \d+ s",
                        group["status"].value())
    task = fake_nuke.progress_tasks[-1]
    assert task.title == "SemanticSoftSegmentation SemanticSoftSegmentation1"
    assert task.progress == [33, 66, 100]
    assert task.messages[0] == "starting sss-vfx"
    assert task.messages[-1] == "frame 1003 done: 3 of 3"
    read = group.node("sss_layers")
    assert read["file"].value() == os.path.join(result_dir, "layers.%04d.exr")
    assert [read[k].value() for k in ("first", "last", "origfirst", "origlast")] == [
        1001, 1003, 1001, 1003]
    assert all(os.path.isfile(read["file"].value() % f) for f in (1001, 1002, 1003))
    assert read["on_error"].value() == "error", "all frames exist: a missing one errors"
    assert group["output"].values() == ["preview", "all layers", "sss_layer01", "sss_layer02"]
    group["output"].setValue("sss_layer02")
    fake_nuke.fire_knob_changed(group, "output")
    assert group.node("sss_switch")["which"].value() == 3
    assert group.node("sss_pick")["from0"].value() == "sss_layer02.alpha"

    # Unchanged settings: the cache answers, no process starts.
    Popens(monkeypatch, plugin, allow=False)
    group["compute"].execute()
    cached = finish(plugin, group)
    assert cached.result_dir == result_dir and cached.command is None
    assert group["status"].value() == "2 layers, frames 1001-1003: cached (nothing to compute)"
    assert fake_nuke.messages == []

    # A changed parameter computes into a new folder.
    popens = Popens(monkeypatch, plugin)
    group["layers"].setValue(3)
    group["compute"].execute()
    changed = finish(plugin, group)
    assert changed is not job and len(popens.started) == 1
    assert changed.result_dir != result_dir and "3" == changed.command[
        changed.command.index("--layers") + 1]
    assert group["output"].values()[2:] == ["sss_layer01", "sss_layer02", "sss_layer03"]


def test_cancel_stops_the_command_and_keeps_finished_frames(fake_nuke, plugin, program,
                                                            tmp_path, monkeypatch):
    frames = 12
    pattern = write_shot(tmp_path / "shot", count=frames, size=(64, 64))
    read = read_of(fake_nuke, pattern, last=1000 + frames)
    group = new_node(fake_nuke, plugin, tmp_path, read, temporal=False)
    popens = Popens(monkeypatch, plugin)

    def cancel_after_first_frame(cancel):
        tasks = len(fake_nuke.progress_tasks)
        group["compute"].execute()
        assert fake_nuke.wait_until(lambda: len(fake_nuke.progress_tasks) > tasks and
                                    fake_nuke.progress_tasks[tasks].progress, 120), \
            "no frame finished in 120 s"
        task = fake_nuke.progress_tasks[tasks]
        cancel(task)
        return finish(plugin, group, timeout=60)

    job = cancel_after_first_frame(lambda task: group["cancel"].execute())
    process = popens.started[-1]
    assert process.poll() is not None, "the subprocess is still running"
    assert job.outcome.cancelled and job.outcome.returncode == 130
    kept = plugin.cache.finished_frames(job.result_dir, 1001, 1000 + frames)
    assert 1 <= len(kept) < frames
    assert kept == list(range(1001, 1001 + len(kept))), "frames are written in order"
    assert group["status"].value() == (
        f"2 layers, frames 1001-1012: cancelled: {len(kept)} of 12 frames kept; press "
        "Compute to finish the rest")
    assert group.node("sss_layers")["file"].value().startswith(job.result_dir)
    assert group.node("sss_layers")["on_error"].value() == "black", "unfinished frames"

    # The progress task's own cancel stops it too; the rerun resumes in the same folder.
    resumed = cancel_after_first_frame(lambda task: task.cancel())
    assert popens.started[-1].poll() is not None and resumed.outcome.cancelled
    assert resumed.result_dir == job.result_dir
    assert len(plugin.cache.finished_frames(job.result_dir, 1001, 1012)) >= len(kept)
    assert fake_nuke.messages == []


def test_an_error_from_the_command_reaches_the_status(fake_nuke, plugin, program, tmp_path):
    pattern = write_shot(tmp_path / "shot")
    pathlib.Path(pattern % 1002).write_bytes(b"this is not a PNG")
    group = new_node(fake_nuke, plugin, tmp_path, read_of(fake_nuke, pattern))
    group["compute"].execute()
    job = finish(plugin, group)
    assert job.outcome.returncode == 2
    status = group["status"].value()
    assert status.startswith("error: ") and "plate.1002.png" in status, status
    assert fake_nuke.messages == ["SemanticSoftSegmentation1: " + status[len("error: "):]]


def plate_source(nuke, pattern, size=SIZE):
    """A Source showing the PNG plate of each frame (rgba, alpha 1)."""
    def image(frame):
        rgb = cv2.imread(pattern % frame)[:, :, ::-1].astype(np.float32) / 255.0
        return np.dstack([rgb ** 2.2, np.ones(size[::-1], np.float32)])
    return nuke.Source(size[1], size[0], image)


def test_a_processed_input_is_rendered_to_exr_first(fake_nuke, plugin, program, tmp_path,
                                                   monkeypatch):
    plate = write_shot(tmp_path / "shot")
    read = read_of(fake_nuke, plate)
    read.source = plate_source(fake_nuke, plate)
    grade = fake_nuke.nodes.Grade(name="grade")
    grade.setInput(0, read)
    group = new_node(fake_nuke, plugin, tmp_path, grade)
    group["compute"].execute()
    job = finish(plugin, group)
    key = group["sss_id"].value()
    rendered = str(tmp_path / "cache" / "render" / key / "image.%04d.exr").replace(
        os.sep, "/")
    assert fake_nuke.executed == [("sss_render_image", rendered, 1001, 1003, False)]
    assert job.command[2] == rendered and job.outcome.returncode == 0
    assert group.node("sss_render_image") is None, "the Write is removed after rendering"
    assert group.node("sss_crop_image") is None
    assert group["output"].values()[2:] == ["sss_layer01", "sss_layer02"]

    # Unchanged upstream knobs and Read files: the cache answers without rendering.
    Popens(monkeypatch, plugin, allow=False)
    group["compute"].execute()
    finish(plugin, group)
    assert len(fake_nuke.executed) == 1
    assert group["status"].value().endswith("cached (nothing to compute)")
