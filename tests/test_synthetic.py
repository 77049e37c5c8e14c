"""Properties of the procedural shots and of the coarse-feature recipe."""

import numpy as np
import pytest
from scipy import ndimage

from sss_vfx.errors import InputError, OptionError
from sss_vfx.data import (
    Shot,
    coarse_features,
    coarse_mask,
    strands_shot,
    two_region_image,
)


@pytest.fixture(scope="module")
def shot():
    return strands_shot()


def _fractional(alpha):
    return (alpha > 0.02) & (alpha < 0.98)


def _iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


# ----------------------------------------------------------------------- strands_shot


def test_strands_shot_types_shapes_ranges(shot):
    assert isinstance(shot, Shot)
    for name, shape in [
        ("image", (240, 320, 3)),
        ("alpha", (240, 320)),
        ("features", (240, 320, 3)),
        ("foreground", (240, 320, 3)),
        ("background", (240, 320, 3)),
    ]:
        arr = getattr(shot, name)
        assert arr.shape == shape, name
        assert arr.dtype == np.float32, name
        assert np.all(np.isfinite(arr)), name
        assert arr.min() >= 0.0 and arr.max() <= 1.0, name


def test_strands_shot_composites_exactly(shot):
    a = shot.alpha[..., None]
    expected = a * shot.foreground + (1 - a) * shot.background
    np.testing.assert_allclose(shot.image, expected, rtol=0, atol=1e-5)


def test_strands_shot_has_solid_fg_and_bg(shot):
    assert (shot.alpha >= 0.999).mean() > 0.1
    assert (shot.alpha <= 0.001).mean() > 0.4


def test_strands_have_fractional_alpha_far_from_the_solid_body(shot):
    frac = _fractional(shot.alpha)
    assert frac.mean() > 0.05
    # Pixels more than 15 px from any solid pixel can only be strands, not the
    # anti-aliased or defocused outline of the body.
    far = ndimage.distance_transform_edt(shot.alpha <= 0.98) > 15
    thin = frac & far
    assert thin.mean() > 0.02
    # Thin: the strands are mostly translucent, not solid blobs.
    assert np.median(shot.alpha[thin]) < 0.6


def test_strands_defocused_side_has_wider_ramp(shot):
    # The bottom rows cross only the neck: sharp on the left, defocused on the right.
    widths_left, widths_right = [], []
    for row in shot.alpha[-12:-2]:
        inside = np.flatnonzero(row > 0.5)
        centre = (inside[0] + inside[-1]) // 2
        frac = _fractional(row)
        widths_left.append(frac[:centre].sum())
        widths_right.append(frac[centre:].sum())
    left, right = np.median(widths_left), np.median(widths_right)
    assert 1 <= left <= 2
    assert right >= 8
    assert right > 3 * left


def test_strands_no_defocus_is_symmetric_in_sharpness():
    alpha = strands_shot((120, 160), n_strands=0, defocus_sigma=0).alpha
    for row in alpha[-8:-2]:
        inside = np.flatnonzero(row > 0.5)
        centre = (inside[0] + inside[-1]) // 2
        frac = _fractional(row)
        assert frac[:centre].sum() <= 2 and frac[centre:].sum() <= 2


def test_strands_more_strands_more_fractional_alpha():
    few = _fractional(strands_shot((120, 160), n_strands=5).alpha).sum()
    many = _fractional(strands_shot((120, 160), n_strands=80).alpha).sum()
    assert many > 2 * few


def test_strands_shot_deterministic_per_seed(shot):
    again = strands_shot(seed=0)
    for name in ("image", "alpha", "features", "foreground", "background"):
        np.testing.assert_array_equal(getattr(again, name), getattr(shot, name))
    other = strands_shot(seed=1)
    assert np.abs(other.alpha - shot.alpha).max() > 0.5
    assert np.abs(other.image - shot.image).mean() > 0.01


def test_strands_shot_odd_shape():
    s = strands_shot((61, 83), n_strands=10)
    assert s.image.shape == (61, 83, 3) and s.alpha.shape == (61, 83)
    assert s.features.shape == (61, 83, 3)


def test_strands_features_are_coarse_features_of_alpha(shot):
    np.testing.assert_array_equal(shot.features, coarse_features(shot.alpha))


