"""A minimal OpenFX host in Python (ctypes), for testing the plugin binary.

It implements what a host gives the SemanticSoftSegmentation plugin: the property,
image effect, parameter, message and progress suites, one source clip whose frames
come from numpy arrays (any image bounds, rows padded), and an output clip whose image
the tests read back. Handles are small integers; the plugin never looks inside them.
Images are float RGBA, rows bottom-up in memory as OFX stores them; the arrays the
tests pass and get back are top row first.
"""

import ctypes
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_size_t,
                    c_uint, c_void_p)

import numpy as np

OK, FAILED, ERR_UNKNOWN, ERR_UNSUPPORTED, ERR_BAD_HANDLE, ERR_BAD_INDEX = 0, 1, 3, 5, 9, 10
REPLY_DEFAULT = 14
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
        self.progress = []
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
        message = MessageSuite(self._cb(fields["message"], self._message),
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
        image = instance.image(props.get("name"), time)
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
        x1, y1, x2, y2 = instance.bounds
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

    def _progress(self, event):
        self.progress.append(event)
        return OK

    # ---- the actions
    def call(self, action, handle=None, in_args=None, out_args=None):
        """Run one action; returns the plugin's status."""
        ins = self.new(in_args) if in_args is not None else None
        outs = self.new(out_args) if out_args is not None else None
        return self.plugin.mainEntry(action.encode(), handle, ins, outs)

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

    def create_instance(self, context, frames, *, first=1, origin=(0, 0), padding=0):
        """Create an instance over a source clip of `frames` (top row first RGBA)."""
        instance = Instance(self, context, frames, first, origin, padding)
        status = self.call("OfxActionCreateInstance", instance.handle)
        return status, instance

    def unload(self):
        return self.call("OfxActionUnload")


class Instance:
    """An effect instance with its clips, parameters and rendered output."""

    def __init__(self, host, context, frames, first, origin, padding):
        self.host, self.frames, self.first = host, [np.asarray(f, np.float32) for f in
                                                    frames], first
        self.padding = padding
        height, width = self.frames[0].shape[:2]
        self.bounds = (origin[0], origin[1], origin[0] + width, origin[1] + height)
        self.outputs = {}
        described = host.context_descriptors[context]
        params = {}
        for name, props in host.obj(host.obj(described)["params"]).items():
            params[name] = Props(**{k: list(v) for k, v in props.values.items()})
        self.params = params
        clips = {}
        for name in host.obj(described)["clips"]:
            clips[name] = host.new(Props(
                name=name, instance=self,
                OfxImageEffectPropFrameRange=[float(first), float(first + len(frames) - 1)],
                OfxImageClipPropConnected=int(name != "Guides")))
        self.handle = host.new({"props": host.new(Props(OfxImageEffectPropContext=context)),
                                "params": host.new(params), "clips": clips})

    def set(self, name, value):
        self.params[name].values["value"] = [value]

    def image(self, clip, time):
        index = int(round(time)) - self.first
        if clip == "Source":
            if not 0 <= index < len(self.frames):
                return None
            frame = self.frames[index]
            x1, y1 = self.bounds[:2]
            bounds = (x1, y1, x1 + frame.shape[1], y1 + frame.shape[0])
            return Image(frame, bounds, self.padding)
        if clip == "Output":
            return self.outputs.get(int(round(time)))
        return None

    def region_of_definition(self, time):
        out = Props(OfxImageEffectPropRegionOfDefinition=[0.0, 0.0, 0.0, 0.0])
        status = self.host.call("OfxImageEffectActionGetRegionOfDefinition", self.handle,
                                Props(OfxPropTime=float(time),
                                      OfxImageEffectPropRenderScale=[1.0, 1.0]), out)
        return status, out.values["OfxImageEffectPropRegionOfDefinition"]

    def frames_needed(self, time):
        out = Props(OfxImageClipPropFrameRange_Source=[float(time), float(time)])
        status = self.host.call("OfxImageEffectActionGetFramesNeeded", self.handle,
                                Props(OfxPropTime=float(time)), out)
        return status, out.values["OfxImageClipPropFrameRange_Source"]

    def render(self, time, windows=None):
        """Render frame `time` tile by tile into a fresh output image (NaN-filled, so
        pixels the plugin forgets show); returns (status, (H, W, 4) top row first)."""
        height, width = self.frames[0].shape[:2]
        output = Image(np.full((height, width, 4), np.nan, np.float32), self.bounds,
                       self.padding)
        self.outputs[int(round(time))] = output
        windows = windows or [self.bounds]
        status = OK
        for window in windows:
            status = self.host.call("OfxImageEffectActionRender", self.handle, Props(
                OfxPropTime=float(time), OfxImageEffectPropRenderWindow=list(window),
                OfxImageEffectPropRenderScale=[1.0, 1.0],
                OfxImageEffectPropFieldToRender="OfxImageFieldNone"))
            if status != OK:
                break
        assert output.padding_intact(), "the plugin wrote into the row padding"
        return status, output.pixels()

    def destroy(self):
        return self.host.call("OfxActionDestroyInstance", self.handle)
