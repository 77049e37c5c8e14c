"""A minimal OpenFX host in Python (ctypes), for testing the plugin binary.

It implements what a host gives the SemanticSoftSegmentation plugin: the property,
image effect, parameter, message and progress suites, one source clip whose frames
come from numpy arrays (any image bounds, rows padded), and an output clip whose image
the tests read back. Handles are small integers; the plugin never looks inside them.
Images are float RGBA, rows bottom-up in memory as OFX stores them; the arrays the
tests pass and get back are top row first.

It is as strict as the standard lets a host be: it asks the regions of interest
before a render and hands out input images cropped to them (default: the render
window), refuses images of frames outside the declared frames needed, wraps renders
in begin/end sequence render, asks the clip preferences, can ask a render scale other
than 1 or a field, can lack a frame (a failed fetch), answers progress "no" until its
main thread "catches up", and records a modal message() from a render action as a
violation (render threads must use persistent messages).
"""

import contextlib
import ctypes
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_size_t,
                    c_uint, c_void_p)

import numpy as np

OK, FAILED, ERR_UNKNOWN, ERR_UNSUPPORTED, ERR_BAD_HANDLE, ERR_BAD_INDEX = 0, 1, 3, 5, 9, 10
REPLY_NO, REPLY_DEFAULT = 13, 14
INFINITE_MIN, INFINITE_MAX = -2 ** 31, 2 ** 31 - 1
FILTER = "OfxImageEffectContextFilter"
GENERAL = "OfxImageEffectContextGeneral"

S = c_int   # OfxStatus
H = c_void_p
STR = c_char_p

# Property suite
SetPointer = CFUNCTYPE(S, H, STR, c_int, c_void_p)
SetString = CFUNCTYPE(S, H, STR, c_int, STR)
SetDouble = CFUNCTYPE(S, H, STR, c_int, c_double)
SetInt = CFUNCTYPE(S, H, STR, c_int, c_int)
SetN = CFUNCTYPE(S, H, STR, c_int, c_void_p)
GetN = CFUNCTYPE(S, H, STR, c_int, c_void_p)
GetOne = CFUNCTYPE(S, H, STR, c_int, c_void_p)
Reset = CFUNCTYPE(S, H, STR)
GetDimension = CFUNCTYPE(S, H, STR, POINTER(c_int))


class PropertySuite(Structure):
    _fields_ = [("propSetPointer", SetPointer), ("propSetString", SetString),
                ("propSetDouble", SetDouble), ("propSetInt", SetInt),
                ("propSetPointerN", SetN), ("propSetStringN", SetN),
                ("propSetDoubleN", SetN), ("propSetIntN", SetN),
                ("propGetPointer", GetOne), ("propGetString", GetOne),
                ("propGetDouble", GetOne), ("propGetInt", GetOne),
                ("propGetPointerN", GetN), ("propGetStringN", GetN),
                ("propGetDoubleN", GetN), ("propGetIntN", GetN),
                ("propReset", Reset), ("propGetDimension", GetDimension)]


class RectD(Structure):
    _fields_ = [("x1", c_double), ("y1", c_double), ("x2", c_double), ("y2", c_double)]


class EffectSuite(Structure):
    _fields_ = [("getPropertySet", CFUNCTYPE(S, H, POINTER(H))),
                ("getParamSet", CFUNCTYPE(S, H, POINTER(H))),
                ("clipDefine", CFUNCTYPE(S, H, STR, POINTER(H))),
                ("clipGetHandle", CFUNCTYPE(S, H, STR, POINTER(H), POINTER(H))),
                ("clipGetPropertySet", CFUNCTYPE(S, H, POINTER(H))),
                ("clipGetImage", CFUNCTYPE(S, H, c_double, POINTER(RectD), POINTER(H))),
                ("clipReleaseImage", CFUNCTYPE(S, H)),
                ("clipGetRegionOfDefinition", CFUNCTYPE(S, H, c_double, POINTER(RectD))),
                ("abort", CFUNCTYPE(c_int, H)),
                ("imageMemoryAlloc", CFUNCTYPE(S, H, c_size_t, POINTER(H))),
                ("imageMemoryFree", CFUNCTYPE(S, H)),
                ("imageMemoryLock", CFUNCTYPE(S, H, POINTER(c_void_p))),
                ("imageMemoryUnlock", CFUNCTYPE(S, H))]


