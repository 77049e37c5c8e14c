"""A test double of Nuke's ``nuke`` module: as much as ``nuke_plugin/`` uses, and as strict
as Nuke where Nuke is strict.

- Nodes hold knobs by name (each class starts with the knobs the plugin touches, so a
  misspelt knob name fails). A deleted node raises ``ValueError`` on any use, as a Python
  wrapper of a deleted node does in Nuke.
- Inputs: a Group has one input arrow per Input node inside it (none before they exist)
  and other classes a fixed number; ``setInput`` returns False, connecting nothing, for an
  arrow the node does not have.
- Threads: knobs and the graph may only be touched on the main thread (anything else
  raises); ``executeInMainThread`` queues the call, and the queue runs when the test pumps
  the main loop (:func:`process_main_queue`, :func:`wait_until`); an exception there
  reaches the test, as it would reach Nuke's Script Editor.
- Images: nodes have a format and, per frame, a bounding box that may differ from it (a
  :class:`Source` gives a node its pixels, bbox and format; a Crop crops or expands the
  bbox as Nuke's does). ``nuke.execute`` of a Write writes EXRs whose data window is the
  bbox and display window the format, at the proxy scale when proxy mode is on.
- Colour (root ``colorManagement``, ``OCIO_config``, ``customOCIOConfigPath``,
  ``workingSpaceLUT``; a Read's and Write's ``colorspace`` menu): values as Nuke shows
  them; a Write records the colour space it renders in (:data:`written_colorspaces`);
  no pixel is converted.
- Proxy mode (root ``proxy``, ``proxy_scale``): ``nuke.filename`` follows it (a Read's
  proxy file), a File knob's ``evaluate()`` does not.
- TCL in EvalString/File knobs: ``evaluate()`` expands ``[value node.knob]``,
  ``[file dirname|tail|rootname|extension ...]`` and ``[getenv NAME]`` (a File knob: then
  the current frame number; ``getEvaluatedValue(outputContext)`` at the context's frame);
  ``value()`` is the raw text.
- Undo: edits outside ``nuke.Undo.disable()`` are recorded in :data:`undo_log` with the
  name of the ``nuke.Undo.begin`` group they belong to.
- Callbacks: ``addOnDestroy`` (run by ``delete``), ``addOnScriptClose`` (run by
  :func:`script_close`, which then deletes every node).

Test modules load it with ``pytest_plugins = ["nuke_double"]`` and ask for the
``fake_nuke`` fixture (the double, reset, installed as ``nuke``, with ``nuke_plugin/`` on
``sys.path``) or the ``plugin`` fixture (the plugin's modules by name).
"""

import contextlib
import os
import pathlib
import queue
import re
import sys
import tempfile
import threading
import time

import numpy as np
import OpenEXR
import pytest

PLUGIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "nuke_plugin"

STARTLINE = 0x1000
INVISIBLE = 0x400

DETACHED = "A PythonObject is not attached to a node"


def _check_main_thread():
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("knob or node used outside the main thread; use "
                           "nuke.executeInMainThread")


# ---------------------------------------------------------------------------- undo

class Undo:
    """``nuke.Undo``: disable/enable recording, begin/end a named group."""

    _disabled = 0
    _group = None

    @classmethod
    def disable(cls):
        cls._disabled += 1

    @classmethod
    def enable(cls):
        cls._disabled = max(0, cls._disabled - 1)

    @classmethod
    def disabled(cls):
        return cls._disabled > 0

    @classmethod
    def begin(cls, name=None):
        cls._group = name or "undo group"

    @classmethod
    def end(cls):
        cls._group = None


def _record(what):
    if not Undo.disabled():
        undo_log.append((Undo._group, what))


# ---------------------------------------------------------------------------- knobs

