"""Reading images and feature maps: round trips, colour handling and every refusal."""

import cv2
import numpy as np
import OpenEXR
import pytest

from sss_vfx.errors import FeatureError, InputError
from sss_vfx.io.features import check_features, read_features, resize_features
from sss_vfx.io.images import MIN_SIDE, as_working_image, linear_to_srgb, read_image
from sss_vfx.options import PlateOptions


def write_rgb(path, rgb):
    """Write an RGB(A) or grey array with OpenCV, which expects BGR(A)."""
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        rgb = rgb[:, :, ::-1]
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        rgb = rgb[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb))
    return path


def write_exr(path, channels):
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v) for k, v in channels.items()}).write(str(path))
    return path


def ramp(dtype, shape=(20, 24, 3)):
    """Distinct values per pixel and per channel, so a channel swap is caught."""
    top = np.iinfo(dtype).max
    values = np.arange(np.prod(shape), dtype=np.int64) * 7919 % (top + 1)
    return values.reshape(shape).astype(dtype)


def srgb_reference(x):
    x = np.clip(np.asarray(x, np.float64), 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


# ---- read_image: raster formats ------------------------------------------------------

@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("dtype, kind", [(np.uint8, "8-bit"), (np.uint16, "16-bit")])
def test_rgb_round_trip_is_exact(tmp_path, extension, dtype, kind):
    rgb = ramp(dtype)
    data = read_image(write_rgb(tmp_path / f"im{extension}", rgb))
    assert data.pixels.dtype == np.float32 and data.pixels.shape == (20, 24, 3)
    np.testing.assert_array_equal(data.pixels, rgb.astype(np.float32) / np.iinfo(dtype).max)
    assert (data.source_kind, data.had_alpha, data.was_gray) == (kind, False, False)
    assert data.path == str(tmp_path / f"im{extension}")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_png_is_replicated(tmp_path, dtype):
    grey = ramp(dtype, (18, 17))
    data = read_image(write_rgb(tmp_path / "g.png", grey))
    assert data.was_gray and not data.had_alpha
    for c in range(3):
        np.testing.assert_array_equal(data.pixels[:, :, c], grey / np.float32(np.iinfo(dtype).max))


def test_rgba_drops_alpha_and_keeps_colour(tmp_path):
    rgba = ramp(np.uint8, (16, 16, 4))
    rgba[:, :, 3] = 0
    data = read_image(write_rgb(tmp_path / "a.png", rgba))
    assert data.had_alpha and not data.was_gray
    np.testing.assert_array_equal(data.pixels, rgba[:, :, :3] / np.float32(255))


def test_jpeg_is_close_and_in_rgb_order(tmp_path):
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :, 0] = 200
    rgb[:, :, 2] = np.linspace(0, 255, 32).astype(np.uint8)[np.newaxis, :]
    data = read_image(write_rgb(tmp_path / "j.jpg", rgb))
    assert data.source_kind == "8-bit"
    assert np.abs(data.pixels - rgb / 255.0).mean() < 0.02
    assert data.pixels[:, :, 0].mean() > 0.7 and data.pixels[:, :, 1].mean() < 0.1


def test_float_tiff_is_clipped(tmp_path):
    rgb = np.full((16, 16, 3), 0.25, np.float32)
    rgb[0, 0] = (-0.5, 2.0, 0.75)
    data = read_image(write_rgb(tmp_path / "f.tif", rgb))
    assert data.source_kind == "float"
    np.testing.assert_array_equal(data.pixels[0, 0], [0.0, 1.0, 0.75])
    assert data.pixels[5, 5, 1] == np.float32(0.25)


# ---- read_image: EXR -------------------------------------------------------------------

LINEAR = np.array([0.0, 0.0031308, 0.18, 1.0, 4.0, -1.0, 0.5, 0.001], np.float32)


