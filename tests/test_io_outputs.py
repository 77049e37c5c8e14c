"""Output directory, matte and preview PNGs, manifest, palette and atomic writes."""

import itertools
import json
import pathlib

import cv2
import numpy as np
import pytest

from sss_vfx.errors import InputError, OptionError, OutputError
from sss_vfx.io.atomic import atomic_path, atomic_write_text
from sss_vfx.io.outputs import (
    MANIFEST_SCHEMA,
    layer_palette,
    prepare_output_dir,
    read_manifest,
    render_preview,
    write_manifest,
    write_matte_png,
    write_preview_png,
)


# ---- atomic writes ------------------------------------------------------------------------

def test_atomic_path_replaces_on_success(tmp_path):
    final = tmp_path / "layers.exr"
    final.write_text("old")
    with atomic_path(final) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".exr"
        assert tmp.name.startswith(".layers.sss-tmp-")
        assert not tmp.exists()
        tmp.write_text("new")
        assert final.read_text() == "old"
    assert final.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["layers.exr"]


def test_atomic_path_keeps_old_file_after_exception(tmp_path):
    final = tmp_path / "matte.png"
    final.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(final) as tmp:
            tmp.write_text("half written")
            raise KeyError("boom")
    assert final.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["matte.png"]


def test_atomic_path_without_a_written_file(tmp_path):
    with pytest.raises(OutputError, match="no file"):
        with atomic_path(tmp_path / "x.png"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_text(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "été\n")
    assert (tmp_path / "a.txt").read_bytes() == "été\n".encode()
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write_text(tmp_path / "missing_dir" / "a.txt", "x")


# ---- output directory ---------------------------------------------------------------------

def test_prepare_output_dir_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert prepare_output_dir(str(target)) == target
    assert target.is_dir() and list(target.iterdir()) == []
    assert prepare_output_dir(target) == target  # existing is fine


def test_prepare_output_dir_refuses_a_file(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("x")
    pattern = r"cannot write to output directory .*out: .*choose another -o"
    with pytest.raises(OutputError, match=pattern):
        prepare_output_dir(blocker)


def test_prepare_output_dir_refuses_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="choose another -o or fix its permissions") as excinfo:
        prepare_output_dir(blocker / "sub" / "out")
    assert "\n" not in str(excinfo.value)


# ---- matte PNG ---------------------------------------------------------------------------

def test_matte_png_is_16_bit_single_channel(tmp_path):
    alpha = np.tile(np.array([0.0, 0.25, 1.0, 1.0 / 65535, 0.5 + 0.2 / 65535], np.float32), (16, 4))
    path = tmp_path / "sss_layer01.png"
    write_matte_png(path, alpha)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16 and stored.shape == (16, 20)
    np.testing.assert_array_equal(stored[0, :5], [0, 16384, 65535, 1, 32768])


@pytest.mark.parametrize("alpha, error", [
    (np.full((16, 16, 1), 0.5), OptionError),
    (np.full((16, 16), 2.0), OptionError),
    (np.full((16, 16), np.nan), OptionError),
])
def test_matte_png_refusals(tmp_path, alpha, error):
    with pytest.raises(error):
        write_matte_png(tmp_path / "m.png", alpha)
    assert list(tmp_path.iterdir()) == []


# ---- palette -------------------------------------------------------------------------------

def min_distance(colours):
    return min(np.linalg.norm(a - b) for a, b in itertools.combinations(colours, 2))


@pytest.mark.parametrize("k", [2, 5, 8, 12])
def test_palette_is_clearly_distinct(k):
    palette = layer_palette(k)
    assert palette.shape == (k, 3) and palette.dtype == np.float32
    assert palette.min() >= 0 and palette.max() <= 1
    assert min_distance(palette) > 0.3


def test_palette_beyond_the_hand_picked_colours():
    palette = layer_palette(40)
    np.testing.assert_array_equal(palette[:12], layer_palette(12))
    np.testing.assert_array_equal(palette, layer_palette(40))
    assert min_distance(palette) > 0.03
    assert min_distance(palette[12:24]) > 0.15
    assert layer_palette(0).shape == (0, 3)
    with pytest.raises(OptionError):
        layer_palette(-1)


# ---- preview -------------------------------------------------------------------------------

def test_preview_layout_and_colours():
    height, width, k = 16, 18, 4
    image = np.random.default_rng(5).random((height, width, 3)).astype(np.float32)
    alphas = np.zeros((height, width, k), np.float32)
    alphas[:, :, 0] = 1
    alphas[4, 5] = (0, 0, 1, 0)        # fully in layer 2
    alphas[6, 7] = (0.5, 0, 0, 0.5)    # half layer 0, half layer 3
    preview = render_preview(image, alphas)
    assert preview.shape == (height, 2 * width, 3) and preview.dtype == np.uint8
    np.testing.assert_array_equal(preview[:, :width], np.round(image * 255))

    palette = layer_palette(k)
    luminance = image @ np.array([0.2126, 0.7152, 0.0722])
    expected = np.round(255 * (0.7 * palette[2] + 0.3 * luminance[4, 5]))
    np.testing.assert_allclose(preview[4, width + 5], expected, atol=1)
    mixed = 0.5 * palette[0] + 0.5 * palette[3]
    np.testing.assert_allclose(preview[6, width + 7],
                               np.round(255 * (0.7 * mixed + 0.3 * luminance[6, 7])), atol=1)


def test_preview_does_not_modify_inputs_and_checks_sizes():
    image = np.full((16, 16, 3), 0.5)
    alphas = np.full((16, 16, 2), 0.5)
    image_before, alphas_before = image.copy(), alphas.copy()
    render_preview(image, alphas)
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(alphas, alphas_before)
    with pytest.raises(OptionError, match="image's size"):
        render_preview(image, np.full((16, 17, 2), 0.5))


def test_preview_png_matches_render(tmp_path):
    image = np.random.default_rng(6).random((16, 20, 3))
    alphas = np.random.default_rng(7).dirichlet(np.ones(3), size=(16, 20))
    path = tmp_path / "preview.png"
    write_preview_png(path, image, alphas)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(stored[:, :, ::-1], render_preview(image, alphas))


# ---- manifest -------------------------------------------------------------------------------

def test_manifest_round_trip(tmp_path):
    manifest = {
        "zeta": np.float32(0.5),
        "inputs": {"image": pathlib.Path("/shots/plate.exr")},
        "k": np.int64(5),
        "sizes": np.array([[1, 2], [3, 4]]),
        "alpha": [np.bool_(True), None],
    }
    path = tmp_path / "manifest.json"
    write_manifest(path, manifest)
    assert "schema" not in manifest
    text = path.read_text()
    assert text.endswith("\n") and '\n  "alpha": [' in text
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    content = read_manifest(path)
    assert content["schema"] == MANIFEST_SCHEMA == "SssManifest.1"
    assert content["zeta"] == 0.5 and content["k"] == 5
    assert content["sizes"] == [[1, 2], [3, 4]]
    assert content["inputs"]["image"] == "/shots/plate.exr"
    assert content["alpha"] == [True, None]


def test_manifest_refusals(tmp_path):
    with pytest.raises(OptionError, match="JSON"):
        write_manifest(tmp_path / "m.json", {"bad": object()})
    with pytest.raises(OptionError, match="JSON"):
        write_manifest(tmp_path / "m.json", {"t": float("nan")})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="does not exist"):
        read_manifest(tmp_path / "m.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(InputError, match="schema"):
        read_manifest(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text('{"a": ')
    with pytest.raises(InputError, match="cannot read manifest"):
        read_manifest(tmp_path / "broken.json")
