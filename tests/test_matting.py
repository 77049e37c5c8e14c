"""Matting affinity and matting Laplacian against dense evaluations of Levin's formulas."""

import itertools

import numpy as np
import pytest

from sss_vfx import matting_laplacian
from sss_vfx.graph.matting import matting_affinity


def dense_matting_affinity(image, eps):
    """W straight from the formula, one 3x3 window at a time.

    ``W_ij += (1 + (I_i - mu_k)^T (S_k + eps/9 Id)^-1 (I_j - mu_k)) / 9`` for every
    complete window k and every pair of pixels i, j in it (row-major pixel indices).
    """
    img = np.asarray(image, dtype=np.float64)
    h, w, _ = img.shape
    weights = np.zeros((h * w, h * w))
    for y, x in itertools.product(range(h - 2), range(w - 2)):
        ys, xs = np.mgrid[y:y + 3, x:x + 3]
        index = (ys * w + xs).ravel()
        colours = img[ys, xs].reshape(9, 3)
        mean = colours.mean(axis=0)
        centred = colours - mean
        cov = centred.T @ centred / 9.0
        inverse = np.linalg.inv(cov + eps / 9.0 * np.eye(3))
        weights[np.ix_(index, index)] += (1.0 + centred @ inverse @ centred.T) / 9.0
    return weights


def window_energy(image, alpha, eps):
    """Levin's J(alpha): sum over windows of min_{a,b} sum (alpha_i - a.I_i - b)^2 + eps |a|^2."""
    img = np.asarray(image, dtype=np.float64)
    h, w, _ = img.shape
    total = 0.0
    for y, x in itertools.product(range(h - 2), range(w - 2)):
        colours = img[y:y + 3, x:x + 3].reshape(9, 3)
        target = alpha[y:y + 3, x:x + 3].ravel()
        # Ridge regression on [I, 1] with the penalty on a only.
        design = np.vstack([np.hstack([colours, np.ones((9, 1))]),
                            np.hstack([np.sqrt(eps) * np.eye(3), np.zeros((3, 1))])])
        goal = np.concatenate([target, np.zeros(3)])
        coef = np.linalg.lstsq(design, goal, rcond=None)[0]
        total += float(np.sum((design @ coef - goal) ** 2))
    return total


def random_image(shape, seed):
    return np.random.default_rng(seed).random(shape + (3,))


