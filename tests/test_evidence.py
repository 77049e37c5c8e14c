"""Guides are evidence with an error scale: the object's layer never worse than its guide."""

import numpy as np
import pytest

from sss_vfx.errors import OptionError
from sss_vfx.evaluation import iou, sad
from sss_vfx.pipeline.still import segment_image
from sss_vfx.segments.evidence import (
    EVIDENCE,
    evidence_layers,
    guide_error_scale,
    object_evidence,
    signed_distance,
)
from sss_vfx.data import strands_shot

BACKGROUND, OBJECT = (0.15, 0.2, 0.5), (0.9, 0.6, 0.2)


def paint(mask, rng=None):
    """The object's colour where ``mask``, the background's elsewhere, a little noise."""
    rng = rng or np.random.default_rng(0)
    img = np.where(mask[..., None], OBJECT, BACKGROUND)
    return np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1)


def box(rows, cols, shape=(48, 64)):
    """A (H, W) bool mask, True over ``rows`` x ``cols`` (two slices)."""
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


def two_layers(layer):
    return np.stack([layer, 1 - layer], axis=-1)


def test_signed_distance_is_positive_inside_and_counts_pixels():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    d = signed_distance(mask)
    assert d[10, 10] == pytest.approx(5, abs=0.5)
    assert d[10, 5] == pytest.approx(1, abs=0.1)
    assert d[10, 4] == pytest.approx(-1, abs=0.1) and d[10, 1] == pytest.approx(-4, abs=0.3)


@pytest.mark.parametrize("shift", [3, 6, 9])
def test_error_scale_follows_how_far_the_guide_is_off(shift):
    layer = np.zeros((80, 80))
    layer[20:60, 20:60] = 1
    guide = np.roll(layer, shift, axis=1) > 0.5
    scale = guide_error_scale(signed_distance(guide), layer, low=1, high=20, quantile=90)
    assert shift - 1.5 <= scale <= shift + 0.5


def test_a_thin_structure_of_the_background_colour_stays_in_the_object_layer():
    # A bright body with a 2 px neck of the background's own colour, held by the roto;
    # the soft layer (as colour alone gives it) lost the neck.
    h, w = 48, 64
    body = np.zeros((h, w), bool)
    body[16:40, 8:32] = True
    neck = np.zeros((h, w), bool)
    neck[27:29, 32:56] = True
    img = paint(body)
    guide = (body | neck).astype(float)
    guide[26:30, 32:57] = 1  # the roto holds the neck with a px to spare each side
    layer = body.astype(float)
    out = evidence_layers(img, two_layers(layer), guide[..., None])
    held = out[..., 0][neck]
    assert held.mean() > 0.9  # the layer itself held 0 there
    assert out[..., 0][27:29, 34:56].min() > 0.9  # all but the junction's 2 px
    assert out[..., 0][25:31, 17:23].min() == 1.0  # deeper than the band (3 x 3 px)
    np.testing.assert_allclose(out.sum(axis=-1), 1, atol=1e-6)


def test_a_solid_interior_stays_solid_where_the_layer_has_holes_and_smears():
    # A flag of two colours, one of them the background's: the layer has a hole there and
    # a grey smear over the rest; the roto is 2 px generous.
    h, w = 60, 60
    flag = np.zeros((h, w), bool)
    flag[10:50, 10:50] = True
    img = paint(flag)
    img[20:40, 20:40] = BACKGROUND
    layer = np.where(flag, 0.55, 0.0)
    layer[20:40, 20:40] = 0.0
    guide = np.zeros((h, w))
    guide[8:52, 8:52] = 1
    alpha, scale = object_evidence(img, layer, guide)
    inner = signed_distance(guide > 0.5) > EVIDENCE["band"] * scale
    assert inner.sum() > 0.25 * flag.sum()
    assert alpha[inner].min() == 1.0
    assert alpha[~flag].max() < 0.1  # the generous margin goes to the background
    # Within the band (3 error scales) the smear is the layer's to keep: half is gone.
    assert sad(alpha, flag) < 0.5 * sad(layer, flag)


def test_a_guide_error_the_layer_repeats_is_decided_by_the_image():
    # The roto stops 4 px short of the object's right edge, and the soft layer (the guide
    # is one of its features) stops with it: within the guide's uncertain band the image,
    # not the layer, must decide, and the missing rim comes back.
    obj = box(slice(8, 40), slice(8, 40))
    guide = box(slice(8, 40), slice(8, 36)).astype(float)
    alpha, _ = object_evidence(paint(obj), guide, guide)
    assert alpha[10:38, 36:40].min() > 0.5  # the layer held 0 there
    assert alpha[:, 42:].max() < 0.05
    assert sad(alpha, obj) < 0.5 * sad(guide, obj)


