"""The node's inputs as image sequences on disk for ``sss-vfx``.

A Read of an EXR/PNG/TIFF sequence is used as it is; anything else (a movie, a
processed stream, a Roto) is rendered by a temporary Write to an EXR sequence first.

Everything here reads knobs or renders, so it runs on Nuke's main thread; what it
returns is plain data that a worker thread turns into the cache key (:mod:`cache`).
"""

import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import nuke

from sss_nuke.colour import ScriptColour, read_colour_space
from sss_nuke.errors import InputError
from sss_nuke.frames import FRAME_FIELD, frame_paths, is_sequence, printf_pattern
from sss_nuke.node import internal

#: Files ``sss-vfx`` reads as sequences, as Nuke's Read shows them.
SEQUENCE_EXTENSIONS = (".exr", ".png", ".tif", ".tiff")
#: The internal Input node of each of the node's inputs.
INPUT_NAMES = ("image", "features", "guides")
#: Knobs that place or label a node without changing its pixels: not in the cache key.
LAYOUT_KNOBS = frozenset((
    "xpos", "ypos", "selected", "label", "note_font", "note_font_size", "note_font_color",
    "tile_color", "gl_color", "hide_input", "postage_stamp", "postage_stamp_frame",
    "icon", "indicators", "bookmark", "dope_sheet", "cached", "help", "onCreate",
    "onDestroy", "knobChanged", "updateUI", "autolabel", "panel", "name"))


class InputPlan(NamedTuple):
    """One input of a Compute, described on the main thread.

    Attributes
    ----------
    name : str
        ``'image'``, ``'features'`` or ``'guides'``.
    arrow : int
        The node's input arrow.
    pattern : str
        The sequence the command reads: the Read's files, or where a render goes.
    files : list of str
        Files whose path, size and modification time enter the cache key: the
        sequence's frames, or every file the upstream Reads of a rendered input use.
    graph : list or None
        For a rendered input: every upstream node's class, inputs and knob scripts
        (JSON-ready); None for a Read used as it is.
    channels : str
        The channels a render keeps (``rgb``; ``alpha`` for a Roto guide).
    colorspace : str or None
        The frames' colour space as ``sss-vfx --colorspace`` takes it (the Read's, or
        the working space a render is written in); None: what the files say.
    working_space : str
        The colour space (Nuke's name) a render is written in.
    """

    name: str
    arrow: int
    pattern: str
    files: List[str]
    graph: Optional[List[Any]]
    channels: str
    colorspace: Optional[str] = None
    working_space: str = ""

    @property
    def rendered(self) -> bool:
        """True when a temporary Write renders this input before the command runs."""
        return self.graph is not None


def plan_input(group: nuke.Group, index: int, render_dir: str, first: int, last: int,
               channels: str = "rgb",
               colour: Optional[ScriptColour] = None) -> Optional[InputPlan]:
    """Describe input `index` of `group` for frames `first`..`last` (main thread).

    Parameters
    ----------
    group : nuke.Group
        The node.
    index : int
        0 for the plate, 1 for the features, 2 for the guides.
    render_dir : str
        Where an input that is not a Read of a sequence is rendered.
    first, last : int
        The frame range.
    channels : str, optional
        The channels a render keeps.
    colour : ScriptColour, optional
        The script's colour management; None: colour spaces are not passed. A Read
        whose colour space cannot be named to ``sss-vfx`` is rendered.

    Returns
    -------
    InputPlan or None
        None when nothing is connected.
    """
    upstream = group.input(index)
    if upstream is None:
        return None
    name = INPUT_NAMES[index]
    sequence = sequence_on_disk(upstream, first, last)
    if sequence is not None:
        space = read_colour_space(_through_dots(upstream)) if colour else ""
        named = colour.to_sss(space) if colour and space else None
        if not space or named is not None:
            return InputPlan(name, index, sequence[0], sequence[1], None, channels, named)
    graph, files = describe_upstream(upstream)
    pattern = os.path.join(render_dir, name + ".%04d.exr").replace(os.sep, "/")
    working = colour.working_space if colour else ""
    return InputPlan(name, index, pattern, files, graph, channels,
                     colour.to_sss(working) if colour else None, working)


def sequence_on_disk(node: nuke.Node, first: int,
                     last: int) -> Optional[Tuple[str, List[str]]]:
    """The printf pattern and the files of frames `first`..`last` of `node` (through
    Dots) when it is a Read of an image sequence the command can read as it is.

    The full-resolution ``file`` knob is read with its TCL expanded (never the proxy
    file); a pattern whose frames cannot be told from the expanded names, a retimed
    Read, a movie or a still give None (the input is then rendered).
    """
    node = _through_dots(node)
    if node.Class() != "Read":
        return None
    offset = node.knob("frame")
    if offset is not None and str(offset.value()).strip():
        return None  # a retimed Read: its frame numbers are not the files'
    raw = printf_pattern(str(node["file"].value()))
    if not is_sequence(raw) or not raw.lower().endswith(SEQUENCE_EXTENSIONS):
        return None
    paths = read_files(node, first, last)
    match = FRAME_FIELD.search(raw)
    assert match is not None
    tail = match.group(0) % first + raw[match.end():]
    if not paths[0].endswith(tail):
        return None  # TCL after the frame number
    pattern = paths[0][:len(paths[0]) - len(tail)] + raw[match.start():]
    if frame_paths(pattern, first, last) != paths:
        return None  # TCL that changes more than the frame number
    return pattern, paths


