"""The still-image pipeline end to end on synthetic shots with a known alpha."""

import cv2
import numpy as np
import pytest

import sss_vfx
from sss_vfx import FeatureError, InputError, OptionError, segment_image
from sss_vfx.pipeline.still import STAGES, working_size
from sss_vfx.data import coarse_features, two_region_image

#: Small options: every test but the paper-defaults ones uses these. The superpixel
#: count is scaled to the tiny images (2500 superpixels on 3072 pixels are single
#: pixels; see test_default_superpixel_count_on_a_tiny_image).
SMALL = dict(eigenvectors=20, initial_segments=8, layers=2, constrained_iterations=20,
             relaxed_rounds=5, superpixels=100)
TINY = dict(eigenvectors=10, initial_segments=4, layers=2, constrained_iterations=5,
            relaxed_rounds=1, superpixels=50)


def best_layer(alphas, truth):
    errors = [np.abs(alphas[..., k] - truth).mean() for k in range(alphas.shape[-1])]
    return int(np.argmin(errors))


@pytest.fixture(scope="module")
def shot():
    image, alpha = two_region_image((48, 64), edge_width=6)
    return image, alpha


@pytest.fixture(scope="module")
def result(shot):
    image, _ = shot
    stages = []
    seg = segment_image(image, progress=lambda stage, done, total: stages.append(
        (stage, done, total)), **SMALL)
    return seg, stages


def check_layers(alphas, shape, k=None):
    assert alphas.dtype == np.float32
    assert alphas.shape[:2] == shape and alphas.ndim == 3
    if k is not None:
        assert alphas.shape[2] == k
    assert alphas.min() >= 0 and alphas.max() <= 1
    np.testing.assert_allclose(alphas.sum(axis=2), 1.0, atol=1e-3)


def test_layers_are_float32_and_sum_to_one(result):
    seg, _ = result
    check_layers(seg.alphas, (48, 64), 2)
    # Largest layer first.
    coverage = seg.alphas.mean(axis=(0, 1))
    assert np.all(np.diff(coverage) <= 0)


def ramp_errors(alphas, truth):
    """Error of the best layer: over the image, inside the ramp 0 < alpha < 1, off it."""
    error = np.abs(alphas[..., best_layer(alphas, truth)] - truth)
    ramp = (truth > 0) & (truth < 1)
    return error.mean(), error[ramp].mean(), error[~ramp].mean()


def test_matches_the_true_alpha(result, shot):
    """Measured on this shot (48x64, 6 px linear ramp, SMALL options, no features):
    MAE 0.0034 over the image, 0.034 inside the ramp 0 < alpha < 1, 0.00025 off it.
    Bounds with about 3x headroom: MAE < 0.01, ramp < 0.1, off the ramp < 0.003.
    """
    seg, _ = result
    _, truth = shot
    mae, ramp, flat = ramp_errors(seg.alphas, truth)
    assert mae < 0.01
    assert ramp < 0.1
    assert flat < 0.003
    # The other layer is the complement.
    k = best_layer(seg.alphas, truth)
    assert np.abs(seg.alphas[..., 1 - k] - (1 - truth)).mean() < 0.01


def test_default_superpixel_count_on_a_tiny_image(shot):
    image, truth = shot
    options = {k: v for k, v in SMALL.items() if k != "superpixels"}
    seg = segment_image(image, **options)
    check_layers(seg.alphas, (48, 64), 2)
    assert ramp_errors(seg.alphas, truth)[1] < 0.1