def test_a_faint_smear_over_the_background_leaves_the_object_layer():
    # The layer spills a faint 0.3 over a wide stretch of background touching the object
    # (as colour clutter does): no hair, so beyond the band it goes back to the guide's 0.
    obj = box(slice(12, 36), slice(8, 30))
    smear = box(slice(4, 44), slice(30, 64))
    layer = np.where(smear, 0.3, obj.astype(float))
    alpha, scale = object_evidence(paint(obj), layer, obj.astype(float))
    far = smear & (signed_distance(obj) < -EVIDENCE["band"] * scale - 3)
    assert far.sum() > 400
    assert alpha[far].mean() < 0.05  # the layer held 0.3 there
    assert alpha[obj].min() > 0.9


def test_nearest_neighbour_links_draw_a_strip_of_a_background_colour_out_of_the_layer():
    # The layer runs on from the object along a 3 px strip of a colour the background
    # also has a little further off (a shadow, a stripe, a kerb: what colour clutter
    # joins at a coarse working size). Around the strip the background has another
    # colour, so the 3x3 windows cannot tell the strip from the object; the links to the
    # background's own pixels of that colour draw it towards 0.
    h, w = 64, 96
    obj = box(slice(10, 40), slice(6, 34), (h, w))
    strip = box(slice(22, 25), slice(34, 92), (h, w))
    far = box(slice(34, 64), slice(48, 96), (h, w))
    img = paint(obj)
    rng = np.random.default_rng(1)
    img[strip | far] = (0.75, 0.75, 0.7) + rng.normal(0, 0.01, ((strip | far).sum(), 3))
    layer = np.where(strip, 0.9, obj.astype(float))
    alpha, scale = object_evidence(img, layer, obj.astype(float))
    without, _ = object_evidence(img, layer, obj.astype(float), knn_weight=0.0)
    beyond = strip & (signed_distance(obj) < -EVIDENCE["band"] * scale - 3)
    assert beyond.sum() > 80
    assert without[beyond].mean() > 0.8  # the 3x3 windows alone keep the layer's 0.9
    assert alpha[beyond].mean() < without[beyond].mean() - 0.08
    assert alpha[obj].min() > 0.9


def test_a_background_blob_far_from_the_guide_leaves_the_object_layer():
    h, w = 48, 64
    obj = np.zeros((h, w), bool)
    obj[12:36, 10:30] = True
    blob = np.zeros((h, w), bool)
    blob[14:30, 48:62] = True
    img = paint(obj | blob)
    alpha, _ = object_evidence(img, (obj | blob).astype(float), obj.astype(float))
    assert alpha[blob].max() == 0.0 and alpha[obj].min() > 0.95


def test_hair_beyond_the_roto_is_kept():
    shot = strands_shot((96, 128), seed=7)
    solid = shot.alpha > 0.98
    # A roto of the solid part only; the soft layer is the truth itself: hair beyond
    # the roto that the layer found must survive.
    alpha, _ = object_evidence(shot.image, shot.alpha, solid.astype(float))
    hair = (shot.alpha > 0.3) & (signed_distance(solid) < -6)
    assert hair.sum() > 20
    assert np.mean(alpha[hair]) > 0.7 * np.mean(shot.alpha[hair])


def test_evidence_layers_refuses_layers_that_do_not_fit_the_guides():
    with pytest.raises(OptionError, match="guide"):
        evidence_layers(np.zeros((8, 8, 3)), np.ones((8, 8, 2)), np.ones((8, 8, 2)))


SMALL = dict(eigenvectors=14, initial_segments=8, superpixels=80, constrained_iterations=10,
             relaxed_rounds=3, device="numpy", colours=False)


@pytest.mark.parametrize("seed", [3, 11])
def test_a_layer_never_scores_below_its_guide(seed):
    shot = strands_shot((72, 96), seed=seed)
    rng = np.random.default_rng(seed)
    # A careful roto of the solid part, 2 px grown and shifted a px or two.
    guide = np.roll(shot.alpha > 0.5, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
    guide = guide.astype(np.float32)
    seg = segment_image(shot.image, guides=guide, **SMALL)
    layer = seg.alphas[..., 0]
    assert sad(layer, shot.alpha) < sad(guide, shot.alpha)
    assert iou(layer, shot.alpha) >= iou(guide, shot.alpha)


def test_guide_evidence_off_is_the_faithful_layers():
    shot = strands_shot((48, 64), seed=5)
    guide = (shot.alpha > 0.5).astype(np.float32)
    off = segment_image(shot.image, guides=guide, guide_evidence="off", **SMALL)
    np.testing.assert_allclose(off.alphas, np.clip(off.working_alphas, 0, 1)
                               / np.clip(off.working_alphas, 0, 1).sum(-1, keepdims=True),
                               atol=1e-5)
    with pytest.raises(OptionError, match="guide_evidence"):
        segment_image(shot.image, guides=guide, guide_evidence="maybe", **SMALL)
