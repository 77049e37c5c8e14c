"""Guides in every form a compositor has: channel mattes, label/ID maps, several files,
Cryptomatte EXRs (hashes computed per the standard), and the bad inputs of each."""

import json

import cv2
import numpy as np
import OpenEXR
import pytest

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.io.cryptomatte import (
    cryptomatte_layers,
    mm3hash_float,
    murmurhash3_32,
    parse_patterns,
)
from sss_vfx.io.guides import MAX_OBJECTS, check_guides, read_guides

H, W = 24, 32


def disc(cy, cx, r, shape=(H, W)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float32)


def write_png(path, array):
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[..., ::-1] if array.shape[2] == 3 else array[..., [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), array)
    return path


def write_exr(path, channels, header=None):
    head = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
            **(header or {})}
    OpenEXR.File(head, {n: np.ascontiguousarray(c, np.float32)
                        for n, c in channels.items()}).write(str(path))
    return path


def murmur_reference(data, seed=0):
    """Straight transcription of MurmurHash3_x86_32 with explicit 32-bit wrap-around."""
    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF
    n = len(data)
    h = seed
    for i in range(0, n - n % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = rotl((k * 0xCC9E2D51) & 0xFFFFFFFF, 15) * 0x1B873593 & 0xFFFFFFFF
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    k = 0
    tail = data[n - n % 4:]
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        h ^= rotl((k * 0xCC9E2D51) & 0xFFFFFFFF, 15) * 0x1B873593 & 0xFFFFFFFF
    h ^= n
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * mult) & 0xFFFFFFFF
    return h ^ (h >> 16)


# --- Cryptomatte hashing --------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "a", "ab", "abc", "abcd", "hero", "car_wheel_front",
                                  "Ünïcode/ns:obj"])
def test_murmurhash_matches_reference_transcription(text):
    data = text.encode("utf-8")
    assert murmurhash3_32(text) == murmur_reference(data)
    assert murmurhash3_32(data, seed=42) == murmur_reference(data, seed=42)


def test_mm3hash_float_matches_the_specification_manifest_examples():
    # The specification's example manifest: {"bunny": "13851a76", "default": "42c9679f"}.
    assert f"{mm3hash_float('bunny'):08x}" == "13851a76"
    assert f"{mm3hash_float('default'):08x}" == "42c9679f"
    assert f"{mm3hash_float('bunny_porcelain_mat'):08x}" == "b24b26d4"


def test_mm3hash_float_is_never_inf_nan_or_denormal():
    names = [f"object_{i}" for i in range(3000)]
    values = np.array([mm3hash_float(n) for n in names], np.uint32).view(np.float32)
    assert np.isfinite(values).all()
    exponent = (values.view(np.uint32) >> 23) & 0xFF
    assert exponent.min() >= 1 and exponent.max() <= 254


# --- a Cryptomatte EXR -------------------------------------------------------------------

def cryptomatte_file(path, objects, *, manifest=True, type_name="CryptoObject", sidecar=False):
    """objects: name -> (H, W) coverage. Ranked by coverage into 2 layers (4 ranks)."""
    ids = {n: np.uint32(mm3hash_float(n)).view(np.float32) for n in objects}
    names = list(objects)
    cover = np.stack([objects[n] for n in names], axis=-1)
    order = np.argsort(-cover, axis=2, kind="stable")
    channels = {}
    for rank in range(4):
        idx = order[..., rank] if rank < len(names) else None
        if idx is None:
            id_plane = np.zeros((H, W), np.float32)
            cov_plane = np.zeros((H, W), np.float32)
        else:
            cov_plane = np.take_along_axis(cover, idx[..., None], 2)[..., 0]
            id_plane = np.array([ids[n] for n in names], np.float32)[idx]
            id_plane = np.where(cov_plane > 0, id_plane, 0.0).astype(np.float32)
        layer = f"{type_name}{rank // 2:02d}"
        letters = ("R", "G") if rank % 2 == 0 else ("B", "A")
        channels[f"{layer}.{letters[0]}"] = id_plane
        channels[f"{layer}.{letters[1]}"] = cov_plane
    channels["R"] = channels["G"] = channels["B"] = np.full((H, W), 0.5, np.float32)
    key = f"{murmurhash3_32(type_name):08x}"[:7]
    header = {f"cryptomatte/{key}/name": type_name,
              f"cryptomatte/{key}/hash": "MurmurHash3_32",
              f"cryptomatte/{key}/conversion": "uint32_to_float32"}
    text = json.dumps({n: f"{mm3hash_float(n):08x}" for n in names})
    if manifest and sidecar:
        (path.parent / "manifest.json").write_text(text)
        header[f"cryptomatte/{key}/manif_file"] = "manifest.json"
    elif manifest:
        header[f"cryptomatte/{key}/manifest"] = text
    return write_exr(path, channels, header)