class Knob:
    default = ""

    def __init__(self, name, label=None, *args):
        self._name = name
        self._label = label if label is not None else name
        self._value = self.default
        self._flags = 0
        self._enabled = True
        self._tooltip = ""
        self._node = None

    def _use(self):
        _check_main_thread()
        if self._node is not None and self._node.deleted:
            raise ValueError(DETACHED)

    def name(self):
        return self._name

    def label(self):
        return self._label

    def value(self):
        self._use()
        return self._value

    def toScript(self, quote=False, context=None):
        self._use()
        return str(self._value)

    def setValue(self, value):
        self._use()
        self._value = self._coerce(value)
        if self._node is not None:
            _record(f"{self._node.name()}.{self._name}")
        return True

    def _coerce(self, value):
        return value

    def setFlag(self, flag):
        self._flags |= flag

    def clearFlag(self, flag):
        self._flags &= ~flag

    def getFlag(self, flag):
        return bool(self._flags & flag)

    def setEnabled(self, enabled):
        self._use()
        self._enabled = bool(enabled)

    def enabled(self):
        return self._enabled

    def setTooltip(self, text):
        self._tooltip = text


class Array_Knob(Knob):
    default = 0


class Int_Knob(Array_Knob):
    _coerce = staticmethod(int)


class Double_Knob(Array_Knob):
    default = 0.0
    _coerce = staticmethod(float)


class Boolean_Knob(Array_Knob):
    default = False
    _coerce = staticmethod(bool)


class BBox_Knob(Array_Knob):
    def __init__(self, name, label=None):
        super().__init__(name, label)
        self._value = [0.0, 0.0, 1.0, 1.0]

    def _coerce(self, value):
        return [float(v) for v in value]


class String_Knob(Knob):
    _coerce = staticmethod(str)


class EvalString_Knob(String_Knob):
    def evaluate(self):
        """The text with its TCL expanded (and, for a File knob, the current frame)."""
        self._use()
        return _tcl(self._value)


class File_Knob(EvalString_Knob):
    def evaluate(self):
        return frame_substituted(super().evaluate(), current_frame)

    def getEvaluatedValue(self, oc=None):
        """The file at the context's frame: TCL expanded, frame number substituted."""
        self._use()
        return frame_substituted(_tcl(self._value),
                                 current_frame if oc is None else oc.frame())


class Text_Knob(Knob):
    _coerce = staticmethod(str)


class Tab_Knob(Knob):
    pass


class Script_Knob(String_Knob):
    def __init__(self, name, label=None, command=""):
        super().__init__(name, label)
        self._value = command
        self.executions = 0

    def execute(self):
        """Run the command as Nuke does when the button is pressed: ``nuke`` imported,
        ``nuke.thisNode()`` the knob's node."""
        self._use()
        self.executions += 1
        with _this(self._node, self):
            exec(self._value, {"nuke": sys.modules[__name__]})


class PyScript_Knob(Script_Knob):
    pass


class Enumeration_Knob(Knob):
    def __init__(self, name, label=None, values=()):
        super().__init__(name, label)
        self._values = [str(v) for v in values]
        self._value = self._values[0] if self._values else ""

    def values(self):
        self._use()
        return list(self._values)

    def setValues(self, values):
        self._use()
        self._values = [str(v) for v in values]

    def _coerce(self, value):
        value = self._values[value] if isinstance(value, int) else str(value)
        if value not in self._values:
            raise ValueError(f"{value} is not one of {self._values}")
        return value


class ColourSpace_Knob(Enumeration_Knob):
    """A Read's or Write's ``colorspace`` menu. Left at its default it shows, as Nuke
    does, ``default (<space>)``: the working space for float files (EXR), sRGB for
    8/16-bit ones."""

    def __init__(self, name, label=None):
        super().__init__(name, label, COLOUR_SPACES)
        self._value = "default"

    def value(self):
        value = super().value()
        if value != "default":
            return value
        path = str(self._node["file"].value()) if self._node is not None else ""
        if path.lower().endswith(".exr"):
            return "default ({})".format(_root["workingSpaceLUT"].value())
        return "default (sRGB)"

    def toScript(self, quote=False, context=None):
        return self.value()


class OutputContext:
    def __init__(self):
        self._frame = current_frame

    def setFrame(self, frame):
        self._frame = int(frame)

    def frame(self):
        return self._frame


def frame_substituted(text, frame):
    """A path with its ``%04d`` or ``####`` field replaced by `frame`."""
    text = re.sub(r"%(0\d+)?d", lambda m: m.group(0) % frame, text, count=1)
    return re.sub(r"#+", lambda m: "%0{}d".format(len(m.group(0))) % frame, text, count=1)


