"""Frame-numbered file patterns: ``name.%04d.exr`` and ``name.####.exr``."""

import re
from typing import List

#: The frame field of a printf pattern.
FRAME_FIELD = re.compile(r"%(0\d+)?d")
_HASHES = re.compile(r"#+")


def printf_pattern(pattern: str) -> str:
    """Return `pattern` with a ``####`` run written as ``%04d``.

    Parameters
    ----------
    pattern : str
        A path with one frame field, ``%04d``/``%d`` or a run of ``#``.

    Returns
    -------
    str
        The same path in printf form (unchanged when already so, or without a field).
    """
    return _HASHES.sub(lambda m: "%0{}d".format(len(m.group(0))), pattern, count=1)


def is_sequence(pattern: str) -> bool:
    """True when `pattern` has a frame field (``%04d``, ``%d`` or ``#``)."""
    return bool(FRAME_FIELD.search(pattern) or _HASHES.search(pattern))


def frame_path(pattern: str, frame: int) -> str:
    """The file of one frame: ``frame_path('a.%04d.exr', 7) == 'a.0007.exr'``."""
    printf = printf_pattern(pattern)
    match = FRAME_FIELD.search(printf)
    if match is None:
        return pattern
    return printf[:match.start()] + match.group(0) % frame + printf[match.end():]


def frame_paths(pattern: str, first: int, last: int) -> List[str]:
    """The files of frames `first` to `last`, both included."""
    return [frame_path(pattern, frame) for frame in range(first, last + 1)]
