"""Messages between the OpenFX plugin and ``sss-vfx serve``.

Each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON,
an object labelled with its schema: requests ``"SssRequest.2"``, replies
``"SssReply.1"``. At most :data:`MAX_MESSAGE` bytes, enough for a request naming
:data:`MAX_FRAMES` frames; frames never travel through the socket (see
:mod:`sss_vfx.ofx.frames`).

Requests (``op``):

- ``ping``: the server answers ``{"status": "ok", "version", "pid"}``.
- ``render``: ``frame``, ``first``, ``last`` (the clip's range, inclusive), ``width``,
  ``height``, ``hashes`` (one 16-hex-digit content hash per frame of the range),
  ``output_layer`` (0 preview, k layer k), ``spool`` (the plugin's private folder on
  disk for frames and results) and ``params`` (``layers``, ``temporal``,
  ``max_pixels``, ``device``, ``linear``: whether frames are scene-linear, default
  true, and ``colourspace``: the clip's colour space when the host names it, which
  then decides instead of ``linear``). Replies: ``need`` with ``frames`` (numbers
  whose files the plugin must write, then send the request again), any number of
  ``progress``
  (``done``, ``total``, ``stage``), then ``done`` (``path``, ``width``, ``height``,
  ``layers``, ``cached``) or ``error`` (``error``: one line for the host to show).
"""

import dataclasses
import json
import re
import struct

from sss_vfx.ofx.errors import ProtocolError

__all__ = ["MAX_FRAMES", "MAX_LAYERS", "MAX_MESSAGE", "REPLY_SCHEMA", "REQUEST_SCHEMA",
           "RenderRequest", "encode", "parse_request", "receive", "reply", "send"]

REQUEST_SCHEMA = "SssRequest.2"
REPLY_SCHEMA = "SssReply.1"
MAX_FRAMES = 100_000
#: 19 bytes per frame's hash in a request, and room for the rest.
MAX_MESSAGE = 4 << 20
MAX_LAYERS = 16
MIN_SIDE = 16
MAX_SIDE = 1 << 15
_HASH = re.compile(r"[0-9a-f]{16}")
_HEADER = struct.Struct(">I")


@dataclasses.dataclass(frozen=True)
class RenderRequest:
    """A checked ``render`` request.

    Attributes
    ----------
    frame, first, last : int
        The frame to return and the clip's inclusive range.
    width, height : int
        Size of every frame, in pixels.
    hashes : tuple of str
        Content hash of each frame of ``first..last``.
    output_layer : int
        0 for the colour-coded preview, k (1..layers) for layer k.
    layers : int
    temporal : bool
    max_pixels : int
    device : str
    linear : bool
        True: frames are scene-linear (clamped and sRGB-encoded, as an EXR plate);
        False: display-referred (clipped to [0, 1], as a float TIFF).
    spool : str
        The plugin's folder for frame files (``frames/``) and results (``out/``).
    colourspace : str or None
        The source clip's colour space as the host names it (OpenFX 1.5), or None.
    """

    frame: int
    first: int
    last: int
    width: int
    height: int
    hashes: tuple
    output_layer: int
    layers: int
    temporal: bool
    max_pixels: int
    device: str
    linear: bool = True
    spool: str = ""
    colourspace: object = None

    @property
    def numbers(self):
        """The clip's frame numbers, in order."""
        return range(self.first, self.last + 1)