def _tcl(text):
    """Expand the TCL commands Nuke scripts put in paths, innermost first."""
    innermost = re.compile(r"\[([^\[\]]*)\]")
    while True:
        match = innermost.search(text)
        if match is None:
            return text
        text = text[:match.start()] + _tcl_command(match.group(1).split()) + text[match.end():]


def _tcl_command(words):
    if len(words) == 2 and words[0] == "value":
        node_name, knob_name = words[1].rsplit(".", 1)
        node = _root if node_name == "root" else toNode(node_name)
        return str(node[knob_name].value())
    if len(words) == 3 and words[0] == "file":
        path = words[2]
        return {"dirname": os.path.dirname(path), "tail": os.path.basename(path),
                "rootname": os.path.splitext(path)[0],
                "extension": os.path.splitext(path)[1]}[words[1]]
    if len(words) == 2 and words[0] == "getenv":
        return os.environ.get(words[1], "")
    raise RuntimeError("TCL: unknown command " + " ".join(words))


# ---------------------------------------------------------------------------- nodes

#: The values of a Read's and Write's ``colorspace`` menu (in Nuke they are the script's
#: config's colour spaces, roles, and ``default (<the default for the file type>)``).
COLOUR_SPACES = ["linear", "sRGB", "rec709", "Cineon", "Gamma2.2",
                 "AlexaV3LogC", "raw", "scene_linear",
                 "ACES - ACEScg", "ACES - ACES2065-1", "Output - sRGB",
                 "Utility - sRGB - Texture", "ACEScg", "sRGB Encoded Rec.709 (sRGB)"]
#: Root ``OCIO_config`` values of Nuke 13-16 (``custom``: ``customOCIOConfigPath``).
OCIO_CONFIGS = ["nuke-default", "aces_1.0.3", "aces_1.1", "aces_1.2",
                "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1",
                "fn-nuke_studio-config-v1.0.0_aces-v1.3_ocio-v2.1", "custom"]

#: The knobs each node class starts with (beyond name, knobChanged, disable, xpos, ypos).
CLASS_KNOBS = {
    "Read": lambda: [File_Knob("file"), File_Knob("proxy"), Int_Knob("first"),
                     Int_Knob("last"), Int_Knob("origfirst"), Int_Knob("origlast"),
                     String_Knob("frame"),
                     Enumeration_Knob("on_error", None,
                                      ["error", "black", "checkerboard", "nearest frame"]),
                     Enumeration_Knob("before", None, ["hold", "loop", "bounce", "black"]),
                     Enumeration_Knob("after", None, ["hold", "loop", "bounce", "black"]),
                     Boolean_Knob("raw"), Script_Knob("reload", None, ""),
                     ColourSpace_Knob("colorspace")],
    "Write": lambda: [File_Knob("file"), File_Knob("proxy"), String_Knob("file_type"),
                      Enumeration_Knob("channels", None, ["rgb", "rgba", "alpha"]),
                      String_Knob("datatype"),
                      ColourSpace_Knob("colorspace")],
    "Crop": lambda: [BBox_Knob("box"), Double_Knob("softness"), Boolean_Knob("reformat"),
                     Boolean_Knob("intersect"), _true(Boolean_Knob("crop"))],
    "Copy": lambda: [String_Knob(f"{end}{i}") for end in ("from", "to") for i in range(4)],
    "Expression": lambda: [String_Knob(f"expr{i}") for i in range(4)],
    "Switch": lambda: [Int_Knob("which")],
    "Input": lambda: [Int_Knob("number")],
    "Grade": lambda: [Double_Knob("white")],
}
#: How many input arrows a node of each class has (a Group: one per Input node inside).
MAX_INPUTS = {"Read": 0, "Input": 0, "Constant": 0, "Roto": 1, "Copy": 2, "Switch": 99,
              "Merge2": 3}


def _true(knob):
    knob._value = True
    return knob


class Format:
    def __init__(self, width, height):
        self._size = (int(width), int(height))

    def width(self):
        return self._size[0]

    def height(self):
        return self._size[1]


