"""What arrives on a real show, through the command: each case either works as a TD
expects, or stops with one error line (exit 2) and nothing half-written.

| case | expected |
|---|---|
| 16-bit PNG with alpha | works; the alpha is ignored and the manifest says so |
| EXR with only a Y channel | works, as grey |
| multi-part EXR | works on the first RGB part, or the part `--part` names |
| multi-part EXR, `--part` naming no part | exit 2: names the parts |
| DPX frame with an empty header | exit 2: says it cannot be decoded |
| variable-frame-rate MP4 | works, one frame per decoded picture |
| 5-digit frame numbers (10001...) | works, files keep the numbers |
| negative frame numbers | works, files keep the numbers |
| paths with spaces and non-ASCII letters | works |
| read-only output folder | exit 2: names the folder |
| disk full (file-size limit) | exit 2: one line, no partial file left |
| features with 1000 channels | works (PCA to 3) |
| a shot of one frame | works |
| a window longer than the shot | works |
"""

import json
import os
import resource
import signal
import subprocess
import sys

import cv2
import numpy as np
import OpenEXR
import pytest

from sss_vfx.cli import main
from sss_vfx.io.exr import read_layers_exr
from sss_vfx.io.video import write_preview_video
from sss_vfx.data import moving_shot, two_region_image

TINY = ["--layers", "2", "--eigenvectors", "10", "--initial-segments", "4",
        "--superpixels", "40", "--progress", "none"]


def run(args, capsys):
    status = main(args)
    return status, capsys.readouterr()


