"""Optical flow between consecutive frames and its confidence (DESIGN section 2).

Flow is OpenCV's DIS (dense inverse search) on the grey working images, forward and
backward. The confidence of a forward vector comes from forward-backward consistency
(Sundaram et al. 2010): following F from p to q = p + F(p) and B back from q should
return to p. With the round-trip error ``e = |F(p) + B(q)|^2``::

    c(p) = exp(-e / (0.01 (|F(p)|^2 + |B(q)|^2) + 0.5))

set to 0 where ``e`` exceeds four times that scale (an occlusion) or q leaves the frame.

A vector can be consistent and still wrong: where an object has its ground's colour,
DIS may give it the ground's motion both ways. :func:`patch_agreement` checks what the
vector claims, that the neighbourhood around p reappears around q; the temporal links
take the product of the two.
"""

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from sss_vfx.errors import InputError

__all__ = ["FrameFlow", "carried_prior", "carry_forward", "consistency", "frame_flow",
           "patch_agreement", "warp_back"]

#: DIS preset: MEDIUM trades a little speed for the subpixel accuracy hair needs.
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM

#: The preset's finest scale, patch size and stride are tuned for VGA and larger
#: frames; on the working frames (at most 65,536 pixels) its finest level (half the
#: frame) and 8-pixel patches average a small object's motion into its ground's: on
#: rendered shots at 80x60 an object moving 2 px a frame got 0-1 px, with confidence
#: 0.8-0.9, so the temporal links joined its edge to the ground. At full resolution
#: with 4-pixel patches every 2 pixels (``fine``) the object's error is 0.3-1.2 px
#: (was 1.2-2.4) on ten seeds, and on DAVIS frames at 85x48 and 341x192 the
#: photometric error of the warped next frame drops 5-40 %.
DIS_FINEST_SCALE, DIS_PATCH_SIZE, DIS_PATCH_STRIDE = 0, 4, 2

#: Round-trip errors beyond this many times the tolerance scale count as occluded.
OCCLUSION_FACTOR = 4.0

#: Patch agreement: half-width of the square patch (px) and the colour scale of its mean
#: squared difference. On a rendered shot whose object has the ground's colour and
#: moves 4 px a frame at 80x60 (seed 3), a tenth of the object's wrong vectors (off by
#: more than 2 px) kept a round-trip confidence of 0.68 or more; the links tied the
#: object to the ground and it left its layers window by window (SAD 0.027 -> 0.25 over
#: 12 frames). Its texture does not reappear where a wrong vector points: the patch mean
#: is 0.008 there (median; 0.004-0.025 from the 10th to the 90th percentile), against
#: 0.0006 (90th percentile 0.004) where the vector is within 0.5 px.
PATCH_RADIUS, PATCH_SIGMA = 2, 0.05


@dataclass(frozen=True)
class FrameFlow:
    """Flow from frame t to frame t+1 and back.

    Attributes
    ----------
    forward : (H, W, 2) float32
        Displacement of frame t's pixels, x (columns) then y (rows), in pixels.
    backward : (H, W, 2) float32
        Displacement of frame t+1's pixels back to frame t.
    confidence : (H, W) float32 in [0, 1]
        Forward-backward consistency of ``forward``; 0 in occlusions.
    """

    forward: np.ndarray
    backward: np.ndarray
    confidence: np.ndarray