# paramGetValue(handle, ...) and paramGetValueAtTime(handle, time, ...) are variadic; on
# x86-64 and arm64 Linux a variadic pointer argument arrives where a fixed one would.
class ParameterSuite(Structure):
    _fields_ = [("paramDefine", CFUNCTYPE(S, H, STR, STR, POINTER(H))),
                ("paramGetHandle", CFUNCTYPE(S, H, STR, POINTER(H), POINTER(H))),
                ("paramSetGetPropertySet", CFUNCTYPE(S, H, POINTER(H))),
                ("paramGetPropertySet", CFUNCTYPE(S, H, POINTER(H))),
                ("paramGetValue", CFUNCTYPE(S, H, c_void_p)),
                ("paramGetValueAtTime", CFUNCTYPE(S, H, c_double, c_void_p)),
                ("paramGetDerivative", CFUNCTYPE(S, H, c_double, c_void_p)),
                ("paramGetIntegral", CFUNCTYPE(S, H, c_double, c_double, c_void_p)),
                ("paramSetValue", CFUNCTYPE(S, H, c_void_p)),
                ("paramSetValueAtTime", CFUNCTYPE(S, H, c_double, c_void_p)),
                ("paramGetNumKeys", CFUNCTYPE(S, H, POINTER(c_uint))),
                ("paramGetKeyTime", CFUNCTYPE(S, H, c_uint, POINTER(c_double))),
                ("paramGetKeyIndex", CFUNCTYPE(S, H, c_double, c_int, POINTER(c_int))),
                ("paramDeleteKey", CFUNCTYPE(S, H, c_double)),
                ("paramDeleteAllKeys", CFUNCTYPE(S, H)),
                ("paramCopy", CFUNCTYPE(S, H, H, c_double, c_void_p)),
                ("paramEditBegin", CFUNCTYPE(S, H, STR)),
                ("paramEditEnd", CFUNCTYPE(S, H))]


class MessageSuite(Structure):
    _fields_ = [("message", CFUNCTYPE(S, H, STR, STR, STR, STR)),
                ("setPersistentMessage", CFUNCTYPE(S, H, STR, STR, STR, STR)),
                ("clearPersistentMessage", CFUNCTYPE(S, H))]


class ProgressSuite(Structure):
    _fields_ = [("progressStart", CFUNCTYPE(S, H, STR)),
                ("progressUpdate", CFUNCTYPE(S, H, c_double)),
                ("progressEnd", CFUNCTYPE(S, H))]


FetchSuite = CFUNCTYPE(c_void_p, H, STR, c_int)


class Host(Structure):
    _fields_ = [("host", H), ("fetchSuite", FetchSuite)]


MainEntry = CFUNCTYPE(S, STR, H, H, H)


class Plugin(Structure):
    _fields_ = [("pluginApi", c_char_p), ("apiVersion", c_int),
                ("pluginIdentifier", c_char_p), ("pluginVersionMajor", c_uint),
                ("pluginVersionMinor", c_uint), ("setHost", CFUNCTYPE(None, POINTER(Host))),
                ("mainEntry", MainEntry)]


class Props:
    """A property set: name -> list of values (str, int, float or pointer int)."""

    def __init__(self, **values):
        self.values = {k: list(v) if isinstance(v, (list, tuple)) else [v]
                       for k, v in values.items()}
        self.keep = []                  # C strings handed out stay alive here

    def get(self, name, default=None):
        values = self.values.get(name)
        return values[0] if values else default


