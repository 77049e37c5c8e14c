"""Video files through PyAV: decoded frames in, preview MP4s out.

Frames are the working image, ``(H, W, 3)`` float32 display-referred RGB in [0, 1],
numbered from a caller-chosen start. FFmpeg errors are wrapped at this boundary as
:class:`~sss_vfx.errors.InputError` (reading) or :class:`~sss_vfx.errors.OutputError`
(writing), naming the file and, when decoding, the frame where it failed.

PyAV is imported when a function here is called, so the rest of the package works
without it.
"""

import dataclasses
import fractions

import numpy as np

from sss_vfx.errors import InputError, OptionError, OutputError
from sss_vfx.io.atomic import atomic_path
from sss_vfx.io.images import require_file

__all__ = ["VideoInfo", "iter_video", "video_info", "write_preview_video"]

PREFERRED_ENCODERS = ("libx264", "mpeg4")
X264_CRF = "18"
MPEG4_BIT_RATE = 8_000_000


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file's first video stream says about itself.

    Attributes
    ----------
    path : str
        The file.
    width, height : int
        Frame size in pixels.
    frame_count : int or None
        Number of frames the container declares, or None when it does not say.
    frame_rate : fractions.Fraction or None
        Frames per second (average, else guessed), or None when unknown.
    time_base : fractions.Fraction or None
        The stream's time base: one pts unit in seconds.
    codec : str
        The decoder's name, e.g. ``'h264'``.
    """

    path: str
    width: int
    height: int
    frame_count: int | None
    frame_rate: fractions.Fraction | None
    time_base: fractions.Fraction | None
    codec: str


def video_info(path):
    """Describe the first video stream of a file without decoding it.

    Parameters
    ----------
    path : str or os.PathLike
        A video file FFmpeg can open (MP4, MOV, MKV, ...).

    Returns
    -------
    VideoInfo

    Raises
    ------
    InputError
        If the file is missing, cannot be opened, or has no video stream.

    Examples
    --------
    >>> info = video_info("plate.mov")  # doctest: +SKIP
    >>> info.width, info.height, info.frame_rate  # doctest: +SKIP
    (1920, 1080, Fraction(24000, 1001))
    """
    av = _import_av()
    path = require_file(path, what="video")
    with _open_for_reading(av, path) as container:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=str(path),
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            frame_count=int(stream.frames) or None,
            frame_rate=fractions.Fraction(rate) if rate else None,
            time_base=fractions.Fraction(stream.time_base) if stream.time_base else None,
            codec=stream.codec_context.name,
        )


def iter_video(path, start=0):
    """Decode a video file frame by frame as working images.

    Parameters
    ----------
    path : str or os.PathLike
        A video file FFmpeg can open.
    start : int, optional
        The number given to the first decoded frame (e.g. a plate's first frame).

    Yields
    ------
    frame_number : int
        ``start`` plus the frame's index in decoding (presentation) order.
    pixels : ndarray, shape (H, W, 3), float32
        RGB in [0, 1], converted from the stream's pixel format by FFmpeg.

    Raises
    ------
    InputError
        If the file is missing, cannot be opened or has no video stream; or, after the
        frames decoded before it have been yielded, when decoding fails, naming the
        frame number where it failed; or when the stream ends before the frame count
        its container declares (a truncated file).

    Examples
    --------
    >>> for number, pixels in iter_video("plate.mp4", start=1001):  # doctest: +SKIP
    ...     print(number, pixels.shape)
    1001 (1080, 1920, 3)
    """
    av = _import_av()
    path = require_file(path, what="video")
    with _open_for_reading(av, path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        declared = int(stream.frames)
        frames = container.decode(stream)
        index = 0
        while True:
            try:
                frame = next(frames)
                pixels = frame.to_ndarray(format="rgb24")
            except StopIteration:
                break
            except av.FFmpegError as exc:
                raise InputError(
                    f"cannot decode {path} at frame {start + index} (index {index}): "
                    f"{_reason(exc)}; the file is damaged, re-export or re-transfer it"
                ) from exc
            yield start + index, pixels.astype(np.float32) / np.float32(255.0)
            index += 1
        if declared and index < declared:
            raise InputError(
                f"{path} ended at frame {start + index} (index {index}) but declares "
                f"{declared} frames; the file is truncated, re-export or re-transfer it"
            )


def write_preview_video(path, frames, fps):
    """Encode frames as an H.264 (or MPEG-4 Part 2) yuv420p MP4, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.mp4`` file to write; its directory must exist. It is replaced only once
        the encoder has been flushed and the file closed.
    frames : iterable of ndarray, each shape (H, W, 3)
        Float RGB in [0, 1] (clipped) or uint8, all the same size. An odd width or
        height is padded by repeating the last column or row, as yuv420p needs even
        sizes.
    fps : int, float or fractions.Fraction
        Frame rate; a float such as 23.976 is turned into a nearby fraction.

    Returns
    -------
    int
        The number of frames written.

    Raises
    ------
    OptionError
        If `fps` is not positive, there are no frames, or a frame has the wrong shape,
        dtype or size.
    OutputError
        If FFmpeg cannot encode or write the file.

    Examples
    --------
    >>> write_preview_video("out/preview.mp4", previews, fps=24)  # doctest: +SKIP
    48
    """
    av = _import_av()
    rate = _frame_rate(fps)
    final = str(path)
    with atomic_path(final) as tmp:
        try:
            count = _encode(av, tmp, frames, rate, final)
        except av.FFmpegError as exc:
            raise OutputError(
                f"cannot write {final}: {_reason(exc)}; check free disk space and the "
                "directory's permissions"
            ) from exc
        if count == 0:
            raise OptionError(
                f"no frames were given to write_preview_video for {final}; pass at least one"
            )
    return count


def _encode(av, tmp, frames, rate, final):
    codec = _encoder_name(av)
    count = 0
    size = None
    # faststart puts the index first: players start at once, and a cut-short copy
    # still opens and decodes up to the cut.
    with av.open(str(tmp), mode="w", format="mp4",
                 options={"movflags": "+faststart"}) as container:
        stream = None
        for frame in frames:
            rgb = _as_uint8_rgb(frame, count)
            if size is None:
                size = rgb.shape[:2]
                stream = _add_stream(container, codec, rate, *_even(size))
            elif rgb.shape[:2] != size:
                raise OptionError(
                    f"preview frame {count} is {rgb.shape[1]}x{rgb.shape[0]} but frame 0 "
                    f"is {size[1]}x{size[0]}; give frames of one size"
                )
            video_frame = av.VideoFrame.from_ndarray(_pad_even(rgb), format="rgb24")
            video_frame = video_frame.reformat(format="yuv420p")
            video_frame.pts = count
            video_frame.time_base = stream.codec_context.time_base
            container.mux(stream.encode(video_frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return count


def _add_stream(container, codec, rate, height, width):
    stream = container.add_stream(codec, rate=rate)
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    # One pts unit per frame: pts are the frame indices.
    stream.codec_context.time_base = 1 / rate
    if codec == "libx264":
        stream.options = {"crf": X264_CRF, "preset": "medium"}
    else:
        stream.bit_rate = MPEG4_BIT_RATE
    return stream


def _encoder_name(av):
    for name in PREFERRED_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except ValueError:  # UnknownCodecError: this FFmpeg build lacks the encoder.
            pass
        else:
            return name
    raise OutputError(
        "this FFmpeg build has neither the libx264 nor the mpeg4 encoder; "
        "install PyAV from its official wheels"
    )


def _as_uint8_rgb(frame, index):
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise OptionError(
            f"preview frame {index} has shape {array.shape}; pass (H, W, 3) RGB frames"
        )
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise OptionError(
            f"preview frame {index} has dtype {array.dtype}; pass float in [0, 1] or uint8"
        )
    scaled = np.rint(np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0) * 255.0)
    return scaled.astype(np.uint8)


def _even(size):
    height, width = size
    return height + height % 2, width + width % 2


def _pad_even(rgb):
    height, width = rgb.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return np.ascontiguousarray(rgb)
    return np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def _frame_rate(fps):
    try:
        rate = fractions.Fraction(fps).limit_denominator(1001 * 1000)
    except (TypeError, ValueError):
        rate = None
    if rate is None or rate <= 0:
        raise OptionError(f"fps={fps!r} is not a positive frame rate; pass e.g. 24 or 23.976")
    if isinstance(fps, float):
        # 23.976 -> 24000/1001: the NTSC rates are what float frame rates mean.
        ntsc = fractions.Fraction(round(fps * 1.001) * 1000, 1001)
        if abs(float(ntsc) - fps) < 1e-3:
            rate = ntsc
    return rate


def _open_for_reading(av, path):
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise InputError(
            f"cannot open video {path}: {_reason(exc)}; check that it is a complete "
            "video file FFmpeg can read"
        ) from exc


def _video_stream(container, path):
    if not container.streams.video:
        raise InputError(f"{path} has no video stream; give a video file")
    return container.streams.video[0]


def _reason(exc):
    return getattr(exc, "strerror", None) or str(exc)


def _import_av():
    # Imported when a video is first read or written (~70 ms), with one clear error when
    # PyAV is missing.
    try:
        import av
    except ImportError as exc:
        raise InputError(
            "reading or writing video needs PyAV; install it with 'pip install av'"
        ) from exc
    return av
