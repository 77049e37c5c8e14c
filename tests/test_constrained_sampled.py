"""The constrained sparsification with sampled Gram matrices (``gram_stride`` > 1, the
default) against the faithful configuration (``gram_stride=1``)."""

from dataclasses import replace

import numpy as np
import pytest
from _problems import two_region_problem

from sss_vfx.segments.constrained import (EXACT_TAIL, ConstrainedOptions, _irls_weights,
                                          _solve_coupled, constrained_sparsification,
                                          gram_phase, one_hot_segments)
from sss_vfx.segments.gram import ProductGram
from sss_vfx.segments.initial import initial_segments
from sss_vfx.spectral import smallest_magnitude_eigs


@pytest.mark.parametrize("budget", [10**9, 50_000])  # all products held / chunked
def test_gram_builder_exact_and_sampled(budget):
    rng = np.random.default_rng(0)
    e = rng.standard_normal((101, 6))
    w = rng.random((101, 3))
    exact = np.einsum("nk,ni,nj->kij", w, e, e)
    gram = ProductGram(e, budget, np.dtype(np.float64), stride=4)
    np.testing.assert_allclose(gram(w), exact, rtol=1e-12)
    for phase in range(4):
        rows = np.arange(phase, 101, 4)
        sampled = np.einsum("nk,ni,nj->kij", w[rows], e[rows], e[rows]) * 101 / len(rows)
        np.testing.assert_array_equal(gram.rows(phase), rows)
        np.testing.assert_array_equal(gram.basis(phase), e[rows])
        np.testing.assert_allclose(gram(w[rows], phase), sampled, rtol=1e-12)


def _faithful_loop(vectors, values, labels, options, laplacian_ones=None):
    """The faithful IRLS as it was before sampled schedules: every iteration exact."""
    e64 = np.asarray(vectors, np.float64)
    alpha = one_hot_segments(labels)
    gram = ProductGram(e64, options.product_budget, np.dtype(options.precision))
    extra = np.zeros(e64.shape[1]) if laplacian_ones is None else e64.T @ laplacian_ones
    next_drop = options.drop_every
    for it in range(1, options.iterations + 1):
        pull_one, pull_zero = _irls_weights(alpha, options)
        grams = gram(pull_one + pull_zero)
        rhs = e64.T @ pull_one[:, :-1].astype(np.float64)
        last = e64.T @ pull_zero[:, -1].astype(np.float64) + extra
        y = _solve_coupled(grams, values, rhs, last)
        alpha = np.empty((e64.shape[0], y.shape[1] + 1))
        np.matmul(e64, y, out=alpha[:, :-1])
        alpha[:, -1] = 1.0 - alpha[:, :-1].sum(axis=1)
        if it > next_drop:
            alpha = alpha[:, np.abs(alpha).max(axis=0) > options.drop_below]
            alpha[:, -1] = 1.0 - alpha[:, :-1].sum(axis=1)
            next_drop += options.drop_every
    return alpha


@pytest.fixture(scope="module")
def problem():
    """A 48x64 two-region problem: 30 eigenvectors, 10 k-means segments."""
    shape = (48, 64)
    image, alpha, feats, lap = two_region_problem(shape)
    values, vectors = smallest_magnitude_eigs(lap, 30, shape=shape)
    labels = initial_segments(values, vectors, feats, 10)
    return vectors, values, labels, lap @ np.ones(lap.shape[0])


def test_gram_phase_schedule():
    options = ConstrainedOptions(iterations=40, drop_every=10)
    assert all(gram_phase(it, 1, options) is None for it in range(1, 41))
    exact = [it for it in range(1, 41) if gram_phase(it, 8, options) is None]
    # The iterations the drop test reads (11, 21, 31) and the last EXACT_TAIL.
    assert exact == [11, 21, 31] + list(range(41 - EXACT_TAIL, 41))
    assert gram_phase(5, 8, options) == 5 and gram_phase(16, 8, options) == 0


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_stride_one_is_bit_identical_to_the_faithful_loop(problem, precision):
    vectors, values, labels, ones = problem
    options = ConstrainedOptions(precision=precision, clamp=1e-4, gram_stride=1)
    faithful = _faithful_loop(vectors, values, labels, options, ones)
    for kwargs in ({"options": options},
                   {"options": replace(options, gram_stride=8), "gram_stride": 1}):
        assert np.array_equal(constrained_sparsification(
            vectors, values, labels, laplacian_ones=ones, **kwargs), faithful)


def test_sampled_schedule_is_close_to_the_faithful_result(problem):
    vectors, values, labels, ones = problem
    # Below the support method's clamp: the unsnapped loop, whose layers stay in the span.
    reference = ConstrainedOptions(clamp=1e-4)
    faithful = constrained_sparsification(vectors, values, labels, laplacian_ones=ones,
                                          options=reference, gram_stride=1)
    sampled = constrained_sparsification(vectors, values, labels, laplacian_ones=ones,
                                         options=replace(reference, gram_stride=8))
    assert not np.array_equal(sampled, faithful)  # the sampled path did run
    # Measured: mean |diff| 5e-4, max 7e-3 at stride 8 (3072 pixels).
    assert sampled.shape == faithful.shape
    assert np.abs(sampled - faithful).mean() < 0.005
    assert np.abs(sampled - faithful).max() < 0.05
    np.testing.assert_allclose(sampled.sum(axis=1), 1.0, atol=1e-9)
    inside = vectors @ (vectors.T @ sampled[:, :-1])
    np.testing.assert_allclose(inside, sampled[:, :-1], atol=1e-9)
    with pytest.raises(ValueError, match="gram_stride"):
        constrained_sparsification(vectors, values, labels, gram_stride=0)


def test_options_field_is_read():
    rng = np.random.default_rng(1)
    vectors, _ = np.linalg.qr(rng.standard_normal((200, 8)))
    values = np.linspace(0, 1e-3, 8)
    labels = np.arange(200) % 3
    read = constrained_sparsification(vectors, values, labels,
                                      options=ConstrainedOptions(iterations=5, gram_stride=3))
    np.testing.assert_array_equal(read, constrained_sparsification(
        vectors, values, labels, options=ConstrainedOptions(iterations=5, gram_stride=1),
        gram_stride=3))
    assert not np.array_equal(read, constrained_sparsification(
        vectors, values, labels, options=ConstrainedOptions(iterations=5, gram_stride=1)))
