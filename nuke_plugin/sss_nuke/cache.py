"""The result cache: one folder per key of input files, frame range and parameters.

A key names the folder ``<cache root>/<key>`` that ``sss-vfx video`` writes into, so
the same inputs and settings find their finished frames again (after reopening the
script too) and any change computes into a new folder.
"""

import hashlib
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence

from sss_nuke import CACHE_SCHEMA
from sss_nuke.errors import InputError
from sss_nuke.frames import frame_path
from sss_nuke.settings import ComputeSettings

#: The per-frame layer EXRs inside a result folder.
RESULT_PATTERN = "layers.%04d.exr"
CACHE_ENV = "SSS_VFX_CACHE"
_KEY_LENGTH = 20
_CHUNK = 1 << 20


def input_signature(paths: Sequence[str], *, by_content: bool = False) -> List[Any]:
    """Describe input files so that any change to them changes the key.

    Parameters
    ----------
    paths : sequence of str
        One file per frame.
    by_content : bool, optional
        Hash the bytes instead of path, size and modification time: for files the
        node renders itself, which are rewritten at every Compute.

    Returns
    -------
    list
        JSON-serialisable, one entry per file.

    Raises
    ------
    InputError
        If a file is missing.
    """
    signature: List[Any] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            raise InputError("input frame file {} is missing; render it, fix the Read or "
                             "narrow the frame range".format(path)) from None
        if by_content:
            signature.append([os.path.basename(path), _digest(path)])
        else:
            signature.append([os.path.abspath(path), info.st_size, info.st_mtime_ns])
    return signature


def cache_key(inputs: Dict[str, Any], settings: ComputeSettings) -> str:
    """Return the key of a Compute: a hex digest of the inputs' signatures, the frame
    range and every parameter.

    Parameters
    ----------
    inputs : dict
        Input name (``'image'``, ``'features'``) to its :func:`input_signature`.
    settings : ComputeSettings
        The frame range and parameters.
    """
    payload = {"schema": CACHE_SCHEMA, "inputs": inputs, "parameters": settings.parameters()}
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_KEY_LENGTH]


def cache_root(knob_value: str, script_path: Optional[str]) -> str:
    """The folder that holds result folders: the node's ``cache folder`` knob, else
    ``$SSS_VFX_CACHE``, else ``sss_vfx_cache`` beside the saved script, else in the
    system's temporary folder."""
    if knob_value.strip():
        return knob_value.strip()
    if os.environ.get(CACHE_ENV, "").strip():
        return os.environ[CACHE_ENV].strip()
    if script_path:
        return os.path.join(os.path.dirname(os.path.abspath(script_path)), "sss_vfx_cache")
    return os.path.join(tempfile.gettempdir(), "sss_vfx_cache")


def finished_frames(result_dir: str, first: int, last: int) -> List[int]:
    """The frames of `first`..`last` whose layer EXR exists in `result_dir`."""
    pattern = os.path.join(result_dir, RESULT_PATTERN)
    return [frame for frame in range(first, last + 1)
            if os.path.isfile(frame_path(pattern, frame))]


def _digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()