def test_exr_linear_is_encoded_with_the_srgb_curve(tmp_path):
    # Linear Rec.709 declared: OCIO's sRGB curve, within its float32 round-off (1e-5).
    ramp_row = np.tile(LINEAR, 2)  # 16 wide
    r = np.tile(ramp_row, (16, 1))
    path = write_exr(tmp_path / "lin.exr", {"R": r, "G": r * 0.5, "B": r[:, ::-1].copy()})
    data = read_image(path, plate=PlateOptions(colorspace="lin_rec709"))
    assert data.source_kind == "exr-linear" and not data.was_gray and not data.had_alpha
    assert data.colour_space == "Linear Rec.709 (sRGB)"
    np.testing.assert_array_equal(data.values[..., 0], r)
    np.testing.assert_allclose(data.pixels[3, :, 0], srgb_reference(ramp_row), atol=2e-5)
    np.testing.assert_allclose(data.pixels[3, :, 1], srgb_reference(ramp_row * 0.5), atol=2e-5)
    # Known values of the curve, independent of the reference formula above.
    first = data.pixels[0, :8, 0]
    np.testing.assert_allclose(first[:5], [0.0, 0.04044994, 0.46135613, 1.0, 1.0], atol=2e-5)
    assert first[5] == 0.0


def test_exr_without_metadata_is_linear_rec709_in_the_builtin_config(tmp_path):
    # The built-in ACES config's scene_linear role is ACEScg, but an EXR that does not
    # say is taken as linear Rec.709 (the rule before colour management, Nuke's default
    # linear); the note says what was assumed. Declared ACEScg is converted AP1 -> Rec.709.
    r = np.full((16, 16), 0.18, np.float32)
    data = read_image(write_exr(tmp_path / "cg.exr", {"R": r, "G": r * 0.2, "B": r * 0.1}))
    assert data.colour_space == "Linear Rec.709 (sRGB)"
    assert any("Linear Rec.709" in n for n in data.notes)
    np.testing.assert_allclose(data.pixels[0, 0, 0], srgb_reference(np.float32(0.18)),
                               atol=2e-5)
    declared = read_image(tmp_path / "cg.exr", plate=PlateOptions(colorspace="ACEScg"))
    assert declared.pixels[0, 0, 0] > srgb_reference(np.float32(0.18))   # AP1 red is wider


def test_linear_to_srgb_is_continuous_at_the_knee():
    below, above = linear_to_srgb([0.0031308, 0.0031309])
    assert abs(float(above) - float(below)) < 1e-5


def test_exr_grey_and_alpha(tmp_path):
    y = np.full((16, 20), 0.18, np.float32)
    data = read_image(write_exr(tmp_path / "y.exr", {"Y": y, "A": np.ones_like(y)}))
    assert data.was_gray and data.had_alpha
    np.testing.assert_allclose(data.pixels, 0.46135613, atol=2e-6)


def test_exr_rgba_half(tmp_path):
    c = np.full((16, 16), 0.18, np.float16)
    data = read_image(write_exr(tmp_path / "h.exr", {"R": c, "G": c, "B": c, "A": c}))
    assert data.had_alpha and not data.was_gray
    assert np.allclose(data.pixels, srgb_reference(np.float16(0.18)), atol=1e-6)


def test_exr_without_colour_channels_is_refused(tmp_path):
    z = np.zeros((16, 16), np.float32)
    with pytest.raises(InputError, match="no R, G, B or Y"):
        read_image(write_exr(tmp_path / "z.exr", {"Z": z, "depth.V": z}))


def test_exr_with_nan_is_refused(tmp_path):
    r = np.zeros((16, 16), np.float32)
    r[2, 3] = np.nan
    r[4, 4] = np.inf
    path = write_exr(tmp_path / "nan.exr", {"R": r, "G": r, "B": r})
    with pytest.raises(InputError, match="6 NaN/inf"):
        read_image(path)


# ---- read_image: refusals ---------------------------------------------------------------

def assert_one_line(excinfo):
    message = str(excinfo.value)
    assert message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist") as excinfo:
        read_image(tmp_path / "nope.png")
    assert_one_line(excinfo)


