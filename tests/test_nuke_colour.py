"""The node passes the script's colour management to ``sss-vfx``: ``--ocio`` for the
config, ``--colorspace`` for the frames it reads (a Read's colour space, or the working
space a temporary Write renders in)."""

import os

import numpy as np
import OpenEXR
import pytest

from sss_vfx.colour import BUILTIN_CONFIG, load_config, resolve_colour_space
from test_nuke_compute import SMALL, finish, new_node, program  # noqa: F401 (fixture)

pytest_plugins = ["nuke_double"]  # the fake_nuke and plugin fixtures

FIRST, LAST = 1001, 1002
LINEAR_709 = "Linear Rec.709 (sRGB)"


def exr_shot(directory, size=(32, 32)):
    """A two-frame float EXR plate ``plate.%04d.exr``: a soft vertical edge."""
    directory.mkdir(parents=True, exist_ok=True)
    height, width = size
    ramp = np.clip((np.arange(width) - width / 2) / 4 + 0.5, 0, 1).astype(np.float32)
    for offset, frame in enumerate(range(FIRST, LAST + 1)):
        left = np.roll(np.tile(ramp, (height, 1)), offset, axis=1)
        channels = {"R": 0.18 + 0.5 * left, "G": 0.05 + 0.3 * (1 - left),
                    "B": np.full_like(left, 0.1)}
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {k: v.astype(np.float32) for k, v in channels.items()}).write(
            str(directory / f"plate.{frame:04d}.exr"))
    return str(directory / "plate.%04d.exr")


def exr_read(nuke, pattern, colorspace=None):
    read = nuke.nodes.Read(name="plate", file=pattern.replace("%04d", "####"),
                           first=FIRST, last=LAST, origfirst=FIRST, origlast=LAST)
    if colorspace is not None:
        read["colorspace"].setValue(colorspace)
    return read


def use_ocio(nuke, config, path="", working="scene_linear"):
    root = nuke.root()
    root["colorManagement"].setValue("OCIO")
    root["OCIO_config"].setValue(config)
    root["customOCIOConfigPath"].setValue(path)
    root["workingSpaceLUT"].setValue(working)


def config_file(tmp_path):
    """A custom OCIO config file: OpenColorIO's built-in CG config, written out."""
    path = tmp_path / "show" / "config.ocio"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(load_config(BUILTIN_CONFIG).serialize())
    return str(path)


def plan_and_command(plugin, group, tmp_path):
    """What Compute plans for the plate, and the command it runs (main thread)."""
    colour = plugin.colour.script_colour()
    plan = plugin.inputs.plan_input(group, 0, str(tmp_path / "render"), FIRST, LAST,
                                    colour=colour)
    command = plugin.command.build_command("sss-vfx", plan.pattern, "out",
                                           plugin.settings.ComputeSettings(FIRST, LAST),
                                           ocio=colour.ocio, colorspace=plan.colorspace)
    return plan, command


def flag(command, name):
    return command[command.index(name) + 1] if name in command else None


@pytest.mark.parametrize("name", sorted({"linear", "sRGB", "Gamma1.8", "Gamma2.2"}))
def test_nuke_default_names_are_the_same_spaces_in_the_builtin_config(plugin, name):
    """Each mapped nuke-default space exists in the config sss-vfx uses without --ocio,
    and encodes mid grey as nuke-default's formula does."""
    config = load_config(BUILTIN_CONFIG)
    target = plugin.colour.NUKE_DEFAULT_SPACES[name]
    assert resolve_colour_space(config, target) == target
    encode = {"linear": lambda x: x, "Gamma1.8": lambda x: x ** (1 / 1.8),
              "Gamma2.2": lambda x: x ** (1 / 2.2),
              "sRGB": lambda x: 1.055 * x ** (1 / 2.4) - 0.055}[name]
    processor = config.getProcessor(LINEAR_709, target).getDefaultCPUProcessor()
    assert processor.applyRGB([0.18, 0.18, 0.18])[0] == pytest.approx(encode(0.18), abs=1e-4)