class Info:
    """A bounding box as ``Node.bbox()`` returns it: x, y, w, h (y up)."""

    def __init__(self, box):
        self._box = box

    def x(self):
        return self._box[0]

    def y(self):
        return self._box[1]

    def w(self):
        return self._box[2] - self._box[0]

    def h(self):
        return self._box[3] - self._box[1]


class Source:
    """What a node with no input shows: a format, rgba pixels per frame over the format
    (``image(frame)`` -> (H, W, 4), rows top first) and a bbox per frame (x, y, r, t with y
    up, the format by default; pixels outside the format inside it are `outside`)."""

    def __init__(self, width, height, image=None, bbox=None, outside=0.0):
        self.width, self.height = width, height
        self.image = image or (lambda frame: np.zeros((height, width, 4), np.float32))
        self.bbox = bbox or (lambda frame: (0, 0, width, height))
        self.outside = outside


class Node:
    def __init__(self, node_class, parent):
        self._class = node_class
        self._knobs = {}
        self._inputs = {}
        self._parent = parent
        self.deleted = False
        self.source = None
        for knob in [String_Knob("name"), String_Knob("knobChanged"),
                     Boolean_Knob("disable"), Int_Knob("xpos"), Int_Knob("ypos")
                     ] + CLASS_KNOBS.get(node_class, list)():
            self._add(knob)

    def _use(self):
        _check_main_thread()
        if self.deleted:
            raise ValueError(DETACHED)

    def _add(self, knob):
        knob._node = self
        self._knobs[knob.name()] = knob

    def Class(self):
        return self._class

    def name(self):
        self._use()
        return self._knobs["name"]._value

    def setName(self, name, uncollide=True, updateExpressions=False):
        self._use()
        taken = {n.name() for n in self._parent.nodes() if n is not self}
        base, number = name.rstrip("0123456789"), 1
        while name in taken:
            number += 1
            name = f"{base}{number}"
        self._knobs["name"]._value = name

    def fullName(self):
        self._use()
        if self._parent is None or self._parent is _root:
            return self.name()
        return self._parent.fullName() + "." + self.name()

    def addKnob(self, knob):
        self._use()
        self._add(knob)
        _record(f"{self.name()} +{knob.name()}")

    def knob(self, name):
        self._use()
        return self._knobs.get(name)

    def knobs(self):
        self._use()
        return dict(self._knobs)

    def __getitem__(self, name):
        self._use()
        return self._knobs[name]

    def input(self, index):
        self._use()
        return self._inputs.get(index)

    def inputs(self):
        self._use()
        return max(self._inputs, default=-1) + 1

    def maxInputs(self):
        return MAX_INPUTS.get(self._class, 1)

    def setInput(self, index, node):
        self._use()
        if node is not None and node.deleted:
            raise ValueError(DETACHED)
        if not 0 <= index < self.maxInputs():
            return False
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        _record(f"{self.name()} input {index}")
        return True

    def setXYpos(self, x, y):
        self._use()
        self._knobs["xpos"]._value, self._knobs["ypos"]._value = int(x), int(y)

    def xpos(self):
        return self["xpos"].value()

    def ypos(self):
        return self["ypos"].value()

    def firstFrame(self):
        return self._range()[0]

    def lastFrame(self):
        return self._range()[1]

    def _range(self):
        self._use()
        if self._class == "Read":
            return self["first"].value(), self["last"].value()
        upstream = self._upstream()
        if upstream is not None:
            return upstream._range()
        return _root["first_frame"].value(), _root["last_frame"].value()

    def _upstream(self):
        if self._class == "Input":
            return self._parent.input(self["number"].value())
        return self.input(0)

    def format(self):
        """The node's format: its Source's, else its input's, else the root format."""
        self._use()
        if self.source is not None:
            return Format(self.source.width, self.source.height)
        upstream = self._upstream()
        return Format(*root_format) if upstream is None else upstream.format()

    def bbox(self):
        """The bbox at the current frame."""
        return Info(_plane(self, current_frame)[0])

    def autoplace(self):
        self._use()

    def showControlPanel(self, forceFloat=False):
        self.panel_shown = True

    def __repr__(self):
        return f"<{self._class} {self._knobs['name']._value}>"


