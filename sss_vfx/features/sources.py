"""The semantic inputs of a run, per frame: guides, the person model, a feature network.

A run takes at most one kind of semantic input besides the plate:

* **features**: a feature map from a file (the paper's route) or computed by a network
  file (``feature_model``);
* **guides**: rough per-object mattes (roto, ID passes, Cryptomatte), the built-in
  person model (``features='person'``, a guide named ``'person'``), or both. Guides
  fix the layers: one per object, in the guides' order, then the rest of the frame.

For a shot, what a model computes for a frame (the person's mask, a network's
features) can be cached in a folder, so that a resumed run reads it back instead of
running the model again. Values go through float16 whether computed or read back, so
an interrupted and an uninterrupted run see the same bits.
"""

import dataclasses
import os
import pathlib

import numpy as np

from sss_vfx.errors import FeatureError, OptionError
# The models as modules, looked up at each call (tests stand in for them).
from sss_vfx.features import network, person as person_model
from sss_vfx.features.tracking import PersonTracker
from sss_vfx.io.atomic import atomic_path
from sss_vfx.io.features import resize_features
from sss_vfx.io.guides import GUIDE_KINDS, Guides, check_guides, label_names, read_guides
from sss_vfx.io.sequence import find_sequence
from sss_vfx.io.shot import is_sequence_pattern

__all__ = ["PERSON", "FrameCache", "check_sources", "frame_guides", "guided_shot",
           "is_person", "literal_pattern", "model_device", "plate_canvas",
           "resolve_model"]

#: The ``features`` value that runs the built-in person model.
PERSON = "person"
_KEY_FILE = "run_key.txt"


def is_person(features):
    """Whether ``features`` asks for the built-in person model."""
    return isinstance(features, str) and features.strip().lower() == PERSON


def check_sources(features, guides, feature_model):
    """Refuse semantic inputs that cannot be combined (one clear error).

    Raises
    ------
    OptionError
        Features (a file or arrays) together with a feature model, or either of them
        together with guides or the person model.
    """
    person = is_person(features)
    has_features = features is not None and not person
    if has_features and feature_model is not None:
        raise OptionError("give features or feature_model, not both: a feature model "
                          "computes the features")
    if (guides is not None or person) and (has_features or feature_model is not None):
        raise OptionError("give guides (or features='person') or features/feature_model, "
                          "not both: guides make their own features")


def model_device(compute):
    """Where a TorchScript feature model runs: the pipeline's GPU when it has one,
    else None (CUDA when torch sees one, else the CPU)."""
    device = getattr(compute, "device", None)
    if device is not None and device.kind == "torch" and device.is_gpu:
        return device.torch_device
    return None


def resolve_model(feature_model, compute=None, *, mean=None, std=None):
    """A :class:`~sss_vfx.features.network.FeatureModel` from a path or a loaded one."""
    if isinstance(feature_model, network.FeatureModel):
        return feature_model
    if not isinstance(feature_model, (str, os.PathLike)):
        raise OptionError(f"feature_model must be a .pt/.onnx path or a loaded "
                          f"FeatureModel, got {type(feature_model).__name__}")
    return network.load_feature_model(feature_model, mean=mean, std=std,
                              device=model_device(compute))


def frame_guides(plate, guides=None, names=None, person=False, *, number=None,
                 person_mask=None, empty_ok=False, kind="auto", canvas=None):
    """The guides of one frame, checked and at the plate's size.

    Parameters
    ----------
    plate : (H, W, 3) float32 in [0, 1]
    guides : path, sequence of paths, (H, W) / (H, W, O) array or Guides, optional
        Files are read by :func:`~sss_vfx.io.guides.read_guides` (``names`` picks
        objects); an array gives one object per channel (``names`` names them,
        comma-separated, one per channel).
    names : str or sequence of str, optional
    person : bool
        Add the person model's mask as a last object named ``'person'``.
    number : int, optional
        The frame number, for messages.
    person_mask : (H, W) float array, optional
        The person mask already computed (a cache); computed when None.
    empty_ok : bool, optional
        Accept guides without any object, and names matching nothing (a shot's frame
        the objects have left, or not yet entered).
    kind : str, optional
        How guide files are read (:func:`~sss_vfx.io.guides.read_guides`).
    canvas : (x, y, width, height), optional
        The plate's canvas when it has windows (see
        :func:`~sss_vfx.io.guides.read_guides`).

    Returns
    -------
    Guides or None
        None when there are neither guides nor ``person``.

    Raises
    ------
    FeatureError, OptionError
        Unreadable guides or of another aspect, no object, too many objects, unknown
        Cryptomatte names, the person model missing (names the extra).
    """
    where = "" if number is None else f" of frame {number}"
    shape = plate.shape[:2]
    parts = []
    if isinstance(guides, Guides):
        parts.append(check_guides(guides.masks, shape, names=guides.names, kind=guides.kind,
                                  source=f"guides{where}", empty_ok=empty_ok))
    elif isinstance(guides, np.ndarray):
        listed = None
        if names is not None:
            listed = [n.strip() for n in (names.split(",") if isinstance(names, str)
                                          else names)]
        parts.append(check_guides(guides, shape, names=listed, source=f"guides{where}",
                                  empty_ok=empty_ok))
    elif guides is not None:
        parts.append(read_guides(guides, names=names, image_shape=shape, empty_ok=empty_ok,
                                 kind=kind, canvas=canvas))
    if person:
        if person_mask is None:
            person_mask = person_model.person_mask(plate)
        parts.append(Guides(masks=np.asarray(person_mask, np.float32)[..., None],
                            names=("person",), kind="person"))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return Guides(masks=np.concatenate([p.masks for p in parts], axis=2),
                  names=sum((tuple(p.names) for p in parts), ()),
                  kind="+".join(p.kind for p in parts))


