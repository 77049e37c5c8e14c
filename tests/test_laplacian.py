"""The full Laplacian of the method, assembled here from its three affinities."""

import numpy as np
import pytest
import scipy.sparse

from sss_vfx import laplacian
from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import matting_affinity
from sss_vfx.options import AffinityWeights
from sss_vfx.graph.superpixel_affinity import colour_affinity, semantic_affinity
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.data import two_region_image


def dense_laplacian(affinity):
    dense = affinity.toarray() if scipy.sparse.issparse(affinity) else np.asarray(affinity)
    return np.diag(dense.sum(axis=1)) - dense


def scene(shape=(24, 28), n_segments=30, seed=0):
    image, alpha = two_region_image(shape, edge_width=3, seed=seed)
    image = image.astype(np.float64)
    # Features that separate the two regions strongly: the semantic affinity is
    # negative between superpixels on either side of the edge.
    features = np.repeat(alpha[..., None], 3, axis=2).astype(np.float64)
    return image, features, compute_superpixels(image, n_segments=n_segments)


@pytest.fixture(scope="module")
def case():
    return scene()


def test_laplacian_is_symmetric_with_zero_row_sums(case):
    image, features, sp = case
    lap = laplacian(image, features, weights=AffinityWeights(superpixels=30), superpixels=sp,
                    device="numpy")
    n = image.shape[0] * image.shape[1]
    assert lap.shape == (n, n) and lap.dtype == np.float64
    assert scipy.sparse.isspmatrix_csr(lap) or lap.format == "csr"
    assert abs(lap - lap.T).max() < 1e-9
    np.testing.assert_allclose(lap @ np.ones(n), 0.0, atol=1e-9)


@pytest.mark.parametrize("semantic, colour", [(0.01, 0.01), (0.05, 0.0), (0.0, 0.02),
                                              (0.3, 0.7)])
def test_laplacian_equals_assembled_pieces(case, semantic, colour):
    image, features, sp = case
    weights = AffinityWeights(semantic=semantic, colour=colour)
    lap = laplacian(image, features, weights=weights, superpixels=sp, device="numpy")
    affinity = (matting_affinity(image, eps=1e-7).toarray()
                + semantic * semantic_affinity(sp, features).toarray()
                + colour * colour_affinity(sp, 0.2).toarray())
    np.testing.assert_allclose(lap.toarray(), dense_laplacian(affinity), rtol=1e-12,
                               atol=1e-12)


def test_paper_weights_are_the_default(case):
    image, features, sp = case
    lap = laplacian(image, features, superpixels=sp, device="numpy")
    affinity = (matting_affinity(image).toarray() + 0.01 * semantic_affinity(sp, features)
                + 0.01 * colour_affinity(sp, 0.2))
    np.testing.assert_allclose(lap.toarray(), dense_laplacian(affinity), atol=1e-12)


def test_matting_eps_and_colour_radius_are_passed_on(case):
    image, features, sp = case
    weights = AffinityWeights(matting_eps=1e-3, colour_radius=0.5)
    lap = laplacian(image, features, weights=weights, superpixels=sp, device="numpy")
    affinity = (matting_affinity(image, eps=1e-3).toarray()
                + 0.01 * semantic_affinity(sp, features) + 0.01 * colour_affinity(sp, 0.5))
    np.testing.assert_allclose(lap.toarray(), dense_laplacian(affinity), atol=1e-12)


def test_features_none_drops_the_semantic_term(case):
    image, _, sp = case
    lap = laplacian(image, None, superpixels=sp, device="numpy")
    affinity = matting_affinity(image).toarray() + 0.01 * colour_affinity(sp, 0.2)
    np.testing.assert_allclose(lap.toarray(), dense_laplacian(affinity), atol=1e-12)
    # Without the (possibly negative) semantic term the Laplacian is PSD.
    assert np.linalg.eigvalsh(lap.toarray()).min() > -1e-9


def test_superpixels_computed_when_not_given():
    image, features, _ = scene((20, 24), seed=3)
    weights = AffinityWeights(superpixels=25)
    sp = compute_superpixels(image, n_segments=25)
    np.testing.assert_array_equal(laplacian(image, features, weights=weights).toarray(),
                                  laplacian(image, features, weights=weights,
                                            superpixels=sp).toarray())


def test_semantic_term_makes_the_laplacian_indefinite(case):
    image, features, sp = case
    semantic = semantic_affinity(sp, features)
    assert semantic.data.min() < -0.5  # dissimilar neighbours really repel
    lap = laplacian(image, features, superpixels=sp, device="numpy")
    affinity = scipy.sparse.diags(lap.diagonal()) - lap
    assert affinity.toarray().min() < 0
    eigenvalues = np.linalg.eigvalsh(lap.toarray())
    assert eigenvalues.min() < -1e-6
    assert eigenvalues.max() > 0


def test_two_flat_colours_indefinite_with_semantic_and_psd_without():
    image = np.zeros((20, 20, 3))
    image[:, :10] = (0.9, 0.2, 0.1)
    image[:, 10:] = (0.1, 0.3, 0.8)
    features = np.zeros((20, 20, 3))
    features[:, :10] = 1.0
    sp = compute_superpixels(image, n_segments=20)
    with_features = np.linalg.eigvalsh(laplacian(image, features, superpixels=sp).toarray())
    without = np.linalg.eigvalsh(laplacian(image, None, superpixels=sp).toarray())
    assert with_features.min() < -1e-5
    assert without.min() > -1e-9
    # The indicator of the left half is affine in colour: it costs (almost) nothing in
    # the matting term, so the repelling semantic edges across the boundary win.
    left = np.zeros(400)
    left.reshape(20, 20)[:, :10] = 1.0
    lap = laplacian(image, features, superpixels=sp, device="numpy")
    assert left @ (lap @ left) < 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affinity_to_laplacian(dtype):
    rng = np.random.default_rng(4)
    dense = rng.normal(size=(30, 30)).astype(dtype)
    dense = dense + dense.T
    dense[rng.random((30, 30)) < 0.7] = 0
    dense = np.triu(dense) + np.triu(dense, 1).T
    lap = affinity_to_laplacian(scipy.sparse.csr_matrix(dense))
    assert lap.dtype == np.float64
    np.testing.assert_allclose(lap.toarray(), dense_laplacian(dense.astype(np.float64)),
                               atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(lap @ np.ones(30), 0.0, atol=1e-9)
