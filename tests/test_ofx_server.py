"""``sss-vfx serve`` over its socket: the protocol, permissions, failures, a fuzz, two
clients at once and idle exit. A client here is plain Python: what the plugin sends."""

import json
import os
import random
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ofx_support import REPO, server_pid, stale_socket, start_server, tiny_frames
from sss_vfx.ofx import protocol
from sss_vfx.ofx.commands import server_options
from sss_vfx.ofx.errors import ProtocolError, ServeError
from sss_vfx.ofx.frames import frame_path
from sss_vfx.ofx.runtime import private_dir, runtime_dir
from sss_vfx.errors import OptionError, SssError

FUZZ_MESSAGES = 300


def connect(runtime):
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(str(runtime / "server.sock"))
    return sock


def ask(runtime, message):
    with connect(runtime) as sock:
        protocol.send(sock, message)
        return protocol.receive(sock)


def spool_of(runtime):
    """The spool folder the tests' plugin stand-in uses: beside the runtime folder."""
    return private_dir(runtime.parent / "spool")


def render_request(frame=1, first=1, last=4, hashes=None, spool="/nonexistent-spool",
                   **params):
    return {"schema": protocol.REQUEST_SCHEMA, "op": "render", "frame": frame,
            "first": first, "last": last, "width": 40, "height": 32, "output_layer": 1,
            "spool": str(spool),
            "hashes": hashes or [f"{n:016x}" for n in range(first, last + 1)],
            "params": dict({"layers": 3, "temporal": True, "max_pixels": 65536,
                            "device": "numpy"}, **params)}


def stop(process):
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runtime = tmp_path_factory.mktemp("srv") / "rt"
    process = start_server(runtime, runtime.parent / "cache")
    yield runtime, process
    stop(process)


def test_socket_and_folder_are_private(server):
    runtime, _ = server
    assert stat.S_IMODE((runtime / "server.sock").stat().st_mode) == 0o600
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert stat.S_ISSOCK((runtime / "server.sock").stat().st_mode)


def test_ping_names_version_and_pid(server):
    runtime, process = server
    answer = ask(runtime, {"schema": protocol.REQUEST_SCHEMA, "op": "ping"})
    assert answer["schema"] == protocol.REPLY_SCHEMA and answer["status"] == "ok"
    assert answer["pid"] == process.pid == server_pid(runtime)


def test_wrong_version_malformed_and_oversized_messages(server):
    runtime, process = server
    with connect(runtime) as sock:
        protocol.send(sock, {"schema": "SssRequest.1", "op": "ping"})
        answer = protocol.receive(sock)
        assert answer["status"] == "error" and "SssRequest.2" in answer["error"]
        # the connection stays usable after a request it refused
        protocol.send(sock, {"schema": protocol.REQUEST_SCHEMA, "op": "ping"})
        assert protocol.receive(sock)["status"] == "ok"
        body = b"{not json"
        sock.sendall(struct.pack(">I", len(body)) + body)
        answer = protocol.receive(sock)
        assert answer["status"] == "error" and "JSON" in answer["error"]
        assert protocol.receive(sock) is None          # closed after a framing error
    with connect(runtime) as sock:
        sock.sendall(struct.pack(">I", protocol.MAX_MESSAGE + 1))
        answer = protocol.receive(sock)
        assert answer["status"] == "error" and "exceeds" in answer["error"]
    for bad, field in ((render_request(last=0), "last"),
                       (render_request(hashes=["zz"] * 4), "hashes"),
                       (dict(render_request(), output_layer=4), "outputLayer"),
                       (render_request(layers=17), "layers")):
        answer = ask(runtime, bad)
        assert answer["status"] == "error" and field in answer["error"], answer
    assert process.poll() is None


def test_client_disconnecting_mid_message_costs_nothing(server):
    runtime, process = server
    with connect(runtime) as sock:
        sock.sendall(struct.pack(">I", 500) + b'{"schema": "SssRe')
    with connect(runtime) as sock:
        sock.sendall(b"\x00\x00")
    assert ask(runtime, {"schema": protocol.REQUEST_SCHEMA, "op": "ping"})["status"] == "ok"


