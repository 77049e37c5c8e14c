"""SLIC superpixels and the superpixel affinities against brute force and math.erf."""

import itertools
import math

import numpy as np
import pytest

from sss_vfx.graph.superpixel_affinity import (
    colour_affinity,
    colour_affinity_values,
    nearby_pairs,
    semantic_affinity,
    semantic_affinity_values,
)
from sss_vfx.graph.superpixels import Superpixels, compute_superpixels
from sss_vfx.data import coarse_features, two_region_image


def block_image(shape=(32, 40), block=8, seed=0):
    """Blocks of random colour with faint noise: SLIC has real colour edges to follow."""
    rng = np.random.default_rng(seed)
    h, w = shape
    colours = rng.random((-(-h // block), -(-w // block), 3))
    img = np.kron(colours, np.ones((block, block, 1)))[:h, :w]
    return np.clip(img + 0.01 * rng.random((h, w, 3)), 0.0, 1.0)


def two_region(shape=(32, 40)):
    return two_region_image(shape, edge_width=4)[0].astype(np.float64)


CASES = {
    "blocks-32x40-n20": (lambda: block_image((32, 40)), 20),
    "blocks-30x30-n40": (lambda: block_image((30, 30), block=5, seed=1), 40),
    "two-region-32x40-n30": (lambda: two_region((32, 40)), 30),
    "two-region-24x20-n100": (lambda: two_region((24, 20)), 100),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    make, n = CASES[request.param]
    image = make()
    return image, compute_superpixels(image, n_segments=n)


def brute_adjacency(labels):
    pairs = set()
    h, w = labels.shape
    for y, x in itertools.product(range(h), range(w)):
        for ny, nx in ((y + 1, x), (y, x + 1)):
            if ny < h and nx < w and labels[y, x] != labels[ny, nx]:
                a, b = sorted((int(labels[y, x]), int(labels[ny, nx])))
                pairs.add((a, b))
    return pairs


def test_labels_cover_the_image(case):
    image, sp = case
    assert sp.labels.shape == image.shape[:2]
    assert sp.labels.dtype == np.int32
    assert sp.count >= 2
    np.testing.assert_array_equal(np.unique(sp.labels), np.arange(sp.count))


def test_centroids_are_rounded_label_means_inside_the_image(case):
    image, sp = case
    h, w = sp.labels.shape
    assert sp.centroids.shape == (sp.count, 2)
    assert np.all((sp.centroids >= 0) & (sp.centroids < [h, w]))
    ys, xs = np.mgrid[0:h, 0:w]
    for s in range(sp.count):
        inside = sp.labels == s
        expected = np.rint([ys[inside].mean(), xs[inside].mean()])
        np.testing.assert_array_equal(sp.centroids[s], expected)
    np.testing.assert_array_equal(sp.centroid_pixels, sp.centroids[:, 0] * w + sp.centroids[:, 1])


def test_mean_colour_and_mean_of_are_per_label_means(case):
    image, sp = case
    features = np.random.default_rng(9).random(image.shape[:2] + (5,))
    means = sp.mean_of(features)
    assert sp.mean_colour.shape == (sp.count, 3) and means.shape == (sp.count, 5)
    for s in range(sp.count):
        inside = sp.labels == s
        np.testing.assert_allclose(sp.mean_colour[s], image[inside].mean(axis=0), rtol=0,
                                   atol=1e-12)
        np.testing.assert_allclose(means[s], features[inside].mean(axis=0), rtol=0, atol=1e-12)


def test_adjacency_is_exactly_the_touching_pairs(case):
    _, sp = case
    adjacency = sp.adjacency
    assert adjacency.dtype == np.int64 and adjacency.ndim == 2 and adjacency.shape[1] == 2
    assert np.all(adjacency[:, 0] < adjacency[:, 1])
    assert len({tuple(p) for p in adjacency.tolist()}) == len(adjacency)
    assert {tuple(p) for p in adjacency.tolist()} == brute_adjacency(sp.labels)


def test_caller_image_not_modified():
    image = block_image()
    before = image.copy()
    compute_superpixels(image, n_segments=20)
    np.testing.assert_array_equal(image, before)


# ---- affinity values ----------------------------------------------------------------------

def semantic_formula(fa, fb):
    return math.erf(20.0 * ((1.0 - math.dist(fa, fb)) - 0.85))


def colour_formula(ca, cb):
    return (math.erf(50.0 * ((1.0 - math.dist(ca, cb)) - 0.95)) + 1.0) / 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_semantic_affinity_values(dtype, channels):
    rng = np.random.default_rng(channels)
    a = rng.random((200, channels))
    # Distances spread over the steep part of the erf (around 0.15) and far beyond.
    b = np.clip(a + rng.normal(scale=0.12, size=a.shape), 0, 1)
    a, b = a.astype(dtype), b.astype(dtype)
    got = semantic_affinity_values(a, b)
    expected = [semantic_formula(x.astype(float), y.astype(float)) for x, y in zip(a, b)]
    assert got.shape == (200,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got.min() < -0.5 and got.max() > 0.5  # both signs really exercised
    assert np.all((got >= -1) & (got <= 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_colour_affinity_values(dtype):
    rng = np.random.default_rng(11)
    a = rng.random((200, 3))
    b = np.clip(a + rng.normal(scale=0.04, size=a.shape), 0, 1)
    a, b = a.astype(dtype), b.astype(dtype)
    got = colour_affinity_values(a, b)
    expected = [colour_formula(x.astype(float), y.astype(float)) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got.min() < 0.1 and got.max() > 0.9
    assert np.all((got >= 0) & (got <= 1))


def test_affinity_values_at_known_points():
    same = np.array([[0.2, 0.4, 0.6]])
    assert semantic_affinity_values(same, same)[0] == pytest.approx(math.erf(3.0))
    assert colour_affinity_values(same, same)[0] == pytest.approx((math.erf(2.5) + 1) / 2)
    far = np.array([[1.0, 1.0, 1.0]]), np.zeros((1, 3))
    assert semantic_affinity_values(*far)[0] == pytest.approx(-1.0, abs=1e-12)
    assert colour_affinity_values(*far)[0] == pytest.approx(0.0, abs=1e-12)


# ---- nearby pairs -------------------------------------------------------------------------

def synthetic_superpixels(shape, count, seed):
    """A Superpixels with random centroids; nearby_pairs needs only shape and centroids."""
    h, w = shape
    rng = np.random.default_rng(seed)
    centroids = np.stack([rng.integers(0, h, count), rng.integers(0, w, count)], axis=1)
    return Superpixels(labels=np.zeros(shape, np.int32), centroids=centroids.astype(np.int64),
                       mean_colour=rng.random((count, 3)),
                       adjacency=np.zeros((0, 2), np.int64))


def brute_nearby(superpixels, radius):
    """Pairs with normalised centroid distance <= radius, and the subset within 1e-12
    of the radius (ties, where a KD-tree's squared-distance test may round otherwise).

    "Within" is inclusive, as in the reference code (``if centdist > proxThresh: 0``).
    """
    h, w = superpixels.labels.shape
    points = superpixels.centroids / np.array([h, w], float)
    dist = {(s, t): math.dist(points[s], points[t])
            for s, t in itertools.combinations(range(len(points)), 2)}
    inside = {pair for pair, d in dist.items() if d <= radius}
    ties = {pair for pair, d in dist.items() if abs(d - radius) <= 1e-12}
    return inside, ties


def assert_same_pairs(got, inside, ties):
    assert inside - ties <= got <= inside | ties


@pytest.mark.parametrize("radius", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("shape", [(37, 53), (61, 29)])
def test_nearby_pairs_equals_brute_force(shape, radius):
    sp = synthetic_superpixels(shape, 120, seed=shape[0])
    pairs = nearby_pairs(sp, radius)
    assert pairs.dtype == np.int64 and pairs.shape[1] == 2
    assert np.all(pairs[:, 0] < pairs[:, 1])
    got = {tuple(p) for p in pairs.tolist()}
    assert len(got) == len(pairs)
    inside, ties = brute_nearby(sp, radius)
    assert inside - ties  # the case is not empty
    assert_same_pairs(got, inside, ties)


def test_nearby_pairs_include_an_exact_tie():
    # Rows 0 and 4 of a 20-row image are exactly 0.2 apart: within the radius.
    sp = Superpixels(labels=np.zeros((20, 20), np.int32),
                     centroids=np.array([[0, 0], [4, 0], [0, 5]], np.int64),
                     mean_colour=np.zeros((3, 3)), adjacency=np.zeros((0, 2), np.int64))
    assert {tuple(p) for p in nearby_pairs(sp, 0.2).tolist()} == {(0, 1)}


def test_nearby_pairs_use_normalised_coordinates():
    # 10 rows apart in a 100-row image is 0.1; 10 columns apart in a 20-wide one is 0.5.
    sp = Superpixels(labels=np.zeros((100, 20), np.int32),
                     centroids=np.array([[0, 0], [10, 0], [0, 10]], np.int64),
                     mean_colour=np.zeros((3, 3)), adjacency=np.zeros((0, 2), np.int64))
    assert {tuple(p) for p in nearby_pairs(sp, 0.2).tolist()} == {(0, 1)}


def test_nearby_pairs_on_real_superpixels(case):
    _, sp = case
    assert_same_pairs({tuple(p) for p in nearby_pairs(sp, 0.2).tolist()},
                      *brute_nearby(sp, 0.2))


# ---- affinity matrices --------------------------------------------------------------------

def expected_pixel_matrix(sp, pairs, values):
    """Dense N x N matrix with each pair's value between the two centroid pixels."""
    n = sp.labels.size
    dense = np.zeros((n, n))
    pix = sp.centroid_pixels
    for (s, t), v in zip(pairs, values):
        if pix[s] != pix[t]:
            dense[pix[s], pix[t]] += v
            dense[pix[t], pix[s]] += v
    return dense


def check_placed_at_centroids(matrix, sp):
    coo = matrix.tocoo()
    centroid_pixels = set(sp.centroid_pixels.tolist())
    assert set(coo.row.tolist()) <= centroid_pixels
    assert set(coo.col.tolist()) <= centroid_pixels
    assert np.all(coo.row != coo.col)  # no self-loops
    dense = matrix.toarray()
    np.testing.assert_array_equal(dense, dense.T)


def test_semantic_affinity_matrix(case):
    image, sp = case
    alpha = two_region_image(image.shape[:2], edge_width=4)[1]
    features = coarse_features(alpha, scale=4).astype(np.float64)
    matrix = semantic_affinity(sp, features)
    assert matrix.shape == (image.shape[0] * image.shape[1],) * 2
    check_placed_at_centroids(matrix, sp)
    means = [features[sp.labels == s].mean(axis=0) for s in range(sp.count)]
    values = [semantic_formula(means[s], means[t]) for s, t in sp.adjacency]
    expected = expected_pixel_matrix(sp, sp.adjacency, values)
    np.testing.assert_allclose(matrix.toarray(), expected, rtol=0, atol=1e-12)
    assert matrix.nnz == np.count_nonzero(expected)


def test_semantic_affinity_can_be_negative():
    image = two_region((32, 40))
    alpha = two_region_image((32, 40), edge_width=4)[1]
    sp = compute_superpixels(image, n_segments=30)
    features = np.repeat(alpha[..., None], 3, axis=2).astype(np.float64)
    matrix = semantic_affinity(sp, features)
    assert matrix.data.min() < -0.5 and matrix.data.max() > 0.5


@pytest.mark.parametrize("radius", [0.2, 0.6])
def test_colour_affinity_matrix(case, radius):
    image, sp = case
    matrix = colour_affinity(sp, radius)
    check_placed_at_centroids(matrix, sp)
    inside, ties = brute_nearby(sp, radius)
    pairs = sorted(inside)
    colours = [image[sp.labels == s].mean(axis=0) for s in range(sp.count)]
    values = [colour_formula(colours[s], colours[t]) for s, t in pairs]
    expected = expected_pixel_matrix(sp, pairs, values)
    np.testing.assert_allclose(matrix.toarray(), expected, rtol=0, atol=1e-12)


def test_coinciding_centroids_give_no_self_loop():
    # Two superpixels that round to the same centroid pixel: their edge is dropped.
    sp = Superpixels(labels=np.zeros((16, 16), np.int32),
                     centroids=np.array([[4, 4], [4, 4], [10, 10]], np.int64),
                     mean_colour=np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.51], [0.5, 0.5, 0.5]]),
                     adjacency=np.array([[0, 1], [0, 2], [1, 2]], np.int64))
    matrix = colour_affinity(sp, 1.0).toarray()
    p, q = 4 * 16 + 4, 10 * 16 + 10
    assert matrix[p, p] == 0
    expected = colour_formula((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) + \
        colour_formula((0.5, 0.5, 0.51), (0.5, 0.5, 0.5))
    assert matrix[p, q] == pytest.approx(expected) and matrix[q, p] == pytest.approx(expected)
    assert np.count_nonzero(matrix) == 2
