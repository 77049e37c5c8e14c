"""The node against the parts of Nuke that the first double was kinder than: input
arrows, bounding boxes, missing frames, proxy mode, nodes and scripts going away, TCL in
paths, non-Read inputs, the undo stack. A stand-in ``sss-vfx`` (``nuke_fake_cli``) keeps
these fast; ``test_nuke_compute`` runs the real command."""

import atexit
import os
import threading

import numpy as np
import OpenEXR
import pytest

from nuke_fake_cli import fake_program, is_running, pid_of
from test_nuke_compute import Popens, finish

pytest_plugins = ["nuke_double"]  # the fake_nuke and plugin fixtures

W, H = 32, 24
FIRST, LAST = 1001, 1003


@pytest.fixture
def program(tmp_path, monkeypatch):
    path = fake_program(tmp_path / "bin")
    monkeypatch.setenv("SSS_VFX_EXECUTABLE", path)
    return path


@pytest.fixture
def slow_program(tmp_path, monkeypatch):
    path = fake_program(tmp_path / "slow", sleep=0.3)
    monkeypatch.setenv("SSS_VFX_EXECUTABLE", path)
    return path


def sequence(nuke, directory, last=LAST, name="plate", **knobs):
    """A Read of an EXR sequence on disk (the stand-in never reads its pixels)."""
    directory.mkdir(parents=True, exist_ok=True)
    for frame in range(FIRST, last + 1):
        (directory / f"{name}.{frame:04d}.exr").write_bytes(b"exr")
    file = str(directory / f"{name}.####.exr")
    return nuke.nodes.Read(name=name, file=file, first=FIRST, last=last, origfirst=FIRST,
                           origlast=last, **knobs)


def ramp(frame):
    """An rgba plate: red ramps across, green is the frame, alpha 1."""
    image = np.ones((H, W, 4), np.float32)
    image[:, :, 0] = np.linspace(0.0, 1.0, W)[None, :]
    image[:, :, 1] = frame / 2000.0
    return image


def movie(nuke, path, **source):
    """A Read of a movie: rendered by the node, with pixels from a Source."""
    read = nuke.nodes.Read(name="movie", file=str(path), first=FIRST, last=LAST,
                           origfirst=FIRST, origlast=LAST)
    read.source = nuke.Source(W, H, source.pop("image", ramp), **source)
    return read


def node_on(nuke, plugin, tmp_path, upstream, **knobs):
    nuke.selection[:] = [upstream]
    group = plugin.node.create_node()
    values = dict({"layers": 2, "cache_dir": str(tmp_path / "cache")}, **knobs)
    for name, value in values.items():
        group[name].setValue(value)
    return group


def compute(nuke, plugin, group):
    group["compute"].execute()
    return finish(plugin, group, timeout=60)


def exr(path):
    """(display window, data window, channels) of an EXR."""
    with OpenEXR.File(str(path), separate_channels=True) as file:
        header = file.header()
        windows = [tuple(int(v) for v in np.concatenate(header[name]))
                   for name in ("displayWindow", "dataWindow")]
        return windows[0], windows[1], {name: channel.pixels.astype(np.float32)
                                        for name, channel in file.channels().items()}


def started(nuke, job):
    """Run the main loop until the stand-in has started; its process id."""
    assert nuke.wait_until(lambda: job.result_dir and pid_of(job.result_dir), 30)
    return pid_of(job.result_dir)


# ---------------------------------------------------------------------- 1: the arrows

def test_a_group_has_arrows_only_for_its_input_nodes(fake_nuke):
    read = fake_nuke.nodes.Read(name="plate")
    group = fake_nuke.nodes.Group()
    assert group.setInput(0, read) is False and group.input(0) is None
    with group:
        fake_nuke.nodes.Input(name="image")
    assert group.setInput(0, read) is True and group.setInput(1, read) is False


# ------------------------------------------------------------------- 2: bbox, format