class FrameCache:
    """Per-frame model outputs kept in a folder (``person.NNNN.npy``,
    ``person_track.NNNN.npy``, ``network.NNNN.npy``), valid for one run key.

    Parameters
    ----------
    directory : str or os.PathLike or None
        Created when the first value is stored; None keeps nothing (values still go
        through float16).
    key : str
        The run key: a folder holding another key's values is emptied first.
    """

    def __init__(self, directory=None, key=""):
        self.directory, self.key, self._ready = None, "", False
        if directory is not None:
            self.attach(directory, key)

    def attach(self, directory, key):
        """Keep values in ``directory`` from now on."""
        self.directory, self.key, self._ready = pathlib.Path(directory), str(key), False
        if self.directory.is_dir():
            self._prepare()

    def _prepare(self):
        """Empty the folder of another key's values; create it."""
        if self._ready:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = self.directory / _KEY_FILE
        if not stamp.exists() or stamp.read_text().strip() != self.key:
            for stale in [path for kind in ("person", "person_track", "network")
                          for path in self.directory.glob(f"{kind}.*.npy")]:
                stale.unlink()
            with atomic_path(stamp) as temporary:
                temporary.write_text(self.key + "\n")
        self._ready = True

    def get(self, kind, number, compute):
        """The cached value of ``kind`` for frame ``number``, else ``compute()`` stored.

        Returns
        -------
        float32 array, rounded through float16
        """
        path = None
        if self.directory is not None:
            self._prepare()
            path = self.directory / f"{kind}.{number:04d}.npy"
        if path is not None and path.exists():
            try:
                return np.load(path).astype(np.float32)
            except (OSError, ValueError):
                pass    # damaged: compute it again
        value = np.asarray(compute(), np.float32).astype(np.float16)
        if path is not None:
            with atomic_path(path) as temporary:
                np.save(temporary, value)
        return value.astype(np.float32)


def guided_shot(shot, *, guides=None, names=None, person=False, model=None, cache=None,
                working_size=None):
    """A shot whose frames carry their guides or network features.

    Its ``frames()`` yields ``(number, plate, extra)`` where ``extra`` is the frame's
    :class:`Guides` (guides or person), the network's features, or the shot's own
    features.

    Parameters
    ----------
    shot : Shot
    guides : str, sequence of str, or sequence of arrays, optional
        A sequence pattern numbered like the frames (or several, one object file
        each), or one ``(H, W, O)`` array per frame.
    names : str, optional
        Object names to pick (see :func:`~sss_vfx.io.guides.read_guides`).
    person : bool
    model : FeatureModel, optional
    cache : FrameCache, optional
    working_size : callable(shape_hw) -> (h, w), optional
        Network features are kept at this size (the pipeline's working size).

    Returns
    -------
    (Shot, tuple of str)
        The shot, and the object names when the frames have guides (else ``()``).

    Raises
    ------
    FeatureError
        Guides missing for some frame, not a numbered sequence, or of another size.
    """
    if guides is None and not person and model is None:
        return shot, ()
    cache = cache or FrameCache()
    by_frame = _guides_by_frame(guides, shot) if guides is not None else None
    objects, frame_names, kind = _shot_objects(shot, by_frame, names)
    objects += ("person",) if person else ()
    tracker = PersonTracker()

    def tracked_person(plate, number):
        # The principal performer followed from frame to frame; what the tracker
        # follows is kept beside the mask, so a resumed run follows on as a whole
        # run does (both go through the cache's float16).
        mask = cache.get("person", number, lambda: tracker(plate))
        tracker.resume(mask, cache.get("person_track", number, tracker.state))
        return mask

    def extra(number, plate):
        if model is not None:
            def compute():
                feats = network.network_features(plate, model)
                if working_size is not None:
                    feats = resize_features(feats, working_size(plate.shape[:2]))
                return feats
            return cache.get("network", number, compute)
        mask = None
        if person:
            mask = tracked_person(plate, number)
        # Every frame is read for the shot's objects, in its order: one absent from a
        # frame (not yet entered, or gone) has an empty guide there.
        found = frame_guides(plate, None if by_frame is None else by_frame(number),
                             frame_names, person, number=number, person_mask=mask,
                             empty_ok=True, kind=kind,
                             canvas=plate_canvas(shot.plates.header(number)))
        if len(found.names) != len(objects):
            raise FeatureError(
                f"the guides of frame {number} hold {len(found.names)} objects "
                f"({', '.join(found.names)}) but the shot's are {', '.join(objects)}; "
                "every frame needs the same objects in the same order")
        return dataclasses.replace(found, names=objects)

    return shot.with_features(extra), objects


