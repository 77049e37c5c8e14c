"""The principal performer: kept among several people, followed through a shot."""

import math
import pathlib

import cv2
import numpy as np
import pytest

from sss_vfx.features import person as person_module
from sss_vfx.features import tracking
from sss_vfx.features.pose import Person
from sss_vfx.features.sources import FrameCache
from sss_vfx.features.tracking import PersonTracker, principal_person

DAVIS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "davis"
SHAPE = (60, 80)


def _square(cx, cy, half, shape=SHAPE):
    mask = np.zeros(shape, np.float32)
    mask[max(0, int(cy - half)):int(cy + half), max(0, int(cx - half)):int(cx + half)] = 1
    return mask


def _person(cx, cy, half, score=0.9):
    return Person(score, 1.0, (cx, cy, 4.0 * half, 0.0), _square(cx, cy, half),
                  next_roi=(cx, cy, 4.0 * half, 0.0))


def test_the_largest_person_or_the_one_seen_before():
    dancer, spectator = _person(20, 30, 12, score=0.6), _person(65, 20, 6, score=0.95)
    assert principal_person([spectator, dancer]) is dancer
    assert principal_person([spectator, dancer], previous=spectator.mask > 0) is spectator
    # Nobody overlaps what was seen: the largest again.
    assert principal_person([spectator, dancer], previous=_square(70, 55, 2)) is dancer
    assert principal_person([]) is None


class _Scene:
    """A fake pose model: one person at (cx, cy) seen only by a region turned to
    ``angle`` (within 10 degrees); a spectator the detector always finds."""

    def __init__(self):
        self.cx, self.cy, self.angle = 20.0, 30.0, 0.0
        self.detections = 0

    def landmark_pass(self, image, roi):
        seen = abs(math.remainder(roi[3] - self.angle, 2 * math.pi)) < math.radians(10)
        near = math.hypot(roi[0] - self.cx, roi[1] - self.cy) < 15
        presence = 0.95 if seen and near else 0.1
        # The landmarks re-centre the region on the body and keep its turn.
        next_roi = (self.cx, self.cy, 48.0, roi[3]) if near else roi
        return presence, next_roi, (self.cx, self.cy), None

    def frame_mask(self, prob, matrix, shape):
        return _square(prob[0], prob[1], 12, shape)

    def people(self, image):
        self.detections += 1
        found = [_person(65, 20, 6, score=0.95)]
        if self.angle == 0.0:
            found.append(_person(self.cx, self.cy, 12, score=0.6))
        return found


@pytest.fixture
def scene(monkeypatch):
    scene = _Scene()
    monkeypatch.setattr(tracking, "landmark_pass", scene.landmark_pass)
    monkeypatch.setattr(tracking, "frame_mask", scene.frame_mask)
    monkeypatch.setattr(tracking, "people", scene.people)
    monkeypatch.setattr(person_module, "selfie_mask",
                        lambda image, path=None: np.full(image.shape[:2], 0.7, np.float32))
    return scene


def _moves(scene, frame):
    """The dancer drifts right and spins a quarter turn every other frame."""
    scene.cx, scene.angle = 20.0 + 3 * frame, (frame // 2) * math.pi / 2


def test_the_tracker_follows_a_spinning_dancer_past_a_spectator(scene):
    track = PersonTracker()
    image = np.zeros(SHAPE + (3,), np.float32)
    for frame in range(8):
        _moves(scene, frame)
        mask = track(image)
        truth = _square(scene.cx, scene.cy, 12)
        assert tracking.mask_iou(mask, truth) > 0.99, frame
    # Detected once, on the first frame; followed since, upside down or not.
    assert scene.detections == 1


def test_lost_then_detected_then_the_selfie_model(scene, monkeypatch):
    track = PersonTracker()
    image = np.zeros(SHAPE + (3,), np.float32)
    track(image)
    scene.cx = 70.0                              # jumps out of the region: lost
    mask = track(image)
    assert scene.detections == 2                 # detected again: the larger of two
    assert tracking.mask_iou(mask, _square(70, 30, 12)) > 0.99
    monkeypatch.setattr(tracking, "people", lambda image: [])
    track.roi = None
    assert np.all(track(image) == np.float32(0.7))               # the selfie model
    assert track.roi is None and np.all(track.state() == 0)


def test_a_resumed_shot_follows_on_as_a_whole_run_does(scene, tmp_path):
    image = np.zeros(SHAPE + (3,), np.float32)

    def run(frames, cache, track):
        masks = []
        for frame in frames:
            _moves(scene, frame)
            mask = cache.get("person", frame, lambda: track(image))
            track.resume(mask, cache.get("person_track", frame, track.state))
            masks.append(mask)
        return masks

    whole = run(range(6), FrameCache(tmp_path / "a", "k"), PersonTracker())
    cache = FrameCache(tmp_path / "b", "k")
    run(range(3), cache, PersonTracker())
    detections = scene.detections
    resumed = run(range(6), cache, PersonTracker())    # frames 0-2 read back
    assert scene.detections == detections               # no detector: it followed on
    for a, b in zip(whole, resumed):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="5 values"):
        PersonTracker().resume(whole[0], np.zeros(3))


def _davis(shot, frame):
    image = cv2.imread(str(DAVIS / "JPEGImages" / "480p" / shot / f"{frame:05d}.jpg"))
    truth = cv2.imread(str(DAVIS / "Annotations" / "480p" / shot / f"{frame:05d}.png"), 0)
    return image[:, :, ::-1].astype(np.float32) / 255, truth > 0


@pytest.mark.slow
@pytest.mark.skipif(not DAVIS.is_dir(), reason="shared data absent")
def test_a_breakdancer_amid_a_crowd(pose_models):
    track = PersonTracker()
    for frame in range(13):
        image, truth = _davis("breakdance", frame)
        mask = track(image)
    # Frame 12: upside down; the detector finds only spectators there.
    assert tracking.mask_iou(mask, truth) > 0.6
    assert tracking.mask_iou(person_module.person_mask(image), truth) < 0.1
