"""k-means of the initial segments and of the grouping."""

import numpy as np
import pytest
from _labels import same_partition

from sss_vfx.segments.kmeans import kmeans


def blobs(seed=0, sizes=(40, 25, 35), spread=0.05):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])
    truth = np.repeat(np.arange(3), sizes)
    order = rng.permutation(len(truth))
    truth = truth[order]
    points = centres[truth] + spread * rng.normal(size=(len(truth), 3))
    return points, truth


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_kmeans_recovers_separated_blobs(seed):
    points, truth = blobs(seed)
    labels, centres = kmeans(points, 3, seed=seed)
    assert labels.dtype == np.int64 and labels.shape == (len(points),)
    assert same_partition(labels, truth)
    for j in range(3):
        np.testing.assert_allclose(centres[j], points[labels == j].mean(axis=0), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_is_deterministic_for_a_seed(dtype):
    points = np.random.default_rng(3).random((300, 4)).astype(dtype)
    a = kmeans(points, 6, seed=5)
    b = kmeans(points.copy(), 6, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_kmeans_labels_numbered_by_first_appearance():
    points = np.random.default_rng(4).random((200, 2))
    for seed in range(3):
        labels, centres = kmeans(points, 5, seed=seed)
        _, first = np.unique(labels, return_index=True)
        assert np.all(np.diff(first) > 0)
        assert labels[0] == 0
        np.testing.assert_array_equal(np.unique(labels), np.arange(len(centres)))


def test_kmeans_numbering_does_not_depend_on_the_seed():
    points, _ = blobs(2)
    results = [kmeans(points, 3, seed=s)[0] for s in range(4)]
    for labels in results[1:]:
        np.testing.assert_array_equal(labels, results[0])


def test_kmeans_fewer_clusters_than_asked_when_fewer_distinct_points():
    values = np.array([[0.1, 0.2], [0.7, 0.7], [0.1, 0.2], [0.3, 0.9], [0.7, 0.7]])
    points = values[np.random.default_rng(5).integers(0, 5, 60)]
    distinct = np.unique(points, axis=0)
    labels, centres = kmeans(points, 10, seed=0)
    assert len(centres) == len(distinct) == labels.max() + 1
    # Equal points share a label, distinct points do not.
    for p in distinct:
        assert len(set(labels[np.all(points == p, axis=1)].tolist())) == 1
    np.testing.assert_array_equal(np.unique(centres, axis=0), distinct)


def test_kmeans_single_distinct_point():
    labels, centres = kmeans(np.full((10, 3), 0.25), 4)
    np.testing.assert_array_equal(labels, np.zeros(10))
    np.testing.assert_array_equal(centres, [[0.25, 0.25, 0.25]])
