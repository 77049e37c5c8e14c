"""A shot to segment: an image sequence, a video file, a single image, or frames already
in memory.

:func:`open_shot` checks what can be checked before any work starts (the files exist,
no frame is missing unless allowed, the frame range, the features match the frames)
and gives a :class:`Shot` whose :meth:`Shot.frames` streams ``(number, plate,
features)`` one frame at a time.
"""

import dataclasses
import fractions
import os

import numpy as np

from sss_vfx import colour
from sss_vfx.errors import FeatureError, InputError, OptionError
from sss_vfx.io.features import check_features, read_features
from sss_vfx.io.images import (SUPPORTED_EXTENSIONS, ImageData, as_working_image,
                               read_image)
from sss_vfx.io.plates import PlateHeader
from sss_vfx.io.sequence import find_sequence, iter_sequence, require_complete
from sss_vfx.io.video import iter_video, video_info

__all__ = ["PlateStore", "Shot", "is_sequence_pattern", "open_shot"]

#: Frames whose values a store keeps at most (the frames in flight in a window).
VALUES_KEPT = 32


class PlateStore:
    """Each frame's own values and :class:`~sss_vfx.io.plates.PlateHeader` between its
    reading and its outputs.

    Values are kept only where they differ from the working copy (scene-linear, log
    plates), taken once, and at most :data:`VALUES_KEPT` frames of them; headers
    (small) are kept for every frame.
    """

    def __init__(self):
        self._values = {}
        self.headers = {}

    def keep(self, number, image):
        """Keep the values and header of `image` (an ImageData) for frame `number`."""
        self.headers[number] = image.header
        if image.values is not None and not np.array_equal(image.values, image.pixels):
            self.keep_values(number, image.values)

    def keep_values(self, number, values):
        """Keep frame `number`'s own values ``(H, W, 3)`` for its layer colours."""
        self._values[number] = values
        while len(self._values) > VALUES_KEPT:
            self._values.pop(next(iter(self._values)))

    def take_values(self, number, plate):
        """Frame `number`'s values (removed from the store), else `plate`."""
        return self._values.pop(number, plate)

    def header(self, number):
        """Frame `number`'s PlateHeader, or None (video files, arrays)."""
        return self.headers.get(number)


#: Preview frame rate of sequences and in-memory frames, which carry none.
DEFAULT_FPS = fractions.Fraction(24)


def is_sequence_pattern(text):
    """Whether ``text`` names a numbered sequence (``%04d``, ``%d`` or ``####``)."""
    name = os.path.basename(str(text))
    return "#" in name or ("%" in name and "d" in name.split("%", 1)[1])


@dataclasses.dataclass
class Shot:
    """The frames of a shot, checked, not yet read.

    Attributes
    ----------
    description : str
        The source as a user named it.
    kind : {'sequence', 'video', 'image', 'arrays'}
    numbers : list of int or None
        Frame numbers that will be read, in order; None for a video file that does
        not declare its length.
    fps : fractions.Fraction
        Frame rate for the preview (24 for sequences and arrays).
    missing : list of int
        Frame numbers skipped because their files are absent (``allow_missing``).
    plates : PlateStore
        Each frame's own values and header, kept from its reading until its layer
        colours and files are made.
    """

    description: str
    kind: str
    numbers: object
    fps: fractions.Fraction
    missing: list
    _read: object
    _features: object
    plates: object = dataclasses.field(default_factory=lambda: PlateStore())

    def values(self, number, plate):
        """Frame `number`'s own values (its colour space), for its layer colours: taken
        from :attr:`plates` (once), else `plate`, the working copy."""
        return self.plates.take_values(number, plate)

    @property
    def total(self):
        """Frames to read, or None when unknown."""
        return None if self.numbers is None else len(self.numbers)

    def frames(self):
        """Yield ``(number, plate, features)`` in frame order.

        ``plate`` is ``(H, W, 3)`` float32 in [0, 1]; ``features`` the raw
        ``(H', W', C)`` features of that frame, or None. Raises InputError naming the
        frame where decoding fails or whose size differs from the first frame's.
        """
        size = None
        for number, plate in self._read():
            if size is None:
                size = (number, plate.shape[:2])
            elif plate.shape[:2] != size[1]:
                raise InputError(
                    f"frame {number} of {self.description} is {plate.shape[1]}x"
                    f"{plate.shape[0]} but frame {size[0]} is {size[1][1]}x{size[1][0]}; "
                    "all frames of a shot must have one size")
            yield number, plate, (None if self._features is None
                                  else self._features(number, plate))

    @property
    def has_features(self):
        """Whether :meth:`frames` gives each frame a semantic input besides its plate."""
        return self._features is not None

    def with_features(self, reader):
        """This shot with ``reader(number, plate)`` giving each frame's semantic input
        (its guides, a network's features) in place of its own features."""
        return dataclasses.replace(self, _features=reader)

    def subset(self, numbers):
        """This shot's frames ``numbers`` only (decoding stops after the last).

        Parameters
        ----------
        numbers : iterable of int
            Frame numbers of this shot.

        Returns
        -------
        Shot
        """
        wanted = set(numbers)
        last, read = max(wanted), self._read

        def frames():
            for number, plate in read():
                if number in wanted:
                    yield number, plate
                if number >= last:
                    return

        return dataclasses.replace(self, numbers=sorted(wanted), _read=frames)


