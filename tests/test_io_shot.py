"""Opening shots: sequences, video files and arrays, with their features, checked up front."""

import cv2
import numpy as np
import pytest

from sss_vfx.errors import FeatureError, InputError, OptionError
from sss_vfx.io.shot import is_sequence_pattern, open_shot
from sss_vfx.io.video import write_preview_video


def write_frames(directory, numbers, size=(20, 24), name="plate.{:04d}.png"):
    for number in numbers:
        pixels = np.full(size + (3,), (number * 7) % 256, np.uint8)
        assert cv2.imwrite(str(directory / name.format(number)), pixels)


@pytest.mark.parametrize("text, expected", [
    ("shot.%04d.exr", True), ("shot.####.png", True), ("shot.%d.png", True),
    ("clip.mov", False), ("dir%04d/clip.mov", False)])
def test_sequence_patterns_are_recognised(text, expected):
    assert is_sequence_pattern(text) is expected


def test_sequence_frames_come_in_order_with_their_numbers(tmp_path):
    write_frames(tmp_path, [1003, 1001, 1002])
    shot = open_shot(str(tmp_path / "plate.%04d.png"))
    assert shot.numbers == [1001, 1002, 1003] and shot.total == 3
    got = [(n, float(p[0, 0, 0])) for n, p, f in shot.frames()]
    assert [n for n, _ in got] == [1001, 1002, 1003]
    assert got[1][1] == pytest.approx((1002 * 7 % 256) / 255, abs=1e-6)


def test_gaps_are_refused_before_reading_unless_allowed(tmp_path):
    write_frames(tmp_path, [1, 2, 4])
    with pytest.raises(InputError, match=r"missing 1 frame \(3\)"):
        open_shot(str(tmp_path / "plate.%04d.png"))
    shot = open_shot(str(tmp_path / "plate.%04d.png"), allow_missing=True)
    assert shot.numbers == [1, 2, 4] and shot.missing == [3]


def test_mixed_frame_sizes_name_the_first_offending_frame(tmp_path):
    write_frames(tmp_path, [1, 2])
    write_frames(tmp_path, [3], size=(20, 26))
    shot = open_shot(str(tmp_path / "plate.%04d.png"))
    with pytest.raises(InputError, match="frame 3 .* is 26x20 but frame 1 is 24x20"):
        list(shot.frames())


def test_frame_range_selects_frames_of_arrays():
    frames = [np.full((16, 16, 3), i / 10, np.float32) for i in range(5)]
    shot = open_shot(frames, start=100, frames=(101, 103))
    assert shot.numbers == [101, 102, 103]
    with pytest.raises(OptionError, match="reversed"):
        open_shot(frames, frames=(3, 1))


def test_video_numbers_start_where_asked_and_stop_at_the_range(tmp_path):
    clip = [np.full((32, 32, 3), i / 8, np.float32) for i in range(6)]
    write_preview_video(tmp_path / "c.mp4", clip, fps=25)
    shot = open_shot(str(tmp_path / "c.mp4"), start=1001, frames=(1002, 1004))
    assert shot.numbers == [1002, 1003, 1004] and shot.fps == 25
    assert [n for n, _, _ in shot.frames()] == [1002, 1003, 1004]


def test_features_must_cover_every_frame(tmp_path):
    write_frames(tmp_path, [1, 2, 3])
    feats = tmp_path / "f"
    feats.mkdir()
    write_frames(feats, [1, 2], name="feat.{:04d}.png")
    with pytest.raises(FeatureError, match="missing for 1 of 3 frames .*frame 3"):
        open_shot(str(tmp_path / "plate.%04d.png"), features=str(feats / "feat.%04d.png"))
    frames = [np.zeros((16, 16, 3), np.float32)] * 3
    with pytest.raises(FeatureError, match="2 feature arrays for 3 frames"):
        open_shot(frames, features=[np.zeros((16, 16, 3))] * 2)


def test_features_of_another_aspect_are_an_error_at_their_frame(tmp_path):
    frames = [np.zeros((16, 16, 3), np.float32)] * 2
    shot = open_shot(frames, features=[np.zeros((16, 16, 3)), np.zeros((16, 40, 3))])
    stream = shot.frames()
    next(stream)
    with pytest.raises(FeatureError, match="frame 1"):
        next(stream)
