"""Smallest-magnitude eigenpairs of the (indefinite) Laplacian against dense eigvalsh."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg
from _problems import two_region_problem

from sss_vfx import matting_laplacian
from sss_vfx.errors import OptionError
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.spectral import (
    grid_dissection_order,
    largest_principal_angle,
    long_range_pixels,
    smallest_magnitude_eigs,
)
from sss_vfx.data import two_region_image

SHAPE = (20, 24)


@pytest.fixture(scope="module")
def problem():
    """An indefinite Laplacian of a 20x24 image with features, and its dense spectrum."""
    image, alpha, features, lap = two_region_problem(SHAPE)
    values, vectors = np.linalg.eigh(lap.toarray())
    order = np.argsort(np.abs(values), kind="stable")
    return lap, values[order], vectors[:, order]


def test_problem_is_indefinite(problem):
    _, values, _ = problem
    assert values.min() < -1e-6


def largest_gap_index(values, lo, hi):
    """k in [lo, hi) with the largest relative gap between |lambda_k-1| and |lambda_k|."""
    mags = np.abs(values)
    ks = np.arange(lo, hi)
    return int(ks[np.argmax(mags[ks] / mags[ks - 1])])


@pytest.mark.parametrize("with_shape", [True, False])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_eigenpairs_match_dense(problem, k, with_shape):
    lap, dense_values, _ = problem
    values, vectors = smallest_magnitude_eigs(lap, k, shape=SHAPE if with_shape else None)
    n = lap.shape[0]
    assert values.shape == (k,) and vectors.shape == (n, k)
    assert values.dtype == np.float64 and vectors.dtype == np.float64
    # L v = lambda v, orthonormal columns, sorted by magnitude.
    residual = lap @ vectors - vectors * values
    assert np.abs(residual).max() < 1e-8
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(k), atol=1e-10)
    assert np.all(np.diff(np.abs(values)) >= 0)
    np.testing.assert_allclose(values, dense_values[:k], rtol=0, atol=1e-10)


def test_negative_eigenvalues_are_found_by_magnitude(problem):
    lap, dense_values, _ = problem
    k = int(np.flatnonzero(dense_values < 0).max()) + 1
    values, _ = smallest_magnitude_eigs(lap, k, shape=SHAPE)
    assert values.min() < 0
    np.testing.assert_allclose(values, dense_values[:k], atol=1e-10)


def projector(vectors):
    return vectors @ vectors.T


def test_grid_ordering_gives_the_same_subspace(problem):
    lap, dense_values, dense_vectors = problem
    # A k after a clear gap in |lambda| makes the k-dimensional subspace well defined.
    k = largest_gap_index(dense_values, 6, 14)
    assert abs(dense_values[k]) > 1.2 * abs(dense_values[k - 1])
    _, with_grid = smallest_magnitude_eigs(lap, k, shape=SHAPE)
    _, without = smallest_magnitude_eigs(lap, k)
    reference = projector(dense_vectors[:, :k])
    assert np.abs(projector(with_grid) - projector(without)).max() < 1e-7
    assert np.abs(projector(with_grid) - reference).max() < 1e-7
    # Individual vectors agree up to sign where eigenvalues are simple.
    for j in range(k):
        gap = np.min(np.abs(np.delete(dense_values, j) - dense_values[j]))
        if gap > 1e-4:
            dot = abs(with_grid[:, j] @ without[:, j])
            assert dot == pytest.approx(1.0, abs=1e-6)


def test_psd_matting_laplacian_null_vector():
    image = np.random.default_rng(1).random((16, 18, 3))
    lap = matting_laplacian(image)
    values, vectors = smallest_magnitude_eigs(lap, 4, shape=(16, 18))
    dense = np.sort(np.linalg.eigvalsh(lap.toarray()))
    np.testing.assert_allclose(values, dense[:4], atol=1e-10)
    # The constant vector is in the null space: it lies in the span of the result.
    ones = np.ones(lap.shape[0]) / np.sqrt(lap.shape[0])
    assert np.linalg.norm(vectors.T @ ones) == pytest.approx(1.0, abs=1e-8)


def test_deterministic(problem):
    lap, _, _ = problem
    a = smallest_magnitude_eigs(lap, 6, shape=SHAPE)
    b = smallest_magnitude_eigs(lap, 6, shape=SHAPE)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("k", [0, 479, 480])
def test_k_out_of_range(problem, k):
    lap, _, _ = problem
    with pytest.raises(ValueError, match="eigenvectors"):
        smallest_magnitude_eigs(lap, k, shape=SHAPE)


# ---- grid ordering --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (3, 50), (8, 8), (9, 9), (17, 9),
                                   (20, 24), (33, 64)])
def test_dissection_order_is_a_permutation(shape):
    order = grid_dissection_order(shape)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(np.sort(order), np.arange(shape[0] * shape[1]))


@pytest.mark.parametrize("shape", [(20, 24), (33, 64), (9, 40)])
def test_long_range_pixels_are_last(shape):
    n = shape[0] * shape[1]
    rng = np.random.default_rng(shape[0])
    long_range = rng.choice(n, size=7, replace=False)
    with_duplicates = np.concatenate([long_range, long_range[:3]])
    order = grid_dissection_order(shape, with_duplicates)
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    np.testing.assert_array_equal(order[-7:], np.sort(long_range))
    # The rest keeps the plain dissection order.
    plain = grid_dissection_order(shape)
    np.testing.assert_array_equal(order[:-7], plain[~np.isin(plain, long_range)])


@pytest.mark.parametrize("shape", [(20, 24), (33, 30)])
def test_separators_split_the_grid(shape):
    """The last block of the order (the top-level separator) disconnects the rest
    for the 25-neighbour stencil: no stencil edge joins pixels on either side."""
    h, w = shape
    order = grid_dissection_order(shape)
    lap = matting_laplacian(np.random.default_rng(0).random(shape + (3,)))
    sep_width = 2 * (w if h >= w else h)
    separator = order[-sep_width:]
    rest = np.setdiff1d(np.arange(h * w), separator)
    graph = lap[rest][:, rest]
    count, _ = scipy.sparse.csgraph.connected_components(graph, directed=False)
    assert count == 2


def test_dissection_order_reduces_fill():
    lap = matting_laplacian(np.random.default_rng(0).random((40, 40, 3)))
    matrix = scipy.sparse.csc_matrix(lap + 1e-3 * scipy.sparse.identity(1600))
    order = grid_dissection_order((40, 40))

    def fill(m):
        lu = scipy.sparse.linalg.splu(scipy.sparse.csc_matrix(m), permc_spec="NATURAL",
                                      diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))
        return lu.L.nnz + lu.U.nnz

    assert fill(matrix[order][:, order]) < 0.85 * fill(matrix)


def test_long_range_pixels_find_an_added_far_edge():
    h, w = 10, 12
    lap = matting_laplacian(np.random.default_rng(2).random((h, w, 3)))
    assert long_range_pixels(lap, (h, w)).size == 0
    # Chebyshev distance exactly 2 is still inside the stencil.
    near = scipy.sparse.coo_matrix(([1.0, 1.0], ([0, 2 * w + 2], [2 * w + 2, 0])),
                                   shape=lap.shape)
    assert long_range_pixels(lap + near, (h, w)).size == 0
    p, q = 3 * w + 4, 3 * w + 7                       # same row, 3 columns apart
    r, s = 1 * w + (w - 1), 2 * w + 0                  # consecutive indices, far apart
    far = scipy.sparse.coo_matrix(([0.5, 0.5, -0.2, -0.2], ([p, q, r, s], [q, p, s, r])),
                                  shape=lap.shape)
    got = long_range_pixels((lap + far).tocsr(), (h, w))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.sort([p, q, r, s]))
    # One-directional entries count too.
    one_way = scipy.sparse.coo_matrix(([1.0], ([5], [9 * w + 5])), shape=lap.shape)
    np.testing.assert_array_equal(long_range_pixels(lap + one_way, (h, w)), [5, 9 * w + 5])


def test_long_range_pixels_of_the_method_are_centroid_pixels(problem):
    lap, _, _ = problem
    image, _ = two_region_image(SHAPE, edge_width=3)
    sp = compute_superpixels(image.astype(np.float64), n_segments=40)
    got = long_range_pixels(lap, SHAPE)
    assert got.size > 0
    assert set(got.tolist()) <= set(sp.centroid_pixels.tolist())


def rotated_basis(n, k, angle, seed=3):
    """An orthonormal (n, k) basis and a second one whose last column is turned out of
    the first span by ``angle`` radians, its columns then mixed by a random rotation."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, k + 1)))
    turned = q[:, :k].copy()
    turned[:, -1] = np.cos(angle) * q[:, k - 1] + np.sin(angle) * q[:, k]
    mix, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return q[:, :k], turned @ mix


@pytest.mark.parametrize("angle", [1e-12, 1e-6, 0.3, 1.2])
def test_largest_principal_angle_is_the_angle_turned(angle):
    reference, turned = rotated_basis(300, 12, angle)
    found = largest_principal_angle(reference, turned)
    np.testing.assert_allclose(found, angle, rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(found, scipy.linalg.subspace_angles(reference, turned).max(),
                               rtol=1e-6, atol=1e-15)


def test_largest_principal_angle_ignores_the_basis_and_refuses_a_wider_one():
    reference, _ = rotated_basis(200, 8, 0.0)
    mixed = reference @ np.random.default_rng(0).standard_normal((8, 8))
    assert largest_principal_angle(reference, mixed) < 1e-13
    assert largest_principal_angle(reference, mixed[:, :3]) < 1e-13
    with pytest.raises(OptionError, match="cannot compare"):
        largest_principal_angle(reference[:, :3], reference)
