"""Full-resolution refinement of the layers' transition band (segments/refine.py)."""

import cv2
import numpy as np
import pytest

import sss_vfx
from sss_vfx import matting_laplacian
from sss_vfx.errors import OptionError
from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.segments.refine import _band_laplacian, _transition_band, refine_layers
from sss_vfx.segments.relaxed import RelaxedOptions, sparsity_exponent
from sss_vfx.segments.upsample import upsample_layers
from sss_vfx.data import strands_shot, two_region_image

CHEAP = dict(eigenvectors=20, initial_segments=6, layers=2, superpixels=200)


def upsampled_truth(shape=(48, 64), small=(16, 21)):
    """A strands shot and its true alpha taken to ``small`` and back as two layers."""
    shot = strands_shot(shape, n_strands=30)
    img_small = cv2.resize(shot.image, small[::-1], interpolation=cv2.INTER_AREA)
    alpha_small = cv2.resize(shot.alpha, small[::-1], interpolation=cv2.INTER_AREA)
    layers = np.stack([alpha_small, 1.0 - alpha_small], axis=-1)
    return shot, upsample_layers(layers, img_small, shot.image)


def foreground_matte(alphas, truth):
    chosen = [k for k in range(alphas.shape[2])
              if (alphas[..., k] * truth).sum() / max(alphas[..., k].sum(), 1e-12) > 0.5]
    return alphas[..., chosen].sum(axis=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_refined_layers_sum_to_one_in_unit_range_and_keep_pixels_outside_the_band(dtype):
    shot, layers = upsampled_truth()
    layers = layers.astype(dtype)
    before = layers.copy()
    out = refine_layers(shot.image.astype(dtype), layers, 2)
    band = _transition_band(layers, 2)
    assert out.dtype == np.float32 and out.shape == layers.shape
    assert 0.05 < band.mean() < 0.95
    np.testing.assert_array_equal(layers, before)  # the caller's array is not modified
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out.sum(axis=2), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out[~band], layers[~band].astype(np.float32))
    assert np.abs(out[band] - layers[band]).max() > 1e-3  # the band did move


def test_band_zero_or_no_transition_returns_the_layers():
    shot, layers = upsampled_truth()
    np.testing.assert_array_equal(refine_layers(shot.image, layers, 0), layers)
    hard = np.zeros(layers.shape, np.float32)
    hard[..., 0] = 1.0
    np.testing.assert_array_equal(refine_layers(shot.image, hard, 3), hard)


def test_band_rows_equal_the_matting_laplacian_rows():
    rng = np.random.default_rng(0)
    image = rng.random((20, 24, 3))
    mask = np.zeros((20, 24), bool)
    mask[0:7, 3:12] = True  # touches the border
    mask[15:, 20:] = True   # a corner
    lap, inside, ring = _band_laplacian(image, mask)
    full = matting_laplacian(image, device="numpy").tocsr()
    np.testing.assert_allclose(lap.toarray(), full[inside][:, np.r_[inside, ring]].toarray(),
                               atol=1e-9)
    # Nothing of a band row lies beyond the ring.
    assert abs(full[inside]).sum() == pytest.approx(abs(lap).sum(), rel=1e-12)