@pytest.mark.parametrize(
    "kwargs",
    [{"shape": (10, 10)}, {"shape": (64,)}, {"n_strands": -1}, {"defocus_sigma": -1.0}],
)
def test_strands_shot_rejects_bad_options(kwargs):
    with pytest.raises(OptionError):
        strands_shot(**kwargs)


# ------------------------------------------------------------------- two_region_image


@pytest.mark.parametrize("edge_width", [2.0, 3.0, 6.0, 10.5])
def test_two_region_ramp_width_matches_edge_width(edge_width):
    _, alpha = two_region_image((48, 64), edge_width=edge_width)
    widths = ((alpha > 0) & (alpha < 1)).sum(axis=1)
    assert abs(widths.mean() - edge_width) <= 1.0
    assert np.all(np.abs(widths - edge_width) <= 1.0)
    # Linear ramp: a constant step of 1 / edge_width between neighbours inside it.
    steps = -np.diff(alpha.astype(np.float64), axis=1)
    inside = (alpha > 0) & (alpha < 1)
    both_inside = inside[:, :-1] & inside[:, 1:]
    assert both_inside.any()
    np.testing.assert_allclose(steps[both_inside], 1 / edge_width, atol=1e-5)


def test_two_region_edge_is_slanted_and_fg_on_left():
    _, alpha = two_region_image((48, 64))
    assert np.all(alpha[:, 0] == 1) and np.all(alpha[:, -1] == 0)
    centre = (alpha > 0.5).sum(axis=1)
    assert centre[-1] - centre[0] >= 3


def test_two_region_colours_differ_and_are_not_flat():
    image, alpha = two_region_image((48, 64))
    assert image.dtype == np.float32 and alpha.dtype == np.float32
    assert image.shape == (48, 64, 3) and alpha.shape == (48, 64)
    assert image.min() >= 0 and image.max() <= 1
    fg = image[alpha == 1]
    bg = image[alpha == 0]
    assert np.linalg.norm(fg.mean(0) - bg.mean(0)) > 0.5
    assert fg[:, 0].mean() > fg[:, 2].mean() and bg[:, 2].mean() > bg[:, 0].mean()
    # Texture everywhere: every 3 x 3 window has a well-conditioned colour covariance.
    windows = np.lib.stride_tricks.sliding_window_view(image.astype(np.float64), (3, 3), (0, 1))
    samples = windows.reshape(*windows.shape[:2], 3, 9)
    centred = samples - samples.mean(-1, keepdims=True)
    cov = centred @ np.swapaxes(centred, -1, -2) / 9
    assert np.linalg.eigvalsh(cov).min() > 1e-7


def test_two_region_deterministic_per_seed():
    a1, al1 = two_region_image(seed=3)
    a2, al2 = two_region_image(seed=3)
    a3, al3 = two_region_image(seed=4)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(al1, al3)
    assert np.abs(a1 - a3).max() > 0.01


@pytest.mark.parametrize("kwargs", [{"edge_width": 0}, {"edge_width": np.nan}, {"shape": (4, 64)}])
def test_two_region_rejects_bad_options(kwargs):
    with pytest.raises(OptionError):
        two_region_image(**kwargs)


# -------------------------------------------------------------- coarse mask / features


@pytest.mark.parametrize("shape", [(45, 67), (48, 64), (5, 3), (1, 1), (240, 320)])
def test_coarse_features_shape_preserved(shape):
    rng = np.random.default_rng(0)
    alpha = (rng.random(shape) > 0.5).astype(np.float32)
    assert coarse_mask(alpha).shape == shape
    f = coarse_features(alpha)
    assert f.shape == (*shape, 3) and f.dtype == np.float32


@pytest.mark.parametrize("seed", [None, 7])
def test_coarse_features_lie_between_the_two_colours(shot, seed):
    fg = np.array([0.9, 0.2, 0.1])
    bg = np.array([0.1, 0.3, 0.9])
    f = coarse_features(shot.alpha, seed=seed).reshape(-1, 3).astype(np.float64)
    assert np.all(f >= np.minimum(fg, bg) - 1e-6) and np.all(f <= np.maximum(fg, bg) + 1e-6)
    t = (f - bg) @ (fg - bg) / np.dot(fg - bg, fg - bg)
    assert t.min() >= -1e-6 and t.max() <= 1 + 1e-6
    np.testing.assert_allclose(f, bg + t[:, None] * (fg - bg), atol=1e-6)
    # Both ends are reached: solid background and solid foreground exist.
    assert t.min() < 0.01 and t.max() > 0.99


