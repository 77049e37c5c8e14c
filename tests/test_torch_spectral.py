"""Eigenpairs on torch:cpu (the filtered subspace method) against the shift-invert
reference (sss_vfx.spectral)."""

import numpy as np
import pytest
from _problems import two_region_problem

from sss_vfx.errors import OptionError
from sss_vfx.spectral import smallest_magnitude_eigs, window_eigs
from sss_vfx.spectral.subspace import TOLERANCE, subspace_eigs

torch = pytest.importorskip("torch")
from sss_vfx.accel.compute import run_stage  # noqa: E402
from sss_vfx.arrays.transfer import to_device  # noqa: E402

SHAPE = (24, 32)
K = 24


@pytest.fixture(scope="module")
def problem():
    """An indefinite Laplacian of a 24x32 image with features, and its reference pairs."""
    image, alpha, features, lap = two_region_problem(SHAPE)
    values, vectors = smallest_magnitude_eigs(lap, K, shape=SHAPE)
    return lap, values, vectors


def smallest_cosine(a, b):
    """Cosine of the largest principal angle between the column spans of a and b."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return np.linalg.svd(qa.T @ qb, compute_uv=False).min()


def norm_bound(lap):
    return np.abs(lap).sum(axis=1).max()


def test_reference_problem_is_indefinite(problem):
    _, values, _ = problem
    assert values.min() < -1e-6


def test_eigenpairs_match_shift_invert(problem):
    lap, ref_values, ref_vectors = problem
    info = {}
    values, vectors = run_stage("eigenvectors", lap, K, device="torch:cpu", info=info)
    assert values.shape == (K,) and vectors.shape == (lap.shape[0], K)
    assert isinstance(values, np.ndarray) and vectors.dtype == np.float64
    # Residual ||L v - lambda v|| below the stated tolerance (relative to ||L||'s bound).
    residual = np.linalg.norm(lap @ vectors - vectors * values, axis=0)
    assert residual.max() <= TOLERANCE * norm_bound(lap) * 1.0001
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(K), atol=1e-10)
    assert np.all(np.diff(np.abs(values)) >= 0)
    # Same eigenvalues (absolute 1e-10, gaps here are >= 1e-6) and the same subspace.
    np.testing.assert_allclose(values, ref_values, rtol=0, atol=1e-10)
    assert smallest_cosine(vectors, ref_vectors) > 1 - 1e-9
    assert 1 <= info["rounds"] < 400


def test_warm_start_equals_cold_and_is_cheaper(problem):
    lap, _, ref_vectors = problem
    cold_info, warm_info = {}, {}
    cold_values, cold = run_stage("eigenvectors", lap, K, info=cold_info, device="torch:cpu")
    # A nearby frame's eigenvectors: the reference's, slightly perturbed.
    rng = np.random.default_rng(3)
    start = ref_vectors + 1e-4 * rng.standard_normal(ref_vectors.shape)
    warm_values, warm = run_stage("eigenvectors", lap, K, start=start, info=warm_info,
                                  device="torch:cpu")
    np.testing.assert_allclose(warm_values, cold_values, rtol=0, atol=1e-10)
    assert smallest_cosine(warm, cold) > 1 - 1e-9
    assert warm_info["rounds"] < cold_info["rounds"]


def test_deterministic_and_tensors_in_tensors_out(problem):
    lap, _, _ = problem
    first = run_stage("eigenvectors", lap, 6, device="torch:cpu")
    second = run_stage("eigenvectors", lap, 6, device="torch:cpu")
    assert np.array_equal(first[1], second[1])
    start = torch.from_numpy(first[1])
    values, vectors = subspace_eigs(to_device(lap, torch.device("cpu")), 6, start=start)
    assert isinstance(values, torch.Tensor) and isinstance(vectors, torch.Tensor)


def test_k_out_of_range(problem):
    lap, _, _ = problem
    with pytest.raises(OptionError, match="eigenvectors="):
        run_stage("eigenvectors", lap, lap.shape[0], device="torch:cpu")


def test_window_eigs_match_reference(problem):
    lap, _, vectors = problem
    # A two-frame "window": the frame's Laplacian twice, joined by a weak coupling.
    import scipy.sparse
    n = lap.shape[0]
    coupling = scipy.sparse.identity(n) * 1e-3
    window = scipy.sparse.bmat([[lap + coupling, -coupling], [-coupling, lap + coupling]])
    frames = [vectors[:, :12], vectors[:, :10]]
    ref_values, ref_vectors = window_eigs(window, frames, 15)
    values, out = run_stage("window_eigenvectors", window, frames, 15, device="torch:cpu")
    np.testing.assert_allclose(values, ref_values, rtol=0, atol=1e-12)
    assert smallest_cosine(out, ref_vectors) > 1 - 1e-9
    # Distinct Ritz values: the vectors agree one by one (up to sign, which both fix by
    # the largest entry; this symmetric window has ties there).
    distinct = np.concatenate([[True], np.abs(np.diff(ref_values)) > 1e-9])
    distinct &= np.concatenate([np.abs(np.diff(ref_values)) > 1e-9, [True]])
    cosines = np.abs(np.sum(out * ref_vectors, axis=0))
    np.testing.assert_allclose(cosines[distinct], 1.0, atol=1e-8)


def test_largest_principal_angle_torch_equals_numpy():
    from sss_vfx.spectral import largest_principal_angle
    rng = np.random.default_rng(5)
    reference = rng.standard_normal((150, 10))
    vectors = reference @ rng.standard_normal((10, 10)) + 1e-4 * rng.standard_normal((150, 10))
    on_numpy = largest_principal_angle(reference, vectors)
    on_torch = largest_principal_angle(torch.from_numpy(reference), torch.from_numpy(vectors))
    assert 1e-6 < on_numpy < 1e-2
    np.testing.assert_allclose(on_torch, on_numpy, rtol=1e-9)