def test_pcg_equals_a_dense_solve_of_the_band_system():
    """Every IRLS round of the band system solved by numpy.linalg.solve, with the full
    matting Laplacian split into band and fixed pixels: the refinement's PCG agrees to
    1e-6."""
    image, alpha = two_region_image((12, 16), edge_width=3.0)
    image = image.astype(np.float64)
    noisy = np.clip(alpha + 0.1 * np.random.default_rng(1).normal(size=alpha.shape), 0, 1)
    layers = np.stack([noisy, 1.0 - noisy], axis=-1)
    rounds, opts = 3, RelaxedOptions(rtol=1e-13, final_cg_steps=5000)
    got = refine_layers(image, layers, 1, rounds=rounds, cg_steps=5000, options=opts)

    band = _transition_band(layers, 1).ravel()
    assert 0 < band.sum() < band.size
    k = layers.shape[2]
    flat = layers.reshape(-1, k).astype(np.float64)
    lap = matting_laplacian(image, device="numpy").toarray()
    l_bb, l_bf = lap[band][:, band], lap[band][:, ~band]
    n = l_bb.shape[0]
    a0 = flat[band]
    fixed = -(l_bf @ flat[~band])
    expo = sparsity_exponent(gradient_magnitude(image).ravel()[band])[:, None]
    # Unknowns ordered pixel-major: x[p * k + j] is layer j at band pixel p.
    smooth = np.kron(l_bb, np.eye(k)) + 100.0 * np.kron(np.eye(n), np.ones((k, k)))

    def solve(diag, rhs):
        return np.linalg.solve(smooth + np.diag(diag.ravel()), rhs.ravel()).reshape(n, k)

    x = a0.copy()
    for _ in range(rounds):
        u = np.maximum(np.abs(x), 1e-4) ** (expo - 2.0)
        v = np.maximum(np.abs(1.0 - x), 1e-4) ** (expo - 2.0)
        x = solve(u + v + 1.0, v + a0 + 100.0 + fixed)
    x = solve(np.ones_like(x), x + 100.0 + fixed)
    x = np.clip(x, 0.0, 1.0)
    x /= x.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got.reshape(-1, k)[band], x, atol=1e-6)


def test_refinement_lowers_the_error_of_layers_found_at_a_lower_working_size():
    """two_region_image (96 x 128, 3 px soft edge), spectral stages at 36 x 27 px
    (max_pixels=1024): SAD against the true alpha 11.6 upsampled, 9.6 refined with a
    3 px band (MSE 1.27e-5 -> 0.77e-5)."""
    image, alpha = two_region_image((96, 128), edge_width=3.0)
    plain = sss_vfx.segment_image(image, max_pixels=1024, **CHEAP)
    refined = sss_vfx.segment_image(image, max_pixels=1024, refine_band=3, **CHEAP)
    assert plain.working_image.shape[:2] == (27, 36)
    assert refined.timings["refinement"] > 0 and refined.alphas.dtype == np.float32
    np.testing.assert_allclose(refined.alphas.sum(axis=2), 1.0, atol=1e-5)
    sad = [np.abs(foreground_matte(s.alphas, alpha) - alpha).sum() for s in (plain, refined)]
    mse = [np.mean((foreground_matte(s.alphas, alpha) - alpha) ** 2) for s in (plain, refined)]
    assert sad[1] < 0.9 * sad[0] and mse[1] < 0.8 * mse[0]
    # The working-resolution results are the same: only the plate-resolution step differs.
    np.testing.assert_array_equal(plain.working_alphas, refined.working_alphas)


def test_no_refinement_without_downscale():
    image, _ = two_region_image((32, 32))
    a = sss_vfx.segment_image(image, max_pixels=0, **CHEAP)
    b = sss_vfx.segment_image(image, max_pixels=0, refine_band=3, **CHEAP)
    np.testing.assert_array_equal(a.alphas, b.alphas)


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_bad_refine_band_raises_option_error_naming_it(value):
    with pytest.raises(OptionError, match="refine_band"):
        sss_vfx.segment_image(np.zeros((32, 32, 3)), refine_band=value)


def test_refine_layers_rejects_layers_of_another_size():
    image, alpha = two_region_image((32, 32))
    with pytest.raises(ValueError, match="alphas"):
        refine_layers(image, np.stack([alpha, 1 - alpha], -1)[:16], 2)


def test_cli_flag_sets_the_option():
    from sss_vfx.cli import build_parser
    from sss_vfx.cli.flags import method_options

    args = build_parser().parse_args(["segment", "plate.png", "-o", "out", "--refine-band", "3"])
    assert method_options(args).refine_band == 3
    default = build_parser().parse_args(["segment", "plate.png", "-o", "out"])
    assert method_options(default).refine_band == 0
