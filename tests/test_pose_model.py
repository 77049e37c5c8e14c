"""The pose models' graph: anchors, decoding, suppression, regions, and a real shot."""

import math
import pathlib

import cv2
import numpy as np
import pytest

from sss_vfx.features import pose
from sss_vfx.features.pose import (decode_detections, detection_roi, roi_matrix,
                                   ssd_anchors, weighted_nms)

DAVIS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "davis"


def _anchor_loop(side, strides, ratios):
    """SsdAnchorsCalculator's loops, written out, for fixed-size anchors."""
    out, layer = [], 0
    while layer < len(strides):
        per_cell, last = 0, layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += len(ratios) + 1  # the ratios and one interpolated scale
            last += 1
        cells = math.ceil(side / strides[layer])
        for y in range(cells):
            for x in range(cells):
                for _ in range(per_cell):
                    out.append(((x + 0.5) / cells, (y + 0.5) / cells))
        layer = last
    return np.array(out)


def test_anchors_equal_the_calculators_loops():
    tiny = ssd_anchors(32, (8, 16, 16), (1.0,))
    assert tiny.shape == (4 * 4 * 2 + 2 * 2 * 4, 2)
    np.testing.assert_allclose(tiny, _anchor_loop(32, (8, 16, 16), (1.0,)), atol=1e-7)
    full = ssd_anchors()
    assert full.shape == (pose.NUM_ANCHORS, 2)  # the detector's output count
    np.testing.assert_allclose(full, _anchor_loop(224, pose.STRIDES, (1.0,)), atol=1e-7)


def test_decoding_equals_a_per_anchor_loop():
    rng = np.random.default_rng(1)
    anchors = ssd_anchors(32, (8, 16, 16), (1.0,))
    raw = rng.normal(0, 6, (len(anchors), 12))
    logits = rng.normal(0, 2, len(anchors))
    boxes, keypoints, scores = decode_detections(raw, logits, anchors, side=32,
                                                 min_score=0.4)
    want_boxes, want_points, want_scores = [], [], []
    for r, logit, (ax, ay) in zip(raw, logits, anchors):
        score = 1 / (1 + math.exp(-logit))
        if score < 0.4:
            continue
        cx, cy, w, h = r[0] / 32 + ax, r[1] / 32 + ay, r[2] / 32, r[3] / 32
        want_boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        want_points.append([[r[4 + 2 * k] / 32 + ax, r[5 + 2 * k] / 32 + ay]
                            for k in range(4)])
        want_scores.append(score)
    assert 0 < len(want_scores) < len(anchors)
    np.testing.assert_allclose(boxes, want_boxes, atol=1e-12)
    np.testing.assert_allclose(keypoints, want_points, atol=1e-12)
    np.testing.assert_allclose(scores, want_scores, atol=1e-12)


def test_weighted_suppression_averages_overlapping_detections():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [2.0, 2.0, 3.0, 3.0],
                      [0.8, 0.0, 1.8, 1.0]])
    points = np.arange(len(boxes) * 4 * 2, dtype=float).reshape(len(boxes), 4, 2)
    scores = np.array([0.6, 0.9, 0.7, 0.5])
    out = weighted_nms(boxes, points, scores, iou=0.3)
    assert [s for _, _, s in out] == [0.9, 0.7, 0.5]
    # Boxes 1 and 0 overlap by 0.9/1.1 > 0.3: averaged with weights 0.9 and 0.6.
    np.testing.assert_allclose(out[0][0], (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5)
    np.testing.assert_allclose(out[0][1], (0.9 * points[1] + 0.6 * points[0]) / 1.5)
    # Box 3 overlaps box 1 by 0.3/1.7, below 0.3: a detection of its own.
    np.testing.assert_allclose(out[2][0], boxes[3])


@pytest.mark.parametrize("up_degrees", [90, 0, 180, -90, 30, 200])
def test_region_stands_the_body_up_and_its_affine_round_trips(up_degrees):
    centre = np.array([300.0, 200.0])
    direction = np.array([math.cos(math.radians(up_degrees)),
                          -math.sin(math.radians(up_degrees))])  # screen y points down
    size_point = centre + 80.0 * direction
    roi = detection_roi(centre, size_point)
    assert roi[:3] == pytest.approx((300.0, 200.0, 2.5 * 80.0))
    assert -math.pi <= roi[3] < math.pi
    if up_degrees == 90:
        assert roi[3] == pytest.approx(0.0)
    matrix = roi_matrix(roi, 256)
    to_crop = lambda p: matrix[:, :2] @ p + matrix[:, 2]  # noqa: E731
    # The centre lands in the crop's centre, the size point straight above it.
    np.testing.assert_allclose(to_crop(centre), [128, 128], atol=1e-3)
    np.testing.assert_allclose(to_crop(size_point), [128, 128 - 256 * 80 / 200], atol=1e-3)
    back = cv2.invertAffineTransform(matrix)
    crop_points = np.random.default_rng(2).random((10, 2)) * 256
    frame_points = crop_points @ back[:, :2].T + back[:, 2]
    np.testing.assert_allclose(frame_points @ matrix[:, :2].T + matrix[:, 2], crop_points,
                               atol=1e-3)
    # A crop of ones warped back into the frame covers the turned square's area.
    ones = cv2.warpAffine(np.ones((256, 256), np.float32), matrix, (640, 480),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    assert ones.sum() == pytest.approx(200.0 ** 2, rel=0.02)


def _davis(shot, frame):
    image = cv2.imread(str(DAVIS / "JPEGImages" / "480p" / shot / f"{frame}.jpg"))
    truth = cv2.imread(str(DAVIS / "Annotations" / "480p" / shot / f"{frame}.png"), 0)
    return image[:, :, ::-1].astype(np.float32) / 255, truth > 0


def _iou(mask, truth):
    mask = mask > 0.5
    return (mask & truth).sum() / (mask | truth).sum()


@pytest.mark.skipif(not DAVIS.is_dir(), reason="shared data absent")
def test_a_free_runner_and_an_upside_down_dancer(pose_models):
    from sss_vfx.features.person import person_mask
    image, truth = _davis("parkour", "00040")
    found = pose.people(image)
    assert len(found) == 1 and found[0].presence > 0.9
    assert _iou(person_mask(image), truth) > 0.9 > _iou(person_mask(image, model="selfie"),
                                                         truth)
    # Upside down: the upright frame's detector finds nobody; the turned frame, him.
    image, truth = _davis("breakdance", "00000")
    assert pose.people(image, turns=(0,)) == []
    found = pose.people(image)
    assert len(found) == 1 and _iou(found[0].mask, truth) > 0.85