class Image:
    """An image lent to the plugin: its memory (bottom-up, padded rows) and properties."""

    def __init__(self, pixels, bounds, padding):
        height, width = pixels.shape[:2]
        self.bounds, self.width, self.height = bounds, width, height
        self.row_bytes = width * 16 + padding
        self.buffer = np.zeros(height * self.row_bytes, np.uint8)
        self.view = np.lib.stride_tricks.as_strided(
            self.buffer.view(np.float32), shape=(height, width, 4),
            strides=(self.row_bytes, 16, 4))
        self.view[:] = pixels[::-1]
        self.guard = self.buffer.reshape(height, self.row_bytes)[:, width * 16:].copy()
        self.props = Props(OfxImagePropData=self.buffer.ctypes.data,
                           OfxImagePropBounds=list(bounds),
                           OfxImagePropRowBytes=self.row_bytes,
                           OfxImageEffectPropPixelDepth="OfxBitDepthFloat",
                           OfxImageEffectPropComponents="OfxImageComponentRGBA",
                           OfxImagePropPixelAspectRatio=1.0)

    def pixels(self):
        """The image, top row first, ``(H, W, 4)`` float32."""
        return np.array(self.view[::-1])

    def padding_intact(self):
        """Whether the row padding still holds what the host put there."""
        return np.array_equal(
            self.buffer.reshape(self.height, self.row_bytes)[:, self.width * 16:],
            self.guard)


