"""Shared pieces of the OpenFX bridge tests: a tiny shot, its reference from
``sss-vfx video``, a server started by hand, and a compiled plugin bundle."""

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenEXR

from sss_vfx.synthetic import moving_shot

#: Options small enough for a 4-frame shot of 32x40 to take seconds.
TINY = {"eigenvectors": 10, "initial_segments": 6, "superpixels": 40}
LAYERS = 3
DEVICE = "numpy"
REPO = Path(__file__).resolve().parent.parent


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
