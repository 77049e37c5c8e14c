"""Plates as a pipeline has them: DPX, multi-part EXR, colour spaces through OpenColorIO,
windows (overscan, a bounding box) kept in the outputs, bad plate options refused."""

import json

import numpy as np
import OpenEXR
import OpenImageIO as oiio
import pytest

from sss_vfx import colour
from sss_vfx.cli import main
from sss_vfx.io.exr import read_layers_exr
from sss_vfx.io.images import read_image
from sss_vfx.options import PlateOptions
from sss_vfx.pipeline.still import segment_image
from sss_vfx.data import two_region_image
from tests._cli import one_error, run_in_process

TINY = dict(layers=2, eigenvectors=10, initial_segments=4, superpixels=40)
TINY_FLAGS = ["--layers", "2", "--eigenvectors", "10", "--initial-segments", "4",
              "--superpixels", "40", "--progress", "none"]
#: Half floats hold 11 significant bits: a relative step of 2**-11 per stored value.
HALF_STEP = 2.0 ** -11


def srgb_plate(shape=(32, 40), seed=0):
    image, _ = two_region_image(shape, seed=seed)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def write_dpx(path, rgb, *, bits=10, transfer=None, timecode=None, frame=None):
    spec = oiio.ImageSpec(rgb.shape[1], rgb.shape[0], 3, "uint16" if bits > 8 else "uint8")
    spec.attribute("oiio:BitsPerSample", bits)
    if transfer:
        spec.attribute("dpx:Transfer", transfer)
    if timecode is not None:
        spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), timecode)
    if frame is not None:
        spec.attribute("dpx:FramePosition", oiio.TypeDesc("uint"), frame)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(rgb, np.float32))
    out.close()
    return path


def write_exr(path, rgb, *, data=None, display=None, colour_space=None, extra=None):
    """A float32 RGB EXR; ``data``/``display`` windows as (x, y, w, h)."""
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    height, width = rgb.shape[:2]
    data = data or (0, 0, width, height)
    display = display or data
    for key, (x, y, w, h) in (("dataWindow", data), ("displayWindow", display)):
        header[key] = (np.array([x, y], np.int32), np.array([x + w - 1, y + h - 1], np.int32))
    if colour_space:
        header["colorSpace"] = colour_space
    header.update(extra or {})
    with OpenEXR.File(header, {"RGB": np.ascontiguousarray(rgb, np.float32)}) as exr:
        exr.write(str(path))
    return path


def exr_windows(path):
    spec = oiio.ImageInput.open(str(path)).spec()
    return ((spec.full_x, spec.full_y, spec.full_width, spec.full_height),
            (spec.x, spec.y, spec.width, spec.height))


def run(args, capsys):
    """(status, stderr) of the command run in this process."""
    status, _, err = run_in_process(args, capsys)
    return status, err


# ---- formats ------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_dpx_round_trip_of_a_synthetic_plate(tmp_path, bits):
    plate = srgb_plate().astype(np.float32) / 255.0
    data = read_image(write_dpx(tmp_path / "plate.dpx", plate, bits=bits))
    assert data.source_kind == f"{bits}-bit" and data.pixels.shape == (32, 40, 3)
    # One code value of the stored bit depth at most (the writer truncates).
    np.testing.assert_allclose(data.values, plate, atol=1.0 / (2 ** bits - 1) + 1e-6)
    assert data.colour_space == "sRGB Encoded Rec.709 (sRGB)"
    np.testing.assert_array_equal(data.pixels, data.values)     # sRGB: used as it is