def test_directory_instead_of_file(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match="not a file"):
        read_image(tmp_path / "dir.png")


@pytest.mark.parametrize("name", ["bad.png", "bad.jpg", "bad.tif", "bad.exr"])
def test_corrupt_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 20)
    with pytest.raises(InputError) as excinfo:
        read_image(path)
    assert_one_line(excinfo)
    assert name in str(excinfo.value)


def test_truncated_exr(tmp_path):
    good = write_exr(tmp_path / "good.exr", {"R": np.ones((32, 32), np.float32)})
    path = tmp_path / "cut.exr"
    path.write_bytes(good.read_bytes()[:60])
    with pytest.raises(InputError, match="cut.exr"):
        read_image(path)


def test_exr_with_truncated_pixels(tmp_path):
    good = write_exr(tmp_path / "good.exr", {"R": np.ones((32, 32), np.float32)})
    path = tmp_path / "cut.exr"
    path.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(InputError, match="corrupt or truncated"):
        read_image(path)


def test_unsupported_extension_lists_the_supported_ones(tmp_path):
    path = tmp_path / "image.xyz"
    path.write_bytes(b"whatever")
    with pytest.raises(InputError, match=r"\.xyz.*\.png.*\.exr"):
        read_image(path)


@pytest.mark.parametrize("shape", [(10, 40, 3), (40, 10, 3), (15, 15, 3)])
def test_tiny_image(tmp_path, shape):
    path = write_rgb(tmp_path / "tiny.png", np.zeros(shape, np.uint8))
    with pytest.raises(InputError, match=f"at least {MIN_SIDE} pixels"):
        read_image(path)


def test_smallest_allowed_image(tmp_path):
    path = write_rgb(tmp_path / "ok.png", np.zeros((MIN_SIDE, MIN_SIDE, 3), np.uint8))
    assert read_image(path).pixels.shape == (MIN_SIDE, MIN_SIDE, 3)


def test_too_many_channels(tmp_path):
    path = write_exr(tmp_path / "two.exr", {"U": np.zeros((16, 16), np.float32),
                                            "V": np.zeros((16, 16), np.float32)})
    with pytest.raises(InputError):
        read_image(path)


# ---- as_working_image ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
def test_working_image_from_integers(dtype, top):
    rgb = ramp(dtype, (16, 18, 3))
    out = as_working_image(rgb)
    assert out.dtype == np.float32 and out.shape == (16, 18, 3)
    np.testing.assert_array_equal(out, rgb.astype(np.float32) / top)


@pytest.mark.parametrize("shape", [(16, 16), (16, 16, 1), (16, 16, 3), (16, 16, 4)])
def test_working_image_shapes_and_no_aliasing(shape):
    array = np.random.default_rng(0).random(shape)
    before = array.copy()
    out = as_working_image(array)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    out[...] = 7
    np.testing.assert_array_equal(array, before)
    if len(shape) == 3 and shape[2] >= 3:
        np.testing.assert_allclose(as_working_image(array), array[:, :, :3], atol=1e-7)


def test_working_image_float32_is_copied():
    array = np.zeros((16, 16, 3), np.float32)
    assert not np.shares_memory(as_working_image(array), array)


@pytest.mark.parametrize("array, pattern", [
    (np.full((16, 16, 3), 255.0), r"outside \[0, 1\]"),
    (np.zeros((16, 16, 3), np.int32), "dtype int32"),
    (np.zeros((16, 16, 5)), "shape"),
    (np.zeros((16, 16, 2)), "shape"),
    (np.zeros((4, 16, 16, 3)), "shape"),
    (np.zeros((8, 64, 3)), "at least"),
])
def test_working_image_refusals(array, pattern):
    with pytest.raises(InputError, match=pattern):
        as_working_image(array)


def test_working_image_nan():
    array = np.zeros((16, 16, 3))
    array[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="1 NaN/inf"):
        as_working_image(array)


def test_working_image_round_off_is_clipped():
    array = np.full((16, 16, 3), 1.0 + 1e-5)
    assert as_working_image(array).max() == 1.0


