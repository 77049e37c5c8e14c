"""The weighted Gram matrices of the constrained sparsification (sss_vfx.segments.gram):
the support builder against a dense float64 sum and against the products builder."""

import numpy as np
import pytest

from sss_vfx.options import ConstrainedOptions
from sss_vfx.segments.constrained import _irls_weights, clamp_weight
from sss_vfx.segments.gram import SUPPORT_CLAMP, ProductGram, SupportGram, gram_builder


def _layers_and_weights(clamp, n=203, m=7, k=4, seed=0):
    """Eigenvectors (n, m), and the IRLS weights of layers that are exactly 0 (or 1)
    on most pixels, with a soft rim, a sliver just above the clamp and noise inside
    it."""
    rng = np.random.default_rng(seed)
    e, _ = np.linalg.qr(rng.standard_normal((n, m)))
    alpha = np.zeros((n, k))
    for j in range(k):
        alpha[j * 40:j * 40 + 30, j] = 1.0
        alpha[j * 40 + 30:j * 40 + 40, j] = rng.random(10)
    alpha[:, 0] += rng.uniform(-0.5, 0.5, n) * clamp      # within the clamp: weight c
    alpha[150:155, 1] = clamp * (1 + 1e-7)               # just above: weight above c
    options = ConstrainedOptions(clamp=clamp)
    pull_one, pull_zero = _irls_weights(alpha, options)
    return e, pull_one + pull_zero, options


def _dense(e, w):
    return np.einsum("nk,ni,nj->kij", w.astype(np.float64), e, e)


@pytest.mark.parametrize("clamp", [1e-3, 1e-2])
def test_support_gram_equals_the_dense_sum(clamp):
    e, w, options = _layers_and_weights(clamp)
    c = clamp_weight(options)
    at_clamp = w == np.float32(c)
    # Most weights are the clamp's; some are above it (the sliver).
    assert 0.5 < at_clamp.mean() < 1 and (w > np.float32(c)).any()
    gram = SupportGram(e, np.float64, 4, c)
    np.testing.assert_allclose(gram(w), _dense(e, w), rtol=1e-12, atol=1e-9 * c)
    for phase in range(4):
        rows = gram.rows(phase)
        sampled = _dense(e[rows], w[rows]) * e.shape[0] / len(rows)
        np.testing.assert_allclose(gram(w[rows], phase), sampled, rtol=1e-12,
                                   atol=1e-9 * c)


@pytest.mark.parametrize("clamp", [1e-3, 1e-2])
def test_support_gram_float32_matches_the_products_builder(clamp):
    e, w, options = _layers_and_weights(clamp)
    support = SupportGram(e, np.float32, 1, clamp_weight(options))(w)
    products = ProductGram(e, 10**9, np.float32)(w)
    exact = _dense(e, w)
    scale = np.abs(exact).max()
    # Both float32 sums; the support's subtracts from c E^T E, so it is measured
    # against the largest entry.
    assert np.abs(support - exact).max() < 1e-5 * scale
    assert np.abs(products - exact).max() < 1e-5 * scale


def test_gram_builder_chooses_by_clamp():
    e = np.linalg.qr(np.random.default_rng(1).standard_normal((50, 5)))[0]
    for clamp, kind in ((1e-10, ProductGram), (1e-4, ProductGram),
                        (SUPPORT_CLAMP, SupportGram), (1e-2, SupportGram)):
        options = ConstrainedOptions(clamp=clamp)
        assert isinstance(gram_builder(e, options, np.float32, 2, clamp_weight(options)),
                          kind)


def test_weights_inside_the_clamp_are_the_clamp_weight():
    options = ConstrainedOptions(clamp=1e-2)
    alpha = np.array([[0.0, 0.009, -0.009, 0.991, 1.0, 1.009, 0.5, 0.0101]])
    pull_one, pull_zero = _irls_weights(alpha, options)
    w = pull_one + pull_zero
    c = np.float32(clamp_weight(options))
    assert np.all(w[0, :6] == c)
    assert w[0, 6] < c / 10 and w[0, 7] != c
    # The paper's clamp: the float32 weights of a near-zero alpha are not changed.
    paper = ConstrainedOptions(clamp=1e-10)
    tiny = np.array([[3e-11, -3e-11, 1 - 3e-11, 2e-10]])
    got = sum(_irls_weights(tiny, paper))
    a = tiny.astype(np.float32)
    g = np.float32(paper.sparsity - 2)
    s = np.float32(paper.weight ** paper.sparsity)
    c10 = np.float32(1e-10)
    raw = s * np.maximum(np.abs(a - 1), c10) ** g + s * np.maximum(np.abs(a), c10) ** g
    np.testing.assert_array_equal(got, raw)
