"""The SemanticSoftSegmentation node over the Nuke test double: entry points, knobs,
internal graph, showing a result, and the errors Compute reports before it starts."""

import runpy
import sys

import numpy as np
import pytest

from sss_vfx.io.exr import write_layers_exr

pytest_plugins = ["nuke_double"]  # the fake_nuke and plugin fixtures


def plate_read(nuke, first=1001, last=1003, file="/shots/plate.####.exr"):
    read = nuke.nodes.Read(name="plate", file=file, first=first, last=last,
                           origfirst=first, origlast=last)
    nuke.selection[:] = [read]
    return read


def test_menu_and_init_register_the_node(fake_nuke, plugin, monkeypatch):
    folder = fake_nuke.PLUGIN_DIR
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(folder)])
    runpy.run_path(str(folder / "init.py"))
    assert str(folder) in sys.path
    runpy.run_path(str(folder / "menu.py"))
    create = plugin.node.create_node
    assert fake_nuke.menus["Nuke"].commands["sss_vfx/SemanticSoftSegmentation"] is create
    assert fake_nuke.menus["Nodes"].menus["sss_vfx"].commands[
        "SemanticSoftSegmentation"] is create
    assert fake_nuke.preferences.knob("sss_vfx_executable") is not None


def test_new_node_has_its_knobs_and_takes_the_input_range(fake_nuke, plugin):
    read = plate_read(fake_nuke)
    group = plugin.node.create_node()
    assert group.name() == "SemanticSoftSegmentation1" and group.input(0) is read
    assert group.panel_shown
    assert group["sss_tab"].label() == "SemanticSoftSegmentation"
    values = {name: group[name].value() for name in (
        "layers", "max_pixels", "temporal", "temporal_weight", "input_range", "first_frame",
        "last_frame", "device", "cache_dir", "status", "output", "executable", "extra_args")}
    assert values == {"layers": 5, "max_pixels": 65536, "temporal": True,
                      "temporal_weight": 1.0, "input_range": True, "first_frame": 1001,
                      "last_frame": 1003, "device": "auto", "cache_dir": "",
                      "status": "not computed: press Compute", "output": "preview",
                      "executable": "", "extra_args": ""}
    assert group["output"].values() == ["preview", "all layers"]
    assert not group["first_frame"].enabled() and not group["last_frame"].enabled()
    assert "controller.compute(nuke.thisNode())" in group["compute"].value()
    assert "controller.cancel(nuke.thisNode())" in group["cancel"].value()
    group["input_range"].setValue(False)
    fake_nuke.fire_knob_changed(group, "input_range")
    assert group["first_frame"].enabled()
    group["temporal"].setValue(False)
    fake_nuke.fire_knob_changed(group, "temporal")
    assert not group["temporal_weight"].enabled()


def test_internal_graph_passes_the_plate_until_computed(fake_nuke, plugin):
    plate_read(fake_nuke)
    group = plugin.node.create_node()
    inside = {node.name(): node for node in group.nodes()}
    assert set(inside) == {"image", "features", "guides", "sss_layers", "sss_preview",
                           "sss_pick", "sss_switch", "Output1"}
    positions = [(node.xpos(), node.ypos()) for node in inside.values()]
    assert len(set(positions)) == len(positions), "internal nodes laid out, none stacked"
    assert (inside["image"]["number"].value(), inside["features"]["number"].value()) == (0, 1)
    read = inside["sss_layers"]
    assert read["on_error"].value() == "black" and read["raw"].value() is True
    assert read["before"].value() == read["after"].value() == "black"
    switch = inside["sss_switch"]
    assert [switch.input(i).name() for i in range(4)] == [
        "image", "sss_preview", "image", "sss_pick"]
    assert inside["Output1"].input(0) is switch and switch["which"].value() == 0
    fake_nuke.fire_knob_changed(group, "output")
    assert switch["which"].value() == 0, "nothing computed: the plate passes"


