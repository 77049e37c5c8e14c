"""Numbered image sequences: finding frames, gaps, ranges, patterns and size checks."""

import cv2
import numpy as np
import pytest

from sss_vfx.errors import InputError, OptionError
from sss_vfx.io.sequence import find_sequence, iter_sequence, require_complete


def write_frames(directory, numbers, *, name="shot.{:04d}.png", size=(16, 20)):
    """Write 8-bit grey-level frames whose value encodes the frame number."""
    for number in numbers:
        pixels = np.full(size + (3,), number % 256, np.uint8)
        assert cv2.imwrite(str(directory / name.format(number)), pixels)


def test_finds_sorted_frames_and_paths(tmp_path):
    write_frames(tmp_path, [1003, 1001, 1002])
    info = find_sequence(tmp_path / "shot.%04d.png")
    assert info.frames == [1001, 1002, 1003]
    assert info.paths == [str(tmp_path / f"shot.{n}.png") for n in (1001, 1002, 1003)]
    assert info.missing == []
    require_complete(info)


def test_hashes_are_zero_padded_width(tmp_path):
    write_frames(tmp_path, [7, 8, 9])
    write_frames(tmp_path, [10], name="shot.{:03d}.png")  # not what #### writes
    info = find_sequence(str(tmp_path / "shot.####.png"))
    assert info.frames == [7, 8, 9]
    assert info.paths[0].endswith("shot.0007.png")


def test_unpadded_field_and_wide_numbers(tmp_path):
    write_frames(tmp_path, [9, 10, 11], name="shot_{}.png")
    assert find_sequence(tmp_path / "shot_%d.png").frames == [9, 10, 11]
    write_frames(tmp_path, [9999, 10000], name="wide.{:04d}.png")
    assert find_sequence(tmp_path / "wide.%04d.png").frames == [9999, 10000]


def test_gaps_are_missing_and_refused_by_name(tmp_path):
    write_frames(tmp_path, [1, 2, 5, 7])
    info = find_sequence(tmp_path / "shot.%04d.png")
    assert info.frames == [1, 2, 5, 7]
    assert info.missing == [3, 4, 6]
    with pytest.raises(InputError, match=r"missing 3 frames \(3, 4, 6\).*--allow-missing"):
        require_complete(info)


def test_many_missing_frames_are_abbreviated(tmp_path):
    write_frames(tmp_path, [1, 40])
    with pytest.raises(InputError, match=r"missing 38 frames \(2, 3, .*11, \.\.\.\)"):
        require_complete(find_sequence(tmp_path / "shot.%04d.png"))


def test_frame_range_filters_and_reports_missing_ends(tmp_path):
    write_frames(tmp_path, range(1, 11))
    info = find_sequence(tmp_path / "shot.%04d.png", frames=(3, 5))
    assert info.frames == [3, 4, 5]
    assert info.missing == []
    info = find_sequence(tmp_path / "shot.%04d.png", frames=(8, 13))
    assert info.frames == [8, 9, 10]
    assert info.missing == [11, 12, 13]


def test_no_matching_file_is_an_input_error(tmp_path):
    write_frames(tmp_path, [1, 2])
    with pytest.raises(InputError, match="no files match"):
        find_sequence(tmp_path / "other.%04d.png")
    with pytest.raises(InputError, match="in frames 5-9"):
        find_sequence(tmp_path / "shot.%04d.png", frames=(5, 9))
    with pytest.raises(InputError, match="does not exist"):
        find_sequence(tmp_path / "nowhere" / "shot.%04d.png")


@pytest.mark.parametrize("pattern", ["shot.png", "shot.%04d.%04d.png", "shot.%4d.png"])
def test_bad_patterns_are_refused(tmp_path, pattern):
    with pytest.raises(InputError, match="sequence pattern"):
        find_sequence(tmp_path / pattern)


def test_reversed_range_is_an_option_error(tmp_path):
    write_frames(tmp_path, [1])
    with pytest.raises(OptionError, match="reversed"):
        find_sequence(tmp_path / "shot.%04d.png", frames=(5, 1))


def test_iter_sequence_reads_frames_in_order(tmp_path):
    write_frames(tmp_path, [3, 1, 2])
    read = list(iter_sequence(find_sequence(tmp_path / "shot.%04d.png")))
    assert [n for n, _ in read] == [1, 2, 3]
    for number, image in read:
        assert image.pixels.shape == (16, 20, 3)
        assert image.pixels.dtype == np.float32
        np.testing.assert_allclose(image.pixels, number / 255.0, atol=1e-6)


def test_mixed_sizes_name_the_offending_frame(tmp_path):
    write_frames(tmp_path, [1, 2])
    write_frames(tmp_path, [3], size=(18, 20))
    info = find_sequence(tmp_path / "shot.%04d.png")
    seen = []
    with pytest.raises(InputError, match=r"frame 3 .* is 20x18 but frame 1 is 20x16"):
        for number, _ in iter_sequence(info):
            seen.append(number)
    assert seen == [1, 2]
