"""Layer EXRs: the on-disk layout Nuke relies on, read back independently of OpenEXR."""

import struct

import numpy as np
import OpenEXR
import pytest

from sss_vfx.errors import InputError, OptionError, OutputError
from sss_vfx.io.exr import (
    layer_names,
    read_exr_channels,
    read_layers_exr,
    write_layers_exr,
)

HALF_STEP = 2.0 ** -11  # relative spacing of half floats: rounding error <= half of it


def soft_alphas(height=16, width=20, k=3, seed=0):
    raw = np.random.default_rng(seed).random((height, width, k)).astype(np.float32)
    return raw / raw.sum(axis=2, keepdims=True)


def raw_header(path):
    """Parse the EXR header bytes ourselves: attribute name -> (type, raw value)."""
    data = path.read_bytes()
    assert data[:4] == b"\x76\x2f\x31\x01"
    flags = struct.unpack("<I", data[4:8])[0]
    attributes, pos = {}, 8
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        size = struct.unpack("<i", data[type_end + 1:type_end + 5])[0]
        value = data[type_end + 5:type_end + 5 + size]
        attributes[data[pos:name_end].decode()] = (data[name_end + 1:type_end].decode(), value)
        pos = type_end + 5 + size
    return flags, attributes


def raw_channels(chlist):
    """Decode a chlist attribute: channel name -> pixel type (0 UINT, 1 HALF, 2 FLOAT)."""
    channels, pos = {}, 0
    while chlist[pos] != 0:
        end = chlist.index(b"\0", pos)
        channels[chlist[pos:end].decode()] = struct.unpack("<i", chlist[end + 1:end + 5])[0]
        pos = end + 1 + 16
    return channels


def test_layer_names():
    assert layer_names(3) == ["sss_layer01", "sss_layer02", "sss_layer03"]
    assert layer_names(100)[-2:] == ["sss_layer99", "sss_layer100"]
    with pytest.raises(OptionError):
        layer_names(0)


def test_round_trip_mattes(tmp_path):
    alphas = soft_alphas()
    before = alphas.copy()
    path = tmp_path / "frame.exr"
    write_layers_exr(path, alphas, attributes={"sss_version": "0.1.0", "shot": "sh010"})
    np.testing.assert_array_equal(alphas, before)

    layers = read_layers_exr(path)
    assert layers.layer_names == ["sss_layer01", "sss_layer02", "sss_layer03"]
    assert layers.channel_names == ["sss_layer01.A", "sss_layer02.A", "sss_layer03.A"]
    assert layers.header["sss_layers"] == "sss_layer01,sss_layer02,sss_layer03"
    assert layers.header["sss_version"] == "0.1.0" and layers.header["shot"] == "sh010"
    assert layers.compression == "ZIP"
    assert set(layers.pixel_types.values()) == {"HALF"}
    assert layers.colours is None
    assert layers.alphas.dtype == np.float32 and layers.alphas.shape == (16, 20, 3)
    np.testing.assert_allclose(layers.alphas, alphas, atol=HALF_STEP / 2, rtol=0)
    assert np.abs(layers.alphas - alphas).max() > 0  # really stored as half


def test_file_layout_parsed_from_raw_bytes(tmp_path):
    path = tmp_path / "frame.exr"
    write_layers_exr(path, soft_alphas(k=2), colours=np.zeros((16, 20, 2, 3)))
    flags, attributes = raw_header(path)
    assert flags & 0xFF == 2                 # format version 2
    assert not flags & 0x200                 # scanline, not tiled
    assert not flags & 0x1000                # single part
    assert attributes["compression"] == ("compression", bytes([3]))  # ZIP_COMPRESSION
    assert attributes["sss_layers"] == ("string", b"sss_layer01,sss_layer02")
    types = raw_channels(attributes["channels"][1])
    assert sorted(types) == [f"sss_layer0{n}.{c}" for n in (1, 2) for c in "ABGR"]
    assert set(types.values()) == {1}        # HALF


def test_round_trip_colours(tmp_path):
    alphas = soft_alphas(k=2)
    rgb = np.random.default_rng(3).random((16, 20, 2, 3)).astype(np.float32)
    colours = rgb * alphas[:, :, :, np.newaxis]
    path = tmp_path / "c.exr"
    write_layers_exr(path, alphas, colours=colours)
    layers = read_layers_exr(path)
    assert layers.colours.shape == (16, 20, 2, 3)
    np.testing.assert_allclose(layers.colours, colours, atol=HALF_STEP / 2, rtol=0)
    assert "sss_layer02.G" in layers.channel_names