def far_affinities(lap, width):
    """Affinities (-L_ij) between pixels beyond the 5x5 matting stencil."""
    coo = lap.tocoo()
    far = ((np.abs(coo.row // width - coo.col // width) > 2)
           | (np.abs(coo.row % width - coo.col % width) > 2))
    return -coo.data[far]


def test_matches_the_true_alpha_with_features(shot, result):
    """Same shot with coarse network-like features (semantic term on).
    Measured: MAE 0.0026, ramp 0.026, off-ramp 0.0002; same bounds as without."""
    image, truth = shot
    seg = segment_image(image, coarse_features(truth), **SMALL)
    check_layers(seg.alphas, (48, 64), 2)
    mae, ramp, flat = ramp_errors(seg.alphas, truth)
    assert mae < 0.01 and ramp < 0.1 and flat < 0.003
    assert seg.features.shape == (48, 64, 3)
    assert seg.features.min() >= 0 and seg.features.max() <= 1
    # The semantic term repels dissimilar neighbours: beyond the matting stencil (where
    # only superpixel affinities live) W has negative entries with features, and only
    # the non-negative colour affinity without them.
    assert far_affinities(seg.laplacian, 64).min() < 0
    assert far_affinities(result[0].laplacian, 64).min() >= 0
    # ... which makes the Laplacian indefinite here.
    assert seg.eigenvalues.min() < 0


def test_intermediates_are_exposed(result, shot):
    seg, stages = result
    image, _ = shot
    n = 48 * 64
    assert seg.laplacian.shape == (n, n)
    np.testing.assert_allclose(seg.laplacian @ np.ones(n), 0.0, atol=1e-9)
    assert seg.eigenvalues.shape == (20,) and seg.eigenvectors.shape == (n, 20)
    residual = seg.laplacian @ seg.eigenvectors - seg.eigenvectors * seg.eigenvalues
    assert np.abs(residual).max() < 1e-8
    assert seg.initial_segments.shape == (48, 64)
    assert seg.initial_segments.min() == 0 and seg.initial_segments.max() <= 7
    assert seg.soft_segments.shape[:2] == (48, 64)
    np.testing.assert_allclose(seg.soft_segments.sum(axis=2), 1.0, atol=1e-6)
    assert seg.grouped.shape == (48, 64, 2) and seg.working_alphas.shape == (48, 64, 2)
    np.testing.assert_array_equal(seg.image, image)
    assert seg.working_image.shape == (48, 64, 3)
    assert seg.features is None
    assert seg.options == sss_vfx.SegmentationOptions(**SMALL)
    ran = set(STAGES) - {"refinement"}      # no band refinement asked for
    assert set(seg.timings) == ran == set(seg.peak_rss)
    assert all(t >= 0 for t in seg.timings.values())
    assert all(m > 0 for m in seg.peak_rss.values())
    assert stages == [(name, i, len(STAGES)) for i, name in enumerate(STAGES) if name in ran]
    assert seg.notes == []


def test_deterministic(result, shot):
    seg, _ = result
    image, _ = shot
    again = segment_image(image.copy(), **SMALL)
    np.testing.assert_array_equal(again.alphas, seg.alphas)
    assert again.alphas.tobytes() == seg.alphas.tobytes()
    np.testing.assert_array_equal(again.initial_segments, seg.initial_segments)


def test_caller_arrays_not_modified(shot):
    image, truth = shot
    image = image.copy()
    features = coarse_features(truth)
    before = image.copy(), features.copy()
    segment_image(image, features, **TINY)
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(features, before[1])


def test_downscaled_run_returns_full_size_layers():
    image, truth = two_region_image((96, 128), edge_width=12)
    seg = segment_image(image, max_pixels=1536, **SMALL)
    check_layers(seg.alphas, (96, 128), 2)
    h, w = working_size((96, 128), 1536)
    assert h * w <= 1536 and seg.working_image.shape == (h, w, 3)
    assert seg.eigenvectors.shape == (h * w, 20)
    assert seg.initial_segments.shape == (h, w)
    assert any("max_pixels=1536" in note for note in seg.notes)
    # Measured at the plate's resolution: MAE 0.0018, ramp 0.014 (12 px ramp).
    mae, ramp, _ = ramp_errors(seg.alphas, truth)
    assert mae < 0.006 and ramp < 0.05


@pytest.mark.parametrize("shape, cap, expected", [
    ((96, 128), 1536, (33, 45)),
    ((96, 128), 0, (96, 128)),
    ((40, 40), 65536, (40, 40)),
    ((400, 400), 1024, (32, 32)),
])
def test_working_size(shape, cap, expected):
    assert working_size(shape, cap) == expected
    if cap:
        assert expected[0] * expected[1] <= cap


def test_working_size_respects_the_cap_for_extreme_aspect_ratios():
    h, w = working_size((20, 4000), 1024)
    assert min(h, w) >= 16
    assert h * w <= 1024


def test_path_input_equals_array_input(tmp_path):
    image, _ = two_region_image((32, 40), edge_width=4)
    pixels = np.round(image * 255).astype(np.uint8)
    path = tmp_path / "plate.png"
    assert cv2.imwrite(str(path), pixels[:, :, ::-1])
    from_path = segment_image(path, **TINY)
    from_str = segment_image(str(path), **TINY)
    from_array = segment_image(pixels, **TINY)
    np.testing.assert_array_equal(from_path.alphas, from_array.alphas)
    np.testing.assert_array_equal(from_str.alphas, from_array.alphas)
    np.testing.assert_array_equal(from_path.image, pixels.astype(np.float32) / 255)


def test_paper_defaults_on_a_small_image():
    image, truth = two_region_image((40, 40), edge_width=5)
    seg = segment_image(image)
    opts = sss_vfx.SegmentationOptions()
    assert (opts.eigenvectors, opts.initial_segments, opts.layers) == (100, 40, 5)
    assert (opts.constrained_iterations, opts.relaxed_rounds, opts.sparsity) == (40, 20, 0.8)
    assert seg.eigenvectors.shape == (1600, 100)
    assert 1 <= seg.alphas.shape[2] <= 5
    check_layers(seg.alphas, (40, 40))
    # Five layers split the two regions; the layers lying mostly on the foreground
    # sum to its matte. Measured: MAE 0.014 (ramp 0.11; 2500 superpixels on 1600
    # pixels, see test_default_superpixel_count_on_a_tiny_image).
    fg = [k for k in range(seg.alphas.shape[2])
          if (seg.alphas[..., k] * truth).sum() > 0.5 * seg.alphas[..., k].sum()]
    assert 0 < len(fg) < seg.alphas.shape[2]
    assert np.abs(seg.alphas[..., fg].sum(axis=2) - truth).mean() < 0.04


# ---- options --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("layers", 0), ("eigenvectors", -1), ("initial_segments", 1.5), ("superpixels", True),
    ("constrained_iterations", 0), ("relaxed_rounds", -1), ("seed", -3), ("max_pixels", 500),
    ("matting_eps", 0.0), ("semantic_weight", -0.1), ("colour_weight", float("nan")),
    ("colour_radius", 0), ("sparsity", 2.0), ("sparsity_weight", -1),
    ("constrained_precision", "float16"), ("cg_steps", 0),
    ("embedding_weight", -1.0), ("grouping_colour_weight", float("inf")),
    ("grouping_colour_weight", -0.5),
])
def test_bad_option_raises_option_error_naming_it(name, value):
    image, _ = two_region_image((32, 32))
    with pytest.raises(OptionError, match=name):
        segment_image(image, **{name: value})


