"""Timing and memory bookkeeping of pipeline stages."""

import resource
import sys
import time
from contextlib import contextmanager


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