@pytest.fixture
def scene():
    hero = disc(12, 8, 6)
    car_body = disc(12, 22, 5)
    car_wheel = disc(20, 22, 3) * (1 - car_body)
    # A soft edge: the hero shares some pixels with the floor.
    hero[12, 14] = 0.25
    floor = np.clip(1 - hero - car_body - car_wheel, 0, 1)
    return {"hero": hero, "car_body": car_body, "car_wheel": car_wheel, "floor": floor}


@pytest.mark.parametrize("sidecar", [False, True])
def test_cryptomatte_objects_by_name_patterns(tmp_path, scene, sidecar):
    path = cryptomatte_file(tmp_path / "crypto.exr", scene, sidecar=sidecar)
    guides = read_guides(path, names="hero, car*")
    assert guides.names == ("hero", "car*") and guides.kind == "cryptomatte"
    np.testing.assert_allclose(guides.masks[..., 0], scene["hero"], atol=1e-6)
    np.testing.assert_allclose(guides.masks[..., 1], scene["car_body"] + scene["car_wheel"],
                               atol=1e-6)


def test_cryptomatte_header_is_parsed_per_standard(tmp_path, scene):
    path = cryptomatte_file(tmp_path / "crypto.exr", scene)
    header = OpenEXR.File(str(path)).header()
    (layer,) = cryptomatte_layers(header, path)
    assert layer.name == "CryptoObject"
    assert layer.manifest["hero"] == mm3hash_float("hero")


def test_cryptomatte_bad_inputs(tmp_path, scene):
    path = cryptomatte_file(tmp_path / "crypto.exr", scene)
    with pytest.raises(FeatureError, match="no object .* matches 'dragon'"):
        read_guides(path, names="hero,dragon")
    with pytest.raises(FeatureError, match="pick its objects by name"):
        read_guides(path)
    bare = cryptomatte_file(tmp_path / "bare.exr", scene, manifest=False)
    with pytest.raises(FeatureError, match="no manifest"):
        read_guides(bare, names="hero")
    plain = write_exr(tmp_path / "plain.exr", {"R": scene["hero"]})
    with pytest.raises(FeatureError, match="no Cryptomatte metadata"):
        read_guides(plain, kind="cryptomatte", names="hero")
    with pytest.raises(OptionError, match="empty"):
        read_guides(path, names=" , ")


# --- channel mattes -------------------------------------------------------------------

def test_grey_png_is_one_matte_named_after_the_file(tmp_path):
    soft = disc(12, 16, 7)
    soft = cv2.GaussianBlur(soft, (0, 0), 1.5)
    path = write_png(tmp_path / "hero.png", np.round(soft * 65535).astype(np.uint16))
    guides = read_guides(path)
    assert guides.names == ("hero",) and guides.kind == "mattes"
    np.testing.assert_allclose(guides.masks[..., 0], soft, atol=1 / 65535)


def test_rgb_png_gives_one_object_per_channel(tmp_path):
    a, b = disc(8, 8, 5), disc(16, 24, 6)
    path = write_png(tmp_path / "shapes.png",
                     (np.stack([a, b, np.zeros_like(a)], -1) * 255).astype(np.uint8))
    guides = read_guides(path, names="R,G")
    assert guides.names == ("R", "G")
    np.testing.assert_array_equal(guides.masks[..., 0], a)
    np.testing.assert_array_equal(guides.masks[..., 1], b)


def test_rgba_render_of_one_roto_counts_once(tmp_path):
    m = disc(12, 16, 7)
    path = write_png(tmp_path / "roto.png", (np.stack([m] * 4, -1) * 255).astype(np.uint8))
    guides = read_guides(path)
    assert guides.masks.shape == (H, W, 1)
    np.testing.assert_array_equal(guides.masks[..., 0], m)


def test_multichannel_exr_channels_sorted_by_name(tmp_path):
    a, b = disc(8, 8, 5), disc(16, 24, 6)
    path = write_exr(tmp_path / "mattes.exr", {"zed.A": b, "hero.A": a})
    guides = read_guides(path)
    assert guides.names == ("hero.A", "zed.A")
    np.testing.assert_array_equal(guides.masks, np.stack([a, b], -1))


