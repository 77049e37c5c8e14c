"""The SemanticSoftSegmentation node: a Group built by Python, its knobs, its internal
graph, and what changes when knobs change or a result arrives.

Inside the Group the plate comes in at ``image``; a Read points at the computed layer
EXRs; one Copy per layer brings its matte beside the plate (``all layers``); an
Expression colours the layers (``preview``); a Copy puts one layer's matte in
``rgba.alpha`` (a single layer); a Switch picks the output.

Edits the plugin makes on its own (showing a result, rendering an input, the status
line) stay off the artist's undo stack; creating the node is one undo step.
"""

import contextlib
import os
import uuid
from typing import Iterator, List, Optional

import nuke

from sss_nuke.errors import SettingsError
from sss_nuke.preview import layer_channels, matte_channel, preview_expressions
from sss_nuke.settings import (DEFAULT_DEVICE, DEFAULT_GUIDES_CHANNELS, DEFAULT_LAYERS,
                               DEFAULT_MAX_PIXELS, DEFAULT_TEMPORAL_WEIGHT, DEVICE_CHOICES,
                               GUIDES_CHANNELS, ComputeSettings, split_extra_args)

NODE_LABEL = "SemanticSoftSegmentation"
OUTPUT_PREVIEW = "preview"
OUTPUT_ALL = "all layers"
FIXED_OUTPUTS = [OUTPUT_PREVIEW, OUTPUT_ALL]
READ = "sss_layers"
PICK = "sss_pick"
PREVIEW = "sss_preview"
SWITCH = "sss_switch"
COPY_PREFIX = "sss_copy_"
#: Hidden knob holding the node's own id: jobs are keyed by it, not by the node's name.
ID_KNOB = "sss_id"
#: Inputs of the internal Switch, in order.
SWITCH_PLATE, SWITCH_PREVIEW, SWITCH_ALL, SWITCH_PICK = range(4)
NOT_COMPUTED = "not computed: press Compute"
_CALL = "import sss_nuke.{0}\nsss_nuke.{0}"
#: Where the internal nodes sit inside the Group (x, y), so that its graph reads top down.
LAYOUT = {"image": (0, 0), "features": (150, 0), "guides": (300, 0), READ: (450, 0),
          PREVIEW: (0, 150), PICK: (150, 150), SWITCH: (0, 300), "Output1": (0, 450)}
COPY_ROW, COPY_STEP = 75, 150


def create_node() -> nuke.Group:
    """Create a SemanticSoftSegmentation node connected to the selected node.

    The Group gets its Input nodes before anything is connected: a Group has an input
    arrow only for each Input node inside it.

    Returns
    -------
    nuke.Group
        The node, with its knobs and internal graph; nothing computed yet.
    """
    selected = nuke.selectedNodes()
    nuke.Undo.begin("Create " + NODE_LABEL)
    try:
        group = nuke.nodes.Group()
        group.setName(NODE_LABEL + "1")
        _add_knobs(group)
        _build_graph(group)
        if len(selected) == 1:
            group.setInput(0, selected[0])
        group["knobChanged"].setValue(_CALL.format("node") + ".on_knob_changed()")
        update_frame_range(group)
        group.autoplace()
    finally:
        nuke.Undo.end()
    group.showControlPanel()
    return group


@contextlib.contextmanager
def without_undo() -> Iterator[None]:
    """Keep the edits made inside off the artist's undo stack."""
    nuke.Undo.disable()
    try:
        yield
    finally:
        nuke.Undo.enable()


def node_id(group: nuke.Group) -> str:
    """The node's hidden id (made with the node, or on first use by a node saved before
    it had one)."""
    knob = group.knob(ID_KNOB)
    if knob is None:
        knob = nuke.String_Knob(ID_KNOB, "")
        knob.setFlag(nuke.INVISIBLE)
        group.addKnob(knob)
    if not str(knob.value()):
        new_id(group)
    return str(knob.value())


def new_id(group: nuke.Group) -> str:
    """Give the node a fresh id (a copied node carries its original's)."""
    value = uuid.uuid4().hex[:12]
    group[ID_KNOB].setValue(value)
    return value


