"""A class mask and the layers weighed by how sure each is: an undecided layer follows a
sure mask (a thin part the sharp mask holds stays the object's), a decided layer keeps
what the image found where the mask is unsure (a blurred mask leaves the edge and the
strands to the image)."""

import numpy as np
import pytest

from sss_vfx.data import coarse_mask
from sss_vfx.errors import OptionError
from sss_vfx.evaluation import iou, sad
from sss_vfx.segments.class_confidence import confidence, weigh_by_confidence
from sss_vfx.segments.class_evidence import hold_to_classes


def _two(alpha_object):
    return np.stack([alpha_object, 1 - alpha_object], axis=-1).astype(np.float32)


def _evidence(layer, mask):
    """The object's layer after the whole class evidence: the hold, then the weighing."""
    prob = _two(mask)
    return weigh_by_confidence(hold_to_classes(_two(layer), prob), prob)[..., 0]


def _animal(leg=2):
    """A body with a leg ``leg`` px wide (2: narrower than the hold's opening) and
    strands of hair above the body, 1 px wide, at 0.6."""
    alpha = np.zeros((96, 128))
    alpha[16:56, 24:104] = 1
    alpha[56:90, 44:44 + leg] = 1
    alpha[6:16, 30:98:4] = 0.6
    return alpha


def test_a_thin_part_the_sharp_mask_holds_stays_the_objects():
    truth = _animal()
    mask = (truth > 0.99).astype(float)            # a sharp mask: the body and the leg
    layer = truth.copy()
    layer[56:90, 44:46] = 0.4                      # the leg has the ground's colour
    layer[24:48, 40:90] = 0.55                     # a grey smear inside the body
    held = hold_to_classes(_two(layer), _two(mask))[..., 0]
    # The hold alone reaches neither: the leg is thin, the smear is not a miss.
    assert held[56:90, 44:46].max() < 0.5 and held[24:48, 40:90].max() < 0.6
    out = _evidence(layer, mask)
    assert out[56:90, 44:46].min() > 0.7 and out[24:48, 40:90].min() > 0.9
    assert iou(out, truth) > iou(layer, truth) and iou(out, truth) >= iou(mask, truth)
    assert sad(out, truth) < sad(layer, truth)
    # Strands kept (but for the row where they join the body, which the opening keeps).
    np.testing.assert_allclose(out[6:15, 30:98:4], 0.6, atol=0.05)


def test_a_blurred_mask_leaves_the_edge_and_the_strands_to_the_image():
    truth = _animal(leg=12)
    mask = coarse_mask(truth)                      # 1/8 resolution, blurred
    layer = truth.copy()                           # the image found the true edge
    held = hold_to_classes(_two(layer), _two(mask))[..., 0]
    out = _evidence(layer, mask)
    unsure = (mask > 0.1) & (mask < 0.9)
    decided = (held < 0.05) | (held > 0.95)
    assert (unsure & decided).sum() > 1000
    # A decided layer barely moves where the mask is unsure, nor anywhere else.
    assert np.abs(out - held)[decided].max() < 0.05
    np.testing.assert_allclose(out[6:16, 30:98:4], 0.6, atol=0.15)   # strands kept
    assert iou(out, truth) > iou(mask, truth) and sad(out, truth) < sad(mask, truth)


def test_a_sharp_mask_decides_an_undecided_edge_a_blurred_one_does_not():
    truth = np.zeros((64, 64))
    truth[:, 32:] = 1
    layer = truth.copy()
    layer[:, 28:36] = 0.45                         # the image cannot place the edge
    sharp = _evidence(layer, truth)
    np.testing.assert_allclose(sharp[:, 28:36], truth[:, 28:36], atol=0.1)
    blurred_mask = np.clip((np.arange(64) - 16) / 32, 0, 1)[None].repeat(64, axis=0)
    blurred = _evidence(layer, blurred_mask)
    # Where the blurred mask is near an even split, the layer's doubt stays.
    np.testing.assert_allclose(blurred[:, 31:34], 0.45, atol=0.08)


def test_weights_sum_and_shapes():
    rng = np.random.default_rng(0)
    alphas = rng.dirichlet(np.ones(3), size=(8, 9))
    prob = rng.dirichlet(np.ones(3), size=(8, 9))
    out = weigh_by_confidence(alphas, prob)
    np.testing.assert_allclose(out.sum(axis=2), 1, atol=1e-5)
    lo, hi = np.minimum(alphas, prob), np.maximum(alphas, prob)
    assert np.all(out >= lo - 1e-6) and np.all(out <= hi + 1e-6)
    np.testing.assert_allclose(confidence(np.array([[[0.2, 0.5, 0.3]]])), [[[0.2]]],
                               atol=1e-6)
    with pytest.raises(OptionError, match="same size"):
        weigh_by_confidence(np.zeros((4, 4, 2)), np.zeros((4, 5, 2)))
    with pytest.raises(OptionError, match="above 0"):
        weigh_by_confidence(np.zeros((4, 4, 2)), np.zeros((4, 4, 2)), layer_power=0)
    with pytest.raises(OptionError, match="above 0"):
        weigh_by_confidence(np.zeros((4, 4, 2)), np.zeros((4, 4, 2)), strand_contrast=0)


def test_the_pipeline_weighs_feature_classes_under_scaled_evidence(monkeypatch):
    import sss_vfx
    import sss_vfx.pipeline.layers as layers
    from sss_vfx.data import coarse_features

    calls = []

    def spy(alphas, probabilities, **kwargs):
        calls.append((np.shape(alphas), np.shape(probabilities)))
        return weigh_by_confidence(alphas, probabilities, **kwargs)

    monkeypatch.setattr(layers, "weigh_by_confidence", spy)
    truth = np.zeros((48, 64))
    truth[10:38, 16:48] = 1
    image = np.full((48, 64, 3), 0.2)
    image[truth > 0] = (0.9, 0.8, 0.7)
    small = dict(eigenvectors=10, superpixels=80, relaxed_rounds=2, cg_steps=20,
                 max_pixels=0)
    for mode in ("scaled", "off"):
        out = sss_vfx.segment_image(image, coarse_features(truth, scale=4),
                                    guide_evidence=mode, **small,
                                    **sss_vfx.COARSE_FEATURES).alphas
        np.testing.assert_allclose(out.sum(axis=2), 1, atol=1e-5)
    assert calls == [((48, 64, 2), (48, 64, 2))]          # once, and not with "off"