class OfxTestHost:
    """Load a plugin binary and run the actions a host runs.

    Parameters
    ----------
    binary : str or os.PathLike
        The ``.ofx`` file inside the bundle.
    """

    def __init__(self, binary):
        self.lock = threading.RLock()
        self.objects = {}
        self.next_handle = 1
        self.messages = []
        self.modal_in_render = []       # message() called during a render action
        self.progress = []
        self.progress_no = 0            # progressUpdate answers "no" this many times
        self.nested_progress = 0        # progressStart while one is running
        self._progress_running = False
        self._rendering = threading.local()
        self.released = 0
        self.fetched = 0
        self.aborting = False
        self.host_props = self.new(Props(OfxPropName="org.sss_vfx.testhost",
                                         OfxPropLabel="sss test host"))
        self._callbacks = []
        self._suites = self._make_suites()
        self.host = Host(self.host_props, FetchSuite(self._fetch_suite))
        self.library = ctypes.CDLL(str(binary))
        self.library.OfxGetNumberOfPlugins.restype = c_int
        self.library.OfxGetPlugin.restype = POINTER(Plugin)
        self.library.OfxGetPlugin.argtypes = [c_int]
        self.plugin = None
        self.descriptor = None
        self.context_descriptors = {}

    # ---- handle registry
    def new(self, obj):
        with self.lock:
            handle = self.next_handle
            self.next_handle += 1
            self.objects[handle] = obj
            return handle

    def obj(self, handle):
        return self.objects.get(handle)

    # ---- suites
    def _cb(self, kind, fn):
        callback = kind(fn)
        self._callbacks.append(callback)
        return callback

    def _make_suites(self):
        prop = PropertySuite(
            self._cb(SetPointer, lambda h, n, i, v: self._set(h, n, i, v or 0)),
            self._cb(SetString, lambda h, n, i, v: self._set(h, n, i, v.decode())),
            self._cb(SetDouble, lambda h, n, i, v: self._set(h, n, i, float(v))),
            self._cb(SetInt, lambda h, n, i, v: self._set(h, n, i, int(v))),
            self._cb(SetN, lambda h, n, c, p: self._set_n(h, n, c, p, c_void_p)),
            self._cb(SetN, lambda h, n, c, p: self._set_n(h, n, c, p, c_char_p)),
            self._cb(SetN, lambda h, n, c, p: self._set_n(h, n, c, p, c_double)),
            self._cb(SetN, lambda h, n, c, p: self._set_n(h, n, c, p, c_int)),
            self._cb(GetOne, lambda h, n, i, p: self._get(h, n, i, p, c_void_p)),
            self._cb(GetOne, lambda h, n, i, p: self._get(h, n, i, p, c_char_p)),
            self._cb(GetOne, lambda h, n, i, p: self._get(h, n, i, p, c_double)),
            self._cb(GetOne, lambda h, n, i, p: self._get(h, n, i, p, c_int)),
            self._cb(GetN, lambda h, n, c, p: self._get_n(h, n, c, p, c_void_p)),
            self._cb(GetN, lambda h, n, c, p: self._get_n(h, n, c, p, c_char_p)),
            self._cb(GetN, lambda h, n, c, p: self._get_n(h, n, c, p, c_double)),
            self._cb(GetN, lambda h, n, c, p: self._get_n(h, n, c, p, c_int)),
            self._cb(Reset, lambda h, n: OK),
            self._cb(GetDimension, self._dimension))
        fields = dict(EffectSuite._fields_)
        effect = EffectSuite(*[self._cb(fields[name], getattr(self, "_e_" + name))
                               for name, _ in EffectSuite._fields_])
        fields = dict(ParameterSuite._fields_)
        param = ParameterSuite(*[self._cb(fields[name], getattr(self, "_p_" + name,
                                                                 self._unsupported))
                                 for name, _ in ParameterSuite._fields_])
        fields = dict(MessageSuite._fields_)
        message = MessageSuite(self._cb(fields["message"], self._modal_message),
                               self._cb(fields["setPersistentMessage"], self._message),
                               self._cb(fields["clearPersistentMessage"], lambda h: OK))
        fields = dict(ProgressSuite._fields_)
        progress = ProgressSuite(
            self._cb(fields["progressStart"], lambda h, label: self._progress("start")),
            self._cb(fields["progressUpdate"], lambda h, v: self._progress(v)),
            self._cb(fields["progressEnd"], lambda h: self._progress("end")))
        return {("OfxPropertySuite", 1): prop, ("OfxImageEffectSuite", 1): effect,
                ("OfxParameterSuite", 1): param, ("OfxMessageSuite", 1): message,
                ("OfxMessageSuite", 2): message, ("OfxProgressSuite", 1): progress}

    def _fetch_suite(self, host, name, version):
        suite = self._suites.get((name.decode(), version))
        return ctypes.addressof(suite) if suite is not None else None

    @staticmethod
    def _unsupported(*args):
        return ERR_UNSUPPORTED

    # ---- property suite
    def _props(self, handle):
        obj = self.obj(handle)
        return obj if isinstance(obj, Props) else getattr(obj, "props", None)

    def _set(self, handle, name, index, value):
        props = self._props(handle)
        if props is None:
            return ERR_BAD_HANDLE
        values = props.values.setdefault(name.decode(), [])
        while len(values) <= index:
            values.append(None)
        values[index] = value
        return OK

    def _set_n(self, handle, name, count, pointer, ctype):
        array = ctypes.cast(pointer, POINTER(ctype))
        for i in range(count):
            value = array[i]
            value = value.decode() if isinstance(value, bytes) else value
            status = self._set(handle, name, i, value)
            if status != OK:
                return status
        return OK

    def _value(self, handle, name, index):
        props = self._props(handle)
        if props is None:
            return ERR_BAD_HANDLE, None
        values = props.values.get(name.decode())
        if values is None:
            return ERR_UNKNOWN, None
        if not 0 <= index < len(values):
            return ERR_BAD_INDEX, None
        return OK, values[index]

    def _store(self, handle, pointer, index, value, ctype):
        target = ctypes.cast(pointer, POINTER(ctype))
        if ctype is c_char_p:
            buffer = ctypes.create_string_buffer(str(value).encode())
            self._props(handle).keep.append(buffer)
            ctypes.cast(pointer, POINTER(c_void_p))[index] = ctypes.addressof(buffer)
        else:
            target[index] = value

    def _get(self, handle, name, index, pointer, ctype):
        status, value = self._value(handle, name, index)
        if status == OK:
            self._store(handle, pointer, 0, value, ctype)
        return status

    def _get_n(self, handle, name, count, pointer, ctype):
        for i in range(count):
            status, value = self._value(handle, name, i)
            if status != OK:
                return status
            self._store(handle, pointer, i, value, ctype)
        return OK

    def _dimension(self, handle, name, count):
        props = self._props(handle)
        if props is None:
            return ERR_BAD_HANDLE
        count[0] = len(props.values.get(name.decode(), []))
        return OK

    # ---- image effect suite
    def _e_getPropertySet(self, effect, out):
        out[0] = self.obj(effect)["props"]
        return OK

    def _e_getParamSet(self, effect, out):
        out[0] = self.obj(effect)["params"]
        return OK

    def _e_clipDefine(self, effect, name, out):
        props = self.new(Props(name=name.decode()))
        self.obj(effect)["clips"][name.decode()] = props
        out[0] = props
        return OK

    def _e_clipGetHandle(self, effect, name, clip, props):
        clips = self.obj(effect)["clips"]
        if name.decode() not in clips:
            return ERR_UNKNOWN
        clip[0] = clips[name.decode()]
        if props:
            props[0] = clips[name.decode()]
        return OK

    def _e_clipGetPropertySet(self, clip, out):
        out[0] = clip
        return OK

    def _e_clipGetImage(self, clip, time, region, out):
        props = self.obj(clip)
        instance = props.values.get("instance", [None])[0]
        if instance is None:
            return FAILED
        image = instance.image(props.get("name"), time,
                               getattr(self._rendering, "active", False))
        if image is None:
            return FAILED
        with self.lock:
            self.fetched += 1
        out[0] = self.new(image)
        return OK

    def _e_clipReleaseImage(self, handle):
        with self.lock:
            if handle not in self.objects:
                return ERR_BAD_HANDLE
            del self.objects[handle]
            self.released += 1
        return OK

    def _e_clipGetRegionOfDefinition(self, clip, time, rect):
        instance = self.obj(clip).values.get("instance", [None])[0]
        x1, y1, x2, y2 = instance.rod(time)
        rect[0] = RectD(x1, y1, x2, y2)
        return OK

    def _e_abort(self, effect):
        return int(self.aborting)

    def _e_imageMemoryAlloc(self, *args):
        return ERR_UNSUPPORTED

    _e_imageMemoryFree = _e_imageMemoryLock = _e_imageMemoryUnlock = _e_imageMemoryAlloc

    # ---- parameter suite
    def _p_paramDefine(self, param_set, kind, name, out):
        props = Props(type=kind.decode())
        self.obj(param_set)[name.decode()] = props
        out[0] = self.new(props)
        return OK

    def _p_paramGetHandle(self, param_set, name, out, props):
        params = self.obj(param_set)
        if name.decode() not in params:
            return ERR_UNKNOWN
        param = params[name.decode()]
        handle = self.new(param)
        out[0] = handle
        if props:
            props[0] = handle
        return OK

    def _p_paramGetValue(self, param, pointer):
        props = self.obj(param)
        value = props.get("value", props.get("OfxParamPropDefault"))
        if props.get("type") == "OfxParamTypeString":
            self._store(param, pointer, 0, value, c_char_p)
        else:
            ctypes.cast(pointer, POINTER(c_int))[0] = int(value)
        return OK

    def _p_paramGetValueAtTime(self, param, time, pointer):
        return self._p_paramGetValue(param, pointer)

    # ---- message and progress suites
    def _message(self, handle, kind, ident, fmt, text):
        self.messages.append((kind.decode(), (text or fmt or b"").decode()))
        return OK

    def _modal_message(self, handle, kind, ident, fmt, text):
        if getattr(self._rendering, "active", False):
            self.modal_in_render.append((text or fmt or b"").decode())
        return self._message(handle, kind, ident, fmt, text)

    def _progress(self, event):
        with self.lock:
            self.progress.append(event)
            if event == "start":
                self.nested_progress += self._progress_running
                self._progress_running = True
            elif event == "end":
                self._progress_running = False
            elif self.progress_no > 0:
                self.progress_no -= 1
                return REPLY_NO
        return OK

    # ---- the actions
    def call(self, action, handle=None, in_args=None, out_args=None):
        """Run one action; returns the plugin's status."""
        ins = self.new(in_args) if in_args is not None else None
        outs = self.new(out_args) if out_args is not None else None
        rendering = action == "OfxImageEffectActionRender"
        self._rendering.active = rendering
        try:
            return self.plugin.mainEntry(action.encode(), handle, ins, outs)
        finally:
            self._rendering.active = False

    def load(self):
        """Find the plugin, give it the host, run the load action."""
        assert self.library.OfxGetNumberOfPlugins() == 1
        self.plugin = self.library.OfxGetPlugin(0).contents
        self.plugin.setHost(ctypes.byref(self.host))
        return self.call("OfxActionLoad")

    def describe(self):
        """The describe action; returns the descriptor's properties."""
        self.descriptor = self.new({"props": self.new(Props()), "params": None,
                                    "clips": {}})
        status = self.call("OfxActionDescribe", self.descriptor)
        return status, self._props(self.obj(self.descriptor)["props"])

    def describe_in_context(self, context):
        """Describe in `context`; returns (status, clips by name, params by name)."""
        params = {}
        handle = self.new({"props": self.new(Props()), "params": self.new(params),
                           "clips": {}})
        status = self.call("OfxImageEffectActionDescribeInContext", handle,
                           Props(OfxImageEffectPropContext=context))
        self.context_descriptors[context] = handle
        clips = {name: self.obj(h) for name, h in self.obj(handle)["clips"].items()}
        return status, clips, params

    def create_instance(self, context, frames, *, first=1, origin=(0, 0), padding=0,
                        frame_range=None):
        """Create an instance over a source clip of `frames` (top row first RGBA);
        `frame_range` overrides the clip's (e.g. unbounded)."""
        instance = Instance(self, context, frames, first, origin, padding, frame_range)
        status = self.call("OfxActionCreateInstance", instance.handle)
        if status == OK:
            instance.clip_preferences()
        return status, instance

    def unload(self):
        return self.call("OfxActionUnload")