def test_rendered_inputs_have_the_format_as_bbox(fake_nuke, plugin, program, tmp_path):
    """A plate with overscan is cut to its format; a stand-alone Roto whose bbox hugs
    its shape, empty on a frame, is filled with black to its format."""
    plate = movie(fake_nuke, tmp_path / "plate.mov", bbox=lambda f: (-4, -3, W + 4, H + 3),
                  outside=5.0)
    shape = (8, 4, 20, 16)   # x, y, r, t with y up

    def roto_image(frame):
        image = np.zeros((H, W, 4), np.float32)
        image[H - shape[3]:H - shape[1], shape[0]:shape[2]] = 1.0
        return image

    roto = fake_nuke.nodes.Roto(name="roto")
    roto.source = fake_nuke.Source(W, H, roto_image,
                                   bbox=lambda f: (0, 0, 0, 0) if f == 1002 else shape)
    group = node_on(fake_nuke, plugin, tmp_path, plate)
    group.setInput(2, roto)
    job = compute(fake_nuke, plugin, group)
    assert job.outcome.ok, group["status"].value()
    renders = {name: pattern for name, pattern, *_ in fake_nuke.executed}
    image, guides = renders["sss_render_image"], renders["sss_render_guides"]
    full = (0, 0, W - 1, H - 1)
    for frame in range(FIRST, LAST + 1):
        display, data, channels = exr(image % frame)
        assert display == data == full
        np.testing.assert_allclose(channels["R"], ramp(frame)[:, :, 0], atol=1e-3)
        display, data, channels = exr(guides % frame)
        assert display == data == full and set(channels) == {"A"}
        expected = np.zeros((H, W), np.float32) if frame == 1002 else roto_image(frame)[..., 3]
        np.testing.assert_array_equal(channels["A"], expected)
    assert job.command[job.command.index("--guides") + 1] == guides


# ------------------------------------------------------- 3: missing or outside frames

def test_a_missing_result_frame_is_an_error_and_outside_the_range_is_black(
        fake_nuke, plugin, program, tmp_path):
    group = node_on(fake_nuke, plugin, tmp_path, sequence(fake_nuke, tmp_path / "shot"))
    job = compute(fake_nuke, plugin, group)
    read = group.node("sss_layers")
    path = os.path.join(job.result_dir, "layers.1002.exr")
    assert fake_nuke.read_frame(read, 1002) == path
    assert fake_nuke.read_frame(read, FIRST - 1) == "black"
    assert fake_nuke.read_frame(read, LAST + 1) == "black"
    os.remove(path)   # a cleaned cache, a farm machine that cannot see it
    with pytest.raises(RuntimeError, match="layers.1002.exr"):
        fake_nuke.read_frame(read, 1002)


def test_a_saved_script_refuses_a_temporary_cache(fake_nuke, plugin, program, tmp_path,
                                                  monkeypatch):
    import tempfile

    fake_nuke.save_script_as(tmp_path / "shot.nk")
    group = node_on(fake_nuke, plugin, tmp_path, sequence(fake_nuke, tmp_path / "shot"),
                    cache_dir="")
    monkeypatch.setenv("SSS_VFX_CACHE", os.path.join(tempfile.gettempdir(), "cache"))
    group["compute"].execute()
    assert "temporary folder" in group["status"].value()
    assert plugin.controller.job_for(group) is None
    monkeypatch.delenv("SSS_VFX_CACHE")
    job = compute(fake_nuke, plugin, group)
    assert os.path.dirname(job.result_dir) == str(tmp_path / "sss_vfx_cache")
    assert "temporary" not in group["status"].value()


def test_an_unsaved_script_caches_in_the_temporary_folder_and_says_so(
        fake_nuke, plugin, program, tmp_path):
    import tempfile

    group = node_on(fake_nuke, plugin, tmp_path, sequence(fake_nuke, tmp_path / "shot"),
                    cache_dir="")
    job = compute(fake_nuke, plugin, group)
    assert job.result_dir.startswith(tempfile.gettempdir())
    assert "save the script and Compute again" in group["status"].value()


# ------------------------------------------------------------------------- 4: proxy

def test_proxy_mode_computes_at_full_resolution(fake_nuke, plugin, program, tmp_path):
    fake_nuke.root()["proxy"].setValue(True)
    full = sequence(fake_nuke, tmp_path / "full",
                    proxy=str(tmp_path / "half" / "plate.####.exr"))
    group = node_on(fake_nuke, plugin, tmp_path, full)
    job = compute(fake_nuke, plugin, group)
    assert job.command[2] == str(tmp_path / "full" / "plate.%04d.exr")

    grade = fake_nuke.nodes.Grade(name="grade")
    grade.setInput(0, movie(fake_nuke, tmp_path / "plate.mov"))
    group = node_on(fake_nuke, plugin, tmp_path, grade)
    job = compute(fake_nuke, plugin, group)
    assert [call[-1] for call in fake_nuke.executed] == [False], "rendered at full scale"
    display, data, _ = exr(fake_nuke.executed[0][1] % FIRST)
    assert display == data == (0, 0, W - 1, H - 1)
    assert fake_nuke.root()["proxy"].value() is True, "the artist's proxy mode is kept"


# ---------------------------------------------------------- 5: nodes and scripts go

