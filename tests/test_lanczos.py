"""Block Lanczos against dense eigh, and the spectral stage's two solvers against each other."""

import numpy as np
import pytest
from _problems import two_region_problem
from threadpoolctl import threadpool_info

from sss_vfx.spectral import fixed_signs, shift_invert, smallest_magnitude_eigs
from sss_vfx.spectral.lanczos import block_lanczos
from sss_vfx.spectral.threads import single_blas_thread


def symmetric_matrix(n, values, seed=1):
    """A dense symmetric (n, n) matrix with the given eigenvalues and random eigenvectors."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return (q * values) @ q.T


def projector(vectors):
    return vectors @ vectors.T


@pytest.fixture(scope="module")
def indefinite():
    """Eigenvalues of both signs whose magnitudes decay, with a clear gap after the 10th."""
    n = 400
    mags = np.concatenate([np.geomspace(1e4, 1e2, 10), np.geomspace(20, 0.1, n - 10)])
    signs = np.where(np.arange(n) % 3 == 1, -1.0, 1.0)
    values = mags * signs
    return symmetric_matrix(n, values), values


def test_block_lanczos_matches_dense_eigh(indefinite):
    matrix, values = indefinite
    theta, vectors = block_lanczos(lambda x: matrix @ x, matrix.shape[0], 10,
                                   max_columns=200)
    wanted = values[np.argsort(-np.abs(values), kind="stable")[:10]]
    np.testing.assert_allclose(theta, wanted, rtol=1e-10)
    assert theta.min() < 0, "negative eigenvalues of large magnitude are found too"
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(10), atol=1e-12)
    residual = matrix @ vectors - vectors * theta
    assert np.linalg.norm(residual, axis=0).max() <= 1e-9 * np.abs(theta).min()
    _, dense = np.linalg.eigh(matrix)
    top = np.argsort(-np.abs(np.linalg.eigvalsh(matrix)), kind="stable")[:10]
    assert np.abs(projector(vectors) - projector(dense[:, top])).max() < 1e-9


def test_semi_orthogonal_basis_gives_the_fully_orthogonal_pairs(indefinite):
    matrix, _ = indefinite
    apply = lambda x: matrix @ x
    full = block_lanczos(apply, 400, 10, max_columns=200, every=1)
    semi = block_lanczos(apply, 400, 10, max_columns=200, every=2)
    np.testing.assert_allclose(semi[0], full[0], rtol=1e-12)
    np.testing.assert_allclose(semi[1].T @ semi[1], np.eye(10), atol=1e-13)
    assert np.abs(projector(semi[1]) - projector(full[1])).max() < 1e-10


def test_lost_orthogonality_is_caught_and_run_again_in_full(indefinite, monkeypatch):
    from sss_vfx.spectral import lanczos
    matrix, values = indefinite
    runs = []
    real = lanczos._lanczos
    monkeypatch.setattr(lanczos, "_lanczos", lambda *a: runs.append(a[-1]) or real(*a))
    # Never orthogonalised against the whole basis: the Ritz vectors of the huge
    # eigenvalues come back as ghosts, so the check must send it round again.
    theta, vectors = block_lanczos(lambda x: matrix @ x, 400, 10, max_columns=200,
                                   every=10**6)
    assert runs == [10**6, 1]
    wanted = values[np.argsort(-np.abs(values), kind="stable")[:10]]
    np.testing.assert_allclose(theta, wanted, rtol=1e-10)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(10), atol=1e-12)


def test_block_lanczos_is_deterministic_and_seeded(indefinite):
    matrix, _ = indefinite
    run = lambda seed: block_lanczos(lambda x: matrix @ x, 400, 10, max_columns=200,
                                     seed=seed)
    (t1, v1), (t2, v2), (_, v3) = run(0), run(0), run(5)
    assert np.array_equal(t1, t2) and np.array_equal(v1, v2)
    assert not np.array_equal(v1, v3)


def test_block_lanczos_gives_up_rather_than_returning_unconverged_pairs():
    # 30 eigenvalues in a tight cluster: 24 columns cannot separate the top 20.
    values = np.concatenate([1.0 + np.linspace(0, 1e-3, 30), np.linspace(0.5, 0.01, 270)])
    matrix = symmetric_matrix(300, values)
    assert block_lanczos(lambda x: matrix @ x, 300, 20, max_columns=28, block=4) is None


@pytest.mark.parametrize("columns", [10, 500])
def test_block_lanczos_refuses_a_basis_out_of_range(columns):
    with pytest.raises(ValueError, match="max_columns"):
        block_lanczos(lambda x: x, 400, 8, max_columns=columns, block=4)


SHAPE = (40, 48)


@pytest.fixture(scope="module")
def image_laplacian():
    return two_region_problem(SHAPE)[3]


def test_smallest_magnitude_eigs_block_equals_arpack(image_laplacian, monkeypatch):
    lap, k = image_laplacian, 8
    calls = []
    real = shift_invert.block_lanczos
    monkeypatch.setattr(shift_invert, "block_lanczos",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    values, vectors = smallest_magnitude_eigs(lap, k, shape=SHAPE)
    assert calls, "an image of 1920 px with k=8 takes the block path"
    ref_values, ref_vectors = smallest_magnitude_eigs(lap, k, shape=SHAPE, block=False)
    np.testing.assert_allclose(values, ref_values, rtol=1e-7, atol=1e-12)
    assert np.linalg.norm(lap @ vectors - vectors * values, axis=0).max() < 1e-9
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(k), atol=1e-10)
    assert np.abs(projector(vectors) - projector(ref_vectors)).max() < 1e-7
    # Individual vectors, not just the subspace: eigenvalues here are distinct, and both
    # solvers' signs are fixed the same way.
    np.testing.assert_allclose(vectors, ref_vectors, atol=1e-6)


def test_unconverged_block_lanczos_falls_back_to_arpack(image_laplacian, monkeypatch):
    monkeypatch.setattr(shift_invert, "block_lanczos", lambda *a, **kw: None)
    values, vectors = smallest_magnitude_eigs(image_laplacian, 8, shape=SHAPE)
    ref_values, ref_vectors = smallest_magnitude_eigs(image_laplacian, 8, shape=SHAPE,
                                                      block=False)
    assert np.array_equal(values, ref_values) and np.array_equal(vectors, ref_vectors)


def test_fixed_signs_make_each_largest_entry_positive():
    vectors = np.array([[0.1, -0.9, 0.0], [-0.8, 0.2, 0.0], [0.3, 0.1, 0.0]])
    fixed = fixed_signs(vectors)
    assert np.array_equal(fixed[:, 0], -vectors[:, 0])
    assert np.array_equal(fixed[:, 1], -vectors[:, 1])
    assert np.array_equal(fixed[:, 2], vectors[:, 2])


def test_single_blas_thread_limits_every_blas_library():
    np.linalg.solve(np.eye(3), np.ones(3))  # make sure numpy's BLAS is loaded
    with single_blas_thread():
        inside = [pool["num_threads"] for pool in threadpool_info()
                  if pool["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