class Instance:
    """An effect instance with its clips, parameters and rendered output.

    Attributes a test may set: ``missing`` (frame numbers the host cannot give),
    ``colourspace`` (the source clip's colour space, OpenFX 1.5), ``frames``,
    ``honour_roi`` (False: crop inputs to the render window whatever the plugin asks).
    """

    def __init__(self, host, context, frames, first, origin, padding, frame_range=None):
        self.host, self.frames, self.first = host, [np.asarray(f, np.float32) for f in
                                                    frames], first
        self.padding = padding
        height, width = self.frames[0].shape[:2]
        self.bounds = (origin[0], origin[1], origin[0] + width, origin[1] + height)
        self.outputs = {}
        self.missing = set()
        self.source_fetches = 0
        self.crop = None                # the Source region of interest of this render
        self.needed = None              # the Source frames needed of this render
        self.preferences = None
        self.honour_roi = True          # False: a host that crops to the window anyway
        self._in_sequence = False
        described = host.context_descriptors[context]
        params = {}
        for name, props in host.obj(host.obj(described)["params"]).items():
            params[name] = Props(**{k: list(v) for k, v in props.values.items()})
        self.params = params
        if frame_range is None:
            frame_range = [float(first), float(first + len(frames) - 1)]
        clips = {}
        for name in host.obj(described)["clips"]:
            clips[name] = host.new(Props(
                name=name, instance=self, OfxImageEffectPropFrameRange=list(frame_range),
                OfxImagePropPixelAspectRatio=1.0,
                OfxImageClipPropConnected=int(name != "Guides")))
        self.clips = clips
        self.handle = host.new({"props": host.new(Props(OfxImageEffectPropContext=context)),
                                "params": host.new(params), "clips": clips})

    def rod(self, time):
        """The Source's region of definition at `time`: the frame's own size."""
        index = int(np.clip(int(round(time)) - self.first, 0, len(self.frames) - 1))
        height, width = self.frames[index].shape[:2]
        return (self.bounds[0], self.bounds[1], self.bounds[0] + width,
                self.bounds[1] + height)

    def set(self, name, value):
        self.params[name].values["value"] = [value]

    @property
    def colourspace(self):
        return self.host.obj(self.clips["Source"]).get("OfxImageClipPropColourspace")

    @colourspace.setter
    def colourspace(self, name):
        self.host.obj(self.clips["Source"]).values["OfxImageClipPropColourspace"] = [name]

    def image(self, clip, time, rendering=False):
        if clip == "Source":
            number = int(round(time))
            index = number - self.first
            if not 0 <= index < len(self.frames) or number in self.missing:
                return None
            if rendering and self.needed is not None and not (
                    self.needed[0] <= number <= self.needed[1]):
                return None             # a frame the plugin did not declare it needs
            with self.host.lock:
                self.source_fetches += 1
            frame = self.frames[index]
            x1, y1 = self.bounds[:2]
            bounds = (x1, y1, x1 + frame.shape[1], y1 + frame.shape[0])
            if rendering and self.crop is not None:
                cx1, cy1, cx2, cy2 = (max(self.crop[0], bounds[0]), max(self.crop[1], bounds[1]),
                                      min(self.crop[2], bounds[2]), min(self.crop[3], bounds[3]))
                top = bounds[3] - cy2
                frame = frame[top:top + (cy2 - cy1), cx1 - x1:cx2 - x1]
                bounds = (cx1, cy1, cx2, cy2)
            return Image(frame, bounds, self.padding)
        if clip == "Output":
            return self.outputs.get(int(np.floor(time + 1e-6)))
        return None

    def clip_preferences(self):
        """Ask the clip preferences, as a host does before rendering; returns them."""
        out = Props(OfxImageEffectPropPreMultiplication="OfxImageOpaque")
        status = self.host.call("OfxImageEffectActionGetClipPreferences", self.handle,
                                None, out)
        self.preferences = out if status == OK else None
        return status, out

    def region_of_definition(self, time, scale=1.0):
        out = Props(OfxImageEffectPropRegionOfDefinition=[0.0, 0.0, 0.0, 0.0])
        status = self.host.call("OfxImageEffectActionGetRegionOfDefinition", self.handle,
                                Props(OfxPropTime=float(time),
                                      OfxImageEffectPropRenderScale=[scale, scale]), out)
        return status, out.values["OfxImageEffectPropRegionOfDefinition"]

    def regions_of_interest(self, time, window, scale=1.0):
        """The Source region the plugin needs for `window` (the window itself when the
        plugin does not say, as the standard's default)."""
        region = [float(v) for v in window]
        out = Props(OfxImageClipPropRoI_Source=list(region))
        status = self.host.call("OfxImageEffectActionGetRegionsOfInterest", self.handle,
                                Props(OfxPropTime=float(time),
                                      OfxImageEffectPropRenderScale=[scale, scale],
                                      OfxImageEffectPropRegionOfInterest=list(region)), out)
        if status not in (OK, REPLY_DEFAULT):
            return status, region
        return status, out.values["OfxImageClipPropRoI_Source"]

    def frames_needed(self, time):
        out = Props(OfxImageClipPropFrameRange_Source=[float(time), float(time)])
        status = self.host.call("OfxImageEffectActionGetFramesNeeded", self.handle,
                                Props(OfxPropTime=float(time)), out)
        return status, out.values["OfxImageClipPropFrameRange_Source"]

    @contextlib.contextmanager
    def sequence(self, first, last):
        """Begin and end a sequence render around the renders of the block."""
        args = Props(OfxImageEffectPropFrameRange=[float(first), float(last)],
                     OfxImageEffectPropFrameStep=1.0, OfxPropIsInteractive=0,
                     OfxImageEffectPropRenderScale=[1.0, 1.0])
        assert self.host.call("OfxImageEffectActionBeginSequenceRender", self.handle,
                              args) in (OK, REPLY_DEFAULT)
        self._in_sequence = True
        try:
            yield self
        finally:
            self._in_sequence = False
            assert self.host.call("OfxImageEffectActionEndSequenceRender", self.handle,
                                  args) in (OK, REPLY_DEFAULT)

    def render(self, time, windows=None, *, scale=1.0, field="OfxFieldNone"):
        """Render frame `time` tile by tile into a fresh output image (NaN-filled, so
        pixels the plugin forgets show), each tile with its Source cropped to the
        region of interest the plugin declares; returns (status, (H, W, 4) top row
        first). Outside a :meth:`sequence` block the render is its own sequence."""
        if not self._in_sequence:
            with self.sequence(time, time):
                return self.render(time, windows, scale=scale, field=field)
        height, width = self.frames[0].shape[:2]
        output = Image(np.full((height, width, 4), np.nan, np.float32), self.bounds,
                       self.padding)
        self.outputs[int(np.floor(time + 1e-6))] = output
        windows = windows or [self.bounds]
        status = OK
        for window in windows:
            _, needed = self.frames_needed(time)
            _, roi = self.regions_of_interest(time, window, scale)
            roi = roi if self.honour_roi else window
            self.needed = needed
            self.crop = (int(np.floor(roi[0])), int(np.floor(roi[1])),
                         int(np.ceil(roi[2])), int(np.ceil(roi[3])))
            try:
                status = self.host.call("OfxImageEffectActionRender", self.handle, Props(
                    OfxPropTime=float(time), OfxImageEffectPropRenderWindow=list(window),
                    OfxImageEffectPropRenderScale=[scale, scale],
                    OfxImageEffectPropFieldToRender=field))
            finally:
                self.crop = self.needed = None
            if status != OK:
                break
        assert output.padding_intact(), "the plugin wrote into the row padding"
        return status, output.pixels()

    def destroy(self):
        return self.host.call("OfxActionDestroyInstance", self.handle)
