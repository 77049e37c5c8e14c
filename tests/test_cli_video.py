"""``sss-vfx video`` end to end on tiny shots: files, resume, progress, bad input."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from sss_vfx.cli import main
from sss_vfx.errors import InputError
from sss_vfx.io.exr import read_layers_exr
from sss_vfx.io.video import iter_video, video_info, write_preview_video
from sss_vfx.data import moving_shot

TINY = ["--layers", "2", "--eigenvectors", "10", "--initial-segments", "4",
        "--superpixels", "40"]


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    """Five 40x48 PNG frames numbered 1001..1005 and their features."""
    directory = tmp_path_factory.mktemp("plates")
    for i, shot in enumerate(moving_shot(frames=5, shape=(40, 48), n_strands=10)):
        for name, image in (("plate", shot.image), ("feat", shot.features)):
            pixels = (np.clip(image, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)
            assert cv2.imwrite(str(directory / f"{name}.{1001 + i:04d}.png"), pixels)
    return directory


def run(args, capsys=None):
    status = main(["video", *args])
    return status, (capsys.readouterr() if capsys else None)


def test_sequence_run_writes_numbered_exrs_preview_and_manifest(plates, tmp_path, capsys):
    out = tmp_path / "out"
    status, io = run([str(plates / "plate.%04d.png"), "-o", str(out), "--pngs",
                      "--features", str(plates / "feat.####.png"), "--progress", "json",
                      *TINY], capsys)
    assert status == 0, io.err
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == [f"layers.{n}.exr" for n in range(1001, 1006)] + [
        "manifest.json", "preview.mp4"]
    assert {"mattes", "state"} <= {p.name for p in out.iterdir() if p.is_dir()}
    assert len(list((out / "mattes").iterdir())) == 10
    # The window states a resumed run restarts from: the two newest.
    assert sorted(p.name for p in (out / "state").iterdir()) == [
        "window.1002.npz", "window.1004.npz"]
    layers = read_layers_exr(out / "layers.1003.exr")
    assert layers.layer_names == ["sss_layer01", "sss_layer02"]
    assert layers.alphas.shape == (40, 48, 2)
    assert np.abs(layers.alphas.sum(axis=2) - 1).max() < 2e-3     # half floats
    # Premultiplied layer colours that sum back to the frame.
    plate = cv2.imread(str(plates / "plate.1003.png"))[..., ::-1] / 255.0
    assert layers.colours.shape == (40, 48, 2, 3)
    assert np.all(layers.colours <= layers.alphas[..., None] + 1e-3)
    assert np.abs(layers.colours.sum(axis=2) - plate).max() < 2e-3
    info = video_info(out / "preview.mp4")
    assert (info.width, info.height, info.frame_count) == (96, 40, 5)
    assert info.frame_rate == 24
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["frames"] == [1001, 1005]
    assert manifest["parameters"]["window"] == 3 and manifest["layers"] == layers.layer_names
    assert manifest["parameters"]["colours"] is True and manifest["colours"] is True
    assert manifest["timings_s"]["colours"] > 0
    records = [json.loads(line) for line in io.err.splitlines() if line.startswith("{")]
    assert all(r["schema"] == "SssProgress.1" for r in records)
    assert records[0]["event"] == "stage"           # progress from the first stage on
    records = [r for r in records if r["event"] == "frame"]
    assert [r["frame"] for r in records] == list(range(1001, 1006))
    assert [r["done"] for r in records] == [1, 2, 3, 4, 5]
    assert all(r["total"] == 5 for r in records) and records[-1]["eta_s"] == 0


def test_rerun_resumes_and_force_recomputes(plates, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(plates / "plate.%04d.png"), "-o", str(out), *TINY]
    assert run(args)[0] == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("layers.*.exr")}
    (out / "layers.1005.exr").unlink()
    (out / "layers.1004.exr").unlink()
    capsys.readouterr()
    assert run(args)[0] == 0
    assert "(2 computed)" in capsys.readouterr().out
    for name in ("layers.1001.exr", "layers.1002.exr", "layers.1003.exr"):
        assert (out / name).stat().st_mtime_ns == stamps[name]
    assert (out / "layers.1005.exr").exists()
    assert run([*args, "--force"])[0] == 0
    assert "(5 computed)" in capsys.readouterr().out


def test_other_parameters_in_the_same_folder_are_refused(plates, tmp_path, capsys):
    out = tmp_path / "out"
    assert run([str(plates / "plate.%04d.png"), "-o", str(out), *TINY])[0] == 0
    before = sorted(p.name for p in out.iterdir())
    status, io = run([str(plates / "plate.%04d.png"), "-o", str(out), *TINY,
                      "--temporal-weight", "2"], capsys)
    assert status == 2
    assert "another input or other parameters" in io.err and "--force" in io.err
    assert sorted(p.name for p in out.iterdir()) == before


def test_no_colours_writes_mattes_only_and_is_another_run(plates, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(plates / "plate.%04d.png"), "-o", str(out), "--frames", "1001-1002",
            "--no-temporal", *TINY]
    assert run([*args, "--no-colours"])[0] == 0
    for number in (1001, 1002):
        layers = read_layers_exr(out / f"layers.{number}.exr")
        assert layers.colours is None
        assert layers.channel_names == ["sss_layer01.A", "sss_layer02.A"]
    assert json.loads((out / "manifest.json").read_text())["colours"] is False
    # Colours on is another run key: the folder is not silently reused.
    status, io = run(args, capsys)
    assert status == 2 and "other parameters" in io.err


def test_video_file_frames_are_numbered_from_start_and_range(plates, tmp_path, capsys):
    clip = [cv2.imread(str(plates / f"plate.{n:04d}.png"))[..., ::-1] for n in range(1001, 1006)]
    movie = tmp_path / "clip.mp4"
    write_preview_video(movie, clip, fps=25)
    out = tmp_path / "out"
    status, io = run([str(movie), "-o", str(out), "--start", "100", "--frames", "101-103",
                      "--no-temporal", *TINY], capsys)
    assert status == 0, io.err
    assert sorted(p.name for p in out.glob("*.exr")) == [
        "layers.0101.exr", "layers.0102.exr", "layers.0103.exr"]
    assert video_info(out / "preview.mp4").frame_rate == 25


def test_truncated_video_keeps_decoded_frames_and_names_the_failure(tmp_path, capsys):
    rng = np.random.default_rng(0)
    movie = tmp_path / "whole.mp4"
    write_preview_video(movie, [rng.random((32, 48, 3)) for _ in range(12)], fps=24)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(movie.read_bytes()[: movie.stat().st_size // 2])
    decoded = 0
    try:
        for _ in iter_video(cut):
            decoded += 1
    except InputError:
        pass        # expected: the count of frames before the cut is what we need
    out = tmp_path / "out"
    status, io = run([str(cut), "-o", str(out), *TINY], capsys)
    assert status == 2
    errors = [line for line in io.err.splitlines() if line.startswith("sss-vfx: error")]
    assert len(errors) == 1 and "cut.mp4" in errors[0] and f"frame {decoded}" in errors[0]
    assert "Traceback" not in io.err
    assert len(list(out.glob("layers.*.exr"))) == decoded
    assert video_info(out / "preview.mp4").frame_count == decoded   # the frames done
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["frame_count"] == decoded


def test_missing_frames_are_reported_before_any_output(plates, tmp_path, capsys):
    gappy = tmp_path / "gappy"
    gappy.mkdir()
    for n in (1001, 1002, 1004):
        os.link(plates / f"plate.{n:04d}.png", gappy / f"plate.{n:04d}.png")
    out = tmp_path / "out"
    status, io = run([str(gappy / "plate.%04d.png"), "-o", str(out), *TINY], capsys)
    assert status == 2 and "missing 1 frame (1003)" in io.err
    assert not out.exists()
    status, io = run([str(gappy / "plate.%04d.png"), "-o", str(out), "--allow-missing",
                      *TINY], capsys)
    assert status == 0, io.err
    assert sorted(p.name for p in out.glob("*.exr")) == [
        "layers.1001.exr", "layers.1002.exr", "layers.1004.exr"]


def test_features_that_do_not_cover_the_frames_are_an_error(plates, tmp_path, capsys):
    feats = tmp_path / "feats"
    feats.mkdir()
    for n in (1001, 1002):
        os.link(plates / f"feat.{n:04d}.png", feats / f"feat.{n:04d}.png")
    status, io = run([str(plates / "plate.%04d.png"), "-o", str(tmp_path / "out"),
                      "--features", str(feats / "feat.%04d.png"), *TINY], capsys)
    assert status == 2 and "features are missing for 3 of 5 frames" in io.err


def test_coarse_features_reach_the_manifest_and_need_features(plates, tmp_path, capsys):
    out = tmp_path / "out"
    status, io = run([str(plates / "plate.%04d.png"), "-o", str(out), "--frames",
                      "1001-1002", "--coarse-features", *TINY], capsys)
    assert status == 2 and "--coarse-features" in io.err and not out.exists()
    status, io = run([str(plates / "plate.%04d.png"), "-o", str(out), "--frames",
                      "1001-1002", "--features", str(plates / "feat.%04d.png"),
                      "--coarse-features", *TINY], capsys)
    assert status == 0, io.err
    manifest = json.loads((out / "manifest.json").read_text())
    options = manifest["parameters"]
    assert options["embedding_weight"] == 1.0 and options["grouping_colour_weight"] == 1.0


def test_interrupt_keeps_only_complete_frames(plates, tmp_path, monkeypatch, capsys):
    from sss_vfx.io import shot_outputs

    original = shot_outputs.ShotOutputs.write_frame
    calls = []

    def write_then_stop(self, number, alphas, attributes, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(number)
        return original(self, number, alphas, attributes, **kwargs)

    monkeypatch.setattr(shot_outputs.ShotOutputs, "write_frame", write_then_stop)
    out = tmp_path / "out"
    status, _ = run([str(plates / "plate.%04d.png"), "-o", str(out), *TINY], capsys)
    assert status == 130
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert files == ["layers.1001.exr", "layers.1002.exr", "manifest.json", "preview.mp4"]
    assert video_info(out / "preview.mp4").frame_count == 2     # the frames done
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_sigterm_stops_the_installed_command_cleanly(plates, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sss_vfx.cli", "video", str(plates / "plate.%04d.png"),
               "-o", str(out), "--progress", "json", *TINY]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    first = process.stderr.readline()
    while '"frame"' not in first:           # stage lines, until the first frame is done
        first = process.stderr.readline()
    process.terminate()
    _, err = process.communicate(timeout=120)
    assert json.loads(first)["frame"] == 1001
    assert process.returncode in (130, 0), err
    for path in out.iterdir():
        assert not path.name.startswith("."), "a temporary file was left behind"
    for path in out.glob("layers.*.exr"):
        assert read_layers_exr(path).alphas.shape == (40, 48, 2)