def _grey_u8(frame):
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"flow needs (H, W, 3) colour frames, got shape {frame.shape}")
    if not np.isfinite(frame).all():
        raise InputError("a frame holds NaN or infinite values; flow cannot be computed")
    rgb = np.clip(np.rint(np.asarray(frame, np.float64) * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _dis(a, b, fine):
    dis = cv2.DISOpticalFlow_create(DIS_PRESET)
    if fine:
        dis.setFinestScale(DIS_FINEST_SCALE)
        dis.setPatchSize(DIS_PATCH_SIZE)
        dis.setPatchStride(DIS_PATCH_STRIDE)
    return dis.calc(a, b, None).astype(np.float32)


def warp_back(values, flow):
    """Sample ``values`` of frame t+1 at p + flow(p): frame t+1 seen from frame t.

    Parameters
    ----------
    values : (H, W) or (H, W, C) float array, values on frame t+1's grid
    flow : (H, W, 2) float array, forward flow of frame t

    Returns
    -------
    warped : same shape as ``values``, float32
        Bilinear samples; points outside frame t+1 take the nearest border value.
    inside : (H, W) bool
        Whether p + flow(p) lies inside frame t+1.
    """
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float64)[None, :] + flow[..., 0]
    ys = np.arange(h, dtype=np.float64)[:, None] + flow[..., 1]
    values = np.asarray(values, np.float32)
    coords = [np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
    # Exact bilinear weights (OpenCV's remap rounds positions to 1/32 px).
    channels = values[..., None] if values.ndim == 2 else values
    warped = np.stack([ndimage.map_coordinates(channels[..., c], coords, order=1)
                       for c in range(channels.shape[2])], axis=2)
    warped = warped[..., 0] if values.ndim == 2 else warped
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    return warped, inside


def frame_flow(frame, next_frame, *, fine=True):
    """Forward and backward DIS flow of two frames and the forward confidence.

    Parameters
    ----------
    frame, next_frame : (H, W, 3) float arrays in [0, 1]
        Frames t and t+1 at working resolution, H, W >= 8.
    fine : bool, optional
        Down to full resolution with small patches (:data:`DIS_FINEST_SCALE`), the
        pixels' own motion; False: the preset's, smoother, the motion of regions.

    Returns
    -------
    FrameFlow

    Raises
    ------
    InputError
        Frames of different shapes, not colour, or with NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((32, 32, 3)).astype(np.float32)
    >>> flow = frame_flow(a, a)
    >>> float(np.abs(flow.forward).max()) < 0.5
    True
    """
    if np.shape(frame) != np.shape(next_frame):
        raise InputError(f"frames of different sizes {np.shape(frame)} and "
                         f"{np.shape(next_frame)} cannot be linked by optical flow")
    a, b = _grey_u8(frame), _grey_u8(next_frame)
    forward, backward = _dis(a, b, fine), _dis(b, a, fine)
    return FrameFlow(forward=forward, backward=backward,
                     confidence=consistency(forward, backward))


def consistency(flow, reverse):
    """Forward-backward confidence of ``flow`` given the flow ``reverse`` of the other
    frame back to this one (the module's formula).

    Parameters
    ----------
    flow, reverse : (H, W, 2) float arrays

    Returns
    -------
    (H, W) float32 in [0, 1], 0 in occlusions and where the flow leaves the frame
    """
    back_at_q, inside = warp_back(reverse, flow)
    error = ((flow + back_at_q) ** 2).sum(axis=2)
    scale = 0.01 * ((flow ** 2).sum(axis=2) + (back_at_q ** 2).sum(axis=2)) + 0.5
    confidence = np.exp(-error / scale)
    confidence[(error > OCCLUSION_FACTOR * scale) | ~inside] = 0.0
    return confidence.astype(np.float32)


def patch_agreement(frame, next_frame, flow, *, radius=PATCH_RADIUS, sigma=PATCH_SIGMA):
    """How well the neighbourhood of each pixel of frame t reappears in frame t+1 where
    its flow vector points.

    With ``d(p) = ||I_t(p) - I_t+1(p + F(p))||^2`` (bilinear samples), the agreement is
    ``exp(-mean(d) / sigma^2)``, the mean over the ``(2 radius + 1)^2`` patch around p:
    near 1 where the vectors carry the patch's texture along, near 0 where they carry
    it onto something else, even of the same mean colour. In flat regions it cannot
    tell a wrong vector from a right one and stays near 1.

    Parameters
    ----------
    frame, next_frame : (H, W, 3) float arrays in [0, 1], frames t and t+1
    flow : (H, W, 2) float array, the forward flow of frame t (x then y), px
    radius : int >= 0, half-width of the patch, px
    sigma : float > 0, colour scale

    Returns
    -------
    (H, W) float32 in [0, 1]

    Examples
    --------
    A texture moved 3 px to the right: the true flow agrees, no flow does not.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.random((24, 24, 3)).astype(np.float32)
    >>> b = np.roll(a, 3, axis=1)
    >>> right = np.zeros((24, 24, 2), np.float32); right[..., 0] = 3
    >>> bool(patch_agreement(a, b, right)[:, :-6].min() > 0.99)
    True
    >>> bool(patch_agreement(a, b, np.zeros_like(right)).max() < 0.01)
    True
    """
    frame = np.asarray(frame, np.float32)
    warped, _ = warp_back(next_frame, flow)
    error = ((frame - warped) ** 2).sum(axis=2)
    size = (2 * int(radius) + 1,) * 2
    mean = cv2.blur(error, size, borderType=cv2.BORDER_REFLECT)
    return np.exp(-mean / float(sigma) ** 2).astype(np.float32)


def carry_forward(values, flow):
    """Values of frame t carried to frame t+1 along the flow, with their confidence.

    Parameters
    ----------
    values : (H, W) or (H, W, C) float array on frame t's grid
    flow : FrameFlow from frame t to frame t+1

    Returns
    -------
    carried : same shape as ``values``, float32, on frame t+1's grid
    confidence : (H, W) float32 in [0, 1], the backward flow's consistency (0 where
        frame t+1's pixel was hidden in frame t)
    """
    carried, _ = warp_back(values, flow.backward)
    return carried, consistency(flow.backward, flow.forward)


def carried_prior(layers, flows, first, weight):
    """The relaxed sparsification's prior on a window's frames after the last one with
    layers: those layers carried frame to frame along the flow, weighted by ``weight``
    times the product of the flow confidences.

    Parameters
    ----------
    layers : (h, w, K) float array, the layers of frame ``first - 1`` of the window
    flows : sequence of FrameFlow, from frame ``first - 1`` to the next, and on to the
        window's last frame
    first : int, index in the window of the first frame the prior covers
    weight : float, > 0

    Returns
    -------
    (rows (P,) int64, values (P, K) float64, weights (P,) float64)
        Rows of the window's stacked pixels (frame after frame).
    """
    h, w = layers.shape[:2]
    values = layers
    confidence = np.ones((h, w), np.float32)
    rows, carried, weights = [], [], []
    for j, flow in enumerate(flows, start=first):
        values, step = carry_forward(values, flow)
        confidence = warp_back(confidence, flow.backward)[0] * step
        rows.append(np.arange(j * h * w, (j + 1) * h * w))
        carried.append(values.reshape(h * w, -1))
        weights.append(weight * confidence.ravel())
    return (np.concatenate(rows), np.concatenate(carried).astype(np.float64),
            np.concatenate(weights).astype(np.float64))