class Group(Node):
    def __init__(self, node_class="Group", parent=None):
        super().__init__(node_class, parent)
        self._children = []

    def maxInputs(self):
        if self._class != "Group":
            return 0
        return sum(1 for node in self._children if node._class == "Input")

    def nodes(self):
        self._use()
        return list(self._children)

    def node(self, name):
        self._use()
        return next((n for n in self._children if n.name() == name), None)

    def begin(self):
        self._use()
        _context.append(self)
        return self

    def end(self):
        assert _context[-1] is self, "end() of a group that was not begun last"
        _context.pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc):
        self.end()


class _NodeFactory:
    """``nuke.nodes.<Class>(**knobs)``: a node of any class, in the current group."""

    def __getattr__(self, node_class):
        def make(**knobs):
            _check_main_thread()
            parent = _context[-1]
            node = Group(node_class, parent) if node_class in ("Group", "Root") else Node(
                node_class, parent)
            parent._children.append(node)
            node.setName(knobs.pop("name", node_class + "1"))
            _record(f"create {node.name()}")
            for name, value in knobs.items():
                node[name].setValue(value)
            return node
        return make


nodes = _NodeFactory()


class Layer:
    def __init__(self, name, channels):
        _layers[name] = list(channels)


# ---------------------------------------------------------------------------- images

def _intersection(a, b):
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def _paste(dst, dst_box, src, src_box, clip=None):
    """Copy `src` (over `src_box`) into `dst` (over `dst_box`) where they overlap."""
    overlap = _intersection(dst_box, src_box)
    if overlap is not None and clip is not None:
        overlap = _intersection(overlap, clip)
    if overlap is None:
        return
    x, y, r, t = overlap
    dst[dst_box[3] - t:dst_box[3] - y, x - dst_box[0]:r - dst_box[0]] = \
        src[src_box[3] - t:src_box[3] - y, x - src_box[0]:r - src_box[0]]


def _blank(box):
    return np.zeros((max(box[3] - box[1], 0), max(box[2] - box[0], 0), 4), np.float32)


def _plane(node, frame):
    """The node's bbox at `frame` (x, y, r, t; y up) and its rgba pixels over it."""
    node._use()
    if node.source is not None:
        source = node.source
        box = tuple(int(v) for v in source.bbox(frame))
        pixels = _blank(box)
        pixels[...] = source.outside
        full = (0, 0, source.width, source.height)
        _paste(pixels, box, np.asarray(source.image(frame), np.float32), full)
        return box, pixels
    upstream = node._upstream()
    if upstream is None:
        box = (0, 0) + tuple(root_format)
        return box, _blank(box)
    box, pixels = _plane(upstream, frame)
    if node.Class() == "Crop":
        crop = tuple(int(round(v)) for v in node["box"].value())
        out = _intersection(box, crop) if node["intersect"].value() else crop
        out = out or (0, 0, 0, 0)
        cropped = _blank(out)
        _paste(cropped, out, pixels, box, clip=crop)
        return out, cropped
    return box, pixels


