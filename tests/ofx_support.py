"""Shared pieces of the OpenFX bridge tests: a tiny shot, its reference from
``sss-vfx video``, a server started by hand, a compiled plugin bundle, and the
fixtures of the plugin tests (session-scoped where they cost a compile or a CLI run)."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from sss_vfx.data import moving_shot

#: Options small enough for a 4-frame shot of 32x40 to take seconds.
TINY = {"eigenvectors": 10, "initial_segments": 6, "superpixels": 40}
LAYERS = 3
DEVICE = "numpy"
REPO = Path(__file__).resolve().parent.parent
ORIGIN = (3, -2)          # source image bounds not at the origin
PADDING = 24              # bytes at the end of every row


def tiny_frames(count=4, seed=0):
    """`count` frames of 32x40 as the host holds them: scene-linear float RGBA, top
    row first, alpha 1."""
    shots = moving_shot(frames=count, shape=(32, 40), n_strands=10, seed=seed)
    frames = []
    for shot in shots:
        linear = np.power(shot.image.astype(np.float64), 2.2).astype(np.float32)
        frames.append(np.concatenate([linear, np.ones(linear.shape[:2] + (1,), np.float32)],
                                     axis=2))
    return frames


def write_plates(folder, frames, first=1):
    """Write `frames` as a float EXR sequence ``plate.%04d.exr``; returns the pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        channels = {c: np.ascontiguousarray(frame[:, :, k]) for k, c in enumerate("RGB")}
        OpenEXR.File({"type": OpenEXR.scanlineimage,
                      "compression": OpenEXR.ZIP_COMPRESSION},
                     channels).write(str(folder / f"plate.{first + i:04d}.exr"))
    return str(folder / "plate.%04d.exr")


def cli_reference(folder, frames, *, layers=LAYERS, temporal=True):
    """Run ``sss-vfx video`` on `frames` written as EXR plates; returns
    {number: LayersEXR} of its output."""
    from sss_vfx.cli import main
    from sss_vfx.io.exr import read_layers_exr

    pattern = write_plates(folder / "plates", frames)
    out = folder / "cli"
    # The plugin's scene-linear frames are linear Rec.709 (its sRGB working copy).
    argv = ["video", pattern, "-o", str(out), "--layers", str(layers), "--device", DEVICE,
            "--progress", "none", "--colorspace", "lin_rec709"]
    argv += [f"--{name.replace('_', '-')}={value}" for name, value in TINY.items()]
    if not temporal:
        argv.append("--no-temporal")
    assert main(argv) == 0
    return {1 + i: read_layers_exr(out / f"layers.{1 + i:04d}.exr")
            for i in range(len(frames))}


def serve_command(cache_dir, idle_timeout=120, extra=()):
    """The argv that starts a server with the tiny options."""
    options = [f"--option={name}={value}" for name, value in TINY.items()]
    return [sys.executable, "-m", "sss_vfx.ofx", "serve", "--idle-timeout",
            str(idle_timeout), "--cache-dir", str(cache_dir), *options, *extra]


def serve_script(path, cache_dir, idle_timeout=120):
    """A script the plugin can run as ``SSS_VFX_EXECUTABLE``: it starts the checkout's
    server with the tiny options, passing the plugin's arguments on."""
    command = " ".join(f"'{part}'" for part in serve_command(cache_dir, idle_timeout)[:3])
    options = " ".join(f"'{part}'" for part in serve_command(cache_dir, idle_timeout)[4:])
    path.write_text(f"#!/bin/sh\nPYTHONPATH='{REPO}' exec {command} \"$@\" {options}\n")
    path.chmod(0o755)
    return path


def isolated_python(path, record, cache_dir, idle_timeout=120):
    """A stand-in for the recorded interpreter: it writes its arguments and environment
    to `record` (``<record>.argv``, ``<record>.env``), insists on ``-I -m sss_vfx.ofx``,
    and runs the checkout's server isolated (``python -I``) with the tiny options."""
    options = " ".join(f"'{part}'" for part in serve_command(cache_dir, idle_timeout)[4:])
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            "from sss_vfx.ofx.__main__ import main; sys.exit(main(sys.argv[1:]))")
    path.write_text(f"""#!/bin/sh
echo "$@" > '{record}.argv'
env > '{record}.env'
[ "$1 $2 $3" = "-I -m sss_vfx.ofx" ] || exit 3
shift 3
exec '{sys.executable}' -I -c "{code}" "$@" {options}
""")
    path.chmod(0o755)
    return path