def test_missing_or_short_frames_are_asked_for(server):
    runtime, _ = server
    request = render_request(spool=spool_of(runtime))
    private_dir(spool_of(runtime) / "frames")
    # a frame file of the wrong size (a frame of another size) is not used
    frame_path(spool_of(runtime), request["hashes"][1]).write_bytes(b"\0" * 100)
    answer = ask(runtime, request)
    assert answer == protocol.reply("need", frames=[1, 2, 3, 4])


def mutate(rng, message):
    """One random mutation of a valid message, as bytes on the wire."""
    body = json.dumps(message).encode()
    kind = rng.randrange(6)
    if kind == 0:                               # flip bytes
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        body = bytes(data)
    elif kind == 1:                             # truncate
        body = body[:rng.randrange(len(body))]
    elif kind == 2:                             # a field of the wrong type or range
        message = json.loads(body)
        target = message["params"] if rng.random() < 0.4 and "params" in message \
            else message
        key = rng.choice(sorted(target))
        target[key] = rng.choice([None, -1, 2 ** 40, "x" * rng.randrange(300), [], {},
                                  True, 1.5, [1, 2]])
        body = json.dumps(message).encode()
    elif kind == 3:                             # random bytes
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    elif kind == 4:                             # a lying length header
        return struct.pack(">I", rng.choice([0, len(body) + 10, 2 ** 32 - 1])) + body
    else:                                       # deep nesting
        body = b"[" * 5000 + b"]" * 5000
    return struct.pack(">I", len(body)) + body


def test_fuzz_of_mutated_messages_never_crashes(server):
    runtime, process = server
    rng = random.Random(1234)
    valid = [render_request(spool=spool_of(runtime)),
             {"schema": protocol.REQUEST_SCHEMA, "op": "ping"}]
    replies = {}
    for _ in range(FUZZ_MESSAGES):
        with connect(runtime) as sock:
            sock.settimeout(5)
            sock.sendall(mutate(rng, rng.choice(valid)))
            sock.shutdown(socket.SHUT_WR)
            try:
                answer = protocol.receive(sock)
            except (ProtocolError, socket.timeout, OSError):
                answer = None
        status = answer["status"] if answer else "closed"
        replies[status] = replies.get(status, 0) + 1
    assert process.poll() is None
    assert ask(runtime, {"schema": protocol.REQUEST_SCHEMA, "op": "ping"})["status"] == "ok"
    assert replies.get("error", 0) > FUZZ_MESSAGES / 3
    assert "computing shot" not in (runtime.parent / "serve-by-hand.log").read_text()


def write_frames(runtime, frames, base=0xabc000):
    """Write frames as the plugin does; returns their (made-up, distinct) hashes."""
    private_dir(spool_of(runtime) / "frames")
    hashes = []
    for i, frame in enumerate(frames):
        frame_hash = f"{base + i:016x}"
        np.ascontiguousarray(frame[::-1], "<f4").tofile(frame_path(spool_of(runtime),
                                                                   frame_hash))
        hashes.append(frame_hash)
    return hashes


def converse(runtime, request, results, close_early=False):
    with connect(runtime) as sock:
        protocol.send(sock, request)
        while True:
            answer = protocol.receive(sock)
            if close_early or answer is None or answer["status"] != "progress":
                results.append((request["frame"], answer))
                return


def test_two_clients_at_once_share_one_computation(server, tmp_path):
    runtime, process = server
    frames = tiny_frames(seed=3)
    request = render_request(hashes=write_frames(runtime, frames), spool=spool_of(runtime))
    results = []
    leaver = threading.Thread(target=converse, args=(runtime, request, [], True))
    leaver.start()                              # disconnects at its first reply
    threads = [threading.Thread(target=converse,
                                args=(runtime, dict(request, frame=n), results))
               for n in (2, 4)]
    for thread in threads:
        thread.start()
    for thread in threads + [leaver]:
        thread.join(timeout=300)
    results = [answer for _, answer in sorted(results)]         # frames 2, 4
    assert [r["status"] for r in results] == ["done", "done"]
    outputs = [np.fromfile(r["path"], "<f4").reshape(32, 40, 4) for r in results]
    assert not np.array_equal(outputs[0], outputs[1])    # frames 2 and 4 differ
    assert all(0 <= o[..., 3].min() and o[..., 3].max() <= 1 for o in outputs)
    log = (runtime.parent / "serve-by-hand.log").read_text()
    assert log.count("computing shot") == 1
    again = []
    converse(runtime, dict(request, frame=2), again)
    frame, answer = again[0]
    assert answer["cached"] is True
    np.testing.assert_array_equal(np.fromfile(answer["path"], "<f4").reshape(32, 40, 4),
                                  outputs[0])
    assert process.poll() is None


