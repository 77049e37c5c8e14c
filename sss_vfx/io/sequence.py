"""Numbered image sequences: ``plates/shot.%04d.exr`` or ``plates/shot.####.exr``.

A pattern names one frame per number with a printf-style ``%d`` / ``%0Nd`` field, or a
run of N ``#`` meaning ``%0Nd``. Finding a sequence lists the frames on disk and the
gaps between them; reading it yields working images in frame order.
"""

import dataclasses
import pathlib
import re

from sss_vfx.errors import InputError, OptionError
from sss_vfx.io.images import read_image

__all__ = ["SequenceInfo", "find_sequence", "iter_sequence", "require_complete"]

MISSING_SHOWN = 10

_PRINTF_FIELD = re.compile(r"%(0?)(\d*)d")
_HASH_FIELD = re.compile(r"#+")


@dataclasses.dataclass(frozen=True)
class SequenceInfo:
    """The frames of a numbered image sequence found on disk.

    Attributes
    ----------
    pattern : str
        The pattern as given (``%04d`` or ``####`` form).
    frames : list of int
        Frame numbers that exist, ascending.
    paths : list of str
        The file of each frame, in the same order.
    missing : list of int
        Frame numbers without a file inside the requested range, or, when no range
        was given, between the first and last frame found.
    """

    pattern: str
    frames: list
    paths: list
    missing: list

    @property
    def first(self):
        """The first existing frame number."""
        return self.frames[0]

    @property
    def last(self):
        """The last existing frame number."""
        return self.frames[-1]


def find_sequence(pattern, frames=None):
    """List the frames of a numbered image sequence.

    Parameters
    ----------
    pattern : str or os.PathLike
        A path whose file name holds one frame-number field: ``%d``, ``%0Nd`` or a run
        of N ``#`` (the same as ``%0Nd``), e.g. ``plates/shot.%04d.exr``. The
        directory part must not contain a field.
    frames : (int, int), optional
        ``(first, last)``, inclusive: keep only frames in this range, and report every
        number in it without a file as missing.

    Returns
    -------
    SequenceInfo

    Raises
    ------
    InputError
        If the pattern has no frame field or more than one, the directory does not
        exist, or no frame file matches (in the range).
    OptionError
        If `frames` is not a ``(first, last)`` pair with ``first <= last``.

    Examples
    --------
    >>> info = find_sequence("plates/shot.####.exr", frames=(1001, 1048))  # doctest: +SKIP
    >>> info.frames[:2], info.missing  # doctest: +SKIP
    ([1001, 1002], [1017])
    """
    text = str(pattern)
    directory, name = _split(text)
    prefix, width, padded, suffix = _parse_field(name, text)
    first, last = _frame_range(frames)
    if not directory.is_dir():
        raise InputError(
            f"no frames for {text}: directory {directory} does not exist; check the path"
        )
    # Any digits (negative frame numbers too); the name check below enforces the padding.
    digits = r"(-?\d+)"
    matcher = re.compile(re.escape(prefix) + digits + re.escape(suffix) + r"\Z")
    found = {}
    for entry in directory.iterdir():
        match = matcher.match(entry.name)
        if match is None or not entry.is_file():
            continue
        number = int(match.group(1))
        # Keep only names the pattern writes: for %04d, 0012 and 12345 but not 00012.
        if _format(prefix, width, padded, suffix, number) != entry.name:
            continue
        if first is not None and not first <= number <= last:
            continue
        found[number] = directory / entry.name
    if not found:
        where = f" in frames {first}-{last}" if first is not None else ""
        raise InputError(
            f"no files match the sequence {text}{where}; check the pattern "
            "(e.g. shot.%04d.exr or shot.####.exr) and the frame range"
        )
    numbers = sorted(found)
    low, high = (first, last) if first is not None else (numbers[0], numbers[-1])
    present = set(numbers)
    missing = [n for n in range(low, high + 1) if n not in present]
    return SequenceInfo(pattern=text, frames=numbers,
                        paths=[str(found[n]) for n in numbers], missing=missing)


def require_complete(info):
    """Refuse a sequence with missing frames.

    Parameters
    ----------
    info : SequenceInfo
        From :func:`find_sequence`.

    Raises
    ------
    InputError
        If ``info.missing`` is not empty; the message names the first missing frames
        and how many there are.
    """
    if not info.missing:
        return
    shown = ", ".join(str(n) for n in info.missing[:MISSING_SHOWN])
    more = ", ..." if len(info.missing) > MISSING_SHOWN else ""
    count = len(info.missing)
    raise InputError(
        f"{info.pattern} is missing {count} frame{'s' if count != 1 else ''} "
        f"({shown}{more}); pass a frame range that exists (frames {info.first}-"
        f"{info.last} hold {len(info.frames)} files) or --allow-missing"
    )


def iter_sequence(info, *, plate=None):
    """Read the existing frames of a sequence in order.

    Parameters
    ----------
    info : SequenceInfo
        From :func:`find_sequence`; missing frames are skipped.
    plate : PlateOptions, optional
        Colour space, OCIO config, working view and EXR part of every frame.

    Yields
    ------
    frame_number : int
    image : ImageData
        As :func:`~sss_vfx.io.images.read_image` returns it; ``image.pixels`` is
        ``(H, W, 3)`` float32 in [0, 1].

    Raises
    ------
    InputError
        If a frame cannot be read, or its size differs from the first frame's (the
        message names that frame).
    """
    first_shape = first_number = None
    for number, path in zip(info.frames, info.paths):
        image = read_image(path, plate=plate)
        shape = image.pixels.shape[:2]
        if first_shape is None:
            first_shape = shape
            first_number = number
        elif shape != first_shape:
            raise InputError(
                f"frame {number} of {info.pattern} ({path}) is {shape[1]}x{shape[0]} but "
                f"frame {first_number} is {first_shape[1]}x{first_shape[0]}; all frames "
                "of a sequence must have one size, re-render or resize that frame"
            )
        yield number, image


def _split(text):
    path = pathlib.Path(text)
    directory = path.parent
    if _PRINTF_FIELD.search(str(directory)) or "#" in str(directory):
        raise InputError(
            f"sequence pattern {text} has a frame field in its directory; put the frame "
            "number in the file name only"
        )
    return directory, path.name


def _parse_field(name, text):
    printf = list(_PRINTF_FIELD.finditer(name))
    hashes = list(_HASH_FIELD.finditer(name))
    if len(printf) + len(hashes) != 1:
        raise InputError(
            f"sequence pattern {text} must hold exactly one frame field (%04d, %d or ####); "
            f"found {len(printf) + len(hashes)}"
        )
    if printf:
        field = printf[0]
        width = int(field.group(2) or 0)
        if not field.group(1) and width:
            raise InputError(
                f"sequence pattern {text} uses %{width}d (space padding); use %0{width}d"
            )
        padded = width > 0
    else:
        field = hashes[0]
        width = len(field.group(0))
        padded = True
    return name[:field.start()], width, padded, name[field.end():]


def _format(prefix, width, padded, suffix, number):
    digits = f"{number:0{width}d}" if padded else str(number)
    return prefix + digits + suffix


def _frame_range(frames):
    if frames is None:
        return None, None
    try:
        first, last = (int(f) for f in frames)
    except (TypeError, ValueError) as exc:
        raise OptionError(
            f"frames={frames!r} is not a (first, last) pair of frame numbers"
        ) from exc
    if first > last:
        raise OptionError(
            f"frames=({first}, {last}) is reversed; pass (first, last) with first <= last"
        )
    return first, last
