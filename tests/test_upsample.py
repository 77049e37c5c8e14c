"""Layers brought from the working resolution to the plate's."""

import cv2
import numpy as np
import pytest

from sss_vfx.segments.upsample import normalise_layers, upsample_layers
from sss_vfx.data import two_region_image


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalise_layers(dtype):
    rng = np.random.default_rng(0)
    raw = (rng.normal(size=(12, 10, 4)) * 0.6 + 0.3).astype(dtype)
    raw[0, 0] = -0.5                      # nothing positive: uniform
    got = normalise_layers(raw)
    assert got.dtype == np.float32 and got.shape == raw.shape
    assert got.min() >= 0 and got.max() <= 1
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got[0, 0], 0.25)
    clipped = np.clip(raw.astype(np.float64), 0, 1)
    total = clipped.sum(axis=-1, keepdims=True)
    ok = total[..., 0] > 1e-8
    np.testing.assert_allclose(got[ok], (clipped / np.where(total > 0, total, 1))[ok],
                               atol=1e-6)


def affine_layers(image, seed=0):
    """Three layers affine in colour, in [0, 1], summing to one."""
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=0.15, size=(2, 3))
    first = image @ a[0] + 0.3
    second = image @ a[1] + 0.3
    layers = np.stack([first, second, 1 - first - second], axis=-1)
    assert layers.min() > 0 and layers.max() < 1
    return layers


@pytest.mark.parametrize("shape", [(16, 16), (20, 28)])
def test_upsample_same_size_reproduces_affine_layers(shape):
    image = np.random.default_rng(1).random(shape + (3,))
    layers = affine_layers(image)
    got = upsample_layers(layers, image, image, eps=1e-10)
    assert got.dtype == np.float32 and got.shape == layers.shape
    np.testing.assert_allclose(got, layers, atol=2e-6)


def test_upsample_to_full_size_sums_to_one():
    full, _ = two_region_image((40, 56), edge_width=4)
    full = full.astype(np.float64)
    small = cv2.resize(full, (28, 20), interpolation=cv2.INTER_AREA)
    layers = normalise_layers(np.random.default_rng(2).random((20, 28, 3))).astype(np.float64)
    got = upsample_layers(layers, small, full)
    assert got.shape == (40, 56, 3) and got.dtype == np.float32
    assert got.min() >= 0 and got.max() <= 1
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-6)


def test_upsample_affine_layers_to_full_size():
    """Layers affine in colour stay (nearly) affine in the full image's colour."""
    rng = np.random.default_rng(3)
    full = cv2.GaussianBlur(rng.random((48, 64, 3)), (0, 0), 3)
    full = (full - full.min()) / (full.max() - full.min())
    small = cv2.resize(full, (32, 24), interpolation=cv2.INTER_AREA)
    got = upsample_layers(affine_layers(small, seed=4), small, full, eps=1e-10)
    expected = affine_layers(full, seed=4)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_upsample_is_bit_identical_to_the_plain_formulas():
    """Upsampling without full-size temporaries gives the bits of the plain formulas
    (fast guided filter, then clip and renormalise)."""
    from sss_vfx.filters.guided import guided_coefficients

    full, _ = two_region_image((45, 61), edge_width=5)
    full = full.astype(np.float32)
    small = cv2.resize(full, (23, 17), interpolation=cv2.INTER_AREA).astype(np.float64)
    layers = np.random.default_rng(3).random((17, 23, 4)) ** 3
    layers[0, 0] = 0.0                                  # an empty pixel: uniform
    a, b = guided_coefficients(small, layers, 2, 1e-5)
    a_full = cv2.resize(a.reshape(17, 23, 12), (61, 45),
                        interpolation=cv2.INTER_LINEAR).reshape(45, 61, 4, 3)
    b_full = cv2.resize(b, (61, 45), interpolation=cv2.INTER_LINEAR)
    up = np.einsum("hwkc,hwc->hwk", a_full, full.astype(np.float64)) + b_full
    clipped = np.clip(up, 0.0, 1.0)
    total = clipped.sum(axis=-1, keepdims=True)
    expected = np.where(total > 1e-8, clipped / np.where(total > 1e-8, total, 1.0),
                        0.25).astype(np.float32)
    got = upsample_layers(layers, small, full)
    assert np.array_equal(got, expected)
    assert np.array_equal(normalise_layers(up), expected)
