"""A test double of Nuke's ``nuke`` module: as much as ``nuke_plugin/`` uses.

Nodes hold knobs by name (each class starts with the knobs the plugin touches, so a
misspelt knob name fails); Groups are contexts (``with group:``, ``begin``/``end``)
for creating and finding nodes; ``executeInMainThread`` runs the call at once, and
knob or graph edits from any other thread outside it fail, as they would crash Nuke.
ProgressTasks and message boxes are recorded.

Test modules load it with ``pytest_plugins = ["nuke_double"]`` and ask for the
``fake_nuke`` fixture (the double, reset, installed as ``nuke``, with ``nuke_plugin/`` on
``sys.path``) or the ``plugin`` fixture (the plugin's modules by name).
"""

import contextlib
import pathlib
import sys
import threading

import pytest

PLUGIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "nuke_plugin"

STARTLINE = 0x1000

_local = threading.local()


def _check_main_thread():
    if threading.current_thread() is not threading.main_thread() and not getattr(
            _local, "in_main_call", False):
        raise AssertionError("node edited outside the main thread; use executeInMainThread")


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

    def name(self):
        return self._name

    def label(self):
        return self._label

    def value(self):
        return self._value

    def setValue(self, value):
        _check_main_thread()
        self._value = self._coerce(value)
        return True

    def _coerce(self, value):
        return value

    def setFlag(self, flag):
        self._flags |= flag

    def clearFlag(self, flag):
        self._flags &= ~flag

    def setEnabled(self, enabled):
        _check_main_thread()
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


class String_Knob(Knob):
    _coerce = staticmethod(str)


class File_Knob(String_Knob):
    pass


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
        return list(self._values)

    def setValues(self, values):
        _check_main_thread()
        self._values = [str(v) for v in values]

    def _coerce(self, value):
        value = self._values[value] if isinstance(value, int) else str(value)
        if value not in self._values:
            raise ValueError(f"{value} is not one of {self._values}")
        return value


# ---------------------------------------------------------------------------- nodes

#: The knobs each node class starts with (beyond name, knobChanged and disable).
CLASS_KNOBS = {
    "Read": lambda: [File_Knob("file"), Int_Knob("first"), Int_Knob("last"),
                     Int_Knob("origfirst"), Int_Knob("origlast"), String_Knob("frame"),
                     Enumeration_Knob("on_error", None,
                                      ["error", "black", "checkerboard", "nearest frame"]),
                     Boolean_Knob("raw"), Script_Knob("reload", None, "")],
    "Write": lambda: [File_Knob("file"), String_Knob("file_type"),
                      String_Knob("channels"), String_Knob("datatype")],
    "Copy": lambda: [String_Knob(f"{end}{i}") for end in ("from", "to") for i in range(4)],
    "Expression": lambda: [String_Knob(f"expr{i}") for i in range(4)],
    "Switch": lambda: [Int_Knob("which")],
    "Input": lambda: [Int_Knob("number")],
}


class Node:
    def __init__(self, node_class, parent):
        self._class = node_class
        self._knobs = {}
        self._inputs = {}
        self._parent = parent
        self.deleted = False
        for knob in [String_Knob("name"), String_Knob("knobChanged"),
                     Boolean_Knob("disable")] + CLASS_KNOBS.get(node_class, list)():
            self.addKnob(knob)

    def Class(self):
        return self._class

    def name(self):
        return self._knobs["name"].value()

    def setName(self, name, uncollide=True, updateExpressions=False):
        _check_main_thread()
        taken = {n.name() for n in self._parent.nodes() if n is not self}
        base, number = name.rstrip("0123456789"), 1
        while name in taken:
            number += 1
            name = f"{base}{number}"
        self._knobs["name"]._value = name

    def fullName(self):
        if self._parent is None or self._parent is _root:
            return self.name()
        return self._parent.fullName() + "." + self.name()

    def addKnob(self, knob):
        knob._node = self
        self._knobs[knob.name()] = knob

    def knob(self, name):
        return self._knobs.get(name)

    def knobs(self):
        return dict(self._knobs)

    def __getitem__(self, name):
        return self._knobs[name]

    def input(self, index):
        return self._inputs.get(index)

    def setInput(self, index, node):
        _check_main_thread()
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def firstFrame(self):
        return self._range()[0]

    def lastFrame(self):
        return self._range()[1]

    def _range(self):
        if self._class == "Read":
            return self["first"].value(), self["last"].value()
        if self.input(0) is not None:
            return self.input(0)._range()
        return _root["first_frame"].value(), _root["last_frame"].value()

    def autoplace(self):
        pass

    def showControlPanel(self, forceFloat=False):
        self.panel_shown = True

    def __repr__(self):
        return f"<{self._class} {self.name()}>"


