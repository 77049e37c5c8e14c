"""The video pipeline: temporal coherence on a rendered moving shot, identity, resume."""

import numpy as np
import pytest

from sss_vfx import segment_video
from sss_vfx.errors import OptionError
from sss_vfx.graph.flow import frame_flow
from sss_vfx.evaluation import dtssd, foreground_layers, sad, warping_error
from sss_vfx.data import moving_shot, two_region_image

#: Small but real: every stage runs, on 48x64 frames.
SMALL = dict(layers=3, eigenvectors=30, initial_segments=10, superpixels=100,
             embedding_weight=1.0, constrained_iterations=20, relaxed_rounds=10)
TINY = dict(layers=2, eigenvectors=10, initial_segments=4, superpixels=40)


@pytest.fixture(scope="module")
def moving():
    return moving_shot(frames=20, shape=(48, 64), seed=1)


def object_mattes(results, clip):
    """Per frame: the matte of the layers mostly inside the object, and the index of the
    layer covering most of it."""
    mattes, index = [], []
    for result, shot in zip(results, clip):
        chosen, share = foreground_layers(result.alphas, shot.alpha)
        mattes.append(result.alphas[..., chosen].sum(axis=2))
        index.append(int(np.argmax(share)))
    return mattes, index


@pytest.fixture(scope="module")
def both_modes(moving):
    images = [s.image for s in moving]
    features = [s.features for s in moving]
    per_frame = list(segment_video(images, features, temporal=False, **SMALL))
    temporal = list(segment_video(images, features, **SMALL))
    return per_frame, temporal


def test_temporal_mode_cuts_flicker_without_losing_accuracy(moving, both_modes):
    truth = [s.alpha for s in moving]
    scores = {}
    for name, results in zip(("per_frame", "temporal"), both_modes):
        mattes, _ = object_mattes(results, moving)
        scores[name] = (dtssd(mattes, truth),
                        np.mean([sad(m, t) for m, t in zip(mattes, truth)]))
    # Measured: dtSSD 7.98 -> 4.40, mean SAD 0.132 -> 0.109 (the issue asks -30 % and
    # at most +10 %).
    assert scores["temporal"][0] <= 0.7 * scores["per_frame"][0], scores
    assert scores["temporal"][1] <= 1.1 * scores["per_frame"][1], scores


def mean_warping_error(results, clip):
    errors = []
    for (a, b), (s, t) in zip(zip(results, results[1:]), zip(clip, clip[1:])):
        flow = frame_flow(s.image, t.image)
        errors.append(warping_error(a.alphas, b.alphas, flow.forward, flow.confidence))
    return float(np.mean(errors))


def test_carrying_layers_along_the_flow_cuts_the_flicker_at_window_seams(moving,
                                                                         both_modes):
    images = [s.image for s in moving]
    features = [s.features for s in moving]
    carried = list(segment_video(images, features, carry_weight=1.0, **SMALL))
    # Measured: warping error 0.379 per frame, 0.0121 temporal, 0.0156 carried; dtSSD
    # 10.04, 3.54, 3.45; mean SAD 0.145, 0.120, 0.155 (the prior lags the motion a
    # little: why it is off by default). Before the flow followed small objects at the
    # working size (finest scale, 4-px patches) plain temporal mode's warping error was
    # 0.048 and carrying halved it; now plain temporal mode is as steady.
    assert mean_warping_error(carried, moving) < 0.5 * mean_warping_error(both_modes[0],
                                                                          moving)
    _, index = object_mattes(carried, moving)
    assert len(set(index)) == 1, index
    for result in carried:
        np.testing.assert_allclose(result.alphas.sum(axis=2), 1.0, atol=1e-3)


def test_the_object_keeps_its_layer_index_through_the_shot(moving, both_modes):
    for results in both_modes:
        _, index = object_mattes(results, moving)
        assert len(set(index)) == 1, index


def test_every_frame_has_the_same_k_and_sums_to_one(moving, both_modes):
    for results in both_modes:
        assert [r.number for r in results] == list(range(20))
        for r in results:
            assert r.alphas.shape == (48, 64, SMALL["layers"])
            assert r.alphas.dtype == np.float32
            assert np.abs(r.alphas.sum(axis=2) - 1).max() < 1e-3
            assert r.alphas.min() >= 0 and r.alphas.max() <= 1


def clip_of(count, shape=(24, 32)):
    return [two_region_image(shape, seed=s)[0] for s in range(count)]


@pytest.mark.parametrize("window, overlap, count", [(3, 1, 7), (4, 2, 5), (2, 0, 5), (3, 1, 2)])
def test_windows_emit_every_frame_once_in_order(window, overlap, count):
    results = list(segment_video(clip_of(count), start=10, window=window, overlap=overlap,
                                 **TINY))
    assert [r.number for r in results] == list(range(10, 10 + count))
    assert [r.index for r in results] == list(range(count))