def test_log_dpx_is_the_configs_compositing_log(tmp_path):
    linear = np.linspace(0.0, 4.0, 32 * 40 * 3, dtype=np.float32).reshape(32, 40, 3)
    config = colour.load_config()
    log = colour.convert(linear, config, "ACEScg", "ACEScct")
    data = read_image(write_dpx(tmp_path / "scan.dpx", log, transfer="Logarithmic"))
    assert data.colour_space == "ACEScct"
    np.testing.assert_allclose(data.values, log, atol=1.0 / 1023 + 1e-6)   # 10-bit codes
    # One 10-bit log code is up to about 0.006 in the sRGB-encoded working copy.
    expected = colour.to_working(log, config, "ACEScct")
    np.testing.assert_allclose(data.pixels, expected, atol=1e-2)


def test_dpx_with_an_unsupported_packing(tmp_path, capsys):
    path = write_dpx(tmp_path / "bad.dpx", np.zeros((20, 24, 3), np.float32))
    content = bytearray(path.read_bytes())
    content[804:806] = b"\x07\x07"        # the packing field of the first image element
    path.write_bytes(bytes(content))
    out = tmp_path / "out"
    status, err = run(["segment", str(path), "-o", str(out), *TINY_FLAGS], capsys)
    assert status == 2
    line = one_error(err)
    assert "unsupported packing" in line and "bad.dpx" in line and "re-export" in line
    assert not out.exists()


def test_metadata_is_carried_into_the_layers_header(tmp_path, capsys):
    plate = srgb_plate().astype(np.float32) / 255.0
    # 01:02:33:15 in SMPTE (BCD) packing.
    path = write_dpx(tmp_path / "plate.dpx", plate, timecode=(0x01023315, 0), frame=1042)
    out = tmp_path / "out"
    status, err = run(["segment", str(path), "-o", str(out), *TINY_FLAGS], capsys)
    assert status == 0, err
    spec = oiio.ImageInput.open(str(out / "layers.exr")).spec()
    assert tuple(spec.getattribute("smpte:TimeCode"))[0] == 0x01023315
    assert spec.get_string_attribute("colorSpace") == "sRGB Encoded Rec.709 (sRGB)"
    assert spec.get_string_attribute("sss_frame") == "1042"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["colour_space"] == "sRGB Encoded Rec.709 (sRGB)"


# ---- colour spaces ------------------------------------------------------------------------

def test_acescg_plate_and_its_srgb_source_give_the_same_layers(tmp_path):
    srgb = srgb_plate()
    png = tmp_path / "plate.png"
    assert oiio.ImageBuf(srgb).write(str(png))
    config = colour.load_config()
    acescg = colour.convert(srgb / np.float32(255.0), config, "srgb_tx", "ACEScg")
    exr = write_exr(tmp_path / "plate.exr", acescg, colour_space="ACEScg")

    from_png = segment_image(png, device="numpy", **TINY)
    from_exr = segment_image(exr, device="numpy", **TINY)
    # The working copies agree to OpenColorIO's float32 round-off...
    assert np.abs(from_png.image - from_exr.image).max() < 1e-4
    # ...and so do the layers (tolerance: 5e-3 on any alpha, 5e-4 on average).
    difference = np.abs(from_png.alphas - from_exr.alphas)
    assert difference.max() < 5e-3 and difference.mean() < 5e-4
    # Each set of colours sums to its own plate.
    np.testing.assert_allclose(from_exr.colours.sum(axis=2), acescg, atol=1e-5)
    np.testing.assert_allclose(from_png.colours.sum(axis=2), srgb / 255.0, atol=1e-5)


def test_declared_colour_space_wins_over_the_default(tmp_path):
    linear = srgb_plate().astype(np.float32) / 255.0
    path = write_exr(tmp_path / "plate.exr", linear)       # no metadata
    default = read_image(path)
    declared = read_image(path, plate=PlateOptions(colorspace="ACEScg"))
    assert (default.colour_space, declared.colour_space) == ("Linear Rec.709 (sRGB)",
                                                             "ACEScg")
    np.testing.assert_allclose(default.pixels, colour.linear_to_srgb(linear), atol=2e-5)
    assert not np.allclose(default.pixels, declared.pixels, atol=1e-3)


