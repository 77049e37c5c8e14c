"""Nearest-neighbour (KNN matting) affinities over a region: a dense numpy reference."""

import numpy as np
import pytest

from sss_vfx.errors import OptionError
from sss_vfx.graph.knn import knn_laplacian


def dense_reference(image, region, neighbours):
    """Every pairwise distance, the k smallest per pixel (itself included, as a search
    returns it), links made symmetric, self-links dropped, (D - W) / mean(D)."""
    h, w = region.shape
    pixels = np.flatnonzero(region)
    y, x = np.divmod(pixels, w)
    colours = image.reshape(-1, 3)[pixels]
    n = len(pixels)
    links = np.zeros((n, n))
    for k, weight in neighbours:
        points = np.column_stack([colours, weight * x / (w - 1), weight * y / (h - 1)])
        dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
        for i in range(n):
            links[i, nearest[i]] += 1
    links = links + links.T
    np.fill_diagonal(links, 0)
    degree = links.sum(axis=1)
    return (np.diag(degree) - links) / degree.mean(), pixels


def test_matches_a_dense_computation_on_a_small_region():
    rng = np.random.default_rng(3)
    image = rng.random((9, 11, 3))
    region = rng.random((9, 11)) > 0.3
    neighbours = ((6, 2.0), (3, 0.1))
    lap, pixels = knn_laplacian(image, region, neighbours=neighbours)
    ref, ref_pixels = dense_reference(image, region, neighbours)
    np.testing.assert_array_equal(pixels, ref_pixels)
    np.testing.assert_allclose(lap.toarray(), ref, atol=1e-12)


def test_is_a_symmetric_positive_semidefinite_laplacian():
    rng = np.random.default_rng(4)
    image = rng.random((12, 12, 3))
    lap, _ = knn_laplacian(image, np.ones((12, 12), bool))
    dense = lap.toarray()
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12)
    assert np.linalg.eigvalsh(dense).min() > -1e-10
    assert np.mean(np.diag(dense)) == pytest.approx(1.0)


def test_links_pixels_of_one_colour_across_the_region():
    # Two far apart patches of one colour on another: the wide search links them.
    image = np.zeros((20, 40, 3))
    image[2:5, 2:5] = 1
    image[15:18, 34:37] = 1
    lap, pixels = knn_laplacian(image, np.ones((20, 40), bool), neighbours=((12, 0.1),))
    left = np.flatnonzero(pixels == 3 * 40 + 3)[0]
    right = {np.flatnonzero(pixels == (16 + dy) * 40 + 35 + dx)[0]
             for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert any(lap[left, j] < 0 for j in right)


def test_refuses_a_region_that_does_not_fit():
    with pytest.raises(OptionError, match="region"):
        knn_laplacian(np.zeros((4, 4, 3)), np.ones((4, 5), bool))
    with pytest.raises(OptionError, match="fewer than 2"):
        knn_laplacian(np.zeros((4, 4, 3)), np.eye(4, dtype=bool) & False)