def read_files(read: nuke.Node, first: int, last: int) -> List[str]:
    """The file a Read reads at each frame of `first`..`last`: its ``file`` knob
    evaluated (TCL and frame number), at full resolution whatever the proxy mode."""
    knob = read["file"]
    assert isinstance(knob, nuke.File_Knob)
    context = nuke.OutputContext()
    paths = []
    for frame in range(first, last + 1):
        context.setFrame(frame)
        paths.append(str(knob.getEvaluatedValue(context)))
    return paths


def describe_upstream(node: nuke.Node) -> Tuple[List[Any], List[str]]:
    """Everything upstream of `node` that decides its pixels (main thread).

    Returns
    -------
    graph : list
        One entry per node reached through inputs (Groups with their contents):
        class, its inputs as (arrow, position in this list) pairs, and its knobs'
        scripts.
    files : list of str
        The files of every upstream Read over its own frame range.
    """
    order: List[nuke.Node] = []
    seen: Dict[str, int] = {}
    pending = [node]
    while pending:
        current = pending.pop()
        key = current.fullName()
        if key in seen:
            continue
        seen[key] = len(order)
        order.append(current)
        pending.extend(above for _, above in _inputs(current))
        if isinstance(current, nuke.Group):
            pending.extend(current.nodes())
    graph: List[Any] = []
    files: List[str] = []
    for current in order:
        inputs = [[arrow, seen[above.fullName()]] for arrow, above in _inputs(current)]
        knobs = {name: knob.toScript() for name, knob in sorted(current.knobs().items())
                 if name not in LAYOUT_KNOBS}
        graph.append([current.Class(), inputs, knobs])
        if current.Class() == "Read":
            files.extend(sorted(set(read_files(current, int(current["first"].value()),
                                               int(current["last"].value())))))
    return graph, files


def render_input(group: nuke.Group, plan: InputPlan, first: int, last: int) -> None:
    """Render `plan`'s input to its pattern for frames `first`..`last` (main thread).

    The frames are rendered at full resolution (proxy mode off while rendering) and
    through a Crop to the input's format, so that every frame's bounding box is the
    format: overscan is cut, and a smaller or empty bbox (a Roto on frames without its
    shape) is filled with black. The EXR writer stores the bbox as the data window, and
    ``sss-vfx`` needs every frame the size of the format.

    Raises
    ------
    InputError
        If the folder cannot be made, or rendering fails or is cancelled.
    """
    try:
        os.makedirs(os.path.dirname(plan.pattern), exist_ok=True)
    except OSError as exc:
        raise InputError("cannot create {} to render the {} input ({}); set the cache "
                         "folder knob to a writable folder".format(
                             os.path.dirname(plan.pattern), plan.name,
                             exc.strerror or exc)) from None
    source = internal(group, plan.name)
    upstream = group.input(plan.arrow)
    if upstream is None:
        raise InputError("the {} input was disconnected; connect it and press Compute "
                         "again".format(plan.name))
    size = upstream.format()
    root = nuke.root()
    proxy = bool(root["proxy"].value())
    with group:
        crop = nuke.nodes.Crop(name="sss_crop_" + plan.name)
        write = nuke.nodes.Write(name="sss_render_" + plan.name)
    try:
        crop.setInput(0, source)
        crop["box"].setValue([0, 0, size.width(), size.height()])
        crop["intersect"].setValue(False)
        crop["reformat"].setValue(False)
        crop["crop"].setValue(True)
        write.setInput(0, crop)
        write["file"].setValue(plan.pattern)
        write["file_type"].setValue("exr")
        write["channels"].setValue(plan.channels)
        write["datatype"].setValue("16 bit half")
        if plan.working_space:
            # The file holds the working space's values, the colour space passed on.
            write["colorspace"].setValue(plan.working_space)
        if proxy:
            root["proxy"].setValue(False)
        nuke.execute(write, first, last)
    except RuntimeError as exc:
        raise InputError("rendering the {} input for frames {}-{} stopped ({}); check "
                         "that it renders in the Viewer, or connect a Read".format(
                             plan.name, first, last, exc)) from None
    finally:
        if proxy:
            root["proxy"].setValue(True)
        nuke.delete(write)
        nuke.delete(crop)


def _inputs(node: nuke.Node) -> List[Tuple[int, nuke.Node]]:
    """The connected inputs of `node`: (arrow, node) pairs."""
    connected = ((arrow, node.input(arrow)) for arrow in range(node.inputs()))
    return [(arrow, above) for arrow, above in connected if above is not None]


def _through_dots(node: nuke.Node) -> nuke.Node:
    above = node.input(0) if node.Class() == "Dot" else None
    while above is not None:
        node = above
        above = node.input(0) if node.Class() == "Dot" else None
    return node