def test_working_view_is_a_display_view_transform(tmp_path):
    linear = np.linspace(0, 8, 32 * 40 * 3, dtype=np.float32).reshape(32, 40, 3)
    path = write_exr(tmp_path / "plate.exr", linear, colour_space="ACEScg")
    plain = read_image(path)
    viewed = read_image(path, plate=PlateOptions(
        working_view="sRGB - Display/ACES 2.0 - SDR 100 nits (Rec.709)"))
    # The tone curve rolls highlights off instead of clipping them at 1.
    assert (plain.pixels >= 1).mean() > 0.5 and (viewed.pixels >= 0.999).mean() < 0.05
    np.testing.assert_array_equal(plain.values, viewed.values)


def test_plate_is_the_sum_of_its_layers_in_its_colour_space(tmp_path):
    """Scene-linear values above 1 and below 0 (ACEScg): the half-float layers merge back
    to the plate within half-float precision, with no colour conversion."""
    srgb = srgb_plate(seed=3).astype(np.float32) / 255.0
    config = colour.load_config()
    plate = colour.convert(srgb, config, "srgb_tx", "ACEScg") * 6.0 - 0.05
    path = write_exr(tmp_path / "plate.exr", plate, colour_space="ACEScg")
    out = tmp_path / "out"
    assert main(["segment", str(path), "-o", str(out), *TINY_FLAGS]) == 0
    layers = read_layers_exr(out / "layers.exr")
    merged = layers.colours.sum(axis=2)
    k = layers.alphas.shape[2]
    tolerance = k * HALF_STEP * np.maximum(np.abs(plate), 1.0)
    assert np.all(np.abs(merged - plate) <= tolerance)
    assert layers.header["colorSpace"] == "ACEScg"


# ---- windows ------------------------------------------------------------------------------

def test_overscan_windows_are_kept_in_the_outputs(tmp_path, capsys):
    rgb = srgb_plate((36, 48)).astype(np.float32) / 255.0
    data, display = (-4, -2, 48, 36), (0, 0, 40, 32)
    path = write_exr(tmp_path / "over.exr", rgb, data=data, display=display,
                     colour_space="lin_rec709")
    image = read_image(path)
    np.testing.assert_array_equal(image.values, rgb)       # layers cover the data window
    out = tmp_path / "out"
    status, err = run(["segment", str(path), "-o", str(out), *TINY_FLAGS], capsys)
    assert status == 0, err
    assert exr_windows(out / "layers.exr") == (display, data)
    layers = read_layers_exr(out / "layers.exr")
    assert layers.alphas.shape == (36, 48, 2)
    np.testing.assert_allclose(layers.colours.sum(axis=2), rgb, atol=2e-3)


def test_a_data_window_inside_the_display_window_is_placed_in_it(tmp_path):
    """A Roto's or Crop's bounding box: the pixels land where the display window has
    them, 0 around; the outputs are the display window's size."""
    rgb = np.full((20, 24, 3), 0.5, np.float32)
    path = write_exr(tmp_path / "bbox.exr", rgb, data=(10, 6, 24, 20),
                     display=(0, 0, 40, 32), colour_space="lin_rec709")
    image = read_image(path)
    assert image.values.shape == (32, 40, 3)
    np.testing.assert_array_equal(image.values[6:26, 10:34], rgb)
    assert image.values.sum() == rgb.sum()
    assert image.header.windows.plain


# ---- bad plate options --------------------------------------------------------------------

