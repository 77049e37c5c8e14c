"""``sss-vfx serve``: the render process every OpenFX plugin instance of a user shares.

One server per user (a lock in the runtime folder), listening on a Unix socket only
the user can open. Each connection is served by its own thread; a shot is computed
once by one worker thread however many requests wait for it, one shot at a time,
and every waiting request gets progress and then its frame. A client that
disconnects mid-request costs nothing: the computation goes on into the cache. The
server exits after ``idle_timeout`` seconds without connections or work.

Frame files live in the plugin's spool folder on disk. A frame is *pinned* while a
connection that named it is open (the plugin may take long to write a long clip) or a
shot that reads it is computing; the sweep never removes a pinned frame, and a shot's
frames are removed once it is cached and nobody pins them.
"""

import collections
import fcntl
import os
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from pathlib import Path

from sss_vfx.errors import SssError
from sss_vfx.ofx import protocol
from sss_vfx.ofx.errors import ProtocolError, ServeError
from sss_vfx.ofx.colour import frame_is_linear
from sss_vfx.ofx.frames import frame_path, missing_frames, write_result
from sss_vfx.ofx.runtime import FRAMES, LOCK_NAME, LOG_NAME, OUT, SOCKET_NAME, private_dir
from sss_vfx.ofx.shot_cache import shot_key
from sss_vfx.ofx.shots import compute_shot
from sss_vfx.version import __version__

__all__ = ["RenderServer"]

#: Seconds a client may stay silent in the middle of a conversation.
CLIENT_TIMEOUT_S = 600
#: Frames a ``need`` reply asks for at most (the plugin writes them, then asks again).
NEED_BATCH = 4096
#: Result files the plugin never collected are removed after this many seconds.
STALE_RESULT_S = 600


def _log(text):
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} sss-vfx serve: {text}", file=sys.stderr,
          flush=True)


class _Job:
    """One shot being computed, watched by every request that needs it."""

    def __init__(self, key, total):
        self.key, self.total = key, total
        self.pins = set()
        self.done = threading.Event()
        self.error = None
        self.progress = (0, total, "starting")