def execute(node, first, last, incr=1):
    """Render a Write node: each frame an EXR whose data window is the bbox of the Write's
    input and display window its format, scaled down in proxy mode."""
    _check_main_thread()
    if execute_error is not None:
        raise RuntimeError(execute_error)
    executed.append((node.name(), node["file"].value(), first, last,
                     bool(_root["proxy"].value())))
    written_colorspaces.append(node["colorspace"].value())
    upstream = node.input(0)
    fmt = upstream.format()
    for frame in range(first, last + 1, incr):
        box, pixels = _plane(upstream, frame)
        size = (fmt.width(), fmt.height())
        if _root["proxy"].value():
            step = int(round(1.0 / _root["proxy_scale"].value()))
            pixels = pixels[::step, ::step]
            box = tuple(v // step for v in box)
            box = (box[0], box[1], box[0] + pixels.shape[1], box[1] + pixels.shape[0])
            size = (size[0] // step, size[1] // step)
        if pixels.size == 0:   # an empty bbox: one black pixel
            box, pixels = (0, 0, 1, 1), _blank((0, 0, 1, 1))
        width, height = size
        names = {"rgb": "RGB", "rgba": "RGBA", "alpha": "A"}[node["channels"].value()]
        channels = {name: np.ascontiguousarray(pixels[:, :, "RGBA".index(name)]
                                               .astype(np.float16)) for name in names}
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                  "displayWindow": (np.array([0, 0], np.int32),
                                    np.array([width - 1, height - 1], np.int32)),
                  "dataWindow": (np.array([box[0], height - box[3]], np.int32),
                                 np.array([box[2] - 1, height - box[1] - 1], np.int32))}
        OpenEXR.File(header, channels).write(node["file"].getEvaluatedValue(_context_at(frame)))


def _context_at(frame):
    context = OutputContext()
    context.setFrame(frame)
    return context


def read_frame(read, frame):
    """What a Read shows at `frame`, as Nuke decides it: ``'black'`` outside its range
    with before/after black, the path of the file it reads, or RuntimeError for a missing
    file with ``on_error`` error."""
    first, last = read["first"].value(), read["last"].value()
    if frame < first or frame > last:
        mode = read["before" if frame < first else "after"].value()
        if mode == "black":
            return "black"
        frame = first if frame < first else last
    path = read["file"].getEvaluatedValue(_context_at(frame))
    if os.path.isfile(path):
        return path
    if read["on_error"].value() == "error":
        raise RuntimeError(f"{read.name()}: {path}: no such file")
    return "black"


# ---------------------------------------------------------------------- progress, UI

class ProgressTask:
    """Records what it is told; ``cancel()`` is the artist pressing its cancel. Nuke
    lets any thread use it."""

    def __init__(self, title):
        self.title = title
        self.messages = []
        self.progress = []
        self.cancelled = False
        progress_tasks.append(self)

    def setMessage(self, text):
        self.messages.append(text)

    def setProgress(self, percent):
        self.progress.append(percent)

    def isCancelled(self):
        return self.cancelled

    def cancel(self):
        self.cancelled = True


class _Menu:
    def __init__(self, name):
        self._name = name
        self.commands = {}
        self.menus = {}

    def addCommand(self, name, command, *args, **kwargs):
        self.commands[name] = command

    def addMenu(self, name, *args, **kwargs):
        return self.menus.setdefault(name, _Menu(name))


def executeInMainThread(call, args=(), kwargs=None):
    """Queue `call` for the main loop (:func:`process_main_queue`)."""
    _main_queue.put((call, tuple(args), dict(kwargs or {})))


def process_main_queue():
    """One turn of Nuke's main loop: run every queued call (main thread only)."""
    _check_main_thread()
    while True:
        try:
            call, args, kwargs = _main_queue.get_nowait()
        except queue.Empty:
            return
        call(*args, **kwargs)


def wait_until(predicate, timeout=300.0):
    """Run the main loop until `predicate()` holds; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        process_main_queue()
        if predicate():
            process_main_queue()
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def message(text):
    _check_main_thread()
    messages.append(text)


def delete(node):
    """Delete `node` (a Group with its contents), running the onDestroy callbacks."""
    node._use()
    if isinstance(node, Group):
        for child in list(node._children):
            delete(child)
    for call, args, kwargs, node_class in list(_callbacks["onDestroy"]):
        if node_class in ("*", node.Class()):
            with _this(node, None):
                call(*args, **kwargs)
    _record(f"delete {node.name()}")
    node.deleted = True
    node._parent._children.remove(node)


def addOnDestroy(call, args=(), kwargs=None, nodeClass="*"):
    _callbacks["onDestroy"].append((call, tuple(args), dict(kwargs or {}), nodeClass))


def addOnScriptClose(call, args=(), kwargs=None, nodeClass="Root"):
    _callbacks["onScriptClose"].append((call, tuple(args), dict(kwargs or {}), nodeClass))


def script_close():
    """What Nuke does when the script closes (File > Close, quitting): the onScriptClose
    callbacks, then every node goes."""
    for call, args, kwargs, _ in list(_callbacks["onScriptClose"]):
        with _this(_root, None):
            call(*args, **kwargs)
    for node in list(_root._children):
        delete(node)


def toNode(name):
    _check_main_thread()
    if name == "preferences":
        return preferences
    if name == "root":
        return _root
    return _context[-1].node(name)


def root():
    _check_main_thread()
    return _root


def selectedNodes(*args):
    return list(selection)


def filename(node, i=0):
    """The file pattern a Read works with: its proxy file in proxy mode (when set)."""
    node._use()
    if _root["proxy"].value() and node.knob("proxy") is not None and node["proxy"].value():
        return _tcl(node["proxy"].value())
    return _tcl(node["file"].value()) or None


def layers(node=None):
    return list(_layers)


def thisNode():
    return _this_stack[-1][0]


def thisKnob():
    return _this_stack[-1][1]


def scriptName():
    _check_main_thread()
    if not _root["name"].value():
        raise RuntimeError("no script name")
    return _root["name"].value()


def save_script_as(path):
    """The artist saves the script under `path` (the double's File > Save As)."""
    _root["name"]._value = str(path)


def menu(name):
    return menus.setdefault(name, _Menu(name))


def toolbar(name, create=True):
    return menu(name)


@contextlib.contextmanager
def _this(node, knob):
    _this_stack.append((node, knob))
    try:
        yield
    finally:
        _this_stack.pop()


def fire_knob_changed(node, knob_name):
    """What Nuke does after the artist edits a knob: run the node's knobChanged."""
    with _this(node, node[knob_name]):
        exec(node["knobChanged"].value(), {"nuke": sys.modules[__name__]})


# ---------------------------------------------------------------------------- state

def reset():
    """Forget every node, task, message, callback and setting."""
    global _root, preferences, current_frame, execute_error, root_format, _main_queue
    _root = Group("Root")
    for knob in (Int_Knob("first_frame"), Int_Knob("last_frame"), File_Knob("name"),
                 Boolean_Knob("proxy"), Double_Knob("proxy_scale"),
                 Enumeration_Knob("colorManagement", None, ["Nuke", "OCIO"]),
                 Enumeration_Knob("OCIO_config", None, OCIO_CONFIGS),
                 File_Knob("customOCIOConfigPath"),
                 Enumeration_Knob("workingSpaceLUT", None, COLOUR_SPACES)):
        _root._add(knob)
    _root["first_frame"]._value, _root["last_frame"]._value = 1, 100
    _root["proxy_scale"]._value = 0.5
    _root["name"]._value = ""
    _context[:] = [_root]
    preferences = Node("Preferences", None)
    current_frame = 1
    execute_error = None
    root_format = (32, 32)
    _main_queue = queue.Queue()
    Undo._disabled, Undo._group = 0, None
    for store in (_layers, progress_tasks, messages, executed, selection, _this_stack,
                  undo_log, written_colorspaces):
        store.clear()
    for store in _callbacks.values():
        store.clear()
    menus.clear()


_context = []
_layers = {}
_this_stack = []
_callbacks = {"onDestroy": [], "onScriptClose": []}
progress_tasks = []
messages = []
executed = []
written_colorspaces = []
selection = []
undo_log = []
menus = {}
_root = preferences = _main_queue = None
current_frame = 1
execute_error = None
root_format = (32, 32)
reset()


@pytest.fixture
def fake_nuke(monkeypatch, tmp_path_factory):
    """This module as ``nuke``, reset, with ``nuke_plugin/`` importable and the system's
    temporary folder a fresh one (so that a test's own folders are not "temporary")."""
    module = sys.modules[__name__]
    reset()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("system_temp")))
    monkeypatch.setitem(sys.modules, "nuke", module)
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.delenv("SSS_VFX_EXECUTABLE", raising=False)
    monkeypatch.delenv("SSS_VFX_CACHE", raising=False)
    yield module
    controller = sys.modules.get("sss_nuke.controller")
    if controller is not None:
        jobs = list(controller._jobs.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            wait_until(lambda: not job.running, 30)
        controller._jobs.clear()
        controller._callbacks_installed = False
    while not _main_queue.empty():
        _main_queue.get_nowait()


@pytest.fixture
def plugin(fake_nuke):
    """The plugin's modules by name (``plugin.command.build_command``), over the double."""
    import importlib
    import types

    names = [path.stem for path in (PLUGIN_DIR / "sss_nuke").glob("*.py")
             if path.stem != "__init__"]
    return types.SimpleNamespace(**{name: importlib.import_module("sss_nuke." + name)
                                    for name in names})
