"""The JSON progress lines of ``sss-vfx video --progress json``.

One object per finished frame on standard error:
``{"frame": 1003, "done": 3, "total": 10, "fps": 0.5, "eta_s": 14.0}``; ``eta_s`` may be
null at first. Anything else on standard error (warnings, the error line) is not progress.
"""

import json
from typing import Any, NamedTuple, Optional


class Progress(NamedTuple):
    """One progress report: `done` of `total` frames, the last being `frame`."""

    frame: int
    done: int
    total: int
    fps: Optional[float]
    eta_s: Optional[float]

    @property
    def percent(self) -> int:
        """Share of the frames done, 0 to 100."""
        return int(100 * self.done / self.total) if self.total > 0 else 0

    def describe(self) -> str:
        """A line for the progress task and the status knob, e.g.
        ``'frame 1003 done: 3 of 10, about 14 s left'``."""
        text = "frame {} done: {} of {}".format(self.frame, self.done, self.total)
        if self.eta_s is not None and self.done < self.total:
            text += ", about {:.0f} s left".format(self.eta_s)
        return text


def parse_progress_line(line: str) -> Optional[Progress]:
    """Return the progress in `line`, or None when it is not a progress line.

    Parameters
    ----------
    line : str
        One line of the command's standard error.

    Returns
    -------
    Progress or None
    """
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
        return Progress(frame=int(record["frame"]), done=int(record["done"]),
                        total=int(record["total"]), fps=_optional_float(record.get("fps")),
                        eta_s=_optional_float(record.get("eta_s")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _optional_float(value: Any) -> Optional[float]:
    return None if value is None else float(value)
