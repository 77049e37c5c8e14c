"""Temporal affinity (DESIGN section 2): numpy reference, a direct loop, the device."""

import numpy as np
import pytest
from _opencl import OPENCL, relative_difference

from sss_vfx import InputError
from sss_vfx.accel.temporal_cl import temporal_affinity_cl
from sss_vfx.graph.temporal import temporal_affinity, temporal_block


def direct_loop(frame, next_frame, flow, confidence, lambda_t, sigma):
    """W_pq by its definition, one pixel and one corner at a time."""
    h, w, _ = frame.shape
    dense = np.zeros((h * w, h * w))
    for y in range(h):
        for x in range(w):
            qx, qy = x + flow[y, x, 0], y + flow[y, x, 1]
            if not (np.isfinite(qx) and np.isfinite(qy)):
                continue
            for cy in (int(np.floor(qy)), int(np.floor(qy)) + 1):
                for cx in (int(np.floor(qx)), int(np.floor(qx)) + 1):
                    if 0 <= cy < h and 0 <= cx < w:
                        bilinear = (1 - abs(qx - cx)) * (1 - abs(qy - cy))
                        colour = np.sum((frame[y, x] - next_frame[cy, cx]) ** 2)
                        dense[y * w + x, cy * w + cx] += (
                            lambda_t * confidence[y, x] * bilinear
                            * np.exp(-colour / sigma ** 2))
    return dense


def tiny_pair():
    rng = np.random.default_rng(0)
    frame = rng.random((5, 6, 3))
    next_frame = np.roll(frame, (1, 2), axis=(0, 1)) + 0.05 * rng.random((5, 6, 3))
    flow = np.zeros((5, 6, 2))
    flow[..., 0], flow[..., 1] = 1.5, 0.75  # between pixels: four corners each
    flow[0, 0] = np.nan                      # no link
    flow[4, 5] = (3.0, 2.0)                  # leaves the frame
    flow[2, 3] = (-1.0, 0.0)                 # exactly on a pixel
    confidence = rng.random((5, 6))
    confidence[1, 1] = 0.0                   # occluded
    return frame, next_frame, flow, confidence


def test_reference_equals_direct_loop():
    frame, next_frame, flow, confidence = tiny_pair()
    expected = direct_loop(frame, next_frame, flow, confidence, 0.7, 0.4)
    actual = temporal_affinity(frame, next_frame, flow, confidence, lambda_t=0.7, sigma=0.4)
    np.testing.assert_allclose(actual.toarray(), expected, rtol=0, atol=1e-15)
    assert actual.shape == (30, 30) and actual.has_sorted_indices
    assert actual[0].nnz == 0 and actual[4 * 6 + 5].nnz == 0
    assert actual[1 * 6 + 1].sum() == 0.0


def test_integer_flow_links_one_pixel_with_the_colour_weight():
    rng = np.random.default_rng(1)
    frame = rng.random((4, 4, 3))
    flow = np.zeros((4, 4, 2))
    flow[..., 0] = 1.0
    T = temporal_affinity(frame, frame, flow, np.ones((4, 4)), lambda_t=2.0, sigma=0.5)
    dense = T.toarray()
    for y in range(4):
        for x in range(3):
            d = np.sum((frame[y, x] - frame[y, x + 1]) ** 2)
            assert dense[y * 4 + x, y * 4 + x + 1] == pytest.approx(2.0 * np.exp(-d / 0.25))
    assert dense.sum(axis=1)[3::4].max() == 0.0  # the last column leaves the frame


def test_block_form_is_symmetric():
    frame, next_frame, flow, confidence = tiny_pair()
    T = temporal_affinity(frame, next_frame, flow, confidence)
    B = temporal_block(T)
    assert B.shape == (60, 60) and abs(B - B.T).max() == 0
    np.testing.assert_array_equal(B[:30, 30:].toarray(), T.toarray())


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(flow=np.zeros((5, 6, 3))), "flow"),
    (lambda a: a.update(confidence=np.full((5, 6), 1.5)), "confidence"),
    (lambda a: a.update(next_frame=np.zeros((5, 7, 3))), "next_frame"),
    (lambda a: a.update(sigma=0.0), "sigma"),
])
def test_bad_inputs_are_rejected(change, message):
    frame, next_frame, flow, confidence = tiny_pair()
    args = dict(frame=frame, next_frame=next_frame, flow=flow, confidence=confidence,
                sigma=0.1)
    change(args)
    with pytest.raises(InputError, match=message):
        temporal_affinity(**args)


@OPENCL
@pytest.mark.parametrize("shape", [(5, 6), (17, 31)])
def test_device_matches_reference(device, shape):
    rng = np.random.default_rng(shape[1])
    frame, next_frame = rng.random(shape + (3,)), rng.random(shape + (3,))
    flow = rng.normal(0, 3, shape + (2,))
    flow[0, 0] = np.inf
    confidence = rng.random(shape)
    expected = temporal_affinity(frame, next_frame, flow, confidence, lambda_t=0.5,
                                 sigma=0.3)
    for precision, tol in (("float32", 1e-5), (None, 1e-13 if device.fp64 else 1e-5)):
        actual = temporal_affinity_cl(frame, next_frame, flow, confidence, lambda_t=0.5,
                                      sigma=0.3, device=device, precision=precision)
        np.testing.assert_array_equal(actual.indptr, expected.indptr)
        assert relative_difference(expected, actual) < tol


@OPENCL
def test_device_matches_direct_loop(device):
    frame, next_frame, flow, confidence = tiny_pair()
    expected = direct_loop(frame, next_frame, flow, confidence, 1.0, 0.1)
    actual = temporal_affinity_cl(frame, next_frame, flow, confidence, device=device)
    np.testing.assert_allclose(actual.toarray(), expected, rtol=0,
                               atol=(1e-14 if device.fp64 else 1e-6))