def test_nuke_default_linear_exr_read_passes_linear_rec709_and_no_config(
        fake_nuke, plugin, tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    pattern = exr_shot(tmp_path / "shot")
    group = new_node(fake_nuke, plugin, tmp_path, exr_read(fake_nuke, pattern))
    plan, command = plan_and_command(plugin, group, tmp_path)
    assert not plan.rendered and plan.pattern == pattern
    assert "--ocio" not in command
    assert flag(command, "--colorspace") == LINEAR_709


def test_a_nuke_default_space_without_an_equivalent_is_rendered_linear(
        fake_nuke, plugin, tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    pattern = exr_shot(tmp_path / "shot")
    group = new_node(fake_nuke, plugin, tmp_path, exr_read(fake_nuke, pattern, "Cineon"))
    plan, command = plan_and_command(plugin, group, tmp_path)
    assert plan.rendered and plan.working_space == "linear"
    assert flag(command, "--colorspace") == LINEAR_709 and "--ocio" not in command


def test_acescg_read_under_a_config_file_passes_both(fake_nuke, plugin, tmp_path,
                                                     monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    path = config_file(tmp_path)
    use_ocio(fake_nuke, "custom", path)
    pattern = exr_shot(tmp_path / "shot")
    group = new_node(fake_nuke, plugin, tmp_path,
                     exr_read(fake_nuke, pattern, "ACES - ACEScg"))
    plan, command = plan_and_command(plugin, group, tmp_path)
    assert not plan.rendered
    assert flag(command, "--ocio") == path
    assert flag(command, "--colorspace") == "ACES - ACEScg"
    assert resolve_colour_space(load_config(path), "ACES - ACEScg") == "ACEScg"


def test_a_default_read_names_the_space_in_parentheses(fake_nuke, plugin, tmp_path,
                                                       monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    use_ocio(fake_nuke, "custom", config_file(tmp_path))
    group = new_node(fake_nuke, plugin, tmp_path,
                     exr_read(fake_nuke, exr_shot(tmp_path / "shot")))
    assert group.input(0)["colorspace"].value() == "default (scene_linear)"
    _, command = plan_and_command(plugin, group, tmp_path)
    assert flag(command, "--colorspace") == "scene_linear"


@pytest.mark.parametrize("setting, expected", [
    ("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1",
     "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1"),
    ("fn-nuke_studio-config-v1.0.0_aces-v1.3_ocio-v2.1",
     "ocio://studio-config-v1.0.0_aces-v1.3_ocio-v2.1"),
])
def test_nukes_copies_of_builtin_configs_pass_the_builtin(fake_nuke, plugin, monkeypatch,
                                                          setting, expected):
    monkeypatch.delenv("OCIO", raising=False)
    use_ocio(fake_nuke, setting)
    colour = plugin.colour.script_colour()
    assert colour.ocio == expected and not colour.nuke_default
    assert load_config(expected).getColorSpace("ACES - ACEScg") is not None


def test_bundled_aces_config_found_beside_nuke_or_left_out(fake_nuke, plugin, tmp_path,
                                                           monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    use_ocio(fake_nuke, "aces_1.2", working="ACES - ACEScg")
    monkeypatch.setattr(fake_nuke, "EXE_PATH", str(tmp_path / "Nuke15" / "Nuke15"),
                        raising=False)
    assert plugin.colour.script_colour().ocio is None  # not installed there
    bundled = tmp_path / "Nuke15" / "plugins" / "OCIOConfigs" / "configs" / "aces_1.2"
    bundled.mkdir(parents=True)
    (bundled / "config.ocio").write_text("ocio_profile_version: 1\n")
    assert plugin.colour.script_colour().ocio == str(bundled / "config.ocio")


def test_ocio_environment_overrides_the_root_knobs(fake_nuke, plugin, monkeypatch,
                                                   tmp_path):
    path = config_file(tmp_path)
    monkeypatch.setenv("OCIO", path)
    colour = plugin.colour.script_colour()  # root left at nuke-default
    assert colour.ocio == path and not colour.nuke_default
    assert colour.to_sss("default (linear)") == "linear"


def test_a_rendered_input_is_written_and_passed_in_the_working_space(
        fake_nuke, plugin, tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    use_ocio(fake_nuke, "aces_1.2", working="ACES - ACEScg")
    read = exr_read(fake_nuke, exr_shot(tmp_path / "shot"), "Utility - sRGB - Texture")
    read.source = fake_nuke.Source(
        32, 32, lambda frame: np.full((32, 32, 4), 0.5, np.float32))
    grade = fake_nuke.nodes.Grade(name="grade")
    grade.setInput(0, read)
    group = new_node(fake_nuke, plugin, tmp_path, grade)
    plan, command = plan_and_command(plugin, group, tmp_path)
    assert plan.rendered and plan.working_space == "ACES - ACEScg"
    assert flag(command, "--colorspace") == "ACES - ACEScg"
    assert "--ocio" not in command  # aces_1.2 is not beside a Nuke here
    plugin.inputs.render_input(group, plan, FIRST, LAST)
    assert fake_nuke.written_colorspaces == ["ACES - ACEScg"]


def _key(plugin, group, tmp_path):
    colour = plugin.colour.script_colour()
    plans = [plugin.inputs.plan_input(group, 0, str(tmp_path / "render"), FIRST, LAST,
                                      colour=colour)]
    job = plugin.controller.Job(group, "id", "sss-vfx", plans, str(tmp_path / "cache"),
                                plugin.settings.ComputeSettings(FIRST, LAST), colour=colour)
    return plugin.cache.cache_key(job._signatures(), job.settings)


def test_colour_space_and_config_are_in_the_cache_key(fake_nuke, plugin, tmp_path,
                                                      monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    read = exr_read(fake_nuke, exr_shot(tmp_path / "shot"), "linear")
    group = new_node(fake_nuke, plugin, tmp_path, read)
    keys = [_key(plugin, group, tmp_path)]
    assert _key(plugin, group, tmp_path) == keys[0], "the key is stable"
    read["colorspace"].setValue("sRGB")
    keys.append(_key(plugin, group, tmp_path))
    path = config_file(tmp_path)
    use_ocio(fake_nuke, "custom", path)
    keys.append(_key(plugin, group, tmp_path))
    with open(path, "a") as config:  # the config file edited in place
        config.write("\n")
    os.utime(path, ns=(0, 0))
    keys.append(_key(plugin, group, tmp_path))
    read["colorspace"].setValue("ACES - ACEScg")
    keys.append(_key(plugin, group, tmp_path))
    assert len(set(keys)) == len(keys), keys


def test_compute_runs_sss_vfx_with_the_scripts_config_and_colour_space(
        fake_nuke, plugin, program, tmp_path, monkeypatch):  # noqa: F811 (fixture)
    monkeypatch.delenv("OCIO", raising=False)
    path = config_file(tmp_path)
    use_ocio(fake_nuke, "custom", path)
    pattern = exr_shot(tmp_path / "shot")
    group = new_node(fake_nuke, plugin, tmp_path,
                     exr_read(fake_nuke, pattern, "ACES - ACEScg"), extra_args=SMALL)
    group["compute"].execute()
    job = finish(plugin, group)
    assert job.command is not None, group["status"].value()
    assert flag(job.command, "--ocio") == path
    assert flag(job.command, "--colorspace") == "ACES - ACEScg"
    assert job.outcome.returncode == 0, job.outcome.messages
