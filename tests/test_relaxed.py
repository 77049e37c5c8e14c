"""The relaxed sparsification (DESIGN step 7)."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from sss_vfx import laplacian, matting_laplacian
from sss_vfx.arrays.namespace import row_sums
from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.segments.relaxed import (
    RelaxedOptions,
    apply_system,
    initial_layers,
    relaxed_sparsification,
    sparsity_exponent,
)
from sss_vfx.data import two_region_image


def test_initial_layers_snapping_rule():
    rng = np.random.default_rng(0)
    layers = rng.random((500, 3))
    layers[:5] = [0.05, 0.05, 0.05]          # every value snaps to zero
    before = layers.copy()
    got = initial_layers(layers)
    np.testing.assert_array_equal(layers, before)
    snapped = np.where(layers < 0.1, 0.0, np.where(layers > 0.9, 1.0, layers))
    total = snapped.sum(axis=1, keepdims=True)
    expected = snapped / np.where(total > 0, total, 1)
    fallback = layers / layers.sum(axis=1, keepdims=True)
    expected[total[:, 0] == 0] = fallback[total[:, 0] == 0]
    np.testing.assert_allclose(got, expected, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(got[:5], 1 / 3)


def test_initial_layers_known_values():
    got = initial_layers([[0.95, 0.05], [0.5, 0.5], [0.6, 0.3], [0.08, -0.2]])
    np.testing.assert_allclose(got[0], [1.0, 0.0])
    np.testing.assert_allclose(got[1], [0.5, 0.5])
    np.testing.assert_allclose(got[2], [2 / 3, 1 / 3])
    np.testing.assert_allclose(got[3], [1.0, 0.0])  # all snapped: clipped proportions


def test_sparsity_exponent():
    np.testing.assert_allclose(sparsity_exponent([0.0, 0.05, 0.1, 3.0]),
                               [0.9, 0.95, 1.0, 1.0])


@pytest.mark.parametrize("k", range(1, 11))
def test_row_sums_are_numpys_sums_bit_for_bit(k):
    # Values over 16 orders of magnitude: any other order of the additions rounds
    # differently somewhere in 2,000 rows.
    rng = np.random.default_rng(k)
    x = rng.normal(size=(2000, k)) * 10.0 ** rng.uniform(-8, 8, (2000, k))
    got = row_sums(x)
    assert got.shape == (2000, 1)
    np.testing.assert_array_equal(got, np.sum(x, axis=1, keepdims=True))
    assert not np.shares_memory(got, x)


@pytest.mark.parametrize("k", [2, 4])
def test_apply_system_equals_explicit_matrix(k):
    rng = np.random.default_rng(k)
    image = rng.random((6, 7, 3))
    lap = matting_laplacian(image)
    n = lap.shape[0]
    diag_weights = rng.random((n, k)) + 0.5
    x = rng.normal(size=(n, k))
    got = apply_system(lap, diag_weights, 100.0, x)
    system = (scipy.sparse.kron(scipy.sparse.identity(k), lap)
              + scipy.sparse.diags(diag_weights.T.ravel())
              + 100.0 * scipy.sparse.kron(np.ones((k, k)), scipy.sparse.identity(n)))
    expected = (system @ x.T.ravel()).reshape(k, n).T
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-10)


def relaxed_case():
    image, alpha = two_region_image((16, 20), edge_width=4)
    image = image.astype(np.float64)
    lap = laplacian(image)
    noisy = np.clip(alpha.ravel() + 0.15 * np.random.default_rng(0).normal(size=alpha.size), 0, 1)
    return image, alpha.ravel(), lap, np.column_stack([noisy, 1 - noisy])


def relaxed_energy(lap, layers, anchor, gradient, fidelity=1.0, sum_weight=100.0):
    """The energy of the module docstring, written out."""
    expo = sparsity_exponent(gradient)[:, None]
    smooth = sum(layers[:, k] @ (lap @ layers[:, k]) for k in range(layers.shape[1]))
    sparse = np.sum(np.abs(layers) ** expo + np.abs(1 - layers) ** expo)
    return (smooth + sparse + fidelity * np.sum((layers - anchor) ** 2)
            + sum_weight * np.sum((layers.sum(axis=1) - 1) ** 2))


@pytest.mark.parametrize("rounds", [0, 3])
def test_relaxed_sums_to_one_and_lowers_the_energy(rounds):
    image, alpha, lap, layers = relaxed_case()
    gradient = gradient_magnitude(image).ravel()
    start = initial_layers(layers)
    out = relaxed_sparsification(lap, layers, gradient, options=RelaxedOptions(rounds=rounds))
    assert out.shape == layers.shape
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-3)
    assert relaxed_energy(lap, out, start, gradient) < relaxed_energy(lap, start, start,
                                                                      gradient) - 1.0
    # Smoothing along the image removes much of the added noise.
    assert np.abs(out[:, 0] - alpha).mean() < 0.8 * np.abs(start[:, 0] - alpha).mean()


def test_relaxed_progress():
    image, _, lap, layers = relaxed_case()
    calls = []
    relaxed_sparsification(lap, layers, gradient_magnitude(image).ravel(),
                           options=RelaxedOptions(rounds=2),
                           progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_relaxed_prior_with_zero_weight_changes_nothing_and_pulls_as_it_grows():
    image, alpha, lap, layers = relaxed_case()
    gradient = gradient_magnitude(image).ravel()
    opts = RelaxedOptions(rounds=4)
    plain = relaxed_sparsification(lap, layers, gradient, options=opts)
    rows = np.arange(0, layers.shape[0], 2)
    target = np.column_stack([1.0 - alpha, alpha])[rows]      # the layers swapped
    def run(weight):
        return relaxed_sparsification(lap, layers, gradient, options=opts,
                                      prior=(rows, target, np.full(len(rows), weight)))
    np.testing.assert_array_equal(run(0.0), plain)
    gaps = [np.abs(out[rows] - target).mean() for out in (plain, run(1.0), run(10.0))]
    assert gaps[0] > gaps[1] > gaps[2]
    np.testing.assert_allclose(run(10.0).sum(axis=1), 1.0, atol=1e-3)


def test_relaxed_keeps_exact_hard_layers():
    # Layers that are exact indicators of a two-colour image cost nothing in L; the
    # clamped IRLS weights (|a| >= 0.01, exponent ~0.9) balance at a = v / (u + v)
    # ~ 0.01^1.1 ~ 0.006, not exactly 0, so they stay within 0.01 of the indicators.
    image = np.zeros((16, 16, 3))
    image[:, :8] = (0.9, 0.3, 0.1)
    image[:, 8:] = (0.1, 0.4, 0.9)
    lap = matting_laplacian(image)
    left = np.zeros((16, 16))
    left[:, :8] = 1
    layers = np.column_stack([left.ravel(), 1 - left.ravel()])
    out = relaxed_sparsification(lap, layers, gradient_magnitude(image).ravel(),
                                 options=RelaxedOptions(rounds=3))
    np.testing.assert_allclose(out, layers, atol=1e-2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-3)
