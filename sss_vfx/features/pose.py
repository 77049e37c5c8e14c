"""People's full-body masks from MediaPipe's BlazePose models, as MediaPipe's graph runs them.

Two models (Apache-2.0), taken once out of the mediapipe 0.10.14 wheel into a per-user
folder by :mod:`sss_vfx.features.model_store`:

1. ``pose_detection.tflite`` sees the whole frame letterboxed into 224x224 (values in
   [-1, 1], zero border) and scores 2254 SSD anchors; each detection carries a box and
   four keypoints (mid-hip, a point giving the full body's size and direction, and the
   same two for the upper body). Decoded with the anchors of MediaPipe's
   ``pose_detection_cpu`` graph, scores below 0.2 dropped, then weighted non-max
   suppression (IoU 0.3).
2. For each detection, the full-body region of interest: a square centred on the
   mid-hip, side 2.5x the hip-to-size-point distance, turned so the body stands up
   (``pose_detection_to_roi``). ``pose_landmark_full.tflite`` sees that square at
   256x256 (values in [0, 1], border replicated) and returns a pose-presence score,
   the landmarks and the segmentation logits of the body in that square. The sigmoid
   of the logits is warped back into the frame through the inverse of the crop's
   affine map (zero outside the square).

As MediaPipe tracks, the region is then taken again from the two auxiliary landmarks
the model returns (``pose_landmarks_to_roi``: same rule, same 1.25 margin) and the
landmark model run once more there: the detector's region is coarse, the landmarks'
is what MediaPipe uses from the second frame on.
"""

import functools
import math

import cv2
import numpy as np

from sss_vfx.features.model_store import model_path
from sss_vfx.features.tflite import interpreter, runtime

__all__ = ["Person", "decode_detections",
           "detection_roi", "frame_mask", "landmark_pass", "people", "roi_matrix",
           "ssd_anchors", "weighted_nms"]

DETECTOR_SIDE = 224
LANDMARK_SIDE = 256
NUM_ANCHORS = 2254
#: ``pose_detection_cpu``'s SsdAnchorsCalculator options.
STRIDES = (8, 16, 32, 32, 32)
#: Detection score kept before suppression (``min_score_thresh``), the suppression's
#: IoU, the score a person needs (mediapipe's ``min_detection_confidence`` default),
#: the pose-presence threshold of the landmark model.
MIN_SCORE, NMS_IOU, MIN_DETECTION, MIN_PRESENCE = 0.2, 0.3, 0.5, 0.5
#: The region's side over the alignment points' distance: 2 (a circle's diameter)
#: times RectTransformationCalculator's 1.25.
ROI_SCALE = 2.0 * 1.25
MAX_PEOPLE = 8
#: Quarter turns of the frame the detector sees.
TURNS = (0, 1, 2, 3)


class Person:
    """One person found: the detection's score, the landmark model's, its mask.

    Attributes
    ----------
    score : float
        Detection score in [0, 1].
    presence : float
        Pose-presence score of the landmark model in [0, 1].
    roi : tuple
        ``(cx, cy, side, angle)`` of the last region, frame pixels and radians.
    mask : ndarray, shape (H, W), float32
        The person's probability in [0, 1], zero outside the region.
    next_roi : tuple or None
        The region the last landmarks give: where the person is looked for in the
        next frame of a shot (:class:`~sss_vfx.features.tracking.PersonTracker`).
    """

    def __init__(self, score, presence, roi, mask, next_roi=None):
        self.score, self.presence, self.roi, self.mask = score, presence, roi, mask
        self.next_roi = next_roi


