"""Coarse class masks as evidence: a layer never loses a solid part its mask is sure of,
and keeps what the image found where the mask is unsure (hair, gaps between strands)."""

import numpy as np
import pytest

import sss_vfx
from sss_vfx.errors import OptionError
from sss_vfx.evaluation import iou, sad
from sss_vfx.segments.class_evidence import hold_to_classes, opening_radius
from sss_vfx.data import coarse_features, coarse_mask


def _animal():
    """A body with a leg 12 px wide (true alpha), and hair strands above the body; the
    body's edges on the coarse mask's 8-px blocks, so the mask's contour is right."""
    alpha = np.zeros((96, 128))
    alpha[16:56, 24:104] = 1          # body
    alpha[56:90, 40:52] = 1           # leg
    alpha[6:16, 30:98:4] = 0.6        # strands, 1 px wide, beyond the body
    return alpha


def _two(alpha_object):
    return np.stack([alpha_object, 1 - alpha_object], axis=-1).astype(np.float32)


def test_a_lost_leg_comes_back_and_the_layer_is_never_below_the_mask():
    truth = _animal()
    mask = coarse_mask(truth)
    layer = truth.copy()
    layer[56:90, 40:52] = 0           # the leg has the ground's colour: dropped
    layer[30:46, 40:88] = 0.35        # a grey smear inside the body
    held = hold_to_classes(_two(layer), _two(mask))[..., 0]
    assert held[58:74, 44:50].min() > 0.5 and held[33:43, 44:84].min() > 0.5
    assert iou(held, truth) >= iou(mask, truth) > iou(layer, truth)
    assert sad(held, truth) < sad(mask, truth)
    np.testing.assert_allclose(hold_to_classes(_two(layer), _two(mask)).sum(axis=2), 1,
                               atol=1e-6)


def test_strands_and_thin_gaps_stay_the_images():
    truth = _animal()
    mask = coarse_mask(truth)
    layer = truth.copy()
    layer[16:56, 80:82] = 0           # a gap 2 px wide the mask does not know
    held = hold_to_classes(_two(layer), _two(mask))[..., 0]
    for part in (np.s_[0:16], np.s_[16:50, 76:86]):      # strands; the gap
        np.testing.assert_array_equal(held[part], layer[part].astype(np.float32))


def test_a_solid_background_blob_leaves_the_object():
    truth = _animal()
    mask = coarse_mask(truth)
    layer = truth.copy()
    layer[70:92, 80:120] = 1          # far from the object, the object's colour
    held = hold_to_classes(_two(layer), _two(mask))[..., 0]
    assert held[72:90, 84:116].max() < 0.1


def test_unsure_regions_are_left_to_the_layer():
    mask = np.full((40, 40), 0.55)    # the mask barely leans to the object
    layer = np.zeros((40, 40))
    held = hold_to_classes(_two(layer), _two(mask))
    np.testing.assert_array_equal(held, _two(layer))


def test_radius_and_shapes():
    assert opening_radius((480, 854)) == opening_radius((800, 600)) == 2
    assert opening_radius((2160, 3840)) == 8 and opening_radius((20, 30)) == 1
    with pytest.raises(OptionError, match="same size"):
        hold_to_classes(np.zeros((4, 4, 2)), np.zeros((4, 5, 2)))
    with pytest.raises(OptionError, match="radius"):
        hold_to_classes(np.zeros((4, 4, 2)), np.zeros((4, 4, 2)), radius=0)


def test_the_pipeline_holds_feature_classes_and_off_does_not():
    # A dark leg on dark ground under a bright body: the image alone loses the leg.
    truth = np.zeros((64, 80))
    truth[12:36, 16:64] = 1
    truth[36:60, 24:34] = 1
    image = np.full((64, 80, 3), 0.2)
    image[12:36, 16:64] = (0.9, 0.8, 0.7)
    image[36:60, 24:34] = 0.2             # exactly the ground's colour
    features = coarse_features(truth, scale=4)
    small = dict(eigenvectors=12, superpixels=120, relaxed_rounds=2, cg_steps=20,
                 max_pixels=0)
    results = {mode: sss_vfx.segment_image(image, features, guide_evidence=mode, **small,
                                           **sss_vfx.COARSE_FEATURES).alphas
               for mode in ("scaled", "off")}
    mask = coarse_mask(truth, scale=4)
    layer = {mode: a[..., int(np.argmax((a * truth[..., None]).sum(axis=(0, 1))))]
             for mode, a in results.items()}
    assert iou(layer["scaled"], truth) >= iou(mask, truth)
    assert iou(layer["scaled"], truth) > iou(layer["off"], truth)
    np.testing.assert_allclose(results["scaled"].sum(axis=2), 1, atol=1e-5)
