"""Guided filter, resizing, layer upsampling and layer colours on torch:cpu against
OpenCV and the numpy references."""

import cv2
import numpy as np
import pytest

from sss_vfx.filters.guided import guided_coefficients
from sss_vfx.segments.colours import layer_colours
from sss_vfx.segments.upsample import normalise_layers, upsample_layers

from sss_vfx.arrays.resample import box_filter, resize_area, resize_linear
from sss_vfx.errors import OptionError

torch = pytest.importorskip("torch")
from sss_vfx.accel.compute import run_stage  # noqa: E402


def random_layers(shape, k, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random(shape + (k,)) ** 4
    return a / a.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("shape,radius", [((13, 17, 3), 2), ((3, 4, 2), 4)])
def test_box_filter_is_opencv_reflect(shape, radius):
    x = np.random.default_rng(0).random(shape)
    size = 2 * radius + 1
    ref = cv2.boxFilter(x, -1, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(box_filter(torch.from_numpy(x), radius).numpy(), ref,
                               atol=1e-14)


@pytest.mark.parametrize("big,small", [((60, 80), (23, 31)), ((64, 64), (32, 32)),
                                       ((100, 50), (37, 19))])
def test_resizes_are_opencv(big, small):
    rng = np.random.default_rng(1)
    x = rng.random(big + (3,)).astype(np.float32)
    ref = cv2.resize(x, small[::-1], interpolation=cv2.INTER_AREA)
    # OpenCV sums float32 area weights: 2 ulp.
    np.testing.assert_allclose(resize_area(torch.from_numpy(x), small).numpy(), ref,
                               atol=3e-7)
    y = rng.random(small + (3,))
    ref = cv2.resize(y, big[::-1], interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize_linear(torch.from_numpy(y), big).numpy(), ref,
                               atol=1e-12)


def test_guided_coefficients_equal():
    rng = np.random.default_rng(2)
    guide, source = rng.random((20, 24, 3)), rng.random((20, 24, 4))
    a, b = guided_coefficients(guide, source, 2, 1e-4)
    ta, tb = guided_coefficients(torch.from_numpy(guide), torch.from_numpy(source), 2, 1e-4)
    np.testing.assert_allclose(ta.numpy(), a, atol=1e-11)
    np.testing.assert_allclose(tb.numpy(), b, atol=1e-11)


def test_upsample_layers_equal():
    rng = np.random.default_rng(3)
    small = rng.random((20, 24, 3))
    full = rng.random((50, 61, 3)).astype(np.float32)
    layers = random_layers((20, 24), 4)
    ref = upsample_layers(layers, small, full)
    out = run_stage("upsampling", layers, small, full, device="torch:cpu")
    # float32 results of a float64 computation: 2 ulp of values below 1.
    np.testing.assert_allclose(out, ref, atol=3e-7)
    assert out.dtype == np.float32
    np.testing.assert_allclose(normalise_layers(torch.from_numpy(layers * 3)).numpy(),
                               normalise_layers(layers * 3), atol=1e-7)


@pytest.mark.parametrize("max_pixels", [0, 1200])
def test_layer_colours_equal(max_pixels):
    rng = np.random.default_rng(4)
    image = rng.random((60, 80, 3)).astype(np.float32)
    alphas = random_layers((60, 80), 4, seed=5)
    ref = layer_colours(image, alphas, max_pixels=max_pixels)
    out = run_stage("colours", image, alphas, max_pixels=max_pixels, device="torch:cpu")
    assert out.shape == ref.shape == (60, 80, 4, 3) and out.dtype == np.float32
    # The same PCG in float64, then float32 rounding of the colours.
    np.testing.assert_allclose(out, ref, atol=1e-6)
    summed = (alphas[..., None] * out).sum(axis=2)
    np.testing.assert_allclose(summed, image, atol=1e-6)


def test_layer_colours_tensors_and_errors():
    image = np.random.default_rng(6).random((16, 20, 3)).astype(np.float32)
    alphas = random_layers((16, 20), 2)
    out = layer_colours(torch.from_numpy(image), torch.from_numpy(alphas))
    assert isinstance(out, torch.Tensor)
    with pytest.raises(OptionError, match="sum to 1"):
        layer_colours(torch.from_numpy(image), torch.from_numpy(alphas * 0.5))
    with pytest.raises(OptionError, match="smoothness"):
        run_stage("colours", image, alphas, smoothness=0.0, device="torch:cpu")