@pytest.mark.parametrize("flags, words", [
    (["--colorspace", "NoSuchSpace"], ["'NoSuchSpace'", "not a colour space", "--ocio"]),
    (["--ocio", "missing.ocio"], ["missing.ocio", "does not exist", "ocio://"]),
    (["--ocio", "ocio://no-such-config"], ["no-such-config", "does not load"]),
    (["--working-view", "NoView"], ["'NoView'", "no view"]),
])
@pytest.mark.parametrize("command", ["segment", "video"])
def test_bad_colour_options_are_one_line_and_write_nothing(tmp_path, capsys, flags, words,
                                                           command):
    path = tmp_path / "plate.png"
    assert oiio.ImageBuf(srgb_plate()).write(str(path))
    out = tmp_path / "out"
    status, err = run([command, str(path), "-o", str(out), *flags, *TINY_FLAGS], capsys)
    assert status == 2
    line = one_error(err)
    assert all(word in line for word in words), line
    assert not out.exists()


def test_a_config_file_that_does_not_parse(tmp_path, capsys):
    config = tmp_path / "broken.ocio"
    config.write_text("ocio_profile_version: 2\nroles: [this is not yaml\n")
    path = tmp_path / "plate.png"
    assert oiio.ImageBuf(srgb_plate()).write(str(path))
    out = tmp_path / "out"
    status, err = run(["segment", str(path), "-o", str(out), "--ocio", str(config),
                      *TINY_FLAGS], capsys)
    assert status == 2
    line = one_error(err)
    assert "broken.ocio" in line and "does not load" in line
    assert not out.exists()


def test_a_roto_bounding_box_as_guides_matches_the_plate(tmp_path, capsys):
    """Nuke writes a Roto's bounding box as the data window: placed in the display
    window, the guide agrees in size with the plate and is not shifted."""
    plate = srgb_plate((32, 40))
    png = tmp_path / "plate.png"
    assert oiio.ImageBuf(plate).write(str(png))
    _, alpha = two_region_image((32, 40), seed=0)
    box = (slice(4, 28), slice(6, 30))          # rows, columns of the bounding box
    roto = tmp_path / "hero.exr"
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "dataWindow": (np.array([6, 4], np.int32), np.array([29, 27], np.int32)),
              "displayWindow": (np.array([0, 0], np.int32), np.array([39, 31], np.int32))}
    matte = np.ascontiguousarray(alpha[box], np.float32)
    with OpenEXR.File(header, {"A": matte}) as exr:
        exr.write(str(roto))
    from sss_vfx.io.guides import read_guides
    guides = read_guides([roto], image_shape=(32, 40))
    assert guides.masks.shape == (32, 40, 1)
    np.testing.assert_array_equal(guides.masks[box][..., 0], matte)
    assert guides.masks[..., 0].sum() == pytest.approx(matte.sum())
    out = tmp_path / "out"
    status, err = run(["segment", str(png), "-o", str(out), "--guides", str(roto),
                      *TINY_FLAGS], capsys)
    assert status == 0, err
    assert read_layers_exr(out / "layers.exr").alphas.shape == (32, 40, 2)


def _dpx_sequence(directory, frames=(1001, 1002, 1003)):
    directory.mkdir()
    config = colour.load_config()
    for n in frames:
        srgb = srgb_plate(seed=n % 7).astype(np.float32) / 255.0
        log = colour.convert(colour.convert(srgb, config, "srgb_tx", "ACEScg"), config,
                             "ACEScg", "ACEScct")
        write_dpx(directory / f"scan.{n:04d}.dpx", log, transfer="Logarithmic")
    return str(directory / "scan.%04d.dpx")


