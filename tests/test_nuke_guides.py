"""The node's guides input and its person-model / model-file knobs (with the Nuke double;
the end-to-end test runs the REAL ``sss-vfx video`` on a tiny sequence)."""

import os

import cv2
import numpy as np
import pytest

from test_nuke_compute import Popens, finish, new_node, read_of, write_shot

pytest_plugins = ["nuke_double"]  # the fake_nuke and plugin fixtures


def test_node_has_a_guides_input_and_the_semantic_knobs(fake_nuke, plugin):
    group = plugin.node.create_node()
    guides = group.node("guides")
    assert guides is not None and guides["number"].value() == 2
    assert {name: group[name].value() for name in (
        "person", "feature_model", "guides_names", "guides_channels")} == {
        "person": False, "feature_model": "", "guides_names": "", "guides_channels": "alpha"}
    assert group["guides_channels"].values() == ["alpha", "rgb", "rgba"]


def test_command_line_with_guides_person_and_model(plugin):
    settings = plugin.settings.ComputeSettings(
        1, 3, person=True, guides_names="hero,car*")
    command = plugin.command.build_command("sss-vfx", "p.%04d.png", "out", settings,
                                           guides="g.%04d.exr")
    tail = command[command.index("--temporal-weight") + 2:]
    assert tail == ["--features", "person", "--guides", "g.%04d.exr",
                    "--guides-names", "hero,car*"]
    model = plugin.settings.ComputeSettings(1, 3, feature_model="/m/seg.onnx")
    command = plugin.command.build_command("sss-vfx", "p.%04d.png", "out", model)
    assert command[-2:] == ["--feature-model", "/m/seg.onnx"]
    assert "--guides-names" not in command and "--features" not in command
    # A features input wins over the person knob's --features person.
    command = plugin.command.build_command("sss-vfx", "p.%04d.png", "out", settings,
                                           features="f.%04d.exr")
    assert command.count("--features") == 1 and "person" not in command


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(person=True, feature_model="m.pt"), "two sources"),
    (dict(feature_model="weights.bin"), ".onnx"),
    (dict(guides_channels="depth"), "alpha, rgb, rgba"),
])
def test_settings_refuse_conflicting_semantic_knobs(plugin, kwargs, fragment):
    with pytest.raises(plugin.errors.SettingsError, match=fragment.replace(".", r"\.")):
        plugin.settings.ComputeSettings(1, 2, **kwargs)


def test_semantic_knobs_change_the_cache_key(plugin):
    base = plugin.settings.ComputeSettings(1, 2)
    keys = {plugin.cache.cache_key({"image": []}, s) for s in (
        base, plugin.settings.ComputeSettings(1, 2, person=True),
        plugin.settings.ComputeSettings(1, 2, guides_names="hero"),
        plugin.settings.ComputeSettings(1, 2, feature_model="m.pt"))}
    assert len(keys) == 4


def test_compute_passes_the_guides_sequence_and_gets_a_layer_per_object(
        fake_nuke, plugin, installed_script, tmp_path, monkeypatch):
    monkeypatch.setenv("SSS_VFX_EXECUTABLE", installed_script)
    pattern = write_shot(tmp_path / "shot")
    # A rough roto of the right-hand region of every frame, as a PNG sequence.
    for index in range(3):
        plate = cv2.imread(pattern % (1001 + index))
        roto = np.zeros(plate.shape[:2], np.uint8)
        roto[:, 18 + index:] = 255
        assert cv2.imwrite(str(tmp_path / "shot" / f"roto.{1001 + index:04d}.png"), roto)
    roto_pattern = str(tmp_path / "shot" / "roto.%04d.png")
    group = new_node(fake_nuke, plugin, tmp_path, read_of(fake_nuke, pattern), layers=4)
    group.setInput(2, read_of(fake_nuke, roto_pattern))
    group["compute"].execute()
    job = finish(plugin, group)
    assert job.outcome.returncode == 0, job.outcome.messages
    assert job.command[job.command.index("--guides") + 1] == roto_pattern
    # One object and the rest: 2 layers, whatever the layers knob says.
    assert group["output"].values()[2:] == ["sss_layer01", "sss_layer02"]
    assert os.path.isfile(os.path.join(group["result_dir"].value(), "layers.1003.exr"))
    # Another roto is another result.
    Popens(monkeypatch, plugin)
    group["guides_names"].setValue("roto")
    group["compute"].execute()
    again = finish(plugin, group)
    assert again.result_dir != job.result_dir and again.outcome.returncode == 0, \
        again.outcome.messages
    assert again.command[again.command.index("--guides-names") + 1] == "roto"


def test_missing_feature_model_file_is_reported_before_running(fake_nuke, plugin,
                                                             tmp_path, monkeypatch):
    pattern = write_shot(tmp_path / "shot")
    group = new_node(fake_nuke, plugin, tmp_path, read_of(fake_nuke, pattern),
                     feature_model=str(tmp_path / "absent.onnx"))
    Popens(monkeypatch, plugin, allow=False)
    group["compute"].execute()
    assert "absent.onnx does not exist" in group["status"].value()


def test_a_stand_alone_roto_on_the_guides_input_reaches_the_command_at_the_format(
        fake_nuke, plugin, installed_script, tmp_path, monkeypatch):
    """A Roto's bbox hugs its shape (and is empty on a frame without it); rendered as it
    is, its EXRs' data windows would not be the plate's size and the command refuses
    them. The node renders it cropped to its format."""
    monkeypatch.setenv("SSS_VFX_EXECUTABLE", installed_script)
    pattern = write_shot(tmp_path / "shot")
    height, width = 32, 32
    shape = (18, 0, width, height)   # x, y, r, t (y up): the right-hand region

    def roto_image(frame):
        image = np.zeros((height, width, 4), np.float32)
        image[:, shape[0]:] = 1.0
        return image

    roto = fake_nuke.nodes.Roto(name="roto")
    roto.source = fake_nuke.Source(width, height, roto_image,
                                   bbox=lambda frame: (0, 0, 0, 0) if frame == 1002 else shape)
    group = new_node(fake_nuke, plugin, tmp_path, read_of(fake_nuke, pattern), layers=4)
    group.setInput(2, roto)
    group["compute"].execute()
    job = finish(plugin, group)
    assert job.outcome is not None and job.outcome.returncode == 0, group["status"].value()
    assert group["output"].values()[2:] == ["sss_layer01", "sss_layer02"]