class Group(Node):
    def __init__(self, node_class="Group", parent=None):
        super().__init__(node_class, parent)
        self._children = []

    def nodes(self):
        return list(self._children)

    def node(self, name):
        return next((n for n in self._children if n.name() == name), None)

    def begin(self):
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
            node = Group(node_class, parent) if node_class == "Group" else Node(
                node_class, parent)
            parent._children.append(node)
            node.setName(knobs.pop("name", node_class + "1"))
            for name, value in knobs.items():
                node[name].setValue(value)
            return node
        return make


nodes = _NodeFactory()


class Layer:
    def __init__(self, name, channels):
        _layers[name] = list(channels)


# ---------------------------------------------------------------------- progress, UI

class ProgressTask:
    """Records what it is told; ``cancel()`` is the artist pressing its cancel."""

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
    previous = getattr(_local, "in_main_call", False)
    _local.in_main_call = True
    try:
        call(*args, **(kwargs or {}))
    finally:
        _local.in_main_call = previous


def message(text):
    messages.append(text)


def execute(node, first, last, incr=1):
    """Render a Write node: ``render_frame(write, frame)`` writes each frame."""
    _check_main_thread()
    executed.append((node.name(), node["file"].value(), first, last))
    for frame in range(first, last + 1, incr):
        render_frame(node, frame)


def render_frame(write, frame):
    raise RuntimeError("the test did not set nuke.render_frame")


def delete(node):
    _check_main_thread()
    node.deleted = True
    node._parent._children.remove(node)


def toNode(name):
    return preferences if name == "preferences" else _context[-1].node(name)


def selectedNodes(*args):
    return list(selection)


def filename(node, i=0):
    return node["file"].value() or None


def layers(node=None):
    return list(_layers)


def thisNode():
    return _this_stack[-1][0]


def thisKnob():
    return _this_stack[-1][1]


def scriptName():
    if not script_name:
        raise RuntimeError("no script name")
    return script_name


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
    """Forget every node, task, message and setting."""
    global _root, preferences, script_name
    _root = Group("Root")
    _root.addKnob(Int_Knob("first_frame"))
    _root.addKnob(Int_Knob("last_frame"))
    _root["first_frame"]._value, _root["last_frame"]._value = 1, 100
    _context[:] = [_root]
    preferences = Node("Preferences", None)
    script_name = ""
    for store in (_layers, progress_tasks, messages, executed, selection, _this_stack):
        store.clear()
    menus.clear()
    globals()["render_frame"] = _no_renderer


_no_renderer = render_frame
_context = []
_layers = {}
_this_stack = []
progress_tasks = []
messages = []
executed = []
selection = []
menus = {}
_root = preferences = script_name = None
reset()


@pytest.fixture
def fake_nuke(monkeypatch):
    """This module as ``nuke``, reset, with ``nuke_plugin/`` importable."""
    module = sys.modules[__name__]
    reset()
    monkeypatch.setitem(sys.modules, "nuke", module)
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.delenv("SSS_VFX_EXECUTABLE", raising=False)
    monkeypatch.delenv("SSS_VFX_CACHE", raising=False)
    yield module
    controller = sys.modules.get("sss_nuke.controller")
    for job in list(getattr(controller, "_jobs", {}).values()):
        job.cancel()
        job.wait(30)
    if controller is not None:
        controller._jobs.clear()


@pytest.fixture
def plugin(fake_nuke):
    """The plugin's modules by name (``plugin.command.build_command``), over the double."""
    import importlib
    import types

    names = [path.stem for path in (PLUGIN_DIR / "sss_nuke").glob("*.py")
             if path.stem != "__init__"]
    return types.SimpleNamespace(**{name: importlib.import_module("sss_nuke." + name)
                                    for name in names})