def image_with_flat_and_binary_parts(shape, seed):
    """Random colours, a flat block (zero covariance), a two-colour block (rank-one
    covariance) and channels exactly 0 and 1."""
    img = random_image(shape, seed)
    h, w = shape
    img[: h // 2 + 1, : w // 2 + 1] = (0.25, 0.5, 0.75)        # flat: S_k = 0
    img[h // 2:, w // 2:, :] = 0.0                             # exact zeros ...
    img[h // 2:, w // 2:, :][::2, ::2] = 1.0                    # ... and ones: rank 1
    img[0, -1] = (1.0, 0.0, 1.0)
    return img


IMAGES = {
    "random-6x7": lambda: random_image((6, 7), 0),
    "random-5x5": lambda: random_image((5, 5), 1),
    "flat-binary-6x7": lambda: image_with_flat_and_binary_parts((6, 7), 2),
    "flat-binary-5x5": lambda: image_with_flat_and_binary_parts((5, 5), 3),
    "all-flat-5x6": lambda: np.full((5, 6, 3), 0.5),
    "all-zero-5x5": lambda: np.zeros((5, 5, 3)),
    "all-one-5x5": lambda: np.ones((5, 5, 3)),
}


@pytest.mark.parametrize("eps", [1e-7, 1e-3])
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_affinity_equals_dense_formula(name, eps):
    image = IMAGES[name]()
    expected = dense_matting_affinity(image, eps)
    got = matting_affinity(image, eps=eps)
    assert got.shape == expected.shape
    assert got.dtype == np.float64
    # Values reach ~10 in near-singular windows; the library forms the covariance as
    # E[II^T] - mu mu^T, which loses ~1e-16 absolute against eps/9 ~ 1e-8.
    np.testing.assert_allclose(got.toarray(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_affinity_accepts_float_dtypes(dtype):
    image = random_image((6, 7), 4).astype(dtype)
    expected = dense_matting_affinity(image.astype(np.float64), 1e-7)
    np.testing.assert_allclose(matting_affinity(image).toarray(), expected,
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(5, 5), (6, 7), (9, 8)])
def test_sparsity_pattern_is_the_25_neighbourhood(shape):
    h, w = shape
    affinity = matting_affinity(random_image(shape, 5)).tocsr()
    counts = np.diff(affinity.indptr).reshape(h, w)
    # A pixel shares a window with exactly the pixels within Chebyshev distance 2.
    rows = np.minimum(np.arange(h) + 2, h - 1) - np.maximum(np.arange(h) - 2, 0) + 1
    cols = np.minimum(np.arange(w) + 2, w - 1) - np.maximum(np.arange(w) - 2, 0) + 1
    np.testing.assert_array_equal(counts, np.outer(rows, cols))
    assert np.all(counts[2:-2, 2:-2] == 25)
    dense = affinity.toarray()
    ys, xs = np.divmod(np.arange(h * w), w)
    near = (np.abs(ys[:, None] - ys[None]) <= 2) & (np.abs(xs[:, None] - xs[None]) <= 2)
    np.testing.assert_array_equal(dense != 0, near)


# Windows with a (near-)singular covariance invert it with a condition number of up
# to 9/eps ~ 1e8, so their terms carry ~1e-10 of round-off that is not mirrored.
SYMMETRY_TOL = {name: 1e-12 if name.startswith("random") else 1e-9 for name in IMAGES}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_affinity_is_symmetric(name):
    affinity = matting_affinity(IMAGES[name]()).tocsr()
    assert abs(affinity - affinity.T).max() <= SYMMETRY_TOL[name] * max(1.0, abs(affinity).max())


def test_caller_image_not_modified():
    image = random_image((6, 7), 6)
    before = image.copy()
    matting_affinity(image)
    matting_laplacian(image)
    np.testing.assert_array_equal(image, before)


# ---- matting Laplacian ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(IMAGES))
def test_laplacian_symmetric_zero_row_sums_psd(name):
    image = IMAGES[name]()
    lap = matting_laplacian(image)
    dense = lap.toarray()
    np.testing.assert_allclose(dense, dense.T, rtol=0, atol=SYMMETRY_TOL[name] * 10)
    np.testing.assert_allclose(dense.sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(lap @ np.ones(lap.shape[0]), 0.0, atol=1e-9)
    assert np.linalg.eigvalsh(dense).min() >= -1e-9


@pytest.mark.parametrize("eps", [1e-7, 1e-4, 1e-2])
def test_laplacian_quadratic_form_equals_window_regression(eps):
    """alpha^T L alpha is Levin's J(alpha), evaluated here window by window."""
    rng = np.random.default_rng(7)
    image = rng.random((6, 7, 3))
    lap = matting_laplacian(image, eps=eps)
    for _ in range(3):
        alpha = rng.random((6, 7))
        v = alpha.ravel()
        expected = window_energy(image, alpha, eps)
        assert v @ (lap @ v) == pytest.approx(expected, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("eps", [1e-10, 1e-7, 1e-3])
@pytest.mark.parametrize("shape", [(8, 9), (12, 10)])
def test_affine_alpha_is_in_the_near_null_space(shape, eps):
    """Levin's property: alpha = a.I + b costs at most eps |a|^2 per window."""
    rng = np.random.default_rng(8)
    image = rng.random(shape + (3,))
    lap = matting_laplacian(image, eps=eps)
    a, b = rng.normal(size=3), rng.normal()
    alpha = (image @ a + b).ravel()
    energy = alpha @ (lap @ alpha)
    windows = (shape[0] - 2) * (shape[1] - 2)
    assert -1e-9 <= energy <= windows * eps * (a @ a) + 1e-9
    # The same values scrambled over the image are far from affine and cost far more.
    other = rng.permutation(alpha)
    assert other @ (lap @ other) > 10 * windows * eps * (a @ a) + 1.0
