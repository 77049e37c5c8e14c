"""The constrained sparsification with sampled Gram matrices (``gram_stride`` > 1)."""

import numpy as np
import pytest

from sss_vfx import laplacian
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.segments.constrained import (ConstrainedOptions, _GramBuilder,
                                          constrained_sparsification)
from sss_vfx.segments.initial import initial_segments
from sss_vfx.spectral import smallest_magnitude_eigs
from sss_vfx.synthetic import coarse_features, two_region_image


@pytest.mark.parametrize("budget", [10**9, 50_000])  # all products held / chunked
def test_gram_builder_exact_and_sampled(budget):
    rng = np.random.default_rng(0)
    e = rng.standard_normal((101, 6))
    w = rng.random((101, 3))
    exact = np.einsum("nk,ni,nj->kij", w, e, e)
    gram = _GramBuilder(e, budget, np.dtype(np.float64), stride=4)
    np.testing.assert_allclose(gram(w), exact, rtol=1e-12)
    for phase in range(4):
        rows = np.arange(phase, 101, 4)
        sampled = np.einsum("nk,ni,nj->kij", w[rows], e[rows], e[rows]) * 101 / len(rows)
        np.testing.assert_allclose(gram(w, phase), sampled, rtol=1e-12)


def test_stride_one_is_the_faithful_result():
    image, alpha = two_region_image((24, 32), edge_width=3)
    image = image.astype(np.float64)
    feats = coarse_features(alpha, scale=4).astype(np.float64)
    lap = laplacian(image, feats, superpixels=compute_superpixels(image, n_segments=40))
    values, vectors = smallest_magnitude_eigs(lap, 30, shape=(24, 32))
    labels = initial_segments(values, vectors, feats, 10)
    faithful = constrained_sparsification(vectors, values, labels)
    assert np.array_equal(constrained_sparsification(vectors, values, labels,
                                                     gram_stride=1), faithful)
    sampled = constrained_sparsification(vectors, values, labels, gram_stride=4)
    # Still soft segments of the method: in the eigenvectors' span, summing to 1, and
    # several of them (which ones survive the drops may differ from the faithful run).
    np.testing.assert_allclose(sampled.sum(axis=1), 1.0, atol=1e-9)
    inside = vectors @ (vectors.T @ sampled[:, :-1])
    np.testing.assert_allclose(inside, sampled[:, :-1], atol=1e-9)
    assert sampled.shape[1] >= 2
    with pytest.raises(ValueError, match="gram_stride"):
        constrained_sparsification(vectors, values, labels, gram_stride=0)


def test_options_field_is_read():
    from dataclasses import dataclass, replace

    @dataclass(frozen=True)
    class WithStride(ConstrainedOptions):
        gram_stride: int = 1

    rng = np.random.default_rng(1)
    vectors, _ = np.linalg.qr(rng.standard_normal((200, 8)))
    values = np.linspace(0, 1e-3, 8)
    labels = np.arange(200) % 3
    options = replace(WithStride(iterations=5), gram_stride=3)
    np.testing.assert_array_equal(
        constrained_sparsification(vectors, values, labels, options=options),
        constrained_sparsification(vectors, values, labels,
                                   options=ConstrainedOptions(iterations=5), gram_stride=3))
