"""The OpenCL matting affinity and Laplacian against the float64 numpy reference.

Tolerances (relative to the largest entry), as the docs state (benchmarks.md): float64 kernels
1e-8 (the reference itself is off by up to ~3e-9 in near-flat windows, see
test_device_is_more_accurate_than_reference); float32 kernels 1e-6 on random colours,
2e-4 on 8-bit photographs.
"""

import numpy as np
import pytest
from _opencl import FP64, OPENCL, relative_difference

from sss_vfx import InputError, matting_laplacian
from sss_vfx.accel.context import get_context
from sss_vfx.errors import DeviceMemoryError
from sss_vfx.accel.matting_cl import (_band_height, empty_aligned, index_dtype,
                                      matting_affinity_cl, matting_laplacian_cl,
                                      matting_row_lengths, write_matting_rows)
from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import _WINDOW, matting_affinity, stencil_to_csr
from sss_vfx.data import strands_shot

FP64_TOL = 1e-8
SHAPES = [(3, 3), (3, 17), (17, 3), (4, 5), (5, 4), (6, 7), (17, 31), (31, 17), (9, 70)]


def random_image(shape, seed=0):
    return np.random.default_rng(seed).random(shape + (3,))


def assert_same_pattern(expected, actual):
    np.testing.assert_array_equal(expected.indptr, actual.indptr)
    np.testing.assert_array_equal(expected.indices, actual.indices)


@FP64
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("method", ["tile", "two-pass"])
def test_affinity_matches_reference_on_random_images(device, shape, method):
    image = random_image(shape, seed=shape[0] * 100 + shape[1])
    expected = matting_affinity(image)
    actual = matting_affinity_cl(image, device=device, method=method)
    assert_same_pattern(expected, actual)
    assert actual.dtype == np.float64
    assert relative_difference(expected, actual) < FP64_TOL


@FP64
@pytest.mark.parametrize("method", ["tile", "two-pass"])
@pytest.mark.parametrize("band_rows", [1, 2, 5])
def test_bands_of_rows_give_the_same_matrix(device, method, band_rows):
    image = random_image((13, 37), seed=3)
    whole = matting_laplacian_cl(image, device=device, method=method)
    banded = matting_laplacian_cl(image, device=device, method=method, band_rows=band_rows)
    assert_same_pattern(whole, banded)
    assert abs(whole - banded).max() == 0.0


def flat_and_saturated_images():
    rng = np.random.default_rng(7)
    edge = np.where(np.arange(20)[None, :, None] < 9, [0.2, 0.5, 0.1], [0.9, 0.3, 0.6])
    return {
        "constant": np.full((9, 11, 3), 0.3),
        "zeros": np.zeros((7, 8, 3)),
        "ones": np.ones((7, 8, 3)),
        "saturated": np.clip(rng.normal(0.5, 1.0, (20, 23, 3)), 0.0, 1.0),
        "binary": rng.integers(0, 2, (15, 16, 3)).astype(np.float64),
        "flat-sides-edge": np.broadcast_to(edge, (12, 20, 3)).copy(),
        "8-bit": np.round(rng.random((20, 20, 3)) * 255) / 255,
        "grey": np.repeat(rng.random((18, 21, 1)), 3, axis=2),
    }


@FP64
@pytest.mark.parametrize("name", list(flat_and_saturated_images()))
def test_flat_regions_borders_and_extreme_values(device, name):
    image = flat_and_saturated_images()[name]
    expected = matting_affinity(image)
    actual = matting_affinity_cl(image, device=device)
    assert_same_pattern(expected, actual)
    assert np.isfinite(actual.data).all()
    assert relative_difference(expected, actual) < FP64_TOL


@FP64
def test_flat_windows_have_the_exact_affinity(device):
    # A constant window has S = eps/9 Id and I - mu = 0: every pair gets 1/9 per window.
    image = np.full((5, 5, 3), 0.7)
    expected = matting_affinity(image)
    actual = matting_affinity_cl(image, device=device)
    np.testing.assert_allclose(actual.toarray(), expected.toarray(), rtol=0, atol=1e-15)


def extended_precision_affinity(image, eps=1e-7):
    """The affinity in np.longdouble via Cholesky factors: a third opinion."""
    dt = np.longdouble
    img = np.asarray(image, dtype=dt)
    h, w, _ = img.shape
    patches = [img[dy:h - 2 + dy, dx:w - 2 + dx] for dy, dx in _WINDOW]
    mean = sum(patches) / 9
    centred = [p - mean for p in patches]
    cov = sum(c[..., :, None] * c[..., None, :] for c in centred) / 9
    cov = cov + dt(eps) / 9 * np.eye(3, dtype=dt)
    l00 = np.sqrt(cov[..., 0, 0])
    l10, l20 = cov[..., 1, 0] / l00, cov[..., 2, 0] / l00
    l11 = np.sqrt(cov[..., 1, 1] - l10 ** 2)
    l21 = (cov[..., 2, 1] - l20 * l10) / l11
    l22 = np.sqrt(cov[..., 2, 2] - l20 ** 2 - l21 ** 2)
    vectors = []
    for c in centred:
        v0 = c[..., 0] / l00
        v1 = (c[..., 1] - l10 * v0) / l11
        vectors.append(np.stack([v0, v1, (c[..., 2] - l20 * v0 - l21 * v1) / l22], -1))
    values = np.zeros((25, h, w), dtype=dt)
    for a, (ay, ax) in enumerate(_WINDOW):
        for b, (by, bx) in enumerate(_WINDOW):
            n = (by - ay + 2) * 5 + (bx - ax + 2)
            values[n, ay:h - 2 + ay, ax:w - 2 + ax] += (
                1 + (vectors[a] * vectors[b]).sum(-1)) / 9
    return stencil_to_csr(values.astype(np.float64))


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-17,
                    reason="np.longdouble is no wider than float64 here")
