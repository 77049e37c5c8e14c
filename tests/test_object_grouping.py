"""Object-aware grouping on tiny cases with exact answers."""

import numpy as np
import pytest

from sss_vfx.errors import OptionError
from sss_vfx.segments.grouping import group_segments
from sss_vfx.segments.objects import group_by_objects, segment_class_shares


def flag_case():
    """Six pixels: an object with red and white stripes (pixels 0-3) on a grey rest.

    Segments: red stripe, white stripe (its last pixel soft, shared with the rest), rest.
    """
    segments = np.array([
        [1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.6, 0.4],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, 1.0],
    ])
    probabilities = np.array([[1, 0], [1, 0], [1, 0], [0.8, 0.2], [0, 1], [0, 1]], float)
    return segments, probabilities


def test_class_shares_exact():
    segments, probabilities = flag_case()
    shares = segment_class_shares(segments, probabilities)
    np.testing.assert_allclose(shares[0], [1.0, 0.0])
    # White stripe: mass 1 at a pure object pixel, 0.6 at a 0.8/0.2 pixel.
    np.testing.assert_allclose(shares[1], [(1 + 0.6 * 0.8) / 1.6, 0.6 * 0.2 / 1.6])
    np.testing.assert_allclose(shares[2], [0.4 * 0.8 / 2.4, (0.4 * 0.2 + 2) / 2.4])
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


def test_stripes_of_one_object_stay_one_layer():
    segments, probabilities = flag_case()
    layers, assignment = group_by_objects(segments, probabilities)
    assert assignment.tolist() == [0, 0, 1]
    np.testing.assert_allclose(layers[:, 0], [1, 1, 1, 0.6, 0, 0])
    np.testing.assert_allclose(layers[:, 1], [0, 0, 0, 0.4, 1, 1])
    np.testing.assert_allclose(layers.sum(axis=1), 1.0)


def test_colour_kmeans_splits_the_object_where_objects_do_not():
    """The failure the issue describes: grouped by colour, the white stripe joins the
    white background; grouped by objects it stays with the red stripe."""
    segments = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], float)
    colours = np.array([[1, 0, 0], [1, 1, 1], [1, 1, 1], [0.95, 0.95, 0.95]])
    probabilities = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], float)
    _, by_colour = group_segments(segments, colours, 2)
    assert by_colour[1] == by_colour[2]
    _, by_object = group_by_objects(segments, probabilities)
    assert by_object.tolist() == [0, 0, 1]


def test_layers_follow_the_class_order_and_count():
    segments = np.eye(4)
    probabilities = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]], float)
    layers, assignment = group_by_objects(segments, probabilities)
    assert layers.shape == (4, 3)
    assert assignment.tolist() == [2, 1, 0, 2]
    np.testing.assert_array_equal(layers, probabilities)


def test_an_object_left_without_a_segment_takes_its_best_one():
    """A small object (class 1) whose segment leans to the rest still gets a layer."""
    segments = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], float)
    probabilities = np.array([[1, 0, 0], [1, 0, 0], [0, 0.4, 0.6], [0, 0.45, 0.55],
                              [0, 0, 1]], float)
    layers, assignment = group_by_objects(segments, probabilities)
    assert assignment.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(layers, segments)


def test_an_object_no_segment_expresses_gets_its_probability():
    """A small object inside a segment that is mostly background (precision 2/9): its
    layer becomes its probability, the rest takes what is left, rows sum to 1."""
    segments = np.zeros((10, 2))
    segments[:9, 0] = 1
    segments[9, 1] = 1
    probabilities = np.zeros((10, 2))
    probabilities[[6, 7], 0] = [1.0, 0.8]
    probabilities[:, 1] = 1 - probabilities[:, 0]
    layers, _ = group_by_objects(segments, probabilities)
    np.testing.assert_allclose(layers, probabilities)
    np.testing.assert_allclose(layers.sum(axis=1), 1)


def test_a_found_object_is_not_rescued():
    segments = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], float)
    probabilities = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [0, 1]], float)
    layers, _ = group_by_objects(segments, probabilities)
    np.testing.assert_array_equal(layers, segments)


def test_an_absent_object_keeps_an_empty_layer():
    segments = np.array([[1, 0], [0, 1]], float)
    probabilities = np.array([[1, 0, 0], [0, 0, 1]], float)
    layers, assignment = group_by_objects(segments, probabilities)
    assert assignment.tolist() == [0, 2]
    assert layers.shape == (2, 3) and not layers[:, 1].any()


def test_massless_segment_and_bad_shapes():
    segments = np.array([[1, 0], [1, 0]], float)
    probabilities = np.array([[0.25, 0.75], [0.25, 0.75]])
    np.testing.assert_allclose(segment_class_shares(segments, probabilities)[1], [0.25, 0.75])
    with pytest.raises(OptionError, match="pixels"):
        group_by_objects(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(OptionError, match="shape"):
        group_by_objects(np.ones(3), np.ones((3, 2)))
