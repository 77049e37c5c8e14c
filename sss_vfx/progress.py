"""Progress of long work: per-stage timing and memory (:class:`StageClock`), the cost
model of each stage (from the stage registry, :mod:`sss_vfx.accel.stages`), and one
reporter (:class:`Progress`) for stills and shots: a
terminal line, plain log lines, or JSON lines for tools.

The time left is predicted from the stages' expected costs (:func:`expected_seconds`,
from the work sizes the pipeline announces), rescaled by how fast the stages already
done actually ran on this machine and device; for a shot, once frames are done, from
the measured seconds per frame.
"""

import json
import resource
import sys
import threading
import time
from contextlib import contextmanager

from sss_vfx.accel.stages import STAGES

__all__ = ["PROGRESS_SCHEMA", "Progress", "StageClock", "expected_seconds",
           "peak_rss_bytes"]

#: Version label of the JSON progress lines.
PROGRESS_SCHEMA = "SssProgress.1"
#: Seconds between two log lines while one stage runs, when not on a terminal.
HEARTBEAT_S = 30.0

def expected_seconds(stage, work):
    """Expected seconds of one run of a stage on the reference machine (the stage
    registry's cost model, :meth:`~sss_vfx.accel.stages.Stage.expected_seconds`).

    Parameters
    ----------
    stage : str
        A stage name; 0 for names the registry does not know.
    work : dict
        ``pixels`` (working pixels of the stage's stack: a frame, or a window's frames
        together), ``plate_pixels``, ``eigenvectors``, ``iterations`` (of the
        constrained sparsification), ``rounds`` (relaxed), ``refine`` (bool).

    Returns
    -------
    float, >= 0

    Examples
    --------
    >>> expected_seconds("eigenvectors", {"pixels": 65536, "eigenvectors": 100})
    7.5
    """
    return STAGES[stage].expected_seconds(work) if stage in STAGES else 0.0