def test_layer_order_comes_from_the_header(tmp_path):
    a = np.zeros((16, 16), np.float16)
    b = np.ones((16, 16), np.float16)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "sss_layers": "sss_layer02,sss_layer01"}
    path = tmp_path / "swapped.exr"
    OpenEXR.File(header, {"sss_layer01.A": a, "sss_layer02.A": b}).write(str(path))
    layers = read_layers_exr(path)
    assert layers.layer_names == ["sss_layer02", "sss_layer01"]
    assert layers.alphas[0, 0, 0] == 1 and layers.alphas[0, 0, 1] == 0


def test_many_layers_keep_their_order(tmp_path):
    alphas = soft_alphas(k=12, seed=4)
    path = tmp_path / "k12.exr"
    write_layers_exr(path, alphas)
    layers = read_layers_exr(path)
    assert layers.layer_names[9:] == ["sss_layer10", "sss_layer11", "sss_layer12"]
    np.testing.assert_allclose(layers.alphas, alphas, atol=HALF_STEP / 2, rtol=0)


def test_round_off_outside_unit_range_is_clipped(tmp_path):
    alphas = np.full((16, 16, 2), 0.5, np.float32)
    alphas[0, 0] = (-1e-4, 1 + 1e-4)
    write_layers_exr(tmp_path / "r.exr", alphas)
    np.testing.assert_array_equal(read_layers_exr(tmp_path / "r.exr").alphas[0, 0], [0, 1])


@pytest.mark.parametrize("kwargs, pattern", [
    ({"alphas": np.full((16, 16, 2), 1.5)}, r"\[0, 1\]"),
    ({"alphas": np.full((16, 16), 0.5)}, r"\(H, W, K\)"),
    ({"alphas": np.full((16, 16, 2), np.nan)}, "NaN/inf"),
    ({"colours": np.zeros((16, 16, 3, 3))}, "colours must have shape"),
    ({"colours": np.full((16, 16, 2, 3), np.inf)}, "NaN/inf"),
    ({"attributes": {"compression": "none"}}, "reserved"),
    ({"attributes": {"sss_layers": "x"}}, "reserved"),
    ({"attributes": {"frame": 12}}, "str"),
])
def test_write_refusals(tmp_path, kwargs, pattern):
    arguments = {"alphas": np.full((16, 16, 2), 0.5)} | kwargs
    alphas = arguments.pop("alphas")
    with pytest.raises(OptionError, match=pattern):
        write_layers_exr(tmp_path / "x.exr", alphas, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_write_into_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_layers_exr(blocker / "frame.exr", np.full((16, 16, 1), 1.0))


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "frame.exr"
    write_layers_exr(path, np.full((16, 16, 1), 1.0))
    before = path.read_bytes()

    def broken_write(self, filename):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(OpenEXR.File, "write", broken_write)
    with pytest.raises(OutputError, match="disk full"):
        write_layers_exr(path, np.full((16, 16, 1), 0.0))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["frame.exr"]


def test_read_refusals(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_layers_exr(tmp_path / "missing.exr")
    plain = tmp_path / "plain.exr"
    zeros = np.zeros((4, 4), np.float32)
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"R": zeros}).write(str(plain))
    with pytest.raises(InputError, match="sss_layers"):
        read_layers_exr(plain)
    listed = tmp_path / "listed.exr"
    OpenEXR.File({"type": OpenEXR.scanlineimage, "sss_layers": "sss_layer01,sss_layer02"},
                 {"sss_layer01.A": np.zeros((4, 4), np.float16)}).write(str(listed))
    with pytest.raises(InputError, match="sss_layer02.A"):
        read_layers_exr(listed)


def test_partial_colours_are_refused(tmp_path):
    path = tmp_path / "partial.exr"
    z = np.zeros((4, 4), np.float16)
    OpenEXR.File({"type": OpenEXR.scanlineimage, "sss_layers": "sss_layer01"},
                 {"sss_layer01.A": z, "sss_layer01.R": z}).write(str(path))
    with pytest.raises(InputError, match="sss_layer01.G"):
        read_layers_exr(path)


def test_read_exr_channels(tmp_path):
    path = tmp_path / "any.exr"
    channels = {"Z": np.arange(12, dtype=np.float32).reshape(3, 4),
                "id": np.arange(12, dtype=np.uint32).reshape(3, 4),
                "h": np.full((3, 4), 0.5, np.float16)}
    OpenEXR.File({"type": OpenEXR.scanlineimage}, dict(channels)).write(str(path))
    out = read_exr_channels(path)
    assert sorted(out) == ["Z", "h", "id"]
    for name, array in channels.items():
        assert out[name].dtype == np.float32
        np.testing.assert_array_equal(out[name], array.astype(np.float32))


def test_multi_part_is_refused(tmp_path):
    path = tmp_path / "parts.exr"
    parts = [OpenEXR.Part({"type": OpenEXR.scanlineimage},
                          {"Z": np.zeros((4, 4), np.float32)}, name)
             for name in ("one", "two")]
    OpenEXR.File(parts).write(str(path))
    with pytest.raises(InputError, match="2 parts"):
        read_exr_channels(path)
