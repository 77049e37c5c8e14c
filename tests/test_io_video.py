"""Video through PyAV: preview round trips, odd sizes, truncated files, refusals.

Codec tolerance, measured on flat colour blocks whose edges fall on even pixels (so
4:2:0 chroma subsampling does not blur them) with libx264 at CRF 18: the worst pixel
error was 0.0196 (5/255) and the mean 0.004 (1/255). The tests allow 8/255 per pixel
and 2/255 on average.
"""

import fractions

import numpy as np
import pytest

from sss_vfx.errors import InputError, OptionError
from sss_vfx.io.video import iter_video, video_info, write_preview_video

pytest.importorskip("av")

HEIGHT, WIDTH, COUNT = 32, 48, 12
MAX_ERROR = 8 / 255
MEAN_ERROR = 2 / 255


def colour_blocks(count=COUNT, height=HEIGHT, width=WIDTH):
    """Two flat blocks per frame split at an even column; the right one changes over time."""
    frames = []
    for index in range(count):
        frame = np.empty((height, width, 3), np.float32)
        frame[:, : width // 2] = (0.8, 0.2, 0.1)
        frame[:, width // 2:] = (0.1, 0.3, (index + 1) / count)
        frames.append(frame)
    return frames


def noise(count=COUNT):
    """Frames that do not compress, so each one holds a fair share of the file's bytes."""
    rng = np.random.default_rng(7)
    return [rng.random((HEIGHT, WIDTH, 3)).astype(np.float32) for _ in range(count)]


def test_round_trip_count_shape_and_colours(tmp_path):
    path = tmp_path / "preview.mp4"
    frames = colour_blocks()
    assert write_preview_video(path, frames, fps=24) == COUNT
    decoded = list(iter_video(path, start=1001))
    assert [n for n, _ in decoded] == list(range(1001, 1001 + COUNT))
    errors = []
    for (_, pixels), expected in zip(decoded, frames):
        assert pixels.shape == (HEIGHT, WIDTH, 3)
        assert pixels.dtype == np.float32
        assert 0.0 <= pixels.min() and pixels.max() <= 1.0
        errors.append(np.abs(pixels - expected))
    errors = np.stack(errors)
    assert errors.max() <= MAX_ERROR
    assert errors.mean() <= MEAN_ERROR
    assert not list(tmp_path.glob(".*sss-tmp*"))


def test_video_info(tmp_path):
    path = tmp_path / "preview.mp4"
    write_preview_video(path, colour_blocks(count=3), fps=23.976)
    info = video_info(path)
    assert (info.width, info.height, info.frame_count) == (WIDTH, HEIGHT, 3)
    assert info.frame_rate == fractions.Fraction(24000, 1001)
    assert isinstance(info.time_base, fractions.Fraction)
    assert info.codec in ("h264", "mpeg4")


def test_odd_dimensions_are_padded_to_even(tmp_path):
    path = tmp_path / "odd.mp4"
    frames = [np.full((17, 21, 3), 0.5, np.float32)] * 2
    write_preview_video(path, frames, fps=25)
    info = video_info(path)
    assert (info.width, info.height) == (22, 18)
    for _, pixels in iter_video(path):
        assert pixels.shape == (18, 22, 3)
        assert np.abs(pixels - 0.5).max() <= MAX_ERROR  # the pad repeats the edge


def test_uint8_frames_are_accepted(tmp_path):
    path = tmp_path / "bytes.mp4"
    write_preview_video(path, [np.full((HEIGHT, WIDTH, 3), 128, np.uint8)] * 2, fps=24)
    assert len(list(iter_video(path))) == 2


def test_truncated_file_yields_frames_then_names_the_failing_frame(tmp_path):
    path = tmp_path / "whole.mp4"
    write_preview_video(path, noise(), fps=24)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(InputError, match=r"cut\.mp4") as caught:
        for number, _ in iter_video(cut, start=100):
            seen.append(number)
    assert seen == list(range(100, 100 + len(seen)))
    assert len(seen) < COUNT
    if seen:  # FFmpeg decoded up to the cut: the error names the next frame
        assert f"frame {100 + len(seen)}" in str(caught.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(iter_video(tmp_path / "absent.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match="junk.mp4"):
        list(iter_video(junk))
    with pytest.raises(InputError, match="junk.mp4"):
        video_info(junk)


def test_bad_preview_input_leaves_no_file(tmp_path):
    path = tmp_path / "bad.mp4"
    with pytest.raises(OptionError, match="no frames"):
        write_preview_video(path, [], fps=24)
    with pytest.raises(OptionError, match="frame 1 is 48x30 but frame 0 is 48x32"):
        write_preview_video(path, [np.zeros((32, 48, 3))] * 1 + [np.zeros((30, 48, 3))], fps=24)
    with pytest.raises(OptionError, match="fps"):
        write_preview_video(path, colour_blocks(count=1), fps=0)
    assert list(tmp_path.iterdir()) == []
