"""A run killed without a word (SIGKILL) leaves a manifest saying ``running``; the rerun
says what happened, resumes, and ends ``complete``."""

import json
import subprocess
import sys

import cv2
import numpy as np

from sss_vfx.data import moving_shot

TINY = ["--layers", "2", "--eigenvectors", "10", "--initial-segments", "4",
        "--superpixels", "40"]


def test_sigkill_then_rerun_resumes_and_says_so(tmp_path):
    for i, shot in enumerate(moving_shot(frames=6, shape=(32, 40), n_strands=5)):
        pixels = (np.clip(shot.image, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"plate.{1001 + i:04d}.png"), pixels)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sss_vfx.cli", "video", str(tmp_path / "plate.%04d.png"),
               "-o", str(out), "--progress", "json", *TINY]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    while '"frame"' not in line:
        line = process.stderr.readline()
    process.kill()
    process.wait(timeout=60)
    killed = json.loads((out / "manifest.json").read_text())
    assert killed["status"] == "running" and killed["process"]["pid"] == process.pid
    done = subprocess.run(command[:-len(TINY) - 2] + ["--progress", "none", *TINY],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "stopped without finishing" in done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["frame_count"] == 6
    assert manifest["frames_computed"] < 6          # the finished frames were kept
