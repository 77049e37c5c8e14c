"""Grouping of soft segments into layers (DESIGN step 6)."""

import numpy as np
from _labels import same_partition

from sss_vfx.segments.grouping import (
    group_segments,
    grouping_descriptors,
    segment_descriptors,
)
from sss_vfx.segments.kmeans import join_scaled


def grouped_case(seed=0):
    """Six soft segments living in three classes of pixels with constant descriptors."""
    rng = np.random.default_rng(seed)
    n = 300
    classes = rng.integers(0, 3, n)
    descriptors = np.array([[0.1, 0.2, 0.3], [0.9, 0.1, 0.5], [0.4, 0.8, 0.8]])[classes]
    segment_class = np.array([0, 1, 0, 2, 1, 0])
    weights = rng.random((n, 6)) * (segment_class[None, :] == classes[:, None])
    segments = weights / weights.sum(axis=1, keepdims=True)
    return segments, descriptors, segment_class


def test_segment_descriptors_are_alpha_weighted_means():
    segments, descriptors, segment_class = grouped_case()
    means = segment_descriptors(segments, descriptors)
    expected = (segments.T @ descriptors) / segments.sum(axis=0)[:, None]
    np.testing.assert_allclose(means, expected, atol=1e-12)
    np.testing.assert_allclose(means, descriptors[[np.flatnonzero(
        segments[:, k] > 0)[0] for k in range(6)]], atol=1e-12)


def test_group_segments_merges_equal_descriptors():
    segments, descriptors, segment_class = grouped_case()
    layers, assignment = group_segments(segments, descriptors, 3, seed=0)
    assert layers.shape == (300, 3)
    assert same_partition(assignment, segment_class)
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)
    for g in range(3):
        np.testing.assert_allclose(layers[:, g], segments[:, assignment == g].sum(axis=1),
                                   atol=1e-12)


def test_group_segments_more_groups_than_classes_refines_them():
    segments, descriptors, segment_class = grouped_case()
    layers, assignment = group_segments(segments, descriptors, 5, seed=0)
    assert layers.shape[1] == assignment.max() + 1 <= 5
    # Segments of equal descriptors may be split apart (their means differ by round-off
    # only, so k-means sees more distinct points), but different classes never merge.
    for g in range(layers.shape[1]):
        assert len(set(segment_class[assignment == g].tolist())) == 1
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_group_segments_fewer_segments_than_groups():
    segments, descriptors, _ = grouped_case(1)
    two = np.column_stack([segments[:, :3].sum(axis=1), segments[:, 3:].sum(axis=1)])
    layers, assignment = group_segments(two, descriptors, 5)
    assert layers.shape[1] <= 2
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_group_segments_preserves_sums_with_negative_values():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=(200, 7))
    segments = raw - (raw.sum(axis=1, keepdims=True) - 1) / 7  # sums to 1, some < 0
    layers, assignment = group_segments(segments, rng.random((200, 3)), 3)
    assert layers.shape[1] == assignment.max() + 1 <= 3
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_join_scaled_matches_the_variance_ratio():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(500, 3)) * [1.0, 2.0, 0.5]
    extra = 7.0 * rng.normal(size=(500, 4))
    for weight in (0.0, 0.5, 2.0):
        joined = join_scaled(points, extra, weight)
        np.testing.assert_array_equal(joined[:, :3], points)
        ratio = joined[:, 3:].var(axis=0).sum() / points.var(axis=0).sum()
        np.testing.assert_allclose(ratio, weight ** 2, rtol=1e-12, atol=1e-15)
        factor = joined[:, 3:] / extra        # one factor for every column
        np.testing.assert_allclose(factor, factor[0, 0], rtol=1e-12, atol=1e-15)


def test_grouping_descriptors_paper_default_and_colour_join():
    rng = np.random.default_rng(4)
    features, colours = rng.random((50, 3)), rng.random((50, 3))
    np.testing.assert_array_equal(grouping_descriptors(features, colours), features)
    np.testing.assert_array_equal(grouping_descriptors(None, colours, 1.0), colours)
    joined = grouping_descriptors(features, colours, 1.0)
    np.testing.assert_allclose(joined, join_scaled(features, colours, 1.0))


def test_grouping_by_colour_splits_a_feature_class_by_colour():
    """Coarse features: one value for a whole class. Alone they cannot say which of a
    class's segments belong together; with colour joined, equal colours group."""
    n = 400
    rng = np.random.default_rng(5)
    segment = np.arange(n) % 4                       # four hard segments
    features = np.where(segment[:, None] < 2, 0.8, 0.2) * np.ones((n, 3))
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.9, 0.1, 0.1], [0.1, 0.1, 0.9]])
    colours = palette[segment] + 0.01 * rng.normal(size=(n, 3))
    segments = np.eye(4)[segment]
    _, alone = group_segments(segments, grouping_descriptors(features, colours), 2)
    _, joined = group_segments(segments, grouping_descriptors(features, colours, 5.0), 2)
    assert same_partition(alone, np.array([0, 0, 1, 1]))
    assert same_partition(joined, np.array([0, 1, 0, 1]))
