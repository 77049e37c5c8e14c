"""Coarse guides to object probabilities and features: properties on tiny images."""

import numpy as np
import pytest

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.features.guides import class_colours, guide_features, guide_probabilities


def split_image(h=40, w=60, edge=30):
    img = np.full((h, w, 3), 0.1)
    img[:, edge:] = 0.9
    return img


def test_probabilities_sum_to_one_objects_first_rest_last():
    img = split_image()
    a = np.zeros((40, 60))
    a[:, 34:] = 1
    b = np.zeros((40, 60))
    b[:10, :20] = 0.7
    p = guide_probabilities(img, np.stack([a, b], -1))
    assert p.shape == (40, 60, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-6)
    assert p.min() >= 0 and p.max() <= 1
    assert p[20, 55, 0] > 0.95 and p[20, 5, 2] > 0.95


def test_a_guide_off_by_pixels_snaps_to_the_image_edge():
    """The object is the right half (edge at x=30); the roto was drawn 4 px too far in."""
    img = split_image()
    roto = np.zeros((40, 60, 1))
    roto[:, 34:] = 1
    p = guide_probabilities(img, roto, uncertainty=0.06)[..., 0]
    # The probability steps on the image edge, not on the roto's...
    steps = np.abs(np.diff(p[20]))
    assert int(np.argmax(steps)) == 29
    # ...and on the object's side of it, it is higher than a blur of the roto alone
    # (a flat image has no edge to snap to), on the rest's side lower.
    flat = guide_probabilities(np.full_like(img, 0.5), roto, uncertainty=0.06)[..., 0]
    assert np.all(p[20, 30:33] > flat[20, 30:33] + 0.1)
    assert np.all(p[20, 25:30] < flat[20, 25:30])


def test_overlapping_guides_are_normalised_and_zero_uncertainty_keeps_them():
    img = split_image()
    a = np.zeros((40, 60))
    a[:, :40] = 1
    b = np.zeros((40, 60))
    b[:, 20:] = 1
    p = guide_probabilities(img, np.stack([a, b], -1), uncertainty=0)
    np.testing.assert_allclose(p[0, 30], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(p[0, 5], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[0, 50], [0.0, 1.0, 0.0])


def test_features_put_classes_far_apart():
    img = split_image()
    roto = np.zeros((40, 60, 1))
    roto[:, 30:] = 1
    gf = guide_features(img, roto, names=["hero"])
    assert gf.names == ("hero", "rest") and gf.features.shape == (40, 60, 3)
    # Far past the semantic affinity's 0.15: the object and the rest repel.
    assert np.linalg.norm(gf.features[20, 58] - gf.features[20, 1]) > 1.5
    np.testing.assert_allclose(gf.features, gf.probabilities @ class_colours(2), atol=1e-6)


@pytest.mark.parametrize("classes", [2, 5, 8, 9, 27, 33, 64])
def test_class_colours_are_separated_and_the_rest_is_the_origin(classes):
    colours = class_colours(classes)
    assert colours.shape == (classes, 3)
    assert np.all(colours[-1] == 0) and colours.min() >= 0 and colours.max() <= 1
    d = np.linalg.norm(colours[:, None] - colours[None], axis=2)
    d[np.diag_indices(classes)] = np.inf
    expected = 1.0 if classes <= 8 else 0.5 if classes <= 27 else 1 / 3
    assert d.min() >= expected - 1e-12


def test_bad_inputs():
    img = split_image()
    with pytest.raises(FeatureError, match="NaN"):
        guide_probabilities(img, np.full((40, 60, 1), np.nan))
    with pytest.raises(FeatureError, match="do not fit"):
        guide_probabilities(img, np.ones((20, 60, 1)))
    with pytest.raises(OptionError, match="uncertainty"):
        guide_probabilities(img, np.ones((40, 60, 1)), uncertainty=-1)
    with pytest.raises(OptionError, match="names"):
        guide_features(img, np.ones((40, 60, 1)), names=["a", "b"])
    with pytest.raises(OptionError, match="at most 63"):
        class_colours(65)


def test_an_empty_guide_leaves_everything_to_the_rest():
    """A shot's frame the object has left: its probability is 0, the rest's 1."""
    probabilities = guide_probabilities(split_image(), np.zeros((40, 60, 1)))
    np.testing.assert_array_equal(probabilities[..., 0], 0)
    np.testing.assert_array_equal(probabilities[..., 1], 1)


def test_caller_arrays_are_not_modified():
    img = split_image()
    roto = np.zeros((40, 60, 1))
    roto[:, 30:] = 2.0
    before = roto.copy()
    guide_features(img, roto)
    np.testing.assert_array_equal(roto, before)
