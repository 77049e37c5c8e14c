"""What one window boundary of a shot hands to the next: the state a resumed run
restarts from.

A resumed run gives the same bits as an uninterrupted one: at every window boundary
the video pipeline saves this state (the layers given to the frames the next window
shares and to the last frame emitted, and the notes so far) to a checkpoint, and a
resumed run restarts from the last state before its first unfinished frame,
recomputing (not rewriting) the finished frames after it.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["WindowState"]


@dataclass
class WindowState:
    """The state between two windows of a shot.

    Attributes
    ----------
    previous : (h*w, K) float array or None
        The layers given to the last frame emitted (None before the first).
    held : list of (int, (h*w, K) float array)
        The frames the next window shares: their numbers and the layers given to them.
    notes : list of str
        The notes of the shot so far.
    """

    previous: object = None
    held: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_arrays(self):
        """The state as the dict of arrays a checkpoint keeps
        (:class:`~sss_vfx.io.shot_outputs.WindowStates`): ``previous``,
        ``held_numbers`` (int64), ``held_given`` and ``notes`` (str)."""
        given = [g for _, g in self.held]
        return {"previous": self.previous,
                "held_numbers": np.array([n for n, _ in self.held], dtype=np.int64),
                "held_given": (np.stack(given) if given
                               else np.zeros((0,) + self.previous.shape,
                                             self.previous.dtype)),
                "notes": np.array(self.notes, dtype=str)}

    @classmethod
    def from_arrays(cls, state):
        """The state a checkpoint kept (:meth:`to_arrays`)."""
        return cls(previous=state["previous"],
                   held=list(zip(state["held_numbers"].tolist(), state["held_given"])),
                   notes=list(state["notes"].tolist()))