def test_idle_exit_removes_the_socket(tmp_path):
    runtime = tmp_path / "rt"
    process = start_server(runtime, tmp_path / "cache", idle_timeout=1)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        stop(process)
    assert not (runtime / "server.sock").exists()


def test_one_server_per_user_and_stale_socket(tmp_path):
    runtime = tmp_path / "rt"
    private_dir(runtime)
    stale_socket(runtime / "server.sock")
    first = start_server(runtime, tmp_path / "cache")
    try:
        env = dict(os.environ, SSS_VFX_RUNTIME_DIR=str(runtime), PYTHONPATH=str(REPO))
        second = subprocess.run([sys.executable, "-m", "sss_vfx.ofx", "serve"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0 and "another server" in second.stderr
        assert ask(runtime, {"schema": protocol.REQUEST_SCHEMA,
                             "op": "ping"})["pid"] == first.pid
    finally:
        stop(first)


def test_unsafe_runtime_folder_stops_the_server(tmp_path):
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    env = dict(os.environ, SSS_VFX_RUNTIME_DIR=str(runtime), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "sss_vfx.ofx", "serve"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "mode 755" in done.stderr and "chmod 700" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_private_dir_refuses_another_owner_and_links(tmp_path):
    with pytest.raises(ServeError, match="belongs to user"):
        private_dir(tmp_path / "a", uid=os.getuid() + 1)
    (tmp_path / "target").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(ServeError, match="not a folder"):
        private_dir(tmp_path / "link")


def test_runtime_dir_order():
    assert str(runtime_dir({"SSS_VFX_RUNTIME_DIR": "/x", "XDG_RUNTIME_DIR": "/r"})) == "/x"
    assert str(runtime_dir({"XDG_RUNTIME_DIR": "/run/user/7"})) == "/run/user/7/sss-vfx"
    assert str(runtime_dir({})) == f"/tmp/sss-vfx-{os.getuid()}"


def test_server_options_are_checked():
    assert server_options(["window=4", "eigenvectors=12"]) == {"window": 4,
                                                                "eigenvectors": 12}
    for bad, text in ((["layers=3"], "plugin parameter"), (["nope=1"], "unknown"),
                      (["window"], "NAME=VALUE"), (["window=x"], "expected int"),
                      (["window=1"], "window")):
        with pytest.raises(OptionError, match=text):
            server_options(bad)


def test_frame_file_reads_as_an_exr_or_a_float_tiff_would(tmp_path):
    from sss_vfx.io.images import linear_to_srgb
    from sss_vfx.ofx.frames import FrameFile

    rgba = np.random.default_rng(0).uniform(-0.2, 1.5, (20, 24, 4)).astype(np.float32)
    np.ascontiguousarray(rgba[::-1], "<f4").tofile(tmp_path / "f.f32")
    linear = np.asarray(FrameFile(tmp_path / "f.f32", 7, 24, 20))
    np.testing.assert_array_equal(linear, linear_to_srgb(rgba[:, :, :3]))
    display = np.asarray(FrameFile(tmp_path / "f.f32", 7, 24, 20, linear=False))
    np.testing.assert_array_equal(display, np.clip(rgba[:, :, :3], 0, 1))
    rgba[3, 4, 1] = np.nan
    np.ascontiguousarray(rgba[::-1], "<f4").tofile(tmp_path / "f.f32")
    with pytest.raises(SssError, match="frame 7 holds 1 NaN/inf"):
        np.asarray(FrameFile(tmp_path / "f.f32", 7, 24, 20))
    with pytest.raises(SssError, match="not 30x20 RGBA"):
        np.asarray(FrameFile(tmp_path / "f.f32", 7, 30, 20))


def test_encode_refuses_oversized_messages():
    with pytest.raises(ProtocolError, match="exceeds"):
        protocol.encode({"x": "y" * protocol.MAX_MESSAGE})


def test_request_for_the_longest_clip_fits_a_message():
    # 19 bytes a frame: a 1 MiB cap stopped at about 55k frames ("server crashed")
    hashes = [f"{n:016x}" for n in range(protocol.MAX_FRAMES)]
    message = render_request(first=1, last=protocol.MAX_FRAMES, hashes=hashes)
    wire = protocol.encode(message)
    assert 19 * protocol.MAX_FRAMES < len(wire) <= protocol.MAX_MESSAGE + 4
    op, request = protocol.parse_request(json.loads(wire[4:]))
    assert op == "render" and len(request.hashes) == protocol.MAX_FRAMES
    for bad in ("relative/spool", None, 7):
        with pytest.raises(ProtocolError, match="spool"):
            protocol.parse_request(dict(message, spool=bad))


def test_non_ascii_paths_travel_as_utf8(tmp_path):
    from sss_vfx.ofx.frames import write_result

    spool = private_dir(tmp_path / "cachë")
    path = write_result(str(spool) + "/", np.zeros((2, 3, 4), np.float32))
    assert path.parent == (tmp_path / "cachë" / "out").resolve()
    wire = protocol.encode(protocol.reply("done", path=str(path)))
    assert "cachë".encode("utf-8") in wire          # no \u escapes for the C reader


def test_the_clip_colour_space_decides_the_working_image():
    from sss_vfx.ofx.colour import frame_is_linear, working_image

    assert frame_is_linear(None, True) and not frame_is_linear(None, False)
    assert frame_is_linear("lin_rec709_srgb", False) and frame_is_linear("ACEScg", False)
    assert not frame_is_linear("srgb_tx", True) and not frame_is_linear("ofx_sdr", True)
    for unreadable in ("ACEScct", "ofx_log", "ofx_hdr", "ofx_raw", "made up"):
        with pytest.raises(SssError, match=f"colour space '{unreadable}'"):
            frame_is_linear(unreadable)
    rgb = np.array([[[0.0, 0.5, 2.0]]], np.float32)
    from sss_vfx.io.images import linear_to_srgb
    np.testing.assert_array_equal(working_image(rgb, "ofx_linear"), linear_to_srgb(rgb))
    np.testing.assert_array_equal(working_image(rgb, "srgb_tx", True), [[[0, 0.5, 1]]])


def test_sweep_keeps_frames_of_a_clip_still_being_written(tmp_path):
    """A long clip's frames are written over several `need` rounds, maybe for longer
    than the sweep's age: frames named by an open connection stay."""
    from sss_vfx.ofx.server import RenderServer
    from sss_vfx.ofx.shot_cache import ShotCache

    runtime = tmp_path / "rt"
    server = RenderServer(runtime, ShotCache(tmp_path / "cache", 10 ** 9), {}, 60)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (runtime / "server.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        frames = tiny_frames(seed=5)
        hashes = write_frames(runtime, frames[:2], base=0xdef000)   # written so far
        hashes += [f"{0xdef002 + i:016x}" for i in range(2)]          # not yet
        stranger = write_frames(runtime, frames[:1], base=0x123000)   # nobody's
        with connect(runtime) as sock:
            protocol.send(sock, render_request(hashes=hashes, spool=spool_of(runtime)))
            assert protocol.receive(sock) == protocol.reply("need", frames=[3, 4])
            server._sweep(0)            # what the periodic sweep does, without waiting
            assert all(frame_path(spool_of(runtime), h).exists() for h in hashes[:2])
            assert not frame_path(spool_of(runtime), stranger[0]).exists()
        deadline = time.monotonic() + 10
        while server._pins and time.monotonic() < deadline:
            time.sleep(0.05)            # the connection's end released its frames
        server._sweep(0)
        assert not any(frame_path(spool_of(runtime), h).exists() for h in hashes[:2])
    finally:
        server._stopping.set()
        thread.join(timeout=30)