def plate_canvas(header):
    """The canvas of a plate with windows (overscan, an offset), for placing its EXR
    guides; None for a plate without (guides of its size, or resized to it)."""
    windows = None if header is None else header.windows
    return None if windows is None or windows.plain else windows.canvas


def _guides_by_frame(guides, shot):
    """A function number -> that frame's guides (paths or an array), checked up front."""
    if isinstance(guides, (str, os.PathLike)):
        guides = [guides]
    guides = list(guides)
    if guides and all(isinstance(g, (str, os.PathLike)) for g in guides):
        tables = []
        for pattern in guides:
            if not is_sequence_pattern(pattern):
                raise FeatureError(f"video guides must be a numbered sequence such as "
                                   f"roto/hero.%04d.png, one file per frame; got {pattern}")
            try:
                info = find_sequence(str(pattern))
            except Exception as exc:  # InputError: no file matches
                raise FeatureError(f"guides {pattern}: {exc}") from exc
            tables.append(dict(zip(info.frames, info.paths)))
        numbers = shot.numbers or []
        for pattern, table in zip(guides, tables):
            absent = [n for n in numbers if n not in table]
            if absent:
                raise FeatureError(
                    f"guides {pattern} are missing for {len(absent)} of {len(numbers)} "
                    f"frames (first: frame {absent[0]}); give one guide file per frame, "
                    "numbered like the frames")

        def paths(number):
            missing = [p for p, t in zip(guides, tables) if number not in t]
            if missing:
                raise FeatureError(f"no guides for frame {number} in {missing[0]}; give one "
                                   "guide file per frame, numbered like the frames")
            return [t[number] for t in tables]
        return paths
    arrays = guides
    if shot.numbers is not None and len(arrays) != len(shot.numbers):
        raise FeatureError(f"{len(arrays)} guide arrays for {len(shot.numbers)} frames; "
                           "give one per frame")
    first = shot.numbers[0] if shot.numbers else 0
    table = {first + i: np.asarray(a) if not isinstance(a, Guides) else a
             for i, a in enumerate(arrays)}

    def array(number):
        if number not in table:
            raise FeatureError(f"no guides for frame {number}; give one per frame")
        return table[number]
    return array


def _shot_objects(shot, by_frame, names):
    """The shot's objects, and how each frame's guides are read for them.

    Returns
    -------
    (tuple of str, names, str)
        The objects (layer names); the ``names`` every frame is read with (the user's
        patterns, or the objects themselves as literal patterns, so a frame an object
        is absent from gives it an empty matte); and the ``kind`` of the first frame's
        files (so a label map reduced to one label is not taken for a matte).

    Raises
    ------
    FeatureError
        The first frame's guides unreadable; label maps holding too many labels over
        the shot; no object on any frame.
    """
    if by_frame is None or not shot.numbers:
        return (), names, "auto"
    first = by_frame(shot.numbers[0])
    if isinstance(first, Guides):
        return tuple(first.names), names, "auto"
    if isinstance(first, np.ndarray):
        count = 1 if first.ndim == 2 else first.shape[2]
        objects = (tuple(n.strip() for n in names.split(",")) if isinstance(names, str)
                   else tuple(f"object{i + 1}" for i in range(count)))
        return objects, names, "auto"
    found = read_guides(first, names=names, empty_ok=True)
    kind = found.kind if found.kind in GUIDE_KINDS else "auto"
    if names is not None:
        return tuple(found.names), names, kind
    objects = tuple(found.names)
    if kind == "labels" and len(first) == 1:
        # An ID pass numbers the objects of the whole shot: one that enters late still
        # has its layer, from the first frame on.
        objects = tuple(label_names(by_frame(n)[0] for n in shot.numbers))
    if not objects:
        raise FeatureError("the guides hold no object on any frame; draw at least one "
                           "shape or check the guides names")
    return objects, [literal_pattern(n) for n in objects], kind


def literal_pattern(name):
    """A shell-style pattern matching exactly ``name``."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