class Progress:
    """Reports stages as they start and frames as they finish, with time left.

    Parameters
    ----------
    mode : {'auto', 'bar', 'log', 'json', 'none'}
        'bar': one terminal line rewritten in place; 'log': a line per stage and
        frame, and one every ``heartbeat`` seconds during a long stage (for a log
        file); 'json': one object per line, each with ``"schema": "SssProgress.1"``
        and ``"event"``: ``"stage"`` (``stage``, ``done``, ``total``, ``elapsed_s``,
        ``eta_s``) or ``"frame"`` (``frame``, ``done``, ``total``, ``fps``,
        ``eta_s``); 'auto' is 'bar' on a terminal, else 'log'.
    stream : file, optional
        Defaults to standard error, so standard output stays clean.
    total_frames : int, optional
        Frames of a shot (None for a still, or a shot of unknown length).
    heartbeat : float
        Seconds between log lines during one stage.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress("json", out)
    >>> p.plan({"pixels": 65536, "eigenvectors": 100}, ["eigenvectors", "grouping"])
    >>> p("eigenvectors", 0, 2)
    >>> json.loads(out.getvalue())["eta_s"]
    7.6
    """

    def __init__(self, mode="auto", stream=None, *, total_frames=None,
                 heartbeat=HEARTBEAT_S):
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "log"
        self.mode = mode
        self.total_frames = total_frames
        self.start = time.perf_counter()
        self.expected = {}          # stage -> expected seconds of one run (this stack)
        self.frames_per_stack = 1
        self.spent = {}             # stage -> measured seconds so far
        self.model_spent = {}       # stage -> expected seconds of the runs done
        self.current = None         # (stage, started at)
        self.done_frames = self.computed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_line = time.perf_counter()
        self._beat = None
        if mode == "log" and heartbeat:
            self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat,),
                                          daemon=True)
            self._beat.start()

    # --- what the pipeline tells ------------------------------------------------------

    def plan(self, work, stages, frames=1):
        """The work of one stack (a still, or a window of ``frames`` frames): its sizes
        (see :func:`expected_seconds`) and the stages it runs."""
        with self._lock:
            self.expected = {s: expected_seconds(s, work) for s in stages}
            self.frames_per_stack = max(frames, 1)

    def __call__(self, stage, done, total):
        """A stage starts (the ``progress`` callback of the pipelines)."""
        now = time.perf_counter()
        with self._lock:
            self._close_stage(now)
            self.current = (stage, now)
            eta = self._eta(now)
        elapsed = now - self.start
        if self.mode == "json":
            self._write(json.dumps({"schema": PROGRESS_SCHEMA, "event": "stage",
                                    "stage": stage, "done": done, "total": total,
                                    "elapsed_s": round(elapsed, 2),
                                    "eta_s": None if eta is None else round(eta, 1)}))
        elif self.mode in ("bar", "log"):
            where = "" if self.total_frames is None else \
                f"frames {self.done_frames}/{self.total_frames}, "
            left = "" if eta is None else f", about {_duration(eta)} left"
            self._write(f"{where}[{done + 1}/{total}] {stage} ({_duration(elapsed)} "
                        f"elapsed{left})")

    def frame(self, number, *, skipped=False):
        """A frame of a shot is finished (``skipped``: its result existed)."""
        now = time.perf_counter()
        with self._lock:
            self.done_frames += 1
            self.computed += not skipped
            eta = self._frames_eta(now)
            fps = self._fps(now)
        if self.mode == "json":
            self._write(json.dumps({"schema": PROGRESS_SCHEMA, "event": "frame",
                                    "frame": number, "done": self.done_frames,
                                    "total": self.total_frames,
                                    "fps": None if fps is None else round(fps, 4),
                                    "eta_s": None if eta is None else round(eta, 1)}))
        elif self.mode in ("bar", "log"):
            of = "" if self.total_frames is None else f"/{self.total_frames}"
            speed = "" if fps is None else f", {1 / fps:.1f} s/frame"
            left = "" if eta is None else f", about {_duration(eta)} left"
            self._write(f"frame {number}: {self.done_frames}{of} done{speed}{left}")

    def finish(self):
        """Stop the heartbeat and close the terminal line."""
        self._stop.set()
        with self._lock:
            self._close_stage(time.perf_counter())
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()

    # --- estimates ----------------------------------------------------------------------

    def _close_stage(self, now):
        if self.current is None:
            return
        stage, started = self.current
        self.spent[stage] = self.spent.get(stage, 0.0) + now - started
        self.model_spent[stage] = self.model_spent.get(stage, 0.0) \
            + self.expected.get(stage, 0.0)
        self.current = None

    def _speed(self):
        """Measured / expected seconds of the stages done (1 before any)."""
        model = sum(self.model_spent.values())
        return sum(self.spent.values()) / model if model > 0.5 else 1.0

    def _eta(self, now):
        """Seconds left: the rest of this stack, then the stacks of the frames left."""
        if not self.expected:
            return None
        speed = self._speed()
        stage = self.current[0] if self.current else None
        names = list(self.expected)
        after = names[names.index(stage):] if stage in names else names
        left = sum(self.expected[s] for s in after) * speed
        if self.total_frames:
            frames_left = self.total_frames - self.done_frames - self.frames_per_stack
            measured = self._frames_eta(now)
            per_stack = sum(self.expected.values()) * speed
            left += measured if measured is not None else max(frames_left, 0) \
                / self.frames_per_stack * per_stack
        return max(left, 0.0)

    def _fps(self, now):
        return self.computed / (now - self.start) if self.computed else None

    def _frames_eta(self, now):
        fps = self._fps(now)
        if fps is None or self.total_frames is None:
            return None
        return max(self.total_frames - self.done_frames, 0) / fps

    # --- output -------------------------------------------------------------------------

    def _write(self, text):
        with self._lock:
            self._last_line = time.perf_counter()
            if self.mode == "bar":
                self.stream.write(f"\r{text}\033[K")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def _heartbeat(self, every):
        while not self._stop.wait(min(every, 5.0)):
            with self._lock:
                quiet = time.perf_counter() - self._last_line
                current = self.current
            if current is not None and quiet >= every:
                running = time.perf_counter() - current[1]
                self._write(f"... still in {current[0]} after {_duration(running)}")


def _duration(seconds):
    """``75.4`` -> ``'1 min 15 s'``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


def peak_rss_bytes():
    """Peak resident memory of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class StageClock:
    """Records wall time and peak memory after each named stage.

    Parameters
    ----------
    report : callable(stage: str, done: int, total: int), optional
        Told when each stage starts, for progress display.
    stages : sequence of str
        The stage names, in order.
    """

    def __init__(self, stages, report=None):
        self.stages = list(stages)
        self.report = report
        self.timings = {}
        self.peak_rss = {}

    def plan(self, work, stages=None, frames=1):
        """Announce the sizes of the stack about to run (see :func:`expected_seconds`)
        to a reporter that predicts time left (one with a ``plan`` method)."""
        announce = getattr(self.report, "plan", None)
        if announce is not None:
            announce(work, list(stages or self.stages), frames)

    @contextmanager
    def stage(self, name):
        if self.report is not None:
            self.report(name, self.stages.index(name), len(self.stages))
        start = time.perf_counter()
        yield
        # Summed, so a stage run once per frame or window reports its total.
        self.timings[name] = round(self.timings.get(name, 0.0)
                                   + time.perf_counter() - start, 4)
        self.peak_rss[name] = peak_rss_bytes()
