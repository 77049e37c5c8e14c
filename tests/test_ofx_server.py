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


def render_request(frame=1, first=1, last=4, hashes=None, **params):
    return {"schema": protocol.REQUEST_SCHEMA, "op": "render", "frame": frame,
            "first": first, "last": last, "width": 40, "height": 32, "output_layer": 1,
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
        protocol.send(sock, {"schema": "SssRequest.2", "op": "ping"})
        answer = protocol.receive(sock)
        assert answer["status"] == "error" and "SssRequest.1" in answer["error"]
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
    request = render_request()
    (runtime / "frames").mkdir(exist_ok=True, mode=0o700)
    # a frame file of the wrong size (a frame of another size) is not used
    frame_path(runtime, request["hashes"][1]).write_bytes(b"\0" * 100)
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
    valid = [render_request(), {"schema": protocol.REQUEST_SCHEMA, "op": "ping"}]
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


def write_frames(runtime, frames):
    """Write frames as the plugin does; returns their (made-up, distinct) hashes."""
    (runtime / "frames").mkdir(exist_ok=True, mode=0o700)
    hashes = []
    for i, frame in enumerate(frames):
        frame_hash = f"{0xabc000 + i:016x}"
        np.ascontiguousarray(frame[::-1], "<f4").tofile(frame_path(runtime, frame_hash))
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
    request = render_request(hashes=write_frames(runtime, frames))
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
