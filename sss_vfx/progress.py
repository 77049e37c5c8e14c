"""Progress of long work: per-stage timing and memory (:class:`StageClock`), and its
report as a terminal line or JSON lines for tools."""

import json
import resource
import sys
import time
from contextlib import contextmanager


class ProgressReporter:
    """Reports stages as they start, with elapsed time and an estimate of what is left.

    Parameters
    ----------
    mode : {'auto', 'bar', 'json', 'none'}
        'auto' shows a line on a terminal and nothing otherwise; 'json' prints one
        object per line (``{"stage", "done", "total", "elapsed_s", "eta_s"}``).
    stream : file, optional
        Defaults to standard error, so standard output stays clean.
    expected : dict of str to float, optional
        Typical share of the total time of each stage, for the ETA.
    """

    def __init__(self, mode="auto", stream=None, expected=None):
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "none"
        self.mode = mode
        self.expected = expected or {}
        self.start = time.perf_counter()

    def __call__(self, stage, done, total):
        elapsed = time.perf_counter() - self.start
        share = sum(self.expected.get(s, 0.0) for s in list(self.expected)[:done])
        eta = elapsed * (1.0 - share) / share if share > 0 else None
        if self.mode == "json":
            record = {"stage": stage, "done": done, "total": total,
                      "elapsed_s": round(elapsed, 2),
                      "eta_s": None if eta is None else round(eta, 1)}
            self.stream.write(json.dumps(record) + "\n")
        elif self.mode == "bar":
            eta_text = "" if eta is None else f", about {eta:.0f} s left"
            self.stream.write(f"\r[{done + 1}/{total}] {stage:<28} {elapsed:6.1f} s{eta_text}\033[K")
            if done + 1 == total:
                self.stream.write("\n")
        self.stream.flush()

    def finish(self):
        """Close the terminal line."""
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()


class FrameProgress:
    """Reports the frames of a shot as they are finished: frames done, speed, ETA.

    Parameters
    ----------
    mode : {'auto', 'bar', 'json', 'none'}
        As :class:`ProgressReporter`; 'json' prints one object per line,
        ``{"frame", "done", "total", "fps", "eta_s"}`` (``total``, ``fps`` and
        ``eta_s`` null while unknown).
    total : int or None
        Frames in the shot, when known.
    stream : file, optional
        Defaults to standard error.
    """

    def __init__(self, mode="auto", total=None, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "none"
        self.mode = mode
        self.total = total
        self.done = 0
        self.computed = 0
        self.start = time.perf_counter()

    def __call__(self, frame, *, skipped=False):
        """Count ``frame`` (its number) as finished; ``skipped`` when it existed."""
        self.done += 1
        if not skipped:
            self.computed += 1
        elapsed = time.perf_counter() - self.start
        fps = self.computed / elapsed if self.computed and elapsed > 0 else None
        eta = None
        if fps and self.total is not None:
            eta = max(self.total - self.done, 0) / fps
        if self.mode == "json":
            record = {"frame": frame, "done": self.done, "total": self.total,
                      "fps": None if fps is None else round(fps, 4),
                      "eta_s": None if eta is None else round(eta, 1)}
            self.stream.write(json.dumps(record) + "\n")
        elif self.mode == "bar":
            of = f"/{self.total}" if self.total is not None else ""
            speed = "" if fps is None else f", {fps:.2f} frames/s"
            left = "" if eta is None else f", about {eta:.0f} s left"
            self.stream.write(f"\rframe {frame}: {self.done}{of} done{speed}{left}\033[K")
        self.stream.flush()

    def finish(self):
        """Close the terminal line."""
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()



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