def test_several_files_keep_their_order(tmp_path):
    a, b = disc(8, 8, 5), disc(16, 24, 6)
    pa = write_png(tmp_path / "zhero.png", (a * 255).astype(np.uint8))
    pb = write_png(tmp_path / "acar.png", (b * 255).astype(np.uint8))
    guides = read_guides([pa, pb])
    assert guides.names == ("zhero", "acar")
    np.testing.assert_array_equal(guides.masks, np.stack([a, b], -1))
    assert read_guides([pa, pb], names="acar").names == ("acar",)


def test_npy_guides(tmp_path):
    masks = np.stack([disc(8, 8, 5), disc(16, 24, 6) * 0.5], -1)
    np.save(tmp_path / "g.npy", masks)
    np.testing.assert_array_equal(read_guides(tmp_path / "g.npy").masks, masks)


# --- label / ID images -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_label_map_gives_one_object_per_value(tmp_path, dtype):
    labels = np.zeros((H, W), dtype)
    labels[2:10, 2:12] = 3
    labels[12:22, 4:14] = 1
    labels[5:20, 18:30] = 7
    guides = read_guides(write_png(tmp_path / "ids.png", labels))
    assert guides.kind == "labels" and guides.names == ("1", "3", "7")
    for k, value in enumerate((1, 3, 7)):
        np.testing.assert_array_equal(guides.masks[..., k], labels == value)
    assert read_guides(tmp_path / "ids.png", names="7,1").names == ("7", "1")


def test_float_index_pass_exr_is_a_label_map(tmp_path):
    index = np.zeros((H, W), np.float32)
    index[:12, :16] = 2
    index[12:, 16:] = 5
    guides = read_guides(write_exr(tmp_path / "index.exr", {"Y": index}))
    assert guides.names == ("2", "5")
    np.testing.assert_array_equal(guides.masks[..., 1], index == 5)


def test_colour_id_pass_with_kind_labels(tmp_path):
    ids = np.zeros((H, W, 3), np.uint8)
    ids[:12] = (200, 10, 10)
    ids[12:, :10] = (10, 200, 10)
    guides = read_guides(write_png(tmp_path / "idpass.png", ids), kind="labels")
    assert guides.masks.shape[2] == 2
    assert guides.masks.sum(axis=2).sum() == np.count_nonzero(ids.any(axis=2))


def test_id_image_with_thousands_of_values_is_refused(tmp_path):
    ids = (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 2000) + 1
    with pytest.raises(FeatureError, match=r"distinct non-zero values.*guides names"):
        read_guides(write_png(tmp_path / "prims.png", ids), kind="labels")
    # A label map's objects may still be picked from it.
    assert read_guides(tmp_path / "prims.png", kind="labels", names="5").masks.sum() == 1


# --- sizes and emptiness -----------------------------------------------------------------

def test_guides_are_resized_to_the_image_when_only_the_scale_differs(tmp_path):
    m = np.zeros((12, 16), np.float32)
    m[:, 8:] = 1
    guides = check_guides(m, (24, 32))
    assert guides.masks.shape == (24, 32, 1)
    assert guides.masks[:, :15].max() == 0 and guides.masks[:, 17:].min() == 1


def test_bad_sizes_and_empty_guides(tmp_path):
    with pytest.raises(FeatureError, match="aspect ratios"):
        check_guides(np.ones((24, 24)), (24, 48))
    with pytest.raises(FeatureError, match="no object anywhere"):
        read_guides(write_png(tmp_path / "empty.png", np.zeros((H, W), np.uint8)))
    a = write_png(tmp_path / "a.png", np.full((H, W), 255, np.uint8))
    b = write_png(tmp_path / "b.png", np.full((H + 2, W), 255, np.uint8))
    with pytest.raises(FeatureError, match="differ in size"):
        read_guides([a, b])
    with pytest.raises(FeatureError, match="does not exist"):
        read_guides(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FeatureError, match="unsupported guides type"):
        read_guides(tmp_path / "notes.txt")
    with pytest.raises(FeatureError, match="more than the"):
        check_guides(np.ones((4, 4, MAX_OBJECTS + 1)))
    with pytest.raises(OptionError, match="kind"):
        read_guides(a, kind="roto")


def test_nan_guides_refused(tmp_path):
    m = disc(12, 16, 5)
    m[0, 0] = np.nan
    with pytest.raises(FeatureError, match="NaN"):
        read_guides(write_exr(tmp_path / "nan.exr", {"A": m}))


def test_parse_patterns():
    assert parse_patterns("hero, car* ,hero,") == ["hero", "car*"]
    assert parse_patterns(["a", " b "]) == ["a", "b"]