def test_layers_cannot_exceed_initial_segments():
    image, _ = two_region_image((32, 32))
    with pytest.raises(OptionError, match="layers.*initial_segments"):
        segment_image(image, layers=10, initial_segments=5)


def test_unknown_option_is_named():
    image, _ = two_region_image((32, 32))
    with pytest.raises(OptionError, match="eigen_vectors"):
        segment_image(image, eigen_vectors=10)


@pytest.mark.parametrize("name, value", [("matting_eps", "1e-7"), ("sparsity", None)])
def test_wrong_type_float_option_raises_option_error(name, value):
    with pytest.raises(OptionError, match=name):
        sss_vfx.SegmentationOptions(**{name: value})


# ---- inputs and features --------------------------------------------------------------------

def test_features_of_another_size_are_resized_with_a_note(shot):
    image, truth = shot
    small = cv2.resize(coarse_features(truth), (32, 24), interpolation=cv2.INTER_AREA)
    seg = segment_image(image, small, **TINY)
    check_layers(seg.alphas, (48, 64), 2)
    assert seg.features.shape == (48, 64, 3)
    assert any("32x24" in note and "64x48" in note and "resized" in note
               for note in seg.notes)


def test_features_of_another_aspect_ratio_raise(shot):
    image, truth = shot
    with pytest.raises(FeatureError, match="aspect"):
        segment_image(image, np.zeros((48, 48, 3), np.float32), **TINY)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_features_with_nan_raise(shot, bad):
    image, truth = shot
    features = coarse_features(truth)
    features[3, 5, 1] = bad
    with pytest.raises(FeatureError, match="NaN"):
        segment_image(image, features, **TINY)


def test_features_npy_with_nan_raise(shot, tmp_path):
    image, truth = shot
    features = coarse_features(truth)
    features[0, 0, 0] = np.nan
    np.save(tmp_path / "f.npy", features)
    with pytest.raises(FeatureError, match="NaN"):
        segment_image(image, tmp_path / "f.npy", **TINY)


