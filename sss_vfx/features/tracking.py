"""The principal performer: one person kept among those found, and followed through a shot.

A frame may hold many people (a dancer and the crowd around her): the person model
keeps one, the principal performer.

* In a frame on its own (:func:`principal_person`): the person whose mask is largest.
* In a shot (:class:`PersonTracker`), as MediaPipe tracks: the landmark model looks for
  the person in the region the last frame's landmarks give, turned by each of
  :data:`TRACK_TURNS` steps of a full turn (a dancer who spins or stands on her hands
  is found in a turned region when the upright one loses her), and keeps the region
  whose mask scores best, ``presence * (0.5 + IoU with the last frame's mask)``. The
  detector runs only when every region loses her (pose presence below 0.5); the person
  overlapping the last frame's mask most is then kept, else the largest. The selfie
  model stands in for frames where the pose models find nobody.

Against DAVIS masks (``benchmarks/bench_person.py``, every 4th frame): on breakdance (a
dancer upside down amid a standing crowd, which the detector finds instead in most
frames) the tracked mask's IoU is 0.784 against 0.072 for the union of everyone found
frame by frame; parkour 0.926 (0.934), horsejump-high 0.708 (0.568); soapbox, whose
annotation holds two people and their cart, 0.310 (0.385): one person is followed.
"""

import math

import numpy as np

from sss_vfx.errors import OptionError
from sss_vfx.features import person as person_model
from sss_vfx.features.pose import MIN_PRESENCE, Person, frame_mask, landmark_pass, people

__all__ = ["TRACK_TURNS", "PersonTracker", "principal_person"]

#: Turns of the last region the landmark model looks in, evenly spaced.
TRACK_TURNS = 8
#: The values of :meth:`PersonTracker.state`: region centre x, y, side, angle, followed.
STATE_SIZE = 5


def principal_person(found, previous=None):
    """The person to keep among those found in a frame.

    Parameters
    ----------
    found : sequence of Person
        As :func:`~sss_vfx.features.pose.people` returns them (best detection first).
    previous : ndarray, shape (H, W), optional
        The kept person's mask in the last frame of a shot (probabilities or boolean).

    Returns
    -------
    Person or None
        The one overlapping ``previous`` most (IoU of the masks above 0.5), when one
        does; else the one with the largest mask (the first of equals); None when
        ``found`` is empty.

    Examples
    --------
    >>> from sss_vfx.features.pose import Person
    >>> small, large = np.zeros((2, 8, 8), np.float32)
    >>> small[:2, :2] = 1; large[4:, 4:] = 1
    >>> found = [Person(0.9, 1.0, None, small), Person(0.6, 1.0, None, large)]
    >>> principal_person(found).score
    0.6
    >>> principal_person(found, previous=small > 0).score
    0.9
    """
    found = list(found)
    if not found:
        return None
    if previous is not None:
        overlap = [mask_iou(p.mask, previous) for p in found]
        if max(overlap) > 0:
            return found[int(np.argmax(overlap))]
    return found[int(np.argmax([np.count_nonzero(p.mask > 0.5) for p in found]))]


def mask_iou(mask, other):
    """IoU of two masks above 0.5 (0 when both are empty)."""
    a, b = np.asarray(mask) > 0.5, np.asarray(other) > 0.5
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


class PersonTracker:
    """The principal performer's mask, frame after frame of a shot.

    Call it on each frame in order; :meth:`state` and :meth:`resume` carry what it
    follows across a resumed run, so a resumed shot gives the masks a whole run gives.

    Parameters
    ----------
    turns : int
        Turns of the last region looked in (:data:`TRACK_TURNS`).
    model_path : str or os.PathLike, optional
        Another selfie-segmentation model for frames where the pose models find nobody
        (see :func:`~sss_vfx.features.person.person_mask`).

    Examples
    --------
    >>> track = PersonTracker()  # doctest: +SKIP
    >>> masks = [track(frame) for frame in frames]  # doctest: +SKIP
    """

    def __init__(self, turns=TRACK_TURNS, model_path=None):
        if int(turns) < 1:
            raise OptionError(f"turns must be at least 1, got {turns!r}")
        self.turns, self.model_path = int(turns), model_path
        self.roi, self.previous = None, None

    def __call__(self, image):
        """The principal performer's probability in this frame.

        Parameters
        ----------
        image : array_like, shape (H, W, 3)
            RGB, float in [0, 1]; the frame after the last one this tracker saw.

        Returns
        -------
        ndarray, shape (H, W), float32 in [0, 1]

        Raises
        ------
        FeatureError, OptionError
            As :func:`~sss_vfx.features.person.person_mask`.
        """
        image = person_model.checked_image(image)
        if self.previous is not None and self.previous.shape != image.shape[:2]:
            self.roi = self.previous = None  # another shot's size: start afresh
        following = self.roi is not None and self.roi[2] >= 1.0
        person = self._follow(image) if following else None
        if person is None:
            person = principal_person(people(image), self.previous)
        if person is None:
            mask, self.roi = person_model.selfie_mask(image, self.model_path), None
        else:
            mask, self.roi = person.mask, person.next_roi
        self.previous = mask > 0.5
        return mask

    def _follow(self, image):
        """The person in the last region turned, or None when every turn loses them."""
        best, best_score = None, -1.0
        cx, cy, side, angle = self.roi
        for k in range(self.turns):
            roi = (cx, cy, side, angle + 2 * math.pi * k / self.turns)
            # The turned region's landmarks only place the region the mask is taken
            # in: their presence is not asked (a turn that sees the body poorly can
            # still place it well).
            _, roi, _, _ = landmark_pass(image, roi)
            if roi[2] < 1.0:
                continue
            presence, next_roi, prob, matrix = landmark_pass(image, roi)
            if presence < MIN_PRESENCE:
                continue
            mask = frame_mask(prob, matrix, image.shape[:2])
            score = presence * (0.5 + mask_iou(mask, self.previous))
            if score > best_score:
                best, best_score = Person(1.0, presence, roi, mask, next_roi), score
        return best

    def state(self):
        """What the tracker follows: ``(5,)`` float32, the region's centre x, y, side,
        angle and 1, or zeros when it follows nobody (the next frame runs the
        detector)."""
        if self.roi is None:
            return np.zeros(STATE_SIZE, np.float32)
        return np.array(tuple(self.roi) + (1.0,), np.float32)

    def resume(self, mask, state):
        """Follow on from a frame seen before: its mask and :meth:`state`.

        Parameters
        ----------
        mask : array_like, shape (H, W)
        state : array_like, shape (5,)
        """
        state = np.asarray(state, np.float64).ravel()
        if state.shape != (STATE_SIZE,):
            raise OptionError(f"a person tracker's state has {STATE_SIZE} values, got "
                              f"{state.shape}")
        self.roi = tuple(float(v) for v in state[:4]) if state[4] > 0.5 else None
        self.previous = np.asarray(mask) > 0.5
