"""What a working image can give, and what the machine can hold: checked before the
work, so that an impossible request is reported as what it is, and a shot does not
read so far ahead that it runs out of memory."""

import os

from sss_vfx.errors import OptionError
from sss_vfx.options import MIN_MAX_PIXELS
from sss_vfx.pipeline.layers import working_size

__all__ = ["check_eigenvectors", "frames_read_ahead", "free_memory"]

#: Memory a shot's frame read ahead may hold per working pixel: its Laplacian and 100
#: eigenvectors (about 1.2 KB) and, while it solves, its factorisation (about 4 KB at
#: 65,536 pixels, more per pixel on larger ones). Measured: four frames read ahead at
#: 65,536 pixels raised car-shadow's peak by 0.85 GB, 3.2 KB a pixel each.
READ_AHEAD_BYTES_PER_PIXEL = 6 * 1024
#: The share of the memory free when a shot starts that its frames read ahead may hold.
READ_AHEAD_MEMORY_SHARE = 0.25


def check_eigenvectors(opts, shape_hw):
    """Refuse more eigenvectors than the working image of a plate can give.

    A Laplacian of N pixels has N - 2 useful eigenvectors past the constant one; on a
    tiny working image (under ``MIN_MAX_PIXELS`` pixels) the count is lowered to that
    instead (:func:`~sss_vfx.pipeline.layers.eigenvector_count`).

    Parameters
    ----------
    opts : SegmentationOptions
    shape_hw : (int, int)
        The plate's height and width.

    Raises
    ------
    OptionError
        ``opts.eigenvectors`` is more than the working image can give.

    Examples
    --------
    >>> from sss_vfx.options import SegmentationOptions
    >>> check_eigenvectors(SegmentationOptions(eigenvectors=5000), (40, 50))
    Traceback (most recent call last):
    ...
    sss_vfx.errors.OptionError: eigenvectors=5000 is more than the 50x40 working image (2000 pixels) can give: at most 1998; ask for fewer (the default is 100)
    """
    h, w = working_size(shape_hw, opts.max_pixels)
    pixels = h * w
    if pixels >= MIN_MAX_PIXELS and opts.eigenvectors > pixels - 2:
        default = type(opts)().eigenvectors
        raise OptionError(
            f"eigenvectors={opts.eigenvectors} is more than the {w}x{h} working image "
            f"({pixels} pixels) can give: at most {pixels - 2}; ask for fewer (the "
            f"default is {default})")


def frames_read_ahead(pixels, eigenvectors, wanted, free=None):
    """How many frames a shot may read ahead of the window it segments.

    Parameters
    ----------
    pixels : int
        Working pixels of a frame.
    eigenvectors : int
        Eigenvectors per frame (each is 8 bytes a pixel beyond the 100 counted in
        :data:`READ_AHEAD_BYTES_PER_PIXEL`).
    wanted : int
        Frames it would read ahead with memory to spare (two windows' new frames).
    free : int, optional
        Bytes free; :func:`free_memory` when None.

    Returns
    -------
    int in [0, wanted]: as many as :data:`READ_AHEAD_MEMORY_SHARE` of the free memory
    holds; where the free memory is not known, half of ``wanted`` (one window's).

    Examples
    --------
    >>> frames_read_ahead(65_536, 100, 4, free=16 * 2**30)
    4
    >>> frames_read_ahead(409_920, 100, 4, free=8 * 2**30)
    0
    """
    free = free_memory() if free is None else free
    if free is None:
        return wanted // 2
    per_frame = pixels * (READ_AHEAD_BYTES_PER_PIXEL + 8 * max(0, eigenvectors - 100))
    return int(min(wanted, READ_AHEAD_MEMORY_SHARE * free // max(per_frame, 1)))


def free_memory():
    """Bytes of memory available to new work, or None where the system does not say:
    Linux's ``MemAvailable`` (else the free pages), and no more than the room left under
    a container's memory limit (cgroup v2 or v1), which a farm node's job may run in."""
    free = _meminfo_available()
    room = _cgroup_room()
    if free is None or room is None:
        return room if free is None else free
    return min(free, room)


def _meminfo_available():
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_room():
    """Limit minus usage of this process's memory cgroup (the tightest found), or None."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as groups:
            lines = [line.strip().split(":", 2) for line in groups]
    except OSError:
        return None
    places = []
    for _, controllers, path in (line for line in lines if len(line) == 3):
        if controllers == "":        # cgroup v2
            places += [(f"/sys/fs/cgroup{p}", "memory.max", "memory.current")
                       for p in {path.rstrip("/"), ""}]
        elif "memory" in controllers.split(","):
            places += [(f"/sys/fs/cgroup/memory{p}", "memory.limit_in_bytes",
                        "memory.usage_in_bytes") for p in {path.rstrip("/"), ""}]
    rooms = []
    for folder, limit_file, usage_file in places:
        try:
            with open(os.path.join(folder, limit_file), encoding="ascii") as f:
                limit = f.read().strip()
            with open(os.path.join(folder, usage_file), encoding="ascii") as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        # No limit reads as "max" (v2) or as a page-rounded 2**63 (v1).
        if limit != "max" and int(limit) < 2 ** 60:
            rooms.append(max(0, int(limit) - usage))
    return min(rooms) if rooms else None
