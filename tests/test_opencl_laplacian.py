"""Laplacian assembly on the device (diagonal = row sums) against the numpy reference."""

import numpy as np
import pytest
import scipy.sparse
from _opencl import FP64, OPENCL, relative_difference

from sss_vfx import InputError, laplacian
from sss_vfx.accel.laplacian_cl import affinity_to_laplacian_cl, method_laplacian_cl
from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import matting_affinity
from sss_vfx.accel.compute import Compute
from sss_vfx.options import AffinityWeights
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.graph.temporal import temporal_affinity, temporal_block
from sss_vfx.data import two_region_image


def random_affinity(n, density, seed, negative=True, self_loops=True):
    rng = np.random.default_rng(seed)
    a = scipy.sparse.random(n, n, density=density, random_state=rng, format="coo")
    if negative:
        a.data -= 0.3
    if not self_loops:
        a.setdiag(0)
        a.eliminate_zeros()
    # Duplicate entries on purpose: CSR from COO sums them.
    dup = scipy.sparse.coo_matrix((a.data[:5], (a.row[:5], a.col[:5])), shape=(n, n))
    a = (a + a.T).tocoo()
    return scipy.sparse.csr_matrix((np.concatenate([a.data, dup.data, dup.data]),
                                    (np.concatenate([a.row, dup.row, dup.col]),
                                     np.concatenate([a.col, dup.col, dup.row]))),
                                   shape=(n, n))


@OPENCL
@pytest.mark.parametrize("seed", [0, 1])
def test_generic_laplacian_matches_reference(device, seed):
    affinity = random_affinity(60, 0.08, seed)
    before = affinity.copy()
    expected = affinity_to_laplacian(affinity)
    actual = affinity_to_laplacian_cl(affinity, device=device)
    tol = 1e-13 if device.fp64 else 1e-6
    np.testing.assert_allclose(actual.toarray(), expected.toarray(), rtol=0,
                               atol=tol * abs(expected).max())
    assert abs(actual @ np.ones(60)).max() < 10 * tol * abs(actual).max()
    assert (affinity != before).nnz == 0  # the caller's matrix is untouched


@OPENCL
def test_generic_laplacian_adds_missing_diagonals(device):
    affinity = random_affinity(30, 0.05, 3, self_loops=False)
    lap = affinity_to_laplacian_cl(affinity, device=device)
    rows = np.repeat(np.arange(30), np.diff(lap.indptr))
    assert np.unique(rows[lap.indices == rows]).size == 30


@FP64
def test_video_window_laplacian(device):
    # Two frames: matting affinities on the diagonal, the temporal affinity beside them.
    rng = np.random.default_rng(4)
    f0, f1 = rng.random((8, 9, 3)), rng.random((8, 9, 3))
    flow = rng.normal(0, 1.5, (8, 9, 2))
    temporal = temporal_block(temporal_affinity(f0, f1, flow, rng.random((8, 9))))
    window = scipy.sparse.block_diag([matting_affinity(f0), matting_affinity(f1)]) + temporal
    expected = affinity_to_laplacian(window)
    assert relative_difference(expected,
                               affinity_to_laplacian_cl(window, device=device)) < 1e-13


def test_generic_laplacian_rejects_non_square():
    with pytest.raises(InputError, match="square"):
        affinity_to_laplacian_cl(scipy.sparse.csr_matrix((3, 4)))


@FP64
@pytest.mark.parametrize("band_rows", [None, 3])
def test_method_laplacian_merges_long_range_edges(device, band_rows):
    rng = np.random.default_rng(8)
    image = rng.random((12, 14, 3))
    n = 12 * 14
    # Long-range pairs, pairs inside the 5x5 pattern, a self-loop and a duplicate.
    i = np.array([0, 5, 17, 17, 40, 100, 3, 3])
    j = np.array([150, 90, 18, 31, 41, 100, 130, 130])
    v = rng.normal(0, 0.02, i.size)
    extra = scipy.sparse.coo_matrix((np.concatenate([v, v]), (np.concatenate([i, j]),
                                     np.concatenate([j, i]))), shape=(n, n))
    expected = affinity_to_laplacian(matting_affinity(image) + extra.tocsr())
    actual = method_laplacian_cl(image, extra, device=device, band_rows=band_rows)
    assert actual.has_canonical_format
    assert relative_difference(expected, actual) < 1e-8
    assert abs(actual @ np.ones(n)).max() < 1e-12 * abs(actual).max()


@FP64
@pytest.mark.parametrize("with_features", [False, True])
def test_full_laplacian_matches_numpy(device, with_features):
    image, alpha = two_region_image((26, 30), edge_width=3, seed=1)
    image = image.astype(np.float64)
    features = np.repeat(alpha[..., None], 3, axis=2).astype(np.float64) \
        if with_features else None
    sp = compute_superpixels(image, n_segments=30)
    weights = AffinityWeights(semantic=0.05, colour=0.02)
    expected = laplacian(image, features, weights=weights, superpixels=sp, device="numpy")
    compute = Compute.resolve(device)
    actual = compute.laplacian(image, features, weights=weights, superpixels=sp)
    assert compute.affinity_device == device and compute.ran["affinities"] == device.spec
    assert relative_difference(expected, actual) < 1e-8
    assert abs(actual - actual.T).max() < 1e-15
    assert actual.has_canonical_format