def ssd_anchors(input_side=DETECTOR_SIDE, strides=STRIDES, aspect_ratios=(1.0,)):
    """Anchor centres of MediaPipe's SsdAnchorsCalculator with ``fixed_anchor_size``.

    Consecutive layers of the same stride share one feature map; each layer adds one
    anchor per aspect ratio and one interpolated-scale anchor per cell. With a fixed
    anchor size every anchor is 1x1, so only the centres differ.

    Parameters
    ----------
    input_side : int
        The model's square input side, pixels.
    strides : sequence of int
        Each layer's stride.
    aspect_ratios : sequence of float

    Returns
    -------
    ndarray, shape (N, 2), float32
        ``(x, y)`` centres in [0, 1], in the model's output order.
    """
    centres, layer = [], 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = (last - layer) * (len(aspect_ratios) + 1)
        cells = math.ceil(input_side / strides[layer])
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([x.ravel(), y.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)


def decode_detections(raw, scores, anchors, side=DETECTOR_SIDE, min_score=MIN_SCORE):
    """TensorsToDetectionsCalculator: boxes and keypoints from the anchors' offsets.

    Parameters
    ----------
    raw : ndarray, shape (N, 4 + 2K)
        Per anchor: box centre x, y, width, height, then K keypoints' x, y, all in
        input pixels relative to the anchor's centre.
    scores : ndarray, shape (N,)
        Logits.
    anchors : ndarray, shape (N, 2)
        Centres from :func:`ssd_anchors`.
    side : int
        Input side the offsets are scaled by.
    min_score : float
        Scores (after the sigmoid) below are dropped.

    Returns
    -------
    boxes : ndarray, shape (M, 4)
        ``xmin, ymin, xmax, ymax`` in [0, 1] of the input.
    keypoints : ndarray, shape (M, K, 2)
    scores : ndarray, shape (M,)
        In [0, 1], the order of the kept anchors.
    """
    raw = np.asarray(raw, np.float64)
    prob = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(scores, np.float64).ravel(), -100, 100)))
    keep = prob >= min_score
    raw, prob, anchors = raw[keep], prob[keep], np.asarray(anchors, np.float64)[keep]
    centre = raw[:, :2] / side + anchors
    half = raw[:, 2:4] / side / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:].reshape(len(raw), -1, 2) / side + anchors[:, None, :]
    return boxes, keypoints, prob