@pytest.mark.parametrize("value, channels", [(0.5, 3), (0.0, 1)])
def test_constant_features_raise(value, channels):
    image, _ = two_region_image((32, 40))
    with pytest.raises(FeatureError, match="single value"):
        segment_image(image, np.full((32, 40, channels), value, np.float32), **TINY)


def test_constant_feature_image_file_raises(tmp_path):
    image, _ = two_region_image((32, 40))
    path = tmp_path / "features.png"
    assert cv2.imwrite(str(path), np.full((32, 40, 3), 128, np.uint8))
    with pytest.raises(FeatureError, match="single value"):
        segment_image(image, path, **TINY)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("value, channels", [(3.0, 3), (-2.0, 1)])
def test_constant_features_out_of_unit_range_raise(value, channels):
    image, _ = two_region_image((32, 40))
    with pytest.raises(FeatureError):
        segment_image(image, np.full((32, 40, channels), value, np.float32), **TINY)


def test_constant_many_channel_features_raise():
    image, _ = two_region_image((32, 40))
    with pytest.raises(FeatureError):
        segment_image(image, np.full((32, 40, 8), 7.0, np.float32), **TINY)


@pytest.mark.parametrize("make, error", [
    (lambda tmp: tmp / "missing.png", InputError),
    (lambda tmp: np.zeros((10, 40, 3)), InputError),
    (lambda tmp: np.full((32, 32, 3), 2.0), InputError),
])
def test_bad_images_raise_input_error(tmp_path, make, error):
    with pytest.raises(error):
        segment_image(make(tmp_path), **TINY)


def test_embedding_weight_gives_initial_segments_beyond_coarse_features():
    """Two-valued features allow at most two k-means segments on their own; with the
    spectral embedding joined (embedding_weight > 0) the initial segments reach the
    requested count, and the layers still sum to one."""
    from sss_vfx.data import two_region_image

    image, alpha = two_region_image((40, 48), edge_width=4)
    features = np.where(alpha[..., None] > 0.5, [0.9, 0.2, 0.1], [0.1, 0.3, 0.9])
    small = dict(eigenvectors=20, initial_segments=6, layers=2, superpixels=60,
                 constrained_iterations=12, relaxed_rounds=3)
    plain = sss_vfx.segment_image(image, features, **small)
    joined = sss_vfx.segment_image(image, features, embedding_weight=1.0, **small)
    assert plain.initial_segments.max() + 1 == 2
    assert joined.initial_segments.max() + 1 == 6
    np.testing.assert_allclose(joined.alphas.sum(axis=2), 1.0, atol=1e-3)


def test_collapsed_layers_are_reported_with_their_cause(caplog):
    """Two-valued features give k-means two segments, so three layers cannot come out:
    the result says so, and points at the option for such features."""
    image, alpha = two_region_image((40, 48), edge_width=4)
    features = np.where(alpha[..., None] > 0.5, [0.9, 0.2, 0.1], [0.1, 0.3, 0.9])
    # The paper's grouping: with feature_classes on, two classes give two layers.
    small = dict(eigenvectors=20, initial_segments=6, layers=3, superpixels=60,
                 constrained_iterations=12, relaxed_rounds=3, feature_classes="off")
    with caplog.at_level("WARNING", logger="sss_vfx"):
        seg = sss_vfx.segment_image(image, features, **small)
    assert seg.alphas.shape[2] < 3
    notes = [n for n in seg.notes if "survived the constrained sparsification" in n]
    assert len(notes) == 1 and "sss_vfx.COARSE_FEATURES" in notes[0]
    assert notes[0] in caplog.text


def test_collapse_note_cases():
    from sss_vfx.segments.grouping import collapse_note

    opts = sss_vfx.SegmentationOptions()
    assert collapse_note(5, True, opts) is None
    assert "COARSE_FEATURES" in collapse_note(1, True, opts)
    # Without features, or with the recipe already on, there is no such advice.
    assert "COARSE_FEATURES" not in collapse_note(1, False, opts)
    coarse = sss_vfx.SegmentationOptions(**sss_vfx.COARSE_FEATURES)
    assert "only 2 soft segment(s) of 40" in collapse_note(2, True, coarse)
    assert "COARSE_FEATURES" not in collapse_note(2, True, coarse)