def _overscan_exr_sequence(directory, frames=(11, 12, 13)):
    """Multi-part ACEScg EXRs: a depth part, then the RGBA part, with overscan."""
    directory.mkdir()
    config = colour.load_config()
    plates = {}
    for n in frames:
        srgb = srgb_plate((36, 48), seed=n % 5).astype(np.float32) / 255.0
        plate = colour.convert(srgb, config, "srgb_tx", "ACEScg") * 3.0
        plates[n] = plate
        specs = [oiio.ImageSpec(48, 36, 1, "half"), oiio.ImageSpec(48, 36, 4, "half")]
        specs[0].channelnames, specs[1].channelnames = ("Z",), ("R", "G", "B", "A")
        for spec, name in zip(specs, ("depth", "rgba")):
            spec.attribute("name", name)
            spec.attribute("colorSpace", "ACEScg")
            spec.x, spec.y = -4, -2
            spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 40, 32
        path = str(directory / f"cg.{n:04d}.exr")
        out = oiio.ImageOutput.create(path)
        assert out.open(path, tuple(specs)), out.geterror()
        assert out.write_image(np.full((36, 48, 1), 5.0, np.float32))
        assert out.open(path, specs[1], "AppendSubimage")
        rgba = np.concatenate([plate, np.ones((36, 48, 1), np.float32)], axis=2)
        assert out.write_image(rgba)
        out.close()
        plates[n] = plate.astype(np.float16).astype(np.float32)     # as stored
    return str(directory / "cg.%04d.exr"), plates


def test_video_takes_a_log_dpx_sequence_and_gives_layers_in_its_values(tmp_path, capsys):
    pattern = _dpx_sequence(tmp_path / "scans")
    out = tmp_path / "out"
    status, err = run(["video", pattern, "-o", str(out), "--window", "2", *TINY_FLAGS],
                     capsys)
    assert status == 0, err
    for n in (1001, 1002, 1003):
        layers = read_layers_exr(out / f"layers.{n:04d}.exr")
        assert layers.header["colorSpace"] == "ACEScct"
        values = read_image(pattern % n).values
        merged = layers.colours.sum(axis=2)
        assert np.all(np.abs(merged - values) <= 2 * HALF_STEP * np.maximum(values, 1.0))


def test_video_takes_a_multi_part_acescg_exr_with_overscan(tmp_path, capsys):
    pattern, plates = _overscan_exr_sequence(tmp_path / "cg")
    out = tmp_path / "out"
    status, err = run(["video", pattern, "-o", str(out), "--window", "2", *TINY_FLAGS],
                     capsys)
    assert status == 0, err
    for n, plate in plates.items():
        path = out / f"layers.{n:04d}.exr"
        assert exr_windows(path) == ((0, 0, 40, 32), (-4, -2, 48, 36))
        layers = read_layers_exr(path)
        assert layers.header["colorSpace"] == "ACEScg"
        merged = layers.colours.sum(axis=2)
        assert np.all(np.abs(merged - plate) <= 2 * HALF_STEP * np.maximum(plate, 1.0))


def test_a_movie_with_a_declared_colour_space(tmp_path, capsys):
    from sss_vfx.io.video import write_preview_video

    frames = [srgb_plate(seed=s) for s in range(3)]
    movie = tmp_path / "log.mp4"
    assert write_preview_video(movie, frames, fps=24) == 3
    bad = run(["video", str(movie), "-o", str(tmp_path / "bad"), "--colorspace", "Nope",
               *TINY_FLAGS], capsys)
    assert bad[0] == 2 and "'Nope'" in one_error(bad[1])
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "out"
    status, err = run(["video", str(movie), "-o", str(out), "--colorspace", "ACEScct",
                      "--window", "2", *TINY_FLAGS], capsys)
    assert status == 0, err
    layers = read_layers_exr(out / "layers.0000.exr")
    assert layers.header["colorSpace"] == "ACEScct"


def nuke_like_config(path):
    """A config file as Nuke's default one names things: 'linear' (scene_linear) and
    'sRGB' (its curve, from linear)."""
    import PyOpenColorIO as ocio

    config = ocio.Config.CreateRaw()
    linear = ocio.ColorSpace(name="linear")
    srgb = ocio.ColorSpace(name="sRGB")
    srgb.setTransform(ocio.ExponentWithLinearTransform(
        gamma=[2.4, 2.4, 2.4, 1.0], offset=[0.055, 0.055, 0.055, 0.0],
        direction=ocio.TRANSFORM_DIR_INVERSE), ocio.COLORSPACE_DIR_FROM_REFERENCE)
    for space in (linear, srgb):
        config.addColorSpace(space)
    config.setRole("scene_linear", "linear")
    config.setRole("reference", "linear")
    path.write_text(config.serialize())
    return path