def _iou(box, boxes):
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes, keypoints, scores, iou=NMS_IOU):
    """MediaPipe's weighted non-max suppression.

    The best remaining detection and every remaining one overlapping it by more than
    ``iou`` (itself included) become one detection: their boxes and keypoints averaged
    with the scores as weights, the best one's score.

    Parameters
    ----------
    boxes : ndarray, shape (M, 4)
    keypoints : ndarray, shape (M, K, 2)
    scores : ndarray, shape (M,)
    iou : float

    Returns
    -------
    list of tuple
        ``(box, keypoints, score)`` by decreasing score.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    out = []
    while order.size:
        overlap = _iou(boxes[order[0]], boxes[order]) > iou
        overlap[0] = True
        group = order[overlap]
        weight = scores[group] / scores[group].sum()
        out.append((np.tensordot(weight, boxes[group], 1),
                    np.tensordot(weight, keypoints[group], 1), float(scores[order[0]])))
        order = order[~overlap]
    return out


def detection_roi(centre, size_point):
    """AlignmentPointsRects + RectTransformation: the body's square region.

    Parameters
    ----------
    centre, size_point : (2,) array_like
        Frame pixels: the mid-hip and the point whose distance gives the body's size
        and whose direction from the centre is "up" for the body.

    Returns
    -------
    tuple
        ``(cx, cy, side, angle)``: centre and side in pixels, angle in radians
        (clockwise on screen; 0 for an upright body).
    """
    (x0, y0), (x1, y1) = centre, size_point
    side = ROI_SCALE * math.hypot(x1 - x0, y1 - y0)
    angle = math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0)
    angle = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    return float(x0), float(y0), float(side), float(angle)


def roi_matrix(roi, out_side):
    """Affine map from frame pixels to an ``out_side`` square crop of a turned region.

    As MediaPipe's ImageToTensorCalculator (OpenCV): the corners of
    ``cv2.RotatedRect(centre, (side, side), degrees(angle))`` go to the crop's
    bottom-left, top-left, top-right and bottom-right corners.

    Parameters
    ----------
    roi : tuple
        ``(cx, cy, side, angle)`` as :func:`detection_roi` returns.
    out_side : int

    Returns
    -------
    ndarray, shape (2, 3), float64
    """
    cx, cy, side, angle = roi
    corners = cv2.boxPoints(((cx, cy), (side, side), math.degrees(angle)))
    dst = np.float32([[0, out_side], [0, 0], [out_side, 0]])
    return cv2.getAffineTransform(np.float32(corners[:3]), dst).astype(np.float64)


def _apply(matrix, points):
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def _invert(matrix):
    return cv2.invertAffineTransform(matrix)


def _crop(image, roi, side, border):
    matrix = roi_matrix(roi, side)
    crop = cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=0)
    return crop, matrix


def people(image, *, max_people=MAX_PEOPLE, refine=True, turns=TURNS):
    """Everyone the pose models find in a frame, each with a full-body mask.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        RGB in [0, 1].
    max_people : int
        Detections run through the landmark model at most, best first.
    refine : bool
        Run the landmark model a second time in the region its own auxiliary
        landmarks give (as MediaPipe does from the second frame of a stream).
    turns : sequence of int
        Quarter turns of the frame the detector sees, in order, each only while
        nobody has been found (the detector keys on the face: an upside-down or
        lying person is found only in a turned frame).

    Returns
    -------
    list of Person
        Those whose detection score is at least 0.5 and pose presence at least 0.5,
        by decreasing detection score, a detection whose mid-hip falls within a
        quarter of a found person's region side being that person again; empty when
        nobody is found.

    Raises
    ------
    FeatureError
        If ai-edge-litert is missing (see :mod:`sss_vfx.features.tflite`) or the models
        cannot be fetched (:mod:`sss_vfx.features.model_store`).
    """
    found = []
    for turn in turns:
        if found:
            break
        for roi, score in _detect(image, turn):
            if len(found) >= max_people:
                break
            if any(math.hypot(roi[0] - p.roi[0], roi[1] - p.roi[1]) < 0.25 * p.roi[2]
                   for p in found):
                continue  # the same person again
            person = _landmark(image, roi, refine)
            if person is not None:
                person.score = score
                found.append(person)
    return found


def _model(name):
    """A pose model's file, once the runtime is known to be there: a missing extra is
    reported before 36 MB are downloaded for nothing."""
    runtime()
    return model_path(name)


def _detect(image, turn):
    """Detections of the frame turned by ``turn`` quarters: (region, score) pairs."""
    height, width = image.shape[:2]
    det, det_in, det_out = interpreter(
        _model("pose_detection.tflite"), [[1, DETECTOR_SIDE, DETECTOR_SIDE, 3]],
        [[1, NUM_ANCHORS, 12], [1, NUM_ANCHORS, 1]])
    # The whole frame letterboxed: a square of the long side around the centre.
    frame_roi = (width / 2, height / 2, float(max(width, height)), turn * math.pi / 2)
    tensor, matrix = _crop(image, frame_roi, DETECTOR_SIDE, cv2.BORDER_CONSTANT)
    det.set_tensor(det_in[0], np.ascontiguousarray(tensor[None] * 2 - 1, np.float32))
    det.invoke()
    raw = det.get_tensor(det_out[0])[0]
    logits = det.get_tensor(det_out[1])[0, :, 0]
    boxes, keypoints, scores = decode_detections(raw, logits, _anchors())
    back = _invert(matrix)
    out = []
    for _, points, score in weighted_nms(boxes, keypoints, scores):
        if score < MIN_DETECTION:
            break
        points = _apply(back, points * DETECTOR_SIDE)
        out.append((detection_roi(points[0], points[1]), score))
    return out


def _landmark(image, roi, refine):
    if roi[2] < 1.0:
        return None
    presence, aux_roi, prob, matrix = landmark_pass(image, roi)
    if presence < MIN_PRESENCE:
        return None
    if refine:
        roi = aux_roi
        if roi[2] < 1.0:
            return None
        presence, aux_roi, prob, matrix = landmark_pass(image, roi)
        if presence < MIN_PRESENCE:
            return None
    return Person(0.0, presence, roi, frame_mask(prob, matrix, image.shape[:2]), aux_roi)


def landmark_pass(image, roi):
    """One run of the landmark model on a region of the frame.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        RGB in [0, 1].
    roi : tuple
        ``(cx, cy, side, angle)``, frame pixels and radians, ``side >= 1``.

    Returns
    -------
    presence : float
        Pose-presence score in [0, 1].
    next_roi : tuple
        The region the two auxiliary landmarks give (``pose_landmarks_to_roi``): where
        MediaPipe looks for the body next.
    prob : ndarray, shape (256, 256), float32
        Person probability in the crop.
    matrix : ndarray, shape (2, 3)
        Frame pixels to crop pixels.
    """
    lm, lm_in, lm_out = interpreter(
        _model("pose_landmark_full.tflite"), [[1, LANDMARK_SIDE, LANDMARK_SIDE, 3]],
        [[1, 195], [1, 1], [1, LANDMARK_SIDE, LANDMARK_SIDE, 1], [1, 64, 64, 39], [1, 117]])
    crop, matrix = _crop(image, roi, LANDMARK_SIDE, cv2.BORDER_REPLICATE)
    lm.set_tensor(lm_in[0], np.ascontiguousarray(crop[None], np.float32))
    lm.invoke()
    presence = float(np.ravel(lm.get_tensor(lm_out[1]))[0])
    landmarks = lm.get_tensor(lm_out[0]).reshape(39, 5)
    aux = _apply(_invert(matrix), landmarks[33:35, :2])
    logits = lm.get_tensor(lm_out[2])[0, :, :, 0].astype(np.float32)
    prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))
    return presence, detection_roi(aux[0], aux[1]), prob, matrix


def frame_mask(prob, matrix, shape_hw):
    """A crop's probabilities warped back into the frame: (H, W) float32 in [0, 1],
    zero outside the crop."""
    height, width = shape_hw
    mask = cv2.warpAffine(prob, matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(mask, 0.0, 1.0)


@functools.cache
def _anchors():
    return ssd_anchors()