def open_shot(source, *, frames=None, start=0, features=None, allow_missing=False,
              plate=None):
    """Check a shot and its features before any work starts.

    Parameters
    ----------
    source : str, os.PathLike or sequence of (H, W, 3) arrays
        A video file FFmpeg decodes, an image-sequence pattern
        (``plates/shot.%04d.exr`` or ``plates/shot.####.exr``), one image file (a
        one-frame shot, read and checked as a still is), or frames in memory.
    frames : (int, int), optional
        ``(first, last)`` inclusive frame numbers to process.
    start : int, optional
        Number of the first frame of a video file or of in-memory frames.
    features : str, os.PathLike or sequence of arrays, optional
        Per-frame features: a sequence pattern numbered like the frames, or arrays,
        one per frame.
    allow_missing : bool, optional
        Process the frames of a sequence that exist instead of refusing gaps.
    plate : PlateOptions, optional
        Colour space, OCIO config, working view and EXR part of image files
        (:class:`~sss_vfx.options.PlateOptions`).

    Returns
    -------
    Shot

    Raises
    ------
    InputError
        Missing files, a sequence with gaps (unless allowed), an empty range.
    FeatureError
        Features missing for some frames, or more feature arrays than frames.
    OptionError
        A reversed frame range.
    """
    if isinstance(source, (str, os.PathLike)):
        if is_sequence_pattern(source):
            shot = _sequence_shot(str(source), frames, allow_missing, plate)
        elif os.path.splitext(str(source))[1].lower() in SUPPORTED_EXTENSIONS:
            shot = _image_shot(str(source), frames, start, plate)
        else:
            shot = _video_shot(str(source), frames, start, plate)
    else:
        shot = _array_shot(source, frames, start)
    shot._features = _feature_reader(features, shot)
    return shot


def _in_range(frames):
    if frames is None:
        return lambda number: True
    first, last = frames
    if first > last:
        raise OptionError(f"frame range {first}-{last} is reversed; pass FIRST-LAST with "
                          "FIRST <= LAST")
    return lambda number: first <= number <= last


def _sequence_shot(pattern, frames, allow_missing, plate):
    info = find_sequence(pattern, frames)
    if not allow_missing:
        require_complete(info)
    # The first frame read now: a bad colour space, config or part is refused before
    # any output (and the frame rate its header says is the shot's).
    first = read_image(info.paths[0], plate=plate)
    store = PlateStore()

    def read():
        for number, image in iter_sequence(info, plate=plate):
            store.keep(number, image)
            yield number, image.pixels

    return Shot(description=pattern, kind="sequence", numbers=list(info.frames),
                fps=first.header.fps or DEFAULT_FPS, missing=list(info.missing),
                _read=read, _features=None, plates=store)


def _video_shot(path, frames, start, plate):
    info = video_info(path)
    convert = _movie_colour(plate)
    store = PlateStore()
    wanted = _in_range(frames)
    numbers = None
    if info.frame_count:
        numbers = [n for n in range(start, start + info.frame_count) if wanted(n)]
        if not numbers:
            raise InputError(f"{path} holds frames {start}-{start + info.frame_count - 1}; "
                             f"the range {frames[0]}-{frames[1]} has none of them")
    last = frames[1] if frames is not None else None

    def read():
        for number, pixels in iter_video(path, start=start):
            if last is not None and number > last:
                return
            if wanted(number):
                if convert is not None:
                    image = convert(pixels, path)
                    store.keep(number, image)
                    pixels = image.pixels
                yield number, pixels

    return Shot(description=path, kind="video", numbers=numbers,
                fps=info.frame_rate or DEFAULT_FPS, missing=[], _read=read, _features=None,
                plates=store)