@FP64
def test_device_is_more_accurate_than_reference(device):
    # Near-singular covariances: grey windows (rank one) and noise of the order of eps.
    rng = np.random.default_rng(1)
    for image in (np.repeat(rng.random((12, 12, 1)), 3, axis=2),
                  0.5 + 1e-4 * rng.random((12, 12, 3))):
        truth = extended_precision_affinity(image)
        device_error = relative_difference(truth, matting_affinity_cl(image, device=device))
        reference_error = relative_difference(truth, matting_affinity(image))
        assert device_error < 1e-13
        assert device_error <= reference_error


@FP64
def test_real_images(device):
    samples = [strands_shot((40, 56), seed=2).image.astype(np.float64)]
    photo = _photo_crop()
    if photo is not None:
        samples.append(photo)
    for sample in samples:
        expected = matting_affinity(sample)
        actual = matting_affinity_cl(sample, device=device)
        assert_same_pattern(expected, actual)
        assert relative_difference(expected, actual) < FP64_TOL


def _photo_crop():
    """A 48x64 crop of the shared GT01 photograph, when the data folder is there."""
    from pathlib import Path

    import cv2

    path = Path(__file__).resolve().parents[2] / "shared/data/alpha_stills/input/GT01.png"
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        return None
    rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB).astype(np.float64) / 255.0
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[h // 2 - 24:h // 2 + 24, w // 2 - 32:w // 2 + 32])


@FP64
@pytest.mark.parametrize("method", ["tile", "two-pass"])
def test_laplacian_matches_reference(device, method):
    image = random_image((19, 23), seed=5)
    expected = affinity_to_laplacian(matting_affinity(image))
    actual = matting_laplacian_cl(image, device=device, method=method)
    assert_same_pattern(expected, actual)
    assert relative_difference(expected, actual) < FP64_TOL
    n = image.shape[0] * image.shape[1]
    assert abs(actual @ np.ones(n)).max() < 1e-12 * abs(actual).max()
    assert abs(actual - actual.T).max() == 0.0


@OPENCL
def test_float32_kernels_within_their_tolerance(device):
    rng = np.random.default_rng(11)
    image = rng.random((16, 21, 3))
    assert relative_difference(matting_affinity(image), matting_affinity_cl(
        image, device=device, precision="float32")) < 1e-6
    photo = _photo_crop()
    if photo is not None:
        assert relative_difference(matting_affinity(photo), matting_affinity_cl(
            photo, device=device, precision="float32")) < 2e-4


@OPENCL
def test_result_is_a_canonical_csr_that_owns_compact_arrays(device):
    image = random_image((10, 12))
    lap = matting_laplacian_cl(image, device=device)
    assert lap.format == "csr" and lap.has_sorted_indices
    assert lap.indices.dtype == np.int32 and lap.indptr.dtype == np.int32
    # The arrays are the allocation: no view into a much larger buffer.
    assert lap.data.base is None or lap.data.base.size < 2 * lap.data.size
    assert lap.nnz == matting_row_lengths(10, 12).sum()


@FP64
def test_int64_indices(device):
    image = random_image((7, 9), seed=2)
    h, w, _ = image.shape
    lengths = matting_row_lengths(h, w)
    indptr = np.zeros(h * w + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data = empty_aligned(int(indptr[-1]), np.float64)
    indices = empty_aligned(int(indptr[-1]), np.int64)
    write_matting_rows(get_context(device), image, 1e-7, indptr, data, indices,
                       laplacian=False, real=np.dtype(np.float64))
    expected = matting_affinity(image)
    np.testing.assert_array_equal(indices, expected.indices)
    assert abs(data - expected.data).max() < FP64_TOL * abs(expected.data).max()
    assert index_dtype(2 ** 31, 10) == np.int64 and index_dtype(100, 10) == np.int32


@OPENCL
def test_a_row_that_cannot_fit_raises_a_memory_error(device):
    ctx = get_context(device)
    with pytest.raises(DeviceMemoryError, match="needs .* bytes"):
        _band_height(ctx, 100, 5000, np.dtype(np.float64), np.dtype(np.int32),
                     zero_copy_out=False, method="two-pass", band_bytes=10_000)
    rows = _band_height(ctx, 100, 50, np.dtype(np.float64), np.dtype(np.int32),
                        zero_copy_out=False, method="two-pass", band_bytes=2_000_000)
    assert 1 <= rows < 100


@pytest.mark.parametrize("device", ["numpy", "auto"])
@pytest.mark.parametrize("shape", [(1, 9, 3), (9, 1, 3), (2, 9, 3), (9, 2, 3), (8, 8),
                                   (8, 8, 4)])
def test_images_without_a_complete_window_or_colour_are_rejected(device, shape):
    with pytest.raises(InputError, match="image"):
        matting_laplacian(np.zeros(shape), device=device)


@pytest.mark.parametrize("device", ["numpy", "auto"])
def test_non_finite_images_are_rejected(device):
    image = np.zeros((5, 5, 3))
    image[2, 2, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        matting_laplacian(image, device=device)


@FP64
def test_public_function_on_every_device_spec(device):
    image = random_image((11, 13), seed=9)
    expected = matting_laplacian(image, device="numpy")
    for spec in (device.spec, device, "opencl"):
        assert relative_difference(expected, matting_laplacian(image, device=spec)) < FP64_TOL
    original = image.copy()
    matting_laplacian(image, device=device)
    np.testing.assert_array_equal(image, original)
