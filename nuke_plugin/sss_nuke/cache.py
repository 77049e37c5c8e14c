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
from sss_nuke.errors import InputError, SetupError
from sss_nuke.frames import frame_path
from sss_nuke.settings import ComputeSettings

#: The per-frame layer EXRs inside a result folder.
RESULT_PATTERN = "layers.%04d.exr"
CACHE_ENV = "SSS_VFX_CACHE"
_KEY_LENGTH = 20


def input_signature(paths: Sequence[str], *, required: bool = True) -> List[Any]:
    """Describe input files so that any change to them changes the key: path, size and
    modification time of each (a stat, no reading: it runs on a worker thread).

    Parameters
    ----------
    paths : sequence of str
        One file per frame (or the files upstream Reads use).
    required : bool, optional
        A missing file is an error (the command reads it); else it is described as
        missing (the upstream Read's own error setting decides when it renders).

    Returns
    -------
    list
        JSON-serialisable, one entry per file.

    Raises
    ------
    InputError
        If a required file is missing.
    """
    signature: List[Any] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            if required:
                raise InputError("input frame file {} is missing; render it, fix the Read "
                                 "or narrow the frame range".format(path)) from None
            signature.append([os.path.abspath(path), None, None])
            continue
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
    """The folder that holds result folders: the node's ``cache folder`` knob (its TCL
    already expanded), else ``$SSS_VFX_CACHE``, else ``sss_vfx_cache`` beside the saved
    script, else (an unsaved script) in the system's temporary folder.

    Raises
    ------
    SetupError
        If the script is saved and the folder is inside the temporary folder: results
        there vanish when the system cleans it, and the script would read black or fail.
    """
    if knob_value.strip():
        root = knob_value.strip()
    elif os.environ.get(CACHE_ENV, "").strip():
        root = os.environ[CACHE_ENV].strip()
    elif script_path:
        root = os.path.join(os.path.dirname(os.path.abspath(script_path)), "sss_vfx_cache")
    else:
        return os.path.join(tempfile.gettempdir(), "sss_vfx_cache")
    if script_path and is_temporary(root):
        raise SetupError("the cache folder {} is in the system's temporary folder, which "
                         "is cleaned; a saved script needs its results kept: set the "
                         "cache folder knob (or $SSS_VFX_CACHE) to a lasting folder"
                         .format(root))
    return root


def is_temporary(path: str) -> bool:
    """True when `path` is inside the system's temporary folder."""
    temporary = os.path.realpath(tempfile.gettempdir())
    real = os.path.realpath(path)
    return real == temporary or real.startswith(temporary.rstrip(os.sep) + os.sep)


def finished_frames(result_dir: str, first: int, last: int) -> List[int]:
    """The frames of `first`..`last` whose layer EXR exists in `result_dir`."""
    pattern = os.path.join(result_dir, RESULT_PATTERN)
    return [frame for frame in range(first, last + 1)
            if os.path.isfile(frame_path(pattern, frame))]
