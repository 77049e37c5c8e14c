"""Class layers fitted in the eigenvectors' span (class_layers='fit')."""

import numpy as np
import pytest

import sss_vfx
from sss_vfx.accel.compute import Compute
from sss_vfx.errors import OptionError
from sss_vfx.segments.objects import fit_class_layers
from sss_vfx.data import coarse_features, coarse_mask, two_region_image


def _random_case(seed=0, n=200, m=12, classes=3):
    rng = np.random.default_rng(seed)
    vectors = np.linalg.qr(rng.normal(size=(n, m)))[0]
    prob = rng.dirichlet(np.full(classes, 0.3), size=n)
    return vectors, prob


@pytest.mark.parametrize("classes", [2, 3])
def test_layers_are_in_range_and_sum_to_one(classes):
    vectors, prob = _random_case(classes=classes)
    layers = fit_class_layers(vectors, prob)
    assert layers.shape == prob.shape
    assert layers.min() >= 0.0 and layers.max() <= 1.0
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_only_the_span_matters():
    vectors, prob = _random_case()
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(12, 12)))[0]
    np.testing.assert_allclose(fit_class_layers(vectors @ rotation, prob),
                               fit_class_layers(vectors, prob), atol=1e-8)


def test_blended_pixels_do_not_pull():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0, 1.]])
    prob = np.array([[1, 0], [0.5, 0.5], [0.5, 0.5], [0, 1.]])
    np.testing.assert_allclose(fit_class_layers(vectors, prob),
                               [[1, 0], [1, 0], [0, 1], [0, 1]], atol=1e-6)


def test_a_pixel_without_mass_keeps_its_probabilities():
    vectors = np.array([[1.0], [1.0], [0.0]])
    prob = np.array([[1, 0], [1, 0], [0.3, 0.7]])
    np.testing.assert_allclose(fit_class_layers(vectors, prob)[2], [0.3, 0.7])


def test_shapes_must_agree():
    with pytest.raises(OptionError, match="pixels"):
        fit_class_layers(np.ones((5, 2)), np.full((4, 2), 0.5))


def test_the_fit_draws_the_edge_a_coarse_mask_blurs():
    image, alpha = two_region_image((48, 48))
    features = coarse_features(alpha, scale=8, blur_sigma=1.0)
    mask = coarse_mask(alpha, scale=8, blur_sigma=1.0)
    small = dict(eigenvectors=20, initial_segments=8, superpixels=100,
                 constrained_iterations=10, relaxed_rounds=3, cg_steps=30, colours=False)
    seg = sss_vfx.segment_image(image, features, class_layers="fit", **small)
    layer = max(range(seg.alphas.shape[2]), key=lambda k: (seg.alphas[..., k] * alpha).sum())
    err = np.abs(seg.alphas[..., layer] - alpha).sum()
    assert err < 0.5 * np.abs(mask - alpha).sum()


def test_fit_skips_the_stages_it_does_not_use(monkeypatch):
    image, alpha = two_region_image((48, 48))
    features = coarse_features(alpha, scale=8, blur_sigma=1.0)
    small = dict(eigenvectors=20, initial_segments=8, superpixels=100, device="numpy",
                 constrained_iterations=10, relaxed_rounds=3, cg_steps=30, colours=False)
    calls = []
    real = Compute.run

    def run(self, name, *a, **kw):
        if name == "constrained_sparsification":
            calls.append(1)
        return real(self, name, *a, **kw)

    monkeypatch.setattr(Compute, "run", run)
    fit = sss_vfx.segment_image(image, features, class_layers="fit", **small)
    assert calls == []
    assert not fit.initial_segments.any()
    # The fitted class layers stand as the soft segments: one per class, summing to 1.
    assert fit.soft_segments.shape[2] == fit.alphas.shape[2] == 2
    np.testing.assert_allclose(fit.soft_segments.sum(axis=2), 1.0, atol=1e-9)
    np.testing.assert_allclose(fit.grouped, fit.soft_segments, atol=1e-12)
    sss_vfx.segment_image(image, features, class_layers="both", **small)
    assert calls == [1]
