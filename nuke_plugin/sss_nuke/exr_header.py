"""Reading the header of an OpenEXR file with the standard library: channels and
string attributes, enough to list the layers ``sss-vfx`` wrote."""

import re
import struct
from typing import BinaryIO, Dict, List, Tuple

from sss_nuke.errors import InputError

MAGIC = b"\x76\x2f\x31\x01"
LAYERS_ATTRIBUTE = "sss_layers"
_LAYER_CHANNEL = re.compile(r"^(sss_layer\d+)\.A$")
_MAX_NAME = 255
_MAX_VALUE = 1 << 24


def read_exr_header(path: str) -> Dict[str, Tuple[str, bytes]]:
    """Return the first header of an EXR file.

    Parameters
    ----------
    path : str
        An OpenEXR file (single or multi-part: only the first part is read).

    Returns
    -------
    dict of str to (str, bytes)
        Attribute name to its type name and raw value.

    Raises
    ------
    InputError
        If the file cannot be read or is not an OpenEXR file.
    """
    try:
        with open(path, "rb") as stream:
            if stream.read(4) != MAGIC:
                raise InputError("{} is not an OpenEXR file; recompute the layers"
                                 .format(path))
            stream.read(4)  # version and flags: attributes are read the same way
            header: Dict[str, Tuple[str, bytes]] = {}
            while True:
                name = _read_name(stream, path)
                if not name:
                    return header
                kind = _read_name(stream, path)
                (size,) = struct.unpack("<i", _read_exact(stream, 4, path))
                if not 0 <= size <= _MAX_VALUE:
                    raise InputError("{}: attribute {} has a bad size; the file is damaged, "
                                     "recompute the layers".format(path, name))
                header[name] = (kind, _read_exact(stream, size, path))
    except OSError as exc:
        raise InputError("cannot read {} ({}); check the cache folder".format(
            path, exc.strerror or exc)) from None


def channel_names(header: Dict[str, Tuple[str, bytes]]) -> List[str]:
    """The channel names of a header's ``channels`` attribute (type ``chlist``)."""
    raw = header.get("channels", ("chlist", b""))[1]
    names = []
    position = 0
    while position < len(raw) and raw[position] != 0:
        end = raw.index(b"\0", position)
        names.append(raw[position:end].decode("utf-8", "replace"))
        position = end + 1 + 16  # pixel type, pLinear and reserved, x and y sampling
    return names


def sss_layer_names(path: str) -> List[str]:
    """The ``sss_layerNN`` layers of an EXR written by ``sss-vfx``, in layer order.

    Taken from the ``sss_layers`` string attribute, else from the channels named
    ``sss_layerNN.A``.

    Raises
    ------
    InputError
        If the file cannot be read or holds no sss layers.
    """
    header = read_exr_header(path)
    kind, raw = header.get(LAYERS_ATTRIBUTE, ("", b""))
    if kind == "string" and raw:
        names = [name.strip() for name in raw.decode("utf-8", "replace").split(",")]
    else:
        matches = (_LAYER_CHANNEL.match(name) for name in channel_names(header))
        names = sorted(match.group(1) for match in matches if match)
    names = [name for name in names if name]
    if not names:
        raise InputError("{} holds no sss_layer channels; recompute with the node's "
                         "Compute button".format(path))
    return names


def _read_name(stream: BinaryIO, path: str) -> str:
    data = bytearray()
    while True:
        byte = _read_exact(stream, 1, path)
        if byte == b"\0":
            return data.decode("utf-8", "replace")
        data += byte
        if len(data) > _MAX_NAME:
            raise InputError("{}: header name too long; the file is damaged, recompute "
                             "the layers".format(path))


def _read_exact(stream: BinaryIO, size: int, path: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise InputError("{} ends inside its header; the file is truncated, recompute "
                         "the layers".format(path))
    return data