# ---- features -----------------------------------------------------------------------------

def test_features_npy_seven_channels(tmp_path):
    features = np.random.default_rng(1).normal(size=(12, 20, 7)).astype(np.float64)
    np.save(tmp_path / "f.npy", features)
    out = read_features(tmp_path / "f.npy")
    assert out.dtype == np.float32 and out.shape == (12, 20, 7)
    np.testing.assert_allclose(out, features, rtol=1e-6)


def test_features_npy_two_dimensional(tmp_path):
    np.save(tmp_path / "f.npy", np.arange(30.0).reshape(5, 6))
    assert read_features(tmp_path / "f.npy").shape == (5, 6, 1)


def test_features_exr_five_channels_sorted_by_name(tmp_path):
    names = ["f.e", "f.a", "f.d", "f.b", "f.c"]
    channels = {name: np.full((9, 11), float(i), np.float32) for i, name in enumerate(names)}
    out = read_features(write_exr(tmp_path / "f.exr", channels))
    assert out.shape == (9, 11, 5)
    # sorted: f.a(1), f.b(3), f.c(4), f.d(2), f.e(0)
    np.testing.assert_array_equal(out[0, 0], [1, 3, 4, 2, 0])


def test_features_from_16_bit_png_scaled_and_alpha_dropped(tmp_path):
    rgba = ramp(np.uint16, (10, 12, 4))
    out = read_features(write_rgb(tmp_path / "f.png", rgba))
    assert out.shape == (10, 12, 3)
    np.testing.assert_array_equal(out, rgba[:, :, :3] / np.float32(65535))


@pytest.mark.parametrize("name, content, pattern", [
    ("missing.npy", None, "does not exist"),
    ("f.xyz", b"x", r"unsupported.*\.npy"),
    ("f.npy", b"garbage", "cannot read"),
    ("f.png", b"garbage", "cannot decode"),
    ("f.exr", b"garbage", "not an OpenEXR"),
])
def test_features_refusals(tmp_path, name, content, pattern):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FeatureError, match=pattern):
        read_features(path)


def test_features_npy_with_nan(tmp_path):
    features = np.zeros((8, 8, 3))
    features[0, 0, :] = np.nan
    np.save(tmp_path / "f.npy", features)
    with pytest.raises(FeatureError, match="3 NaN/inf"):
        read_features(tmp_path / "f.npy")


def test_check_features_shapes_and_copy():
    features = np.ones((6, 8, 2), np.float32)
    out = check_features(features, (12, 16, 3))
    assert out.shape == (6, 8, 2) and not np.shares_memory(out, features)
    assert check_features(np.ones((6, 8), np.uint8)).shape == (6, 8, 1)
    with pytest.raises(FeatureError, match="shape"):
        check_features(np.ones((2, 3, 4, 5)))
    with pytest.raises(FeatureError, match="shape"):
        check_features(np.ones((0, 3, 4)))
    with pytest.raises(FeatureError, match="aspect"):
        check_features(features, (16, 8))


def test_check_features_allows_rounded_downscale():
    assert check_features(np.ones((125, 188, 4)), (1001, 1500)).shape == (125, 188, 4)


def test_resize_features_many_channels():
    rng = np.random.default_rng(2)
    features = rng.random((10, 14, 7)).astype(np.float32)
    out = resize_features(features, (25, 33))
    assert out.shape == (25, 33, 7) and out.dtype == np.float32
    for c in range(7):
        expected = cv2.resize(features[:, :, c], (33, 25), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(out[:, :, c], expected, atol=1e-6)


def test_resize_features_one_channel_and_same_size():
    features = np.linspace(0, 1, 80, dtype=np.float32).reshape(8, 10, 1)
    assert resize_features(features, (4, 5)).shape == (4, 5, 1)
    same = resize_features(features, (8, 10))
    np.testing.assert_array_equal(same, features)
    assert not np.shares_memory(same, features)
    with pytest.raises(FeatureError):
        resize_features(features, (0, 5))