def _add_knobs(group: nuke.Group) -> None:
    add = _Adder(group)
    add(nuke.Tab_Knob("sss_tab", NODE_LABEL))
    add(nuke.Int_Knob("layers", "layers"), DEFAULT_LAYERS,
        "number of soft layers the shot is split into")
    add(nuke.Int_Knob("max_pixels", "working resolution (max pixels)"), DEFAULT_MAX_PIXELS,
        "the spectral stages run on a copy of at most this many pixels and the mattes "
        "are upsampled edge-aware; 0 = full resolution (slow, the faithful method)")
    add(nuke.Boolean_Knob("temporal", "temporal"), True,
        "link consecutive frames so that layers stay the same objects through the shot",
        newline=True)
    add(nuke.Double_Knob("temporal_weight", "weight"), DEFAULT_TEMPORAL_WEIGHT,
        "weight of the links between frames")
    add(nuke.Boolean_Knob("input_range", "frame range from input"), True,
        "compute the input's whole frame range", newline=True)
    add(nuke.Int_Knob("first_frame", "first"), 1, "first frame to compute")
    add(nuke.Int_Knob("last_frame", "last"), 1, "last frame to compute")
    add(nuke.String_Knob("device", "device"), DEFAULT_DEVICE,
        DEVICE_CHOICES + " (see `sss-vfx devices`)",
        newline=True)
    add(nuke.Boolean_Knob("person", "person model"), False,
        "run the built-in person model (needs sss_vfx[people]): the person gets a layer "
        "of their own", newline=True)
    add(nuke.File_Knob("feature_model", "feature model"), "",
        "a network file computing the features: TorchScript .pt or ONNX .onnx",
        newline=True)
    add(nuke.String_Knob("guides_names", "guides names"), "",
        "with a guides input: objects to pick, comma-separated patterns ('hero,car*'); "
        "required for a Cryptomatte", newline=True)
    add(nuke.Enumeration_Knob("guides_channels", "guides channels", list(GUIDES_CHANNELS)),
        DEFAULT_GUIDES_CHANNELS,
        "channels of the guides input, one object each: alpha (a Roto), rgb (an ID pass)")
    add(nuke.File_Knob("cache_dir", "cache folder"), "",
        "where results are kept; empty: $SSS_VFX_CACHE, else sss_vfx_cache beside "
        "the script")
    add(nuke.PyScript_Knob("compute", "Compute", _CALL.format("controller") +
                           ".compute(nuke.thisNode())"), None,
        "compute the layers in the background (finished frames are kept)", newline=True)
    add(nuke.PyScript_Knob("cancel", "Cancel", _CALL.format("controller") +
                           ".cancel(nuke.thisNode())"), None,
        "stop computing; finished frames are kept")
    add(nuke.Text_Knob("status", "status"), NOT_COMPUTED, None, newline=True)
    add(nuke.Enumeration_Knob("output", "output", list(FIXED_OUTPUTS)), OUTPUT_PREVIEW,
        "preview: the layers colour-coded; all layers: every sss_layerNN beside rgba; "
        "a layer: its matte in rgba.alpha with the plate in rgb", newline=True)
    add(nuke.Tab_Knob("sss_advanced", "Advanced"))
    add(nuke.File_Knob("executable", "sss-vfx executable"), "",
        "the sss-vfx program; empty: the preference, else $SSS_VFX_EXECUTABLE, else "
        "sss-vfx on the PATH")
    add(nuke.String_Knob("extra_args", "extra arguments"), "",
        "more sss-vfx video flags, e.g. --superpixels 500 --eigenvectors 50",
        newline=True)
    add(nuke.String_Knob("result_dir", "result folder"), "",
        "the folder of the result shown (set by Compute)", newline=True)
    node_id(group)


class _Adder:
    """Adds knobs to one node with a value, a tooltip and a line break."""

    def __init__(self, node: nuke.Node) -> None:
        self.node = node

    def __call__(self, knob: nuke.Knob, value: object = None,
                 tooltip: Optional[str] = None, newline: bool = False) -> None:
        if newline:
            knob.setFlag(nuke.STARTLINE)
        else:
            knob.clearFlag(nuke.STARTLINE)
        self.node.addKnob(knob)
        if value is not None:
            knob.setValue(value)
        if tooltip:
            knob.setTooltip(tooltip)