def test_an_ocio_config_file_with_its_own_names(tmp_path, monkeypatch):
    config = nuke_like_config(tmp_path / "config.ocio")
    linear = np.linspace(0, 1.5, 16 * 20 * 3, dtype=np.float32).reshape(16, 20, 3)
    path = write_exr(tmp_path / "plate.exr", linear)
    by_flag = read_image(path, plate=PlateOptions(ocio=str(config)))
    monkeypatch.setenv("OCIO", str(config))
    by_env = read_image(path)
    assert by_flag.colour_space == by_env.colour_space == "linear"
    np.testing.assert_array_equal(by_flag.pixels, by_env.pixels)
    np.testing.assert_allclose(by_flag.pixels, colour.linear_to_srgb(linear), atol=2e-5)


def test_exr_guides_of_an_overscan_plate_are_placed_by_their_windows(tmp_path, capsys):
    """A Roto drawn on the format (its bounding box inside the display window) guides a
    plate with overscan: it lands on the plate's canvas where its coordinates say."""
    rgb = srgb_plate((36, 48)).astype(np.float32) / 255.0
    plate = write_exr(tmp_path / "over.exr", rgb, data=(-4, -2, 48, 36),
                      display=(0, 0, 40, 32), colour_space="lin_rec709")
    roto = tmp_path / "roto.exr"
    matte = np.ones((20, 24), np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "dataWindow": (np.array([6, 4], np.int32), np.array([29, 23], np.int32)),
              "displayWindow": (np.array([0, 0], np.int32), np.array([39, 31], np.int32))}
    with OpenEXR.File(header, {"A": matte}) as exr:
        exr.write(str(roto))
    from sss_vfx.features.sources import frame_guides, plate_canvas

    image = read_image(plate)
    found = frame_guides(image.pixels, [roto], canvas=plate_canvas(image.header))
    expected = np.zeros((36, 48), np.float32)
    expected[4 + 2:24 + 2, 6 + 4:30 + 4] = 1.0      # plate canvas origin: (-4, -2)
    np.testing.assert_array_equal(found.masks[..., 0], expected)
    out = tmp_path / "out"
    status, err = run(["segment", str(plate), "-o", str(out), "--guides", str(roto),
                       *TINY_FLAGS], capsys)
    assert status == 0, err
    assert exr_windows(out / "layers.exr") == ((0, 0, 40, 32), (-4, -2, 48, 36))


def test_layers_of_a_log_scan_in_scene_linear(tmp_path, capsys):
    """--layers-colorspace scene_linear: the layers of a log DPX sum to the plate as a
    linear comp reads it (the DPX converted to ACEScg), within half-float precision."""
    pattern = _dpx_sequence(tmp_path / "scans", frames=(7,))
    config = colour.load_config()
    linear = colour.convert(read_image(pattern % 7).values, config, "ACEScct", "ACEScg")
    out = tmp_path / "out"
    status, err = run(["segment", pattern % 7, "-o", str(out), "--layers-colorspace",
                       "scene_linear", *TINY_FLAGS], capsys)
    assert status == 0, err
    layers = read_layers_exr(out / "layers.exr")
    assert layers.header["colorSpace"] == "ACEScg"
    merged = layers.colours.sum(axis=2)
    assert np.all(np.abs(merged - linear) <= 2 * HALF_STEP * np.maximum(np.abs(linear), 1))
    bad, err = run(["segment", pattern % 7, "-o", str(tmp_path / "bad"),
                    "--layers-colorspace", "Nope", *TINY_FLAGS], capsys)
    assert bad == 2 and "--layers-colorspace 'Nope'" in one_error(err)
