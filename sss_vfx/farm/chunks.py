"""Cutting a shot into chunks that overlap by a few handle frames.

A chunk owns a run of consecutive frames and writes only those. It starts ``handles``
frames earlier, on a *key frame* whose layers the planning pass fixed for the whole
shot, so every chunk begins in the same layer order; the frames between its key frame
and its first own frame are its *joins*, cross-faded by the final step with what the
previous chunk gave them.
"""

from dataclasses import asdict, dataclass

from sss_vfx.errors import OptionError

__all__ = ["DEFAULT_CHUNK_FRAMES", "DEFAULT_HANDLES", "Chunk", "chunk_ranges"]

#: Frames a chunk owns: about 15-25 minutes at 35-64 s/frame on 2 CPU cores, a few
#: minutes on a GPU -- the size farms are happiest with (a lost task costs little, the
#: scheduler is not flooded, the handles add 3/24 = 12.5 % of recomputation).
DEFAULT_CHUNK_FRAMES = 24
#: Frames a chunk starts before its own: the key frame and 2 joins cross-faded.
DEFAULT_HANDLES = 3


@dataclass(frozen=True)
class Chunk:
    """One chunk of a shot.

    Attributes
    ----------
    index : int
        Position among the shot's chunks, from 0.
    first, last : int
        The frame numbers it owns, inclusive.
    key : int
        The frame it starts on, whose layers come from the planning pass (``first``
        for the first chunk).
    joins : tuple of int
        Frames between ``key`` and ``first``, computed by this chunk and by the one
        before, cross-faded by the final step.
    tail : tuple of int
        Its own frames that the next chunk's joins cover.
    frames : int
        How many frames it owns.
    """

    index: int
    first: int
    last: int
    key: int
    joins: tuple
    tail: tuple
    frames: int

    def as_dict(self):
        """JSON-able fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def chunk_ranges(numbers, chunk_frames=DEFAULT_CHUNK_FRAMES, handles=DEFAULT_HANDLES):
    """Cut a shot's frame numbers into chunks.

    Parameters
    ----------
    numbers : sequence of int
        The shot's frame numbers in order (gaps allowed).
    chunk_frames : int, optional
        Frames per chunk, >= 1; the last chunk takes the remainder (a remainder shorter
        than ``handles`` joins the chunk before).
    handles : int, optional
        Frames a chunk starts before its own, >= 1 (the key frame and
        ``handles - 1`` joins).

    Returns
    -------
    list of Chunk

    Raises
    ------
    OptionError
        ``chunk_frames`` or ``handles`` out of range, or no frames.

    Examples
    --------
    >>> [(c.first, c.last, c.key, c.joins) for c in chunk_ranges(range(1001, 1011), 5, 2)]
    [(1001, 1005, 1001, ()), (1006, 1010, 1004, (1005,))]
    """
    numbers = [int(n) for n in numbers]
    if not numbers:
        raise OptionError("the shot has no frames to cut into chunks")
    if int(chunk_frames) < 1:
        raise OptionError(f"chunk_frames must be at least 1; got {chunk_frames}")
    if int(handles) < 1:
        raise OptionError(f"handles must be at least 1; got {handles}")
    size, handles = int(chunk_frames), int(handles)
    starts = list(range(0, len(numbers), size))
    if len(starts) > 1 and len(numbers) - starts[-1] < handles:
        starts.pop()
    ends = starts[1:] + [len(numbers)]
    chunks = []
    for index, (i0, i1) in enumerate(zip(starts, ends)):
        k = max(0, i0 - handles)
        nxt = ends[index] if index + 1 < len(starts) else None
        tail = numbers[max(i0, nxt - handles + 1):nxt] if nxt is not None else []
        chunks.append(Chunk(index=index, first=numbers[i0], last=numbers[i1 - 1],
                            key=numbers[k], joins=tuple(numbers[k + 1:i0]) if i0 else (),
                            tail=tuple(tail), frames=i1 - i0))
    return chunks