def _build_graph(group: nuke.Group) -> None:
    with group:
        image = nuke.nodes.Input(name="image")
        image["number"].setValue(0)
        features = nuke.nodes.Input(name="features")
        features["number"].setValue(1)
        guides = nuke.nodes.Input(name="guides")
        guides["number"].setValue(2)
        read = nuke.nodes.Read(name=READ)
        # Nothing shown yet; show_result makes a missing frame an error once all exist.
        read["on_error"].setValue("black")
        read["before"].setValue("black")
        read["after"].setValue("black")
        read["raw"].setValue(True)
        preview = nuke.nodes.Expression(name=PREVIEW)
        pick = nuke.nodes.Copy(name=PICK)
        pick["to0"].setValue("rgba.alpha")
        switch = nuke.nodes.Switch(name=SWITCH)
        for index, node in enumerate((image, preview, image, pick)):
            switch.setInput(index, node)
        preview.setInput(0, image)
        pick.setInput(0, image)
        pick.setInput(1, read)
        output = nuke.nodes.Output(name="Output1")
        output.setInput(0, switch)
        for node in (image, features, guides, read, preview, pick, switch, output):
            node.setXYpos(*LAYOUT[node.name()])


def internal(group: nuke.Group, name: str) -> nuke.Node:
    """The node `name` inside `group`."""
    node = group.node(name)
    if node is None:
        raise SettingsError("{} has lost its internal node {}; delete it and create a new "
                            "SemanticSoftSegmentation node".format(group.name(), name))
    return node


def read_settings(group: nuke.Group) -> ComputeSettings:
    """The Compute settings from the node's knobs.

    Raises
    ------
    SettingsError
        If a knob holds a value the command cannot take.
    """
    update_frame_range(group)
    return ComputeSettings(
        int(group["first_frame"].value()), int(group["last_frame"].value()),
        layers=int(group["layers"].value()), max_pixels=int(group["max_pixels"].value()),
        temporal=bool(group["temporal"].value()),
        temporal_weight=float(group["temporal_weight"].value()),
        device=str(group["device"].value()),
        extra_args=split_extra_args(str(group["extra_args"].value())),
        person=bool(_value(group, "person", False)),
        feature_model=path_value(group, "feature_model"),
        guides_names=str(_value(group, "guides_names", "")),
        guides_channels=str(_value(group, "guides_channels", DEFAULT_GUIDES_CHANNELS)))


def path_value(group: nuke.Node, name: str) -> str:
    """A path knob's value with its TCL expanded (``[file dirname [value root.name]]``),
    or an empty string on a node made before the knob existed.

    Raises
    ------
    SettingsError
        If the expression cannot be evaluated.
    """
    knob = group.knob(name)
    if not isinstance(knob, nuke.EvalString_Knob):
        return "" if knob is None else str(knob.value()).strip()
    try:
        return str(knob.evaluate()).strip()
    except RuntimeError as exc:
        raise SettingsError("the {} knob ({}) cannot be evaluated ({}); fix its "
                            "expression".format(knob.label() or name, knob.value(), exc)
                            ) from None


def _value(group: nuke.Group, name: str, default: object) -> object:
    """A knob's value, or `default` on a node made before the knob existed."""
    knob = group.knob(name)
    return default if knob is None else knob.value()


def update_frame_range(group: nuke.Group) -> None:
    """With ``frame range from input`` on, copy the input's range into first/last and
    lock them; with it off, unlock them."""
    from_input = bool(group["input_range"].value())
    for name in ("first_frame", "last_frame"):
        group[name].setEnabled(not from_input)
    source = group.input(0)
    if from_input and source is not None:
        group["first_frame"].setValue(source.firstFrame())
        group["last_frame"].setValue(source.lastFrame())


def set_status(group: nuke.Group, text: str) -> None:
    """Show `text` on the node's status line."""
    group["status"].setValue(text)


