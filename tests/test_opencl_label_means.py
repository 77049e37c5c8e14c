"""Per-superpixel means on the device against numpy's label_means."""

import numpy as np
import pytest
from _opencl import OPENCL

from sss_vfx import InputError
from sss_vfx.accel.label_means_cl import label_means_cl
from sss_vfx.graph.superpixels import compute_superpixels, label_means


def tolerance(device, values):
    span = np.ptp(values.reshape(-1, values.shape[-1]), axis=0) if values.ndim == 3 \
        else np.ptp(values)
    return (1e-9 if device.fp64 else 1e-6) * np.maximum(span, 1e-300)


@OPENCL
def test_superpixel_means_of_colour_and_features(device):
    rng = np.random.default_rng(0)
    image = rng.random((30, 41, 3))
    sp = compute_superpixels(image, n_segments=25)
    values = np.dstack([image, 3 * rng.normal(size=(30, 41, 2)), np.full((30, 41), 0.25)])
    expected = label_means(sp.labels, values, sp.count)
    actual = label_means_cl(sp.labels, values, sp.count, device=device)
    assert actual.shape == expected.shape and actual.dtype == np.float64
    assert (abs(actual - expected) <= tolerance(device, values)).all()


@OPENCL
@pytest.mark.parametrize("precision", [None, "float32"])
def test_random_labels_and_empty_labels(device, precision):
    if precision is None and not device.fp64:
        pytest.skip("needs fp64")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 40, (17, 23))
    labels[labels == 7] = 8  # label 7 carries no pixel: its mean is 0, as in numpy
    values = rng.random((17, 23))
    expected = label_means(labels, values, 45)
    actual = label_means_cl(labels, values, 45, device=device, precision=precision)
    tol = 1e-9 if precision is None else 1e-6
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol)
    assert (actual[[7, 40, 44]] == 0).all()


@OPENCL
def test_sums_are_reproducible_bit_for_bit(device):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, (64, 64))
    values = rng.random((64, 64, 3))
    first = label_means_cl(labels, values, 5, device=device)
    for _ in range(3):
        np.testing.assert_array_equal(label_means_cl(labels, values, 5, device=device), first)


@OPENCL
def test_bad_inputs_are_rejected(device):
    labels = np.zeros((4, 5), dtype=int)
    with pytest.raises(InputError, match="0..2"):
        label_means_cl(labels + 3, np.ones((4, 5)), 3, device=device)
    with pytest.raises(InputError, match="values"):
        label_means_cl(labels, np.ones((5, 4)), 1, device=device)
    values = np.ones((4, 5, 2))
    values[1, 1, 1] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        label_means_cl(labels, values, 1, device=device)