def test_a_renamed_node_still_cancels_and_its_old_name_is_free(fake_nuke, plugin,
                                                               slow_program, tmp_path):
    read = sequence(fake_nuke, tmp_path / "shot", last=1020)
    group = node_on(fake_nuke, plugin, tmp_path, read)
    group["compute"].execute()
    job = plugin.controller.job_for(group)
    pid = started(fake_nuke, job)
    group.setName("Renamed")
    other = node_on(fake_nuke, plugin, tmp_path, read)
    other.setName("SemanticSoftSegmentation1")
    assert other.name() == "SemanticSoftSegmentation1"
    group["cancel"].execute()
    finish(plugin, group, timeout=30)
    assert job.outcome.cancelled and not is_running(pid)
    assert "cancelled" in group["status"].value()
    assert plugin.controller.job_for(other) is None


def test_deleting_the_node_stops_its_command_quietly(fake_nuke, plugin, slow_program,
                                                     tmp_path):
    group = node_on(fake_nuke, plugin, tmp_path,
                    sequence(fake_nuke, tmp_path / "shot", last=1020))
    group["compute"].execute()
    job = plugin.controller.job_for(group)
    pid = started(fake_nuke, job)
    fake_nuke.delete(group)
    # The main loop runs the job's late callbacks: none may touch the deleted node.
    assert fake_nuke.wait_until(lambda: not job.running, 30)
    assert not is_running(pid) and fake_nuke.messages == []

    # A new node takes the old name and computes: nothing is "already computing".
    again = node_on(fake_nuke, plugin, tmp_path,
                    sequence(fake_nuke, tmp_path / "other", last=1002))
    assert again.name() == "SemanticSoftSegmentation1"
    again["compute"].execute()
    assert "already computing" not in again["status"].value()
    assert finish(plugin, again, timeout=30).outcome.ok


def test_closing_the_script_stops_every_command(fake_nuke, plugin, slow_program, tmp_path):
    read = sequence(fake_nuke, tmp_path / "shot", last=1020)
    groups = [node_on(fake_nuke, plugin, tmp_path, read, layers=layers)
              for layers in (2, 3)]
    jobs = []
    for group in groups:
        group["compute"].execute()
        jobs.append(plugin.controller.job_for(group))
    pids = [started(fake_nuke, job) for job in jobs]
    fake_nuke.script_close()
    assert fake_nuke.wait_until(lambda: not any(job.running for job in jobs), 30)
    assert not any(is_running(pid) for pid in pids) and fake_nuke.messages == []


def test_quitting_nuke_stops_the_command(fake_nuke, plugin, slow_program, tmp_path,
                                         monkeypatch):
    at_exit = []
    monkeypatch.setattr(plugin.controller, "_exit_hook_installed", False, raising=False)
    monkeypatch.setattr(atexit, "register", at_exit.append)
    group = node_on(fake_nuke, plugin, tmp_path,
                    sequence(fake_nuke, tmp_path / "shot", last=1020))
    group["compute"].execute()
    job = plugin.controller.job_for(group)
    pid = started(fake_nuke, job)
    assert len(at_exit) == 1
    at_exit[0]()   # what the interpreter runs as Nuke exits: no main loop any more
    assert job.wait(30) and not is_running(pid)


# --------------------------------------------------------------------------- 6: TCL

def test_path_knobs_expand_tcl(fake_nuke, plugin, program, tmp_path, monkeypatch):
    shots = tmp_path / "shots"
    fake_nuke.save_script_as(shots / "shot.nk")
    monkeypatch.delenv("SSS_VFX_EXECUTABLE")
    monkeypatch.setenv("SSS_PROGRAM", program)
    (shots / "model.onnx").parent.mkdir(parents=True, exist_ok=True)
    (shots / "model.onnx").write_bytes(b"onnx")
    sequence(fake_nuke, shots / "plates")
    here = "[file dirname [value root.name]]"
    read = fake_nuke.nodes.Read(name="tcl_plate", file=here + "/plates/plate.####.exr",
                                first=FIRST, last=LAST, origfirst=FIRST, origlast=LAST)
    group = node_on(fake_nuke, plugin, tmp_path, read, cache_dir=here + "/nuke_cache",
                    executable="[getenv SSS_PROGRAM]", feature_model=here + "/model.onnx")
    job = compute(fake_nuke, plugin, group)
    assert job.outcome.ok, group["status"].value()
    assert os.path.dirname(job.result_dir) == str(shots / "nuke_cache")
    assert job.command[0] == program
    assert job.command[2] == str(shots / "plates" / "plate.%04d.exr")
    assert job.command[job.command.index("--feature-model") + 1] == str(shots / "model.onnx")


# ------------------------------------------------------------- 7: non-Read inputs