def encode(message):
    """A message as bytes on the wire: length header, then JSON.

    Raises
    ------
    ProtocolError
        If the encoded message is larger than :data:`MAX_MESSAGE`.
    """
    body = json.dumps(message, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    return _HEADER.pack(len(body)) + body


def send(sock, message):
    """Send one message on a connected socket."""
    sock.sendall(encode(message))


def _read_exact(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(sock):
    """Read one message; None when the peer closed before a new message began.

    Raises
    ------
    ProtocolError
        Oversized (the body is not read), truncated, not UTF-8 JSON, or not an object.
    TimeoutError
        When the socket has a timeout and the peer is silent.
    """
    header = _read_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"message of {size} bytes exceeds the limit of {MAX_MESSAGE}")
    body = _read_exact(sock, size)
    if body is None:
        raise ProtocolError(f"connection closed after {_HEADER.size} of {size + 4} bytes")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"message is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


def reply(status, **fields):
    """A reply object with the schema label and ``status`` first."""
    return {"schema": REPLY_SCHEMA, "status": status, **fields}


def _int(message, name, low, high):
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"'{name}' must be an integer in [{low}, {high}], got "
                            f"{_show(value)}")
    return value


def _show(value):
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_request(message):
    """Check a request and return ``(op, RenderRequest or None)``.

    Raises
    ------
    ProtocolError
        Wrong or missing schema (another protocol version), unknown op, or a field
        missing, of the wrong type or out of range; the message names it.
    """
    schema = message.get("schema")
    if schema != REQUEST_SCHEMA:
        raise ProtocolError(f"protocol version {_show(schema)} is not supported: this "
                            f"server speaks {REQUEST_SCHEMA}; reinstall the plugin with "
                            "`sss-vfx ofx install` from the same sss_vfx")
    op = message.get("op")
    if op == "ping":
        return op, None
    if op != "render":
        raise ProtocolError(f"unknown op {_show(op)}; expected 'ping' or 'render'")
    first = _int(message, "first", -(1 << 31), (1 << 31) - 1)
    last = _int(message, "last", first, first + MAX_FRAMES - 1)
    frame = _int(message, "frame", first, last)
    width = _int(message, "width", MIN_SIDE, MAX_SIDE)
    height = _int(message, "height", MIN_SIDE, MAX_SIDE)
    hashes = message.get("hashes")
    if not isinstance(hashes, list) or len(hashes) != last - first + 1 or not all(
            isinstance(h, str) and _HASH.fullmatch(h) for h in hashes):
        raise ProtocolError(f"'hashes' must hold {last - first + 1} hashes of 16 hex "
                            "digits, one per frame")
    params = message.get("params")
    if not isinstance(params, dict):
        raise ProtocolError("'params' must be an object")
    layers = _int(params, "layers", 1, MAX_LAYERS)
    temporal = params.get("temporal")
    if not isinstance(temporal, bool):
        raise ProtocolError(f"'temporal' must be true or false, got {_show(temporal)}")
    linear = params.get("linear", True)
    if not isinstance(linear, bool):
        raise ProtocolError(f"'linear' must be true or false, got {_show(linear)}")
    max_pixels = _int(params, "max_pixels", 0, 1 << 30)
    device = params.get("device")
    if not isinstance(device, str) or not 0 < len(device) <= 200:
        raise ProtocolError(f"'device' must be a device name, got {_show(device)}")
    colourspace = params.get("colourspace")
    if colourspace is not None and (not isinstance(colourspace, str) or
                                    not 0 < len(colourspace) <= 200):
        raise ProtocolError(f"'colourspace' must be a colour space name, got "
                            f"{_show(colourspace)}")
    spool = message.get("spool")
    if not isinstance(spool, str) or not spool.startswith("/") or len(spool) > 4096 \
            or "\0" in spool:
        raise ProtocolError(f"'spool' must be an absolute folder path, got {_show(spool)}")
    output_layer = _int(message, "output_layer", 0, MAX_LAYERS)
    if output_layer > layers:
        raise ProtocolError(f"outputLayer is {output_layer} but there are {layers} "
                            f"layers; pick 0 (preview) to {layers}")
    return op, RenderRequest(frame=frame, first=first, last=last, width=width,
                             height=height, hashes=tuple(hashes),
                             output_layer=output_layer, layers=layers, temporal=temporal,
                             max_pixels=max_pixels, device=device.strip(),
                             linear=linear, spool=spool, colourspace=colourspace)