def test_coarse_features_custom_colours_and_recipe():
    alpha = np.zeros((45, 67))
    alpha[8:40, 10:50] = 1
    m = coarse_mask(alpha, scale=4, blur_sigma=0.5)
    f = coarse_features(alpha, scale=4, blur_sigma=0.5, fg_colour=(1, 1, 1), bg_colour=(0, 0, 0))
    np.testing.assert_allclose(f, np.repeat(m[..., None], 3, axis=2), atol=1e-6)


def test_coarse_features_seed_changes_only_when_given(shot):
    base = coarse_features(shot.alpha)
    np.testing.assert_array_equal(base, coarse_features(shot.alpha, seed=None))
    np.testing.assert_array_equal(coarse_features(shot.alpha, seed=1),
                                  coarse_features(shot.alpha, seed=1))
    assert np.abs(coarse_features(shot.alpha, seed=1) - base).max() > 0.01


def test_coarse_mask_close_to_alpha_but_coarse(shot):
    m = coarse_mask(shot.alpha)
    assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1
    iou = _iou(m > 0.5, shot.alpha > 0.5)
    assert 0.8 < iou < 0.99
    # No hair-scale detail: far from the body the mask is empty although strands are not.
    far = ndimage.distance_transform_edt(m <= 0.5) > 32
    assert m[far].max() < 0.1
    assert _fractional(shot.alpha)[far].sum() > 500


def test_coarse_mask_of_block_aligned_square_is_exact_inside():
    alpha = np.zeros((64, 64))
    alpha[16:48, 16:48] = 1
    m = coarse_mask(alpha, blur_sigma=0)
    # Bilinear upsampling of a binary grid: exact away from the edge, and the 0.5 level
    # on the block boundary, so straight edges stay in place (corners get rounded).
    assert m[31, 31] == 1 and m[3, 3] == 0
    np.testing.assert_array_equal(m[31] > 0.5, alpha[31] > 0.5)
    np.testing.assert_array_equal(m[:, 31] > 0.5, alpha[:, 31] > 0.5)
    np.testing.assert_allclose(m[31, 14:18], [0.3125, 0.4375, 0.5625, 0.6875])
    assert m[16, 16] < 0.5


def test_coarse_mask_threshold_at_half():
    alpha = np.full((16, 16), 0.49)
    assert coarse_mask(alpha).max() == 0
    alpha = np.full((16, 16), 0.51)
    assert coarse_mask(alpha).min() == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, bool])
def test_coarse_mask_dtypes_and_caller_array_untouched(dtype):
    alpha = np.zeros((45, 67), dtype=dtype)
    alpha[5:42, 10:60] = 1
    before = alpha.copy()
    m = coarse_mask(alpha)
    f = coarse_features(alpha)
    np.testing.assert_array_equal(alpha, before)
    assert m[23, 35] > 0.9 and m[0, 0] < 0.1
    assert f.shape == (45, 67, 3)
    np.testing.assert_array_equal(coarse_mask(alpha[..., None]), m)


@pytest.mark.parametrize(
    "alpha",
    [np.zeros((4, 5, 3)), np.zeros(7), np.full((8, 8), 255.0), np.full((8, 8), np.nan)],
)
def test_coarse_mask_rejects_bad_alpha(alpha):
    with pytest.raises(InputError, match="alpha"):
        coarse_mask(alpha)


@pytest.mark.parametrize(
    "kwargs",
    [{"scale": 0}, {"scale": 2.5}, {"scale": None}, {"blur_sigma": -1}, {"fg_colour": (1, 2, 3)},
     {"bg_colour": (0.1, 0.2)}],
)
def test_coarse_features_rejects_bad_options(kwargs):
    with pytest.raises(OptionError):
        coarse_features(np.zeros((8, 8)), **kwargs)