def _movie_colour(plate):
    """For a movie file (decoded to 8-bit RGB) whose colour space, working view or
    layers' colour space is given: a function (pixels, path) -> ImageData with the OCIO
    working copy; else None (the decoded pixels are the working copy, sRGB)."""
    if plate is None or (plate.colorspace is None and plate.working_view is None
                         and plate.layers_colorspace is None):
        return None
    config = colour.load_config(plate.ocio)
    colour.check_working_view(config, plate.working_view)
    space = (colour.resolve_colour_space(config, plate.colorspace)
             if plate.colorspace is not None else colour.srgb_space(config))
    layers_space = space if plate.layers_colorspace is None else \
        colour.resolve_colour_space(config, plate.layers_colorspace,
                                    what="--layers-colorspace")

    def convert(pixels, path):
        working = colour.to_working(pixels, config, space, working_view=plate.working_view)
        return ImageData(pixels=working, path=path, source_kind="8-bit", had_alpha=False,
                         was_gray=False,
                         values=colour.convert(pixels, config, space, layers_space),
                         colour_space=str(space),
                         header=PlateHeader(colour_space=str(layers_space)))

    return convert


def _image_shot(path, frames, start, plate):
    """One image file: the checks of a still (:func:`~sss_vfx.io.images.read_image`)."""
    image = read_image(path, plate=plate)
    if not _in_range(frames)(start):
        raise InputError(f"{path} is one frame, numbered {start}; the range "
                         f"{frames[0]}-{frames[1]} does not hold it")
    store = PlateStore()

    def read():
        store.keep(start, image)
        yield start, image.pixels

    return Shot(description=path, kind="image", numbers=[start], fps=DEFAULT_FPS,
                missing=[], _read=read, _features=None, plates=store)


def _array_shot(arrays, frames, start):
    arrays = list(arrays)
    if not arrays:
        raise InputError("no frames given; pass a video file, a sequence pattern or a "
                         "list of (H, W, 3) images")
    wanted = _in_range(frames)
    chosen = [(start + i, a) for i, a in enumerate(arrays) if wanted(start + i)]
    if not chosen:
        raise InputError("the frame range holds none of the given frames")

    store = PlateStore()

    def read():
        for number, array in chosen:
            # A frame object that knows its own values (the OpenFX server's scene-linear
            # frames) has its layer colours made in them, as a file's are.
            values = getattr(array, "plate_values", None)
            values = values() if values is not None else None
            if values is not None:
                store.keep_values(number, values)
            yield number, as_working_image(array)

    return Shot(description=f"{len(arrays)} frames in memory", kind="arrays",
                numbers=[n for n, _ in chosen], fps=DEFAULT_FPS, missing=[], _read=read,
                _features=None, plates=store)


def _feature_reader(features, shot):
    """A function (number, plate) -> raw features, checked up front; None without
    features."""
    if features is None:
        return None
    if isinstance(features, (str, os.PathLike)):
        if not is_sequence_pattern(features):
            raise FeatureError(f"video features must be a numbered sequence such as "
                               f"feats/%04d.png, one file per frame; got {features}")
        try:
            info = find_sequence(str(features))
        except InputError as exc:
            raise FeatureError(str(exc)) from exc
        paths = dict(zip(info.frames, info.paths))
    else:
        arrays = list(features)
        if shot.numbers is not None and len(arrays) != len(shot.numbers):
            raise FeatureError(f"{len(arrays)} feature arrays for {len(shot.numbers)} "
                               "frames; give one per frame")
        first = shot.numbers[0] if shot.numbers else 0
        paths = {first + i: a for i, a in enumerate(arrays)}
    if shot.numbers is not None:
        absent = [n for n in shot.numbers if n not in paths]
        if absent:
            raise FeatureError(
                f"features are missing for {len(absent)} of {len(shot.numbers)} frames "
                f"(first: frame {absent[0]}); give one feature file per frame, numbered "
                "like the frames")

    def read(number, plate):
        shape = plate.shape[:2]
        if number not in paths:
            raise FeatureError(f"no features for frame {number}; give one feature file "
                               "per frame, numbered like the frames")
        raw = paths[number]
        raw = read_features(raw) if not isinstance(raw, np.ndarray) else raw
        return check_features(raw, shape, source=f"features of frame {number}")

    return read
