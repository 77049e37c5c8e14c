"""The constrained sparsification (DESIGN step 5)."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from sss_vfx import laplacian
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.segments.constrained import (
    ConstrainedOptions,
    _snap,
    _solve_coupled,
    constrained_sparsification,
    one_hot_segments,
)
from sss_vfx.segments.kmeans import kmeans
from sss_vfx.spectral import smallest_magnitude_eigs
from sss_vfx.data import coarse_features, two_region_image


H, W = 24, 30


def regions_case(extra_label_pixels=0, seed=0, flip=0.15):
    """Eigenvectors spanning the exact indicators of 3 regions plus 5 smooth vectors.

    Returns E (orthonormal), eigenvalues (near zero for the indicator directions),
    the indicators (N, 3) and noisy initial labels.
    """
    ys, xs = np.mgrid[0:H, 0:W]
    regions = np.zeros((H, W), int)
    regions[:, 10:20] = 1
    regions[:, 20:] = 2
    regions[ys + xs > 40] = 2
    indicators = np.stack([(regions == k).ravel() for k in range(3)], axis=1).astype(float)
    smooth = np.stack([(np.cos(np.pi * a * (ys + 0.5) / H) * np.cos(np.pi * b * (xs + 0.5) / W)
                        ).ravel() for a, b in [(1, 0), (0, 1), (1, 1), (2, 0), (0, 2)]], axis=1)
    vectors, _ = np.linalg.qr(np.hstack([indicators, smooth]))
    values = np.concatenate([[0.0, 1e-4, 2e-4], np.linspace(0.05, 0.2, 5)])
    rng = np.random.default_rng(seed)
    labels = regions.ravel().copy()
    flipped = rng.random(labels.size) < flip
    labels[flipped] = rng.integers(0, 3, flipped.sum())
    if extra_label_pixels:
        labels[rng.choice(labels.size, extra_label_pixels, replace=False)] = 3
    return vectors, values, indicators, labels


def test_one_hot_segments():
    labels = np.array([2, 0, 1, 2, 0])
    np.testing.assert_array_equal(one_hot_segments(labels),
                                  np.eye(3)[labels])


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("clamp", [1e-4, 1e-2])
def test_constrained_recovers_indicators(precision, clamp):
    vectors, values, indicators, labels = regions_case()
    options = ConstrainedOptions(iterations=20, precision=precision, clamp=clamp)
    alpha = constrained_sparsification(vectors, values, labels, options=options)
    assert alpha.shape == indicators.shape and alpha.dtype == np.float64
    # Layers come in the order of the initial labels, which follow the regions; the
    # veil the clamp leaves (see test_snap_removes_the_clamps_veil) is snapped away.
    np.testing.assert_allclose(alpha, indicators, atol=1e-3)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_snap_removes_the_clamps_veil():
    # Inside the clamp every pixel has the same weights, whose fixed point leaves a
    # layer at v = w_one / (w_one + w_zero) = 1 / (1 + clamp^(p-2)) outside its region
    # (0.004 at clamp 1e-2), and 1 - (K-1) v inside it.
    clamp = 1e-2
    veil = 1.0 / (1.0 + clamp ** (0.8 - 2.0))
    raw = np.array([[1 - 2 * veil, veil, veil], [veil, 0.3, 0.7 - veil],
                    [0.5, 0.5 + 2 * clamp, -2 * clamp]])
    snapped = _snap(raw, clamp)
    np.testing.assert_allclose(snapped[0], [1, 0, 0])
    np.testing.assert_allclose(snapped[1], np.array([0, 0.3, 0.7 - veil]) / (1 - veil))
    np.testing.assert_allclose(snapped[2], raw[2])  # nothing within the clamp
    np.testing.assert_allclose(snapped.sum(axis=1), 1.0)
    # A row the snap would take far from 1 is kept.
    many = np.array([[0.009] * 60 + [1 - 0.54]])
    np.testing.assert_array_equal(_snap(many, clamp), many)


def test_constrained_layers_lie_in_the_span():
    vectors, values, _, labels = regions_case(seed=1)
    # The paper's clamp: the snap (test_snap_removes_the_clamps_veil) moves nothing.
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=8, clamp=1e-10))
    ones = np.ones(len(alpha))
    # Every layer but the last is E y; the last is 1 - sum; 1 is in the span here too.
    assert np.linalg.norm(vectors @ (vectors.T @ ones) - ones) < 1e-10
    for k in range(alpha.shape[1]):
        np.testing.assert_allclose(vectors @ (vectors.T @ alpha[:, k]), alpha[:, k], atol=1e-9)


@pytest.mark.parametrize("iterations", [3, 10, 12, 20])
def test_constrained_rows_sum_to_one(iterations):
    vectors, values, _, labels = regions_case(extra_label_pixels=4, seed=2)
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=iterations))
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_drops_vanishing_layers():
    # A 4th initial segment of four scattered pixels is not in the span: it fades
    # below 0.1 and is dropped at the first check (after iteration 11).
    vectors, values, indicators, labels = regions_case(extra_label_pixels=4, seed=2)
    assert labels.max() == 3
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=12))
    assert alpha.shape[1] == 3
    assert np.abs(alpha).max(axis=0).min() > 0.1
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_rows_sum_to_one_when_the_last_iteration_drops_a_layer():
    vectors, values, _, labels = regions_case(extra_label_pixels=4, seed=2)
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=11))
    assert alpha.shape[1] == 3  # the drop happened
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_progress_and_input_untouched():
    vectors, values, _, labels = regions_case(seed=3)
    before = vectors.copy(), values.copy(), labels.copy()
    calls = []
    constrained_sparsification(vectors, values, labels, options=ConstrainedOptions(iterations=4),
                               progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for a, b in zip(before, (vectors, values, labels)):
        np.testing.assert_array_equal(a, b)


def test_precisions_agree_on_the_indicator_case():
    vectors, values, _, labels = regions_case(seed=4, flip=0.3)
    run = {p: constrained_sparsification(vectors, values, labels,
                                         options=ConstrainedOptions(iterations=15, precision=p))
           for p in ("float32", "float64")}
    assert run["float32"].shape == run["float64"].shape == (H * W, 3)
    assert np.abs(run["float32"] - run["float64"]).max() < 1e-4


def test_precisions_agree_on_a_real_laplacian():
    """Eigenvectors of the method's Laplacian of a 20x24 image, 6 k-means segments.

    Nine iterations, so no layer drop (at 0.1, a threshold that can flip) intervenes.
    Measured: float32 vs float64 with the same clamp, mean |diff| ~ 0.0008; float32
    (clamp 1e-4) vs float64 with the reference 1e-10 clamp, mean ~ 0.0055, max ~ 0.046.
    """
    image, alpha = two_region_image((20, 24), edge_width=4)
    image = image.astype(np.float64)
    features = coarse_features(alpha, scale=4).astype(np.float64)
    lap = laplacian(image, features, superpixels=compute_superpixels(image, n_segments=40))
    values, vectors = smallest_magnitude_eigs(lap, 15, shape=(20, 24))
    labels, _ = kmeans(features.reshape(-1, 3), 6)
    ones = lap @ np.ones(lap.shape[0])

    def run(precision, clamp):
        return constrained_sparsification(
            vectors, values, labels, laplacian_ones=ones,
            options=ConstrainedOptions(iterations=9, precision=precision, clamp=clamp))

    fast, same_clamp, reference = run("float32", 1e-4), run("float64", 1e-4), run("float64", 1e-10)
    assert fast.shape == same_clamp.shape == reference.shape == (480, labels.max() + 1)
    assert np.abs(fast - same_clamp).mean() < 0.003
    assert np.abs(fast - reference).mean() < 0.015
    assert np.abs(fast - reference).max() < 0.15
    for result in (fast, same_clamp, reference):
        np.testing.assert_allclose(result.sum(axis=1), 1.0, atol=1e-9)


def test_gram_chunking_gives_the_same_result():
    vectors, values, _, labels = regions_case(seed=5)
    whole = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=5,
                                                                  precision="float64"))
    chunked = constrained_sparsification(
        vectors, values, labels,
        options=ConstrainedOptions(iterations=5, precision="float64",
                                   product_budget=8 * 36 * 100))  # chunks of 100 pixels
    np.testing.assert_allclose(chunked, whole, atol=1e-10)


@pytest.mark.parametrize("k, m", [(2, 4), (3, 5), (5, 7)])
def test_solve_coupled_equals_dense_solve(k, m):
    rng = np.random.default_rng(k * 10 + m)
    grams = np.empty((k, m, m))
    for i in range(k):
        a = rng.normal(size=(m, m + 3))
        grams[i] = a @ a.T
    lam = rng.random(m) * 0.1
    rhs = rng.normal(size=(m, k - 1))
    last = rng.normal(size=m)
    y = _solve_coupled(grams, lam, rhs, last)
    assert y.shape == (m, k - 1)
    blocks = [grams[i] + np.diag(lam) for i in range(k - 1)]
    b = grams[-1] + np.diag(lam)
    system = scipy.linalg.block_diag(*blocks) + np.kron(np.ones((k - 1, k - 1)), b)
    goal = (rhs + last[:, None]).T.ravel()
    expected = np.linalg.solve(system, goal).reshape(k - 1, m).T
    np.testing.assert_allclose(y, expected, rtol=1e-9, atol=1e-10)


def test_solve_coupled_is_the_minimiser_of_the_energy():
    """The coupled system is the normal equations of the IRLS energy with the last
    layer eliminated: check against a direct least-squares minimisation."""
    rng = np.random.default_rng(0)
    n, m, k = 60, 4, 3
    e, _ = np.linalg.qr(rng.normal(size=(n, m)))
    lam = rng.random(m) * 0.1
    u, v = rng.random((n, k)) + 0.1, rng.random((n, k)) + 0.1  # pull to zero / one

    def energy(flat):
        y = flat.reshape(k - 1, m).T
        alpha = np.column_stack([e @ y, 1 - e @ y.sum(axis=1)])
        smooth = sum(yk @ (lam * yk) for yk in y.T) + y.sum(axis=1) @ (lam * y.sum(axis=1))
        return smooth + np.sum(u * alpha ** 2 + v * (1 - alpha) ** 2)

    grams = np.stack([e.T @ ((u[:, i] + v[:, i])[:, None] * e) for i in range(k)])
    y = _solve_coupled(grams, lam, e.T @ v[:, :-1], e.T @ u[:, -1])
    flat = y.T.ravel()
    base = energy(flat)
    for _ in range(20):
        step = 1e-4 * rng.normal(size=flat.shape)
        assert energy(flat + step) >= base - 1e-12
    # The gradient vanishes (central differences).
    grad = [(energy(flat + h) - energy(flat - h)) / 2e-6 for h in 1e-6 * np.eye(flat.size)]
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 4])
def test_constrained_over_some_pixels_is_the_irls_of_those_rows(stride):
    """A window's new frames alone: the IRLS sums the sparsity over ``pixels`` only
    (rows elsewhere may be anything), and the layers come back over every pixel as
    ``E y``: equal to running on those rows of E, then extending by E."""
    vectors, values, _, labels = regions_case()
    options = ConstrainedOptions(iterations=12, gram_stride=stride)
    pixels = np.arange(3 * W, H * W)          # the first three rows are "shared"
    result = constrained_sparsification(vectors, values, labels, options=options,
                                        sparse_rows=pixels)
    alone = constrained_sparsification(vectors[pixels], values, labels[pixels],
                                       options=options)
    assert result.shape == (H * W, alone.shape[1])
    np.testing.assert_allclose(result[pixels], alone, atol=1e-12)
    # The excluded rows have no say: scrambling their labels changes nothing.
    scrambled = labels.copy()
    scrambled[:3 * W] = np.random.default_rng(1).integers(0, 3, 3 * W)
    again = constrained_sparsification(vectors, values, scrambled, options=options,
                                       sparse_rows=pixels)
    np.testing.assert_array_equal(again, result)
    # Every pixel, as one list: the same bits as no list.
    np.testing.assert_array_equal(
        constrained_sparsification(vectors, values, labels, options=options,
                                   sparse_rows=np.arange(H * W)),
        constrained_sparsification(vectors, values, labels, options=options))