class RenderServer:
    """The render server of one user.

    Parameters
    ----------
    directory : pathlib.Path
        The private runtime folder (checked: see :func:`~sss_vfx.ofx.runtime.private_dir`).
    cache : ShotCache
    options : dict
        Further keyword options of :func:`sss_vfx.segment_video` for every shot.
    idle_timeout : float
        Seconds without connections or work after which the server exits.
    """

    def __init__(self, directory, cache, options, idle_timeout):
        self.directory = private_dir(directory)
        self.cache, self.options = cache, dict(options)
        self.idle_timeout = float(idle_timeout)
        self.socket_path = self.directory / SOCKET_NAME
        self._lock = threading.Lock()
        self._compute = threading.Lock()
        self._jobs = {}
        self._pins = collections.Counter()      # (spool, hash) -> holders
        self._consumed = set()                  # frames of cached shots, still pinned
        self._spools = set()
        self._active = 0
        self._last_activity = time.monotonic()
        self._stopping = threading.Event()
        self._lock_file = None

    # ------------------------------------------------------------ lifetime

    def claim(self):
        """Take the per-user lock; False when another server holds it."""
        self._lock_file = open(self.directory / LOCK_NAME, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            return False
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()
        return True

    def _listen(self):
        path = self.socket_path
        try:
            info = path.lstat()
        except FileNotFoundError:
            info = None
        if info is not None:
            # We hold the lock, so no server of ours is behind it: it is stale.
            if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
                raise ServeError(f"{path} is not a socket of yours; remove it, then start "
                                 "the server again")
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(path))
        except OSError as exc:
            listener.close()
            raise ServeError(f"cannot listen on {path}: {exc.strerror}") from exc
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        listener.listen(64)
        listener.settimeout(0.5)
        return listener

    def serve(self, ready_fd=None):
        """Listen and serve until idle; returns the exit status (0)."""
        if not self.claim():
            _log(f"another server already serves {self.directory}; leaving it the work")
            # It may have started a moment ago: say ready only once it listens.
            _wait_for_socket(self.socket_path, timeout=60)
            _tell_ready(ready_fd)
            return 0
        self.cache.remove_partials()
        listener = self._listen()
        previous = _on_terminate(self._stopping.set)
        _log(f"listening on {self.socket_path} (pid {os.getpid()}, idle exit after "
             f"{self.idle_timeout:g} s)")
        _tell_ready(ready_fd)
        last_sweep = time.monotonic()
        try:
            while not self._stopping.is_set():
                try:
                    connection, _ = listener.accept()
                except socket.timeout:
                    if self._idle():
                        _log("idle: exiting")
                        break
                    if time.monotonic() - last_sweep > 60:
                        self._sweep(STALE_RESULT_S)
                        last_sweep = time.monotonic()
                    continue
                with self._lock:
                    self._active += 1
                    self._last_activity = time.monotonic()
                threading.Thread(target=self._serve_connection, args=(connection,),
                                 daemon=True).start()
        finally:
            listener.close()
            self.socket_path.unlink(missing_ok=True)
            self._sweep(0)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if self._lock_file is not None:
                self._lock_file.close()
        return 0

    def _idle(self):
        with self._lock:
            return (self._active == 0 and not self._jobs and
                    time.monotonic() - self._last_activity > self.idle_timeout)

    def _sweep(self, age):
        """Remove results nobody collected and frames nobody pins, older than `age`
        seconds."""
        with self._lock:
            spools = list(self._spools)
            pinned = {item for item, count in self._pins.items() if count > 0}
        now = time.time()
        for spool in spools:
            for folder in (spool / OUT, spool / FRAMES):
                if not folder.is_dir():
                    continue
                for item in folder.iterdir():
                    if folder.name == FRAMES and (spool, item.stem) in pinned:
                        continue
                    try:
                        if now - item.stat().st_mtime >= age:
                            item.unlink()
                    except OSError:
                        pass

    # ------------------------------------------------------------ pins

    def _pin(self, holder, request):
        """Pin `request`'s frames for `holder` (a set of what it pins)."""
        spool = Path(request.spool)
        with self._lock:
            self._spools.add(spool)
            for frame_hash in request.hashes:
                item = (spool, frame_hash)
                if item not in holder:
                    holder.add(item)
                    self._pins[item] += 1

    def _unpin(self, holder):
        """Release what `holder` pins; frames of cached shots nobody pins go."""
        gone = []
        with self._lock:
            for item in holder:
                self._pins[item] -= 1
                if self._pins[item] <= 0:
                    del self._pins[item]
                    if item in self._consumed:
                        self._consumed.discard(item)
                        gone.append(item)
            holder.clear()
        for spool, frame_hash in gone:
            frame_path(spool, frame_hash).unlink(missing_ok=True)

    def _consume(self, request):
        """A shot is cached: its frames go as soon as nobody pins them."""
        spool = Path(request.spool)
        with self._lock:
            self._consumed.update((spool, h) for h in request.hashes)

    # ------------------------------------------------------------ one connection

    def _serve_connection(self, connection):
        connection.settimeout(CLIENT_TIMEOUT_S)
        pins = set()
        try:
            while True:
                try:
                    message = protocol.receive(connection)
                except ProtocolError as exc:
                    # The stream cannot be trusted after a framing error: answer, close.
                    protocol.send(connection, protocol.reply("error", error=str(exc)))
                    return
                if message is None:
                    return
                try:
                    op, request = protocol.parse_request(message)
                except ProtocolError as exc:
                    protocol.send(connection, protocol.reply("error", error=str(exc)))
                    continue
                if op == "ping":
                    protocol.send(connection, protocol.reply(
                        "ok", version=__version__, pid=os.getpid()))
                    continue
                self._render(connection, request, pins)
        except (OSError, socket.timeout):
            pass                        # the client went away; nothing is lost
        finally:
            connection.close()
            self._unpin(pins)
            with self._lock:
                self._active -= 1
                self._last_activity = time.monotonic()

    def _render(self, connection, request, pins):
        try:
            private_dir(request.spool)
            frame_is_linear(request.colourspace, request.linear)
        except SssError as exc:
            protocol.send(connection, protocol.reply("error", error=str(exc)))
            return
        self._pin(pins, request)
        key = shot_key(request, self.options)
        cached = self.cache.complete(key)
        if not cached:
            missing = missing_frames(request)
            if missing:
                protocol.send(connection, protocol.reply("need",
                                                         frames=missing[:NEED_BATCH]))
                return
            job = self._job(key, request)
            sent = None
            while not job.done.wait(0.25):
                if job.progress != sent:
                    sent = job.progress
                    done, total, stage = sent
                    protocol.send(connection, protocol.reply(
                        "progress", done=done, total=total, stage=stage))
            if job.error is not None:
                protocol.send(connection, protocol.reply("error", error=job.error))
                return
        try:
            rgba = self.cache.output(key, request.frame, request.output_layer)
        except (OSError, ValueError) as exc:
            self.cache.drop(key)
            protocol.send(connection, protocol.reply(
                "error", error=f"the cached shot was damaged ({exc}); render again"))
            return
        path = write_result(request.spool, rgba)
        try:
            protocol.send(connection, protocol.reply(
                "done", path=str(path), width=request.width, height=request.height,
                layers=request.layers, cached=cached))
        except OSError:
            path.unlink(missing_ok=True)
            raise

    def _job(self, key, request):
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = self._jobs[key] = _Job(key, len(request.hashes))
                spool = Path(request.spool)
                for frame_hash in request.hashes:
                    job.pins.add((spool, frame_hash))
                    self._pins[(spool, frame_hash)] += 1
                self._spools.add(spool)
                threading.Thread(target=self._compute_shot, args=(job, request),
                                 daemon=True).start()
            return job

    def _compute_shot(self, job, request):
        def progress(stage, done, total):
            job.progress = (done, total, stage)

        writer = None
        try:
            with self._compute:
                if not self.cache.complete(job.key):
                    started = time.perf_counter()
                    _log(f"computing shot {job.key}: frames {request.first}-"
                         f"{request.last}, {request.width}x{request.height}")
                    writer = self.cache.writer(job.key)
                    for number, alphas, colours, preview in compute_shot(
                            request, self.options, progress):
                        writer.add(number, alphas, colours, preview)
                    writer.commit({"request": {
                        "first": request.first, "last": request.last,
                        "layers": request.layers, "temporal": request.temporal,
                        "linear": request.linear, "colourspace": request.colourspace,
                        "max_pixels": request.max_pixels,
                        "device": request.device},
                        "options": self.options,
                        "seconds": round(time.perf_counter() - started, 3)})
                    writer = None
                    _log(f"shot {job.key} done in {time.perf_counter() - started:.2f} s")
            self._consume(request)
        except SssError as exc:
            job.error = str(exc)
        except MemoryError:
            job.error = "out of memory; lower maxPixels or shorten the clip"
        except Exception as exc:        # a bug must fail the render, not the server
            traceback.print_exc()
            job.error = (f"internal error in the render server ({type(exc).__name__}: "
                         f"{exc}); see {self.directory / LOG_NAME}")
        finally:
            if writer is not None:
                writer.abort()
            if job.error:
                _log(f"shot {job.key} failed: {job.error}")
            with self._lock:
                self._jobs.pop(job.key, None)
                self._last_activity = time.monotonic()
            self._unpin(job.pins)
            job.done.set()


def _wait_for_socket(path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
                return True
            except OSError:
                time.sleep(0.1)
    return False


def _tell_ready(ready_fd):
    """Tell the plugin that started us that the socket is up (or served by another)."""
    if ready_fd is None:
        return
    try:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    except OSError:
        pass


def _on_terminate(stop):
    try:
        return signal.signal(signal.SIGTERM, lambda signum, frame: stop())
    except ValueError:                  # not the main thread
        return None