def test_show_result_points_the_read_and_lists_the_layers(fake_nuke, plugin, tmp_path):
    plate_read(fake_nuke)
    group = plugin.node.create_node()
    for frame in (1001, 1002):
        write_layers_exr(tmp_path / f"layers.{frame}.exr",
                         np.full((4, 4, 2), 0.5, dtype=np.float32))
    pattern = str(tmp_path / "layers.%04d.exr")
    plugin.node.show_result(group, str(tmp_path), pattern, ["sss_layer01", "sss_layer02"],
                            1001, 1003, complete=False)
    read = group.node("sss_layers")
    assert read["file"].value() == pattern.replace("\\", "/")
    assert [read[k].value() for k in ("first", "last", "origfirst", "origlast")] == [
        1001, 1003, 1001, 1003]
    assert read["reload"].executions == 1
    assert group["output"].values() == ["preview", "all layers", "sss_layer01",
                                        "sss_layer02"]
    assert set(fake_nuke.layers()) == {"sss_layer01", "sss_layer02"}
    first, second = group.node("sss_copy_sss_layer01"), group.node("sss_copy_sss_layer02")
    assert (first.input(0).name(), first.input(1)) == ("image", read)
    assert second.input(0) is first
    # Each layer's premultiplied colour and matte travel down the stream.
    assert [second["from{}".format(i)].value() for i in range(4)] == [
        "sss_layer02.red", "sss_layer02.green", "sss_layer02.blue", "sss_layer02.alpha"]
    assert [second["to{}".format(i)].value() for i in range(4)] == [
        second["from{}".format(i)].value() for i in range(4)]
    positions = [(node.xpos(), node.ypos()) for node in group.nodes()]
    assert len(set(positions)) == len(positions), "the layer Copies are laid out too"
    switch = group.node("sss_switch")
    assert switch.input(2) is second and group.node("sss_preview").input(0) is second
    assert "sss_layer02.alpha" in group.node("sss_preview")["expr0"].value()
    expected = {"preview": 1, "all layers": 2, "sss_layer02": 3}
    for output, which in expected.items():
        group["output"].setValue(output)
        fake_nuke.fire_knob_changed(group, "output")
        assert switch["which"].value() == which
    pick = group.node("sss_pick")
    assert (pick["from0"].value(), pick["to0"].value()) == ("sss_layer02.alpha", "rgba.alpha")
    assert pick.input(0) is second and pick.input(1) is read

    plugin.node.show_result(group, str(tmp_path), pattern, ["sss_layer01"], 1001, 1003,
                            complete=False)
    assert group["output"].value() == "preview", "a layer that is gone is not kept"
    copies = [n.name() for n in group.nodes() if n.name().startswith("sss_copy_")]
    assert copies == ["sss_copy_sss_layer01"] and second.deleted


@pytest.mark.parametrize("setup, fragment", [
    ("unconnected", "nothing is connected to the image input; connect the plate"),
    ("no executable", "sss-vfx was not found on the PATH; set $SSS_VFX_EXECUTABLE"),
    ("bad range", "frame range 1003-1001 is empty"),
    ("missing frames", "plate.1001.exr is missing; render it, fix the Read"),
])
def test_compute_reports_errors_in_the_status_and_a_message(fake_nuke, plugin, setup,
                                                           fragment, tmp_path, monkeypatch):
    plate_read(fake_nuke, file=str(tmp_path / "plate.####.exr"))
    group = plugin.node.create_node()
    group["cache_dir"].setValue(str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    if setup == "unconnected":
        group.setInput(0, None)
    elif setup != "no executable":
        monkeypatch.setenv("SSS_VFX_EXECUTABLE", sys.executable)
    if setup == "bad range":
        group["input_range"].setValue(False)
        group["first_frame"].setValue(1003)
        group["last_frame"].setValue(1001)
    group["compute"].execute()
    job = plugin.controller.job_for(group)
    if setup == "missing frames":   # found by the worker that keys the inputs
        assert fake_nuke.wait_until(lambda: not job.running, 30) and job.command is None
    else:
        assert job is None
    assert group["status"].value().startswith("error: ")
    assert fragment in group["status"].value()
    assert fake_nuke.messages == ["SemanticSoftSegmentation1: " + group["status"].value()[7:]]