def one_error(err):
    errors = [line for line in err.splitlines() if line.startswith("sss-vfx: error")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def plate_u8(shape=(32, 40), seed=0):
    image, _ = two_region_image(shape, seed=seed)
    return (image[..., ::-1] * 255).round().astype(np.uint8)


def write_frames(directory, pattern, numbers, shape=(32, 40)):
    directory.mkdir(parents=True, exist_ok=True)
    shots = moving_shot(frames=max(len(numbers), 2), shape=shape, n_strands=5)
    for shot, n in zip(shots, numbers):
        pixels = (np.clip(shot.image, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)
        assert cv2.imwrite(str(directory / (pattern % n)), pixels)
    return directory


def test_16_bit_png_with_alpha_works_and_says_the_alpha_is_ignored(tmp_path, capsys):
    rgb = plate_u8().astype(np.uint16) * 257
    alpha = np.full(rgb.shape[:2] + (1,), 40000, np.uint16)
    path = tmp_path / "plate16.png"
    assert cv2.imwrite(str(path), np.concatenate([rgb, alpha], axis=2))
    status, io = run(["segment", str(path), "-o", str(tmp_path / "out"), *TINY], capsys)
    assert status == 0, io.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert any("alpha" in note for note in manifest["notes"])
    assert read_layers_exr(tmp_path / "out" / "layers.exr").alphas.shape == (32, 40, 2)


def test_exr_with_only_y_works_as_grey(tmp_path, capsys):
    grey = plate_u8()[..., 0].astype(np.float32) / 255.0
    path = tmp_path / "grey.exr"
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Y": grey}) as exr:
        exr.write(str(path))
    status, io = run(["segment", str(path), "-o", str(tmp_path / "out"), *TINY], capsys)
    assert status == 0, io.err
    layers = read_layers_exr(tmp_path / "out" / "layers.exr")
    assert layers.alphas.shape == (32, 40, 2)


def _multi_part(tmp_path):
    rgb = plate_u8()[..., ::-1].astype(np.float32) / 255.0
    depth = np.full(rgb.shape[:2], 3.0, np.float32)
    parts = [OpenEXR.Part({"type": OpenEXR.scanlineimage}, {"Z": depth}, name="depth"),
             OpenEXR.Part({"type": OpenEXR.scanlineimage}, {"RGB": rgb}, name="beauty"),
             OpenEXR.Part({"type": OpenEXR.scanlineimage}, {"RGB": 1 - rgb},
                          name="inverted")]
    path = tmp_path / "multi.exr"
    with OpenEXR.File(parts) as exr:
        exr.write(str(path))
    return path, rgb


def test_multi_part_exr_reads_the_rgb_part_or_the_named_one(tmp_path, capsys):
    from sss_vfx.io.images import read_image
    from sss_vfx.options import PlateOptions

    path, rgb = _multi_part(tmp_path)
    linear = PlateOptions(colorspace="lin_rec709")
    np.testing.assert_array_equal(read_image(path, plate=linear).values, rgb)
    named = read_image(path, plate=PlateOptions(colorspace="lin_rec709", part="inverted"))
    np.testing.assert_array_equal(named.values, 1 - rgb)
    out = tmp_path / "out"
    status, io = run(["segment", str(path), "-o", str(out), "--part", "inverted",
                      "--colorspace", "lin_rec709", *TINY], capsys)
    assert status == 0, io.err
    layers = read_layers_exr(out / "layers.exr")
    np.testing.assert_allclose(layers.colours.sum(axis=2), 1 - rgb, atol=2e-3)


def test_multi_part_exr_with_a_part_name_it_lacks(tmp_path, capsys):
    path, _ = _multi_part(tmp_path)
    out = tmp_path / "out"
    status, io = run(["segment", str(path), "-o", str(out), "--part", "diffuse", *TINY],
                     capsys)
    assert status == 2
    line = one_error(io.err)
    assert "'diffuse'" in line and "'beauty'" in line and "--part" in line
    assert not out.exists()


def test_dpx_frame_with_an_empty_header_is_refused(tmp_path, capsys):
    path = tmp_path / "plate.dpx"
    path.write_bytes(b"SDPX" + bytes(2044))     # a DPX magic number and an empty header
    status, io = run(["segment", str(path), "-o", str(tmp_path / "out"), *TINY], capsys)
    assert status == 2
    line = one_error(io.err)
    assert "plate.dpx" in line and "export it again" in line
    assert not (tmp_path / "out").exists()


def test_variable_frame_rate_mp4_gives_one_result_per_picture(tmp_path, capsys):
    import av
    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        pts = 0
        for i, gap in enumerate([40, 40, 90, 15, 60]):    # uneven frame durations
            frame = av.VideoFrame.from_ndarray(plate_u8((32, 48), seed=i)[..., ::-1].copy(),
                                               format="rgb24")
            frame.pts, frame.time_base = pts, stream.codec_context.time_base
            pts += gap
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "out"
    status, io = run(["video", str(path), "-o", str(out), *TINY], capsys)
    assert status == 0, io.err
    assert sorted(p.name for p in out.glob("layers.*.exr")) == [
        f"layers.{n:04d}.exr" for n in range(5)]


@pytest.mark.parametrize("pattern, numbers", [("plate.%05d.png", [10001, 10002]),
                                              ("plate.%d.png", [-2, -1, 0])])
def test_unusual_frame_numbers_are_kept(tmp_path, capsys, pattern, numbers):
    frames = write_frames(tmp_path / "in", pattern, numbers)
    out = tmp_path / "out"
    status, io = run(["video", str(frames / pattern), "-o", str(out), *TINY], capsys)
    assert status == 0, io.err
    written = sorted(out.glob("layers.*.exr"))
    assert len(written) == len(numbers)
    for n in numbers:
        assert any(p.name in (f"layers.{n:04d}.exr", f"layers.{n}.exr") for p in written), n


def test_paths_with_spaces_and_non_ascii_letters(tmp_path, capsys):
    folder = tmp_path / "Shot 010 – Überstunden été"
    folder.mkdir()
    path = folder / "plate ünïcode.png"
    assert cv2.imwrite(str(path), plate_u8()) or path.write_bytes(
        cv2.imencode(".png", plate_u8())[1].tobytes())
    out = folder / "out dir"
    status, io = run(["segment", str(path), "-o", str(out), *TINY], capsys)
    assert status == 0, io.err
    assert (out / "layers.exr").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path, capsys):
    path = tmp_path / "plate.png"
    cv2.imwrite(str(path), plate_u8())
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        status, io = run(["segment", str(path), "-o", str(out), *TINY], capsys)
    finally:
        out.chmod(0o700)
    assert status == 2 and "locked" in one_error(io.err)


def test_read_only_output_folder_as_root_is_a_file_in_the_way(tmp_path, capsys):
    """Root ignores permission bits; a path that is a file stands in for the refusal."""
    path = tmp_path / "plate.png"
    cv2.imwrite(str(path), plate_u8())
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder")
    status, io = run(["segment", str(path), "-o", str(blocker / "out"), *TINY], capsys)
    assert status == 2 and "blocked" in one_error(io.err)


def test_full_disk_stops_with_one_line_and_no_partial_file(tmp_path):
    path = tmp_path / "plate.png"
    cv2.imwrite(str(path), plate_u8((96, 128)))
    out = tmp_path / "out"

    def small_files():
        # Writes past 20 kB fail with EFBIG, as on a full disk (ENOSPC) in spirit.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    # numpy: the OpenCL compiler's own cache writes would hit the limit first.
    done = subprocess.run([sys.executable, "-m", "sss_vfx.cli", "segment", str(path), "-o",
                           str(out), "--device", "numpy", *TINY], capture_output=True,
                          text=True,
                          preexec_fn=small_files, timeout=300)
    assert done.returncode == 2, done.stderr
    one_error(done.stderr)
    for leftover in out.iterdir():
        assert not leftover.name.startswith("."), f"temporary file left: {leftover.name}"
    if (out / "layers.exr").exists():
        read_layers_exr(out / "layers.exr")     # complete if present at all


def test_features_with_1000_channels(tmp_path, capsys):
    path = tmp_path / "plate.png"
    cv2.imwrite(str(path), plate_u8())
    _, alpha = two_region_image((32, 40))
    rng = np.random.default_rng(0)
    features = alpha[..., None] * rng.random(1000) + 0.05 * rng.random((32, 40, 1000))
    np.save(tmp_path / "features.npy", features.astype(np.float32))
    status, io = run(["segment", str(path), "--features", str(tmp_path / "features.npy"),
                      "-o", str(tmp_path / "out"), *TINY], capsys)
    assert status == 0, io.err


@pytest.mark.parametrize("extra", [[], ["--window", "8", "--overlap", "2"]])
def test_one_frame_shot_and_a_window_longer_than_the_shot(tmp_path, capsys, extra):
    count = 1 if not extra else 3
    frames = write_frames(tmp_path / "in", "plate.%04d.png", range(1001, 1001 + count))
    out = tmp_path / "out"
    status, io = run(["video", str(frames / "plate.%04d.png"), "-o", str(out), *TINY,
                      *extra], capsys)
    assert status == 0, io.err
    assert len(list(out.glob("layers.*.exr"))) == count


def test_preview_of_an_odd_sized_shot(tmp_path):
    """Odd sizes are padded for yuv420p: the preview holds every frame."""
    from sss_vfx.io.video import video_info
    path = tmp_path / "odd.mp4"
    assert write_preview_video(path, [np.zeros((31, 45, 3))] * 3, fps=24) == 3
    assert video_info(path).frame_count == 3