def show_result(group: nuke.Group, result_dir: str, pattern: str, layers: List[str],
                first: int, last: int, complete: bool) -> None:
    """Point the internal Read at a result and rebuild the outputs for its layers.

    Parameters
    ----------
    group : nuke.Group
        The node.
    result_dir : str
        The result folder.
    pattern : str
        Its per-frame layer EXRs, ``.../layers.%04d.exr``.
    layers : list of str
        The layers found in the EXRs, in order.
    first, last : int
        The frames computed; outside them the output is black.
    complete : bool
        Every frame's file exists: a file missing later (a moved or cleaned cache, a
        farm machine that cannot see it) is then an error, not a black frame. False for
        a cancelled computation, whose unfinished frames read as black.
    """
    read = internal(group, READ)
    read["file"].setValue(pattern.replace(os.sep, "/"))
    for name, frame in (("first", first), ("last", last), ("origfirst", first),
                        ("origlast", last)):
        read[name].setValue(frame)
    read["on_error"].setValue("error" if complete else "black")
    read["before"].setValue("black")
    read["after"].setValue("black")
    reload = read.knob("reload")
    if isinstance(reload, nuke.Script_Knob):
        reload.execute()
    _rebuild_layer_copies(group, layers)
    group["result_dir"].setValue(result_dir)
    output = group["output"]
    chosen = str(output.value())
    if isinstance(output, nuke.Enumeration_Knob):
        output.setValues(FIXED_OUTPUTS + layers)
    output.setValue(chosen if chosen in FIXED_OUTPUTS + layers else OUTPUT_PREVIEW)
    select_output(group)


def _rebuild_layer_copies(group: nuke.Group, layers: List[str]) -> None:
    with group:
        for node in group.nodes():
            if node.name().startswith(COPY_PREFIX):
                nuke.delete(node)
        existing = set(nuke.layers())
        read = internal(group, READ)
        stream = internal(group, "image")
        for position, layer in enumerate(layers):
            channels = layer_channels(layer)
            if layer not in existing:
                nuke.Layer(layer, channels)
            copy = nuke.nodes.Copy(name=COPY_PREFIX + layer)
            for index, channel in enumerate(channels):
                copy["from{}".format(index)].setValue(channel)
                copy["to{}".format(index)].setValue(channel)
            copy.setInput(0, stream)
            copy.setInput(1, read)
            copy.setXYpos(LAYOUT[READ][0] + COPY_STEP * (position + 1), COPY_ROW)
            stream = copy
        for name in (PREVIEW, PICK):
            internal(group, name).setInput(0, stream)
        internal(group, SWITCH).setInput(SWITCH_ALL, stream)
        expressions = preview_expressions(layers)
        preview = internal(group, PREVIEW)
        for index, expression in enumerate(expressions):
            preview["expr{}".format(index)].setValue(expression)


def select_output(group: nuke.Group) -> None:
    """Make the Switch show what the ``output`` knob names."""
    chosen = str(group["output"].value())
    switch = internal(group, SWITCH)["which"]
    if not group["result_dir"].value():
        switch.setValue(SWITCH_PLATE)
    elif chosen == OUTPUT_PREVIEW:
        switch.setValue(SWITCH_PREVIEW)
    elif chosen == OUTPUT_ALL:
        switch.setValue(SWITCH_ALL)
    else:
        internal(group, PICK)["from0"].setValue(matte_channel(chosen))
        switch.setValue(SWITCH_PICK)


def on_knob_changed(group: Optional[nuke.Node] = None,
                    knob: Optional[nuke.Knob] = None) -> None:
    """The node's knobChanged callback (Nuke passes nothing: this node and knob)."""
    group = nuke.thisNode() if group is None else group
    knob = nuke.thisKnob() if knob is None else knob
    if not isinstance(group, nuke.Group):
        return
    name = knob.name()
    # Undoing the artist's edit calls this again; the internal edits follow it.
    with without_undo():
        if name == "output":
            select_output(group)
        elif name in ("input_range", "inputChange"):
            update_frame_range(group)
        elif name == "temporal":
            group["temporal_weight"].setEnabled(bool(knob.value()))