def start_server(runtime, cache_dir, idle_timeout=120, extra=()):
    """Start ``serve`` by hand; returns the process once its socket answers."""
    env = dict(os.environ, SSS_VFX_RUNTIME_DIR=str(runtime), PYTHONPATH=str(REPO))
    log = open(runtime.parent / "serve-by-hand.log", "ab")
    process = subprocess.Popen(serve_command(cache_dir, idle_timeout, extra), env=env,
                               stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: "
                                 f"{(runtime.parent / 'serve-by-hand.log').read_text()}")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(runtime / "server.sock"))
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("serve did not start within 60 s")


def stale_socket(path):
    """Leave a socket file nobody listens on (a server that died)."""
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))
    assert stat.S_ISSOCK(path.lstat().st_mode)
    return path


def server_pid(runtime):
    """The pid written in the server's lock file, or None."""
    try:
        return int((runtime / "server.lock").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """The plugin, compiled once; its recorded program is a server script."""
    from sss_vfx.ofx.install import install_bundle

    folder = tmp_path_factory.mktemp("ofx")
    recorded = serve_script(folder / "recorded-sss-vfx", folder / "recorded-cache")
    return install_bundle(folder / "plugins", executable=recorded)


@pytest.fixture(scope="session")
def frames():
    return tiny_frames()


@pytest.fixture(scope="session")
def reference(tmp_path_factory, frames):
    return cli_reference(tmp_path_factory.mktemp("cli"), frames)


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A private runtime folder, a spool under a private XDG_CACHE_HOME and a server
    script with the tiny options; servers the plugin started there are stopped."""
    folder = tmp_path / "rt"
    monkeypatch.setenv("SSS_VFX_RUNTIME_DIR", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("SSS_VFX_EXECUTABLE",
                       str(serve_script(tmp_path / "sss-vfx", tmp_path / "cache")))
    yield folder
    stop_server(folder)


def stop_server(runtime):
    """Stop the server whose lock is in `runtime`, if any."""
    pid = server_pid(runtime)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def open_instance(bundle, frames, context=None, *, frame_range=None, **settings):
    """Load the plugin in a test host and create an instance over `frames` (first
    frame 1, bounds at ORIGIN, padded rows) with the tiny settings."""
    from ofx_host import FILTER, OK, OfxTestHost
    from sss_vfx.ofx.install import bundle_binary

    context = context or FILTER
    host = OfxTestHost(bundle_binary(bundle))
    assert host.load() == OK
    assert host.describe()[0] == OK
    assert host.describe_in_context(context)[0] == OK
    status, instance = host.create_instance(context, frames, first=1, origin=ORIGIN,
                                            padding=PADDING, frame_range=frame_range)
    assert status == OK
    instance.set("layers", LAYERS)
    instance.set("device", DEVICE)
    for name, value in settings.items():
        instance.set(name, value)
    return host, instance


def expected(reference, frames, number, layer):
    """What the plugin must show: layer k's premultiplied RGBA as ``sss-vfx video``
    stores it, or the colour-coded preview for layer 0."""
    from sss_vfx.io.images import linear_to_srgb
    from sss_vfx.io.outputs import render_preview

    exr = reference[number]
    if layer == 0:
        plate = linear_to_srgb(frames[number - 1][:, :, :3])
        preview = render_preview(plate, exr.alphas)[:, plate.shape[1]:] / 255.0
        return np.concatenate([preview, np.ones(preview.shape[:2] + (1,))], axis=2)
    return np.concatenate([exr.colours[:, :, layer - 1], exr.alphas[:, :, layer - 1, None]],
                          axis=2)


def tiles():
    """Three render windows covering the frame at ORIGIN."""
    x1, y1 = ORIGIN
    return [(x1, y1, x1 + 17, y1 + 11), (x1 + 17, y1, x1 + 40, y1 + 11),
            (x1, y1 + 11, x1 + 40, y1 + 32)]
