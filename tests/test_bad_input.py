"""Bad input on the command line: one line, exit 2, nothing written; the output-folder
policy of ``segment``; messages that say what is wrong."""

import cv2
import numpy as np
import OpenEXR
import pytest
from _cli import run_in_process as cli

from sss_vfx.cli.video import parse_frame_range
from sss_vfx.errors import OptionError
from sss_vfx.io.images import read_image
from sss_vfx.io.shot import open_shot
from sss_vfx.options import MIN_MAX_PIXELS, SegmentationOptions
from sss_vfx.pipeline.limits import check_eigenvectors
from sss_vfx.data import two_region_image

TINY = ["--eigenvectors", "10", "--initial-segments", "6", "--superpixels", "40"]


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    path = tmp_path_factory.mktemp("plate") / "plate.png"
    image, _ = two_region_image((32, 40), seed=2)
    assert cv2.imwrite(str(path), (image[..., ::-1] * 255).round().astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def nan_exr(tmp_path_factory):
    path = tmp_path_factory.mktemp("exr") / "nan.exr"
    red = np.full((32, 40), 0.5, np.float32)
    red[3, 4] = np.nan
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"R": red, "G": red * 0 + 0.2, "B": red * 0 + 0.1}).write(str(path))
    return path


@pytest.mark.parametrize("text", ["10-2", "abc", "5-", "", "1-2-3", "1.5"])
def test_bad_frame_ranges_are_one_line_and_write_nothing(text, plate, tmp_path, capsys):
    out = tmp_path / "out"
    status, _, err = cli(["video", plate, "-o", out, f"--frames={text}"], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("sss-vfx: error: --frames"), err
    assert ("reversed" if text == "10-2" else "FIRST-LAST") in err
    assert not out.exists()


@pytest.mark.parametrize("text, pair", [("1001-1100", (1001, 1100)), ("7", (7, 7)),
                                        ("-5--1", (-5, -1)), (" 3 - 9 ", (3, 9)),
                                        ("-2-2", (-2, 2))])
def test_frame_ranges(text, pair):
    assert parse_frame_range(text) == pair


def test_an_exr_with_nan_is_refused_by_video_as_by_segment(nan_exr, tmp_path, capsys):
    lines = []
    for command in ("segment", "video"):
        out = tmp_path / command
        status, _, err = cli([command, nan_exr, "-o", out], capsys)
        assert status == 2 and "NaN" in err and err.count("\n") == 1, err
        assert not out.exists()
        lines.append(err)
    assert lines[0] == lines[1]


def test_one_image_is_a_one_frame_shot_read_as_a_still(plate):
    shot = open_shot(str(plate), start=12)
    (number, pixels, _), = list(shot.frames())
    assert shot.numbers == [12] and shot.total == 1 and number == 12
    np.testing.assert_array_equal(pixels, read_image(plate).pixels)
    with pytest.raises(Exception, match="does not hold"):
        open_shot(str(plate), frames=(1, 5))


def test_segment_refuses_an_empty_output_name(plate, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in ("segment", "video"):
        status, _, err = cli([command, plate, "-o", "", *TINY], capsys)
        assert status == 2 and "empty" in err and "-o" in err, err
    assert list(tmp_path.iterdir()) == []


def test_segment_creates_no_folder_for_an_unreadable_input(plate, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    for args in ([tmp_path / "missing.png"], [broken],
                 [plate, "--features", tmp_path / "missing.npy"]):
        status, _, err = cli(["segment", *args, "-o", tmp_path / "out"], capsys)
        assert status == 2 and err.count("\n") == 1, err
        assert not (tmp_path / "out").exists()


def test_segment_refuses_another_runs_folder_unless_forced(plate, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(["segment", plate, "-o", out, "--layers", "3", *TINY], capsys)[0] == 0
    assert (out / "sss_layer03.png").exists()
    # The same command again is the same run: allowed.
    assert cli(["segment", plate, "-o", out, "--layers", "3", *TINY], capsys)[0] == 0
    before = sorted(p.name for p in out.iterdir())
    status, _, err = cli(["segment", plate, "-o", out, "--layers", "2", *TINY], capsys)
    assert status == 2 and "another input or other parameters" in err
    assert "--force" in err and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == before
    status, _, err = cli(["segment", plate, "-o", out, "--layers", "2", "--force", *TINY],
                         capsys)
    assert status == 0, err
    assert sorted(p.name for p in out.glob("sss_layer*.png")) == [
        "sss_layer01.png", "sss_layer02.png"]


def test_segment_refuses_results_without_a_manifest(plate, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "layers.exr").write_bytes(b"someone's work")
    status, _, err = cli(["segment", plate, "-o", out, *TINY], capsys)
    assert status == 2 and "no manifest.json" in err and "--force" in err
    assert (out / "layers.exr").read_bytes() == b"someone's work"


def test_too_many_eigenvectors_are_named_with_the_pixel_count(plate, tmp_path, capsys):
    for command in ("segment", "video"):
        status, _, err = cli([command, plate, "-o", tmp_path / command,
                              "--eigenvectors", "100000"], capsys)
        assert status == 2 and err.count("\n") == 1, err
        assert "--eigenvectors=100000" in err and "1280 pixels" in err
        assert "memory" not in err


def test_check_eigenvectors_refuses_only_what_the_image_cannot_give():
    opts = SegmentationOptions(eigenvectors=1278)
    check_eigenvectors(opts, (32, 40))                      # 1280 pixels: 1278 fit
    with pytest.raises(OptionError, match="at most 1278"):
        check_eigenvectors(opts.with_overrides(eigenvectors=1279), (32, 40))
    # The working image, not the plate, is what counts.
    with pytest.raises(OptionError, match=f"{MIN_MAX_PIXELS} pixels"):
        check_eigenvectors(SegmentationOptions(eigenvectors=5000,
                                               max_pixels=MIN_MAX_PIXELS), (320, 320))
    # A tiny image keeps lowering the count as before.
    check_eigenvectors(SegmentationOptions(eigenvectors=100), (8, 8))


def test_a_folder_given_as_the_image_says_an_image_file(tmp_path, capsys):
    status, _, err = cli(["segment", tmp_path, "-o", tmp_path / "out"], capsys)
    assert status == 2 and "give an image file" in err


@pytest.mark.parametrize("command", ["segment", "video", "devices"])
def test_an_unknown_flag_shows_the_sub_commands_usage(command, plate, tmp_path, capsys):
    args = [command, "--bogus"] + ([] if command == "devices" else [plate, "-o", tmp_path])
    status, _, err = cli(args, capsys)
    assert status == 2
    assert f"usage: sss-vfx {command}" in err
    assert err.strip().endswith("unrecognized arguments: --bogus")


def test_max_pixels_help_states_its_minimum(capsys):
    _, out, _ = cli(["segment", "--help"], capsys)
    text = " ".join(out.split())
    start = text.rindex("--max-pixels N ")    # the help, not the usage
    assert f"at least {MIN_MAX_PIXELS}" in text[start:start + 400]