def test_region_flows_only_for_windows_that_carry_layers(monkeypatch):
    from sss_vfx.pipeline import window_step
    fine = []

    def counted(frame, next_frame, **kwargs):
        fine.append(kwargs.get("fine", True))
        return frame_flow(frame, next_frame, **kwargs)

    monkeypatch.setattr(window_step, "frame_flow", counted)
    list(segment_video(clip_of(5), window=3, overlap=1, **TINY))
    # Links for the four frame pairs; the preset's flow only for the second window's
    # two pairs (the first window carries nothing).
    assert fine.count(True) == 4 and fine.count(False) == 2


def test_deterministic():
    clip = clip_of(4)
    first = [r.alphas for r in segment_video(clip, **TINY)]
    second = [r.alphas for r in segment_video(clip, **TINY)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_resume_skips_finished_frames_and_continues_their_identity():
    clip = clip_of(5)
    full = list(segment_video(clip, **TINY))
    done = {r.number: r.alphas[..., ::-1].copy() for r in full[:3]}   # order swapped
    resumed = list(segment_video(clip, finished=done.get, **TINY))
    assert [r.skipped for r in resumed] == [True, True, True, False, False]
    for r in resumed[:3]:   # finished frames come back as they were, not recomputed
        np.testing.assert_array_equal(r.alphas, done[r.number])
        assert r.colours is None
    # The new frames follow the finished frames' (swapped) layer order.
    for r, f in zip(resumed[3:], full[3:]):
        assert np.abs(r.alphas - f.alphas[..., ::-1]).mean() < np.abs(r.alphas - f.alphas).mean()


@pytest.mark.parametrize("bad, match", [(dict(window=1), "window"),
                                        (dict(overlap=3), "overlap"),
                                        (dict(temporal_weight=-1.0), "temporal_weight"),
                                        (dict(carry_weight=float("nan")), "carry_weight")])
def test_bad_temporal_options_are_refused(bad, match):
    with pytest.raises(OptionError, match=match):
        next(segment_video(clip_of(2), **bad, **TINY))


def test_high_dimensional_features_share_one_projection_across_frames():
    from sss_vfx.features.preprocess import (apply_feature_projection,
                                             fit_feature_projection, preprocess_features)
    rng = np.random.default_rng(7)
    image = rng.random((20, 24, 3))
    first = rng.normal(size=(20, 24, 8))
    second = first[:, ::-1] * 1.0     # the same content, mirrored: same statistics
    projection = fit_feature_projection(first, image)
    np.testing.assert_allclose(apply_feature_projection(projection, first, image),
                               preprocess_features(first, image))
    # A frame reduced with the shared projection keeps the first frame's axes: a
    # pixel with the same raw features and guide gets the same map either way.
    shared = apply_feature_projection(projection, second, image[:, ::-1])
    np.testing.assert_allclose(shared[:, ::-1], preprocess_features(first, image),
                               atol=1e-9)


def test_refine_band_applies_to_video_frames():
    clip = [two_region_image((48, 64), seed=s)[0] for s in range(2)]
    plain = list(segment_video(clip, max_pixels=1024, **TINY))
    refined = list(segment_video(clip, max_pixels=1024, refine_band=2, **TINY))
    assert "refinement" in refined[-1].timings and "refinement" not in plain[-1].timings
    changed = [np.abs(a.alphas - b.alphas).max() for a, b in zip(plain, refined)]
    assert min(changed) > 1e-3
    for r in refined:
        assert np.abs(r.alphas.sum(axis=2) - 1).max() < 1e-3


def test_window_constrained_pixels_are_the_new_frames():
    """constrained_frames='new': a window after the first sums its constrained
    sparsification's sparsity over the frames not yet given layers; the shot's first
    window and 'all' (the default and the paper's) over every pixel."""
    from types import SimpleNamespace

    from sss_vfx.options import SegmentationOptions
    from sss_vfx.pipeline.window_step import _new_pixels

    def frames(given):
        return [SimpleNamespace(given=g, frame=SimpleNamespace(image=np.zeros((2, 3, 3))))
                for g in given]

    new = SegmentationOptions(constrained_frames="new")
    later = frames([np.ones((6, 2)), None, None])
    np.testing.assert_array_equal(_new_pixels(later, new), np.arange(6, 18))
    assert _new_pixels(frames([None, None, None]), new) is None
    assert _new_pixels(later, SegmentationOptions()) is None
    assert _new_pixels(later, SegmentationOptions.paper()) is None