def test_a_rendered_input_is_keyed_by_upstream_knobs_and_files(fake_nuke, plugin, program,
                                                               tmp_path, monkeypatch):
    clip = tmp_path / "plate.mov"
    clip.write_bytes(b"mov")
    grade = fake_nuke.nodes.Grade(name="grade")
    grade.setInput(0, movie(fake_nuke, clip))
    group = node_on(fake_nuke, plugin, tmp_path, grade)
    first = compute(fake_nuke, plugin, group)
    assert first.outcome.ok and len(fake_nuke.executed) == 1

    forbid = Popens(monkeypatch, plugin, allow=False)
    compute(fake_nuke, plugin, group)
    assert len(fake_nuke.executed) == 1 and not forbid.started, "cached: nothing rendered"
    assert group["status"].value().endswith("cached (nothing to compute)")

    Popens(monkeypatch, plugin)
    grade["white"].setValue(2.0)
    changed = compute(fake_nuke, plugin, group)
    assert len(fake_nuke.executed) == 2 and changed.result_dir != first.result_dir
    os.utime(clip, (1, 1))
    touched = compute(fake_nuke, plugin, group)
    assert len(fake_nuke.executed) == 3 and touched.result_dir != changed.result_dir


def test_the_cache_key_is_made_off_the_main_thread(fake_nuke, plugin, program, tmp_path,
                                                   monkeypatch):
    threads = []
    signature = plugin.controller.input_signature

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return signature(*args, **kwargs)

    monkeypatch.setattr(plugin.controller, "input_signature", recording)
    group = node_on(fake_nuke, plugin, tmp_path, sequence(fake_nuke, tmp_path / "shot"))
    compute(fake_nuke, plugin, group)
    assert threads and threading.main_thread() not in threads


# ---------------------------------------------------------------------- 8: undo

def test_only_creating_the_node_is_on_the_undo_stack(fake_nuke, plugin, program, tmp_path):
    grade = fake_nuke.nodes.Grade(name="grade")
    grade.setInput(0, movie(fake_nuke, tmp_path / "plate.mov"))
    fake_nuke.undo_log.clear()
    group = node_on(fake_nuke, plugin, tmp_path, grade)
    created = {name for name, _ in fake_nuke.undo_log}
    assert "Create SemanticSoftSegmentation" in created
    fake_nuke.undo_log.clear()
    compute(fake_nuke, plugin, group)
    group["output"].setValue("sss_layer01")
    fake_nuke.fire_knob_changed(group, "output")
    assert fake_nuke.undo_log == [(None, "SemanticSoftSegmentation1.output")], \
        "only the artist's own edit"


def test_a_broken_path_expression_is_reported(fake_nuke, plugin, program, tmp_path):
    group = node_on(fake_nuke, plugin, tmp_path, sequence(fake_nuke, tmp_path / "shot"),
                    cache_dir="[no_such_command x]/cache")
    group["compute"].execute()
    assert group["status"].value().startswith("error: the cache folder knob")
    assert "fix its expression" in group["status"].value()


def test_a_copied_node_gets_its_own_job(fake_nuke, plugin, slow_program, tmp_path):
    read = sequence(fake_nuke, tmp_path / "shot", last=1020)
    original = node_on(fake_nuke, plugin, tmp_path, read)
    original["compute"].execute()
    job = plugin.controller.job_for(original)
    started(fake_nuke, job)
    copy = node_on(fake_nuke, plugin, tmp_path, read, layers=3)
    copy["sss_id"].setValue(original["sss_id"].value())   # what copy and paste carries
    assert plugin.controller.job_for(copy) is None
    copy["compute"].execute()
    assert "already computing" not in copy["status"].value()
    assert copy["sss_id"].value() != original["sss_id"].value()
    assert plugin.controller.job_for(original) is job and job.running
    for group in (original, copy):
        group["cancel"].execute()
        finish(plugin, group, timeout=30)


def test_the_executable_preference_expands_tcl(fake_nuke, plugin, program, monkeypatch):
    plugin.preferences.add_preferences()
    monkeypatch.setenv("SSS_PROGRAM", program)
    fake_nuke.preferences["sss_vfx_executable"].setValue("[getenv SSS_PROGRAM]")
    assert plugin.preferences.preferred_executable() == program


def test_a_failed_render_is_reported_and_leaves_nothing_behind(fake_nuke, plugin, program,
                                                               tmp_path, monkeypatch):
    fake_nuke.root()["proxy"].setValue(True)
    fake_nuke.execute_error = "Cancelled"
    grade = fake_nuke.nodes.Grade(name="grade")
    grade.setInput(0, movie(fake_nuke, tmp_path / "plate.mov"))
    group = node_on(fake_nuke, plugin, tmp_path, grade)
    forbid = Popens(monkeypatch, plugin, allow=False)
    job = compute(fake_nuke, plugin, group)
    assert job.command is None and not forbid.started
    assert group["status"].value() == ("error: rendering the image input for frames "
                                       "1001-1003 stopped (Cancelled); check that it renders "
                                       "in the Viewer, or connect a Read")
    assert {node.name() for node in group.nodes()}.isdisjoint(
        {"sss_crop_image", "sss_render_image"})
    assert fake_nuke.root()["proxy"].value() is True
