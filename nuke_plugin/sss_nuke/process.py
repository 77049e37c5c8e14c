"""Running ``sss-vfx`` in a subprocess: progress lines in, cancel out.

:func:`run_command` blocks, so it belongs on a worker thread; it calls back for each
progress line and asks often whether to stop.
"""

import queue
import subprocess
import sys
import threading
import time
from typing import IO, Callable, List, Mapping, NamedTuple, Optional

from sss_nuke.errors import CommandError
from sss_nuke.progress import Progress, parse_progress_line

#: Exit status of ``sss-vfx`` when interrupted (SIGINT/SIGTERM): finished frames kept.
EXIT_INTERRUPTED = 130
ERROR_PREFIX = "sss-vfx: error: "
_KEPT_LINES = 40


class Outcome(NamedTuple):
    """How a run ended: its exit status, whether it was cancelled, and the last lines
    of standard error that were not progress."""

    returncode: int
    cancelled: bool
    messages: List[str]

    @property
    def ok(self) -> bool:
        """True when the command finished every frame (even if a cancel came late)."""
        return self.returncode == 0

    def error(self) -> str:
        """The command's own error line, else its last words and exit status."""
        for line in reversed(self.messages):
            if line.startswith(ERROR_PREFIX):
                return line[len(ERROR_PREFIX):]
        last = next((line for line in reversed(self.messages) if line.strip()), "")
        status = "sss-vfx stopped with exit status {}".format(self.returncode)
        return "{}: {}".format(status, last) if last else status


def run_command(command: List[str], *, env: Mapping[str, str],
                on_progress: Callable[[Progress], None],
                should_cancel: Callable[[], bool], poll_s: float = 0.1,
                grace_s: float = 10.0,
                on_start: Optional[Callable[["subprocess.Popen[str]"], None]] = None
                ) -> Outcome:
    """Run `command` to its end, or until `should_cancel` says stop.

    Parameters
    ----------
    command : list of str
        The program and its arguments; it reports progress as JSON lines on stderr.
    env : mapping
        Its environment.
    on_progress : callable
        Called with each :class:`Progress`, on the calling thread.
    should_cancel : callable
        Polled every `poll_s` seconds; True terminates the process (SIGTERM, so it
        keeps its finished frames), and kills it if it is still running `grace_s`
        seconds later.
    on_start : callable, optional
        Called with the process once started (to stop it from elsewhere at exit).

    Returns
    -------
    Outcome

    Raises
    ------
    CommandError
        If the program cannot be started.
    """
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=dict(env), universal_newlines=True,
            encoding="utf-8", errors="replace", creationflags=flags)
    except OSError as exc:
        raise CommandError("cannot start {} ({}); check the sss-vfx executable setting"
                           .format(command[0], exc.strerror or exc)) from None
    assert process.stderr is not None
    if on_start is not None:
        on_start(process)
    lines: "queue.Queue[Optional[str]]" = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    messages: List[str] = []
    cancelled_at: Optional[float] = None
    killed = False
    while True:
        if cancelled_at is None and should_cancel():
            cancelled_at = time.monotonic()
            process.terminate()
        elif (cancelled_at is not None and not killed
              and time.monotonic() - cancelled_at > grace_s):
            killed = True
            process.kill()
        try:
            line = lines.get(timeout=poll_s)
        except queue.Empty:
            continue
        if line is None:
            break
        progress = parse_progress_line(line)
        if progress is not None:
            on_progress(progress)
        elif line.strip():
            messages = (messages + [line.rstrip()])[-_KEPT_LINES:]
    returncode = process.wait()
    return Outcome(returncode, cancelled_at is not None, messages)


def _read_lines(stream: IO[str], lines: "queue.Queue[Optional[str]]") -> None:
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)
