"""A shot's guides keep one list of objects while objects enter and leave the frame:
ID passes, channel mattes and Cryptomattes whose per-frame manifests list only what
the frame shows."""

import numpy as np
import pytest
from test_io_guides import H, W, cryptomatte_file, disc, write_png

from sss_vfx.errors import FeatureError
from sss_vfx.pipeline.inputs import prepare_shot
from sss_vfx.io.guides import MAX_OBJECTS, read_guides
from sss_vfx.options import SegmentationOptions

FRAMES = 4


def plates():
    rng = np.random.default_rng(3)
    return [rng.random((H, W, 3)).astype(np.float32) for _ in range(FRAMES)]


def shot_guides(tmp_path, pattern, **kwargs):
    """(layer names, [per-frame Guides]) of a 4-frame shot with these guide files."""
    inputs = prepare_shot(plates(), guides=str(tmp_path / pattern),
                          options=SegmentationOptions(), **kwargs)
    options, names = inputs.options, inputs.objects
    found = [extra for _, _, extra in inputs.shot.frames()]
    assert options.layers == len(names)
    return names, found


def id_maps(tmp_path):
    """Label 3 on every frame; label 7 enters on frame 2; label 5 leaves after frame 0."""
    labels = []
    for f in range(FRAMES):
        ids = np.zeros((H, W), np.uint8)
        ids[disc(12, 8, 5) > 0] = 3
        if f >= 2:
            ids[disc(12, 24, 4) > 0] = 7
        if f == 0:
            ids[disc(4, 24, 3) > 0] = 5
        write_png(tmp_path / f"ids.{f:04d}.png", ids)
        labels.append(ids)
    return labels


def test_an_id_pass_gives_every_label_of_the_shot_a_layer_from_the_first_frame(tmp_path):
    labels = id_maps(tmp_path)
    names, found = shot_guides(tmp_path, "ids.%04d.png")
    assert names == ("3", "5", "7", "rest")
    for ids, guides in zip(labels, found):
        assert guides.names == ("3", "5", "7")
        for column, value in enumerate((3, 5, 7)):
            np.testing.assert_array_equal(guides.masks[..., column], ids == value)
    # Frame 1 holds label 3 alone: on its own it would read as a plain matte.
    assert read_guides(tmp_path / "ids.0001.png").kind == "mattes"
    assert found[1].masks[..., 1:].max() == 0


def test_named_labels_absent_from_a_frame_are_empty_there(tmp_path):
    labels = id_maps(tmp_path)
    names, found = shot_guides(tmp_path, "ids.%04d.png", guide_names="7,3")
    assert names == ("7", "3", "rest")
    for ids, guides in zip(labels, found):
        np.testing.assert_array_equal(guides.masks[..., 0], ids == 7)
        np.testing.assert_array_equal(guides.masks[..., 1], ids == 3)
    # A still is not a shot: a name that matches nothing there is an error.
    with pytest.raises(FeatureError, match="no label matches '7'"):
        read_guides(tmp_path / "ids.0000.png", names="7,3")


def test_channel_mattes_keep_their_channels_when_some_are_empty(tmp_path):
    mattes = []
    for f in range(FRAMES):
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[..., 0] = disc(12, 8, 5) * 255
        if f < 2:
            rgb[..., 1] = disc(12, 24, 4) * 255
        write_png(tmp_path / f"roto.{f:04d}.png", rgb)
        mattes.append(rgb / 255.0)
    names, found = shot_guides(tmp_path, "roto.%04d.png")
    assert names == ("R", "G", "B", "rest")
    for rgb, guides in zip(mattes, found):
        np.testing.assert_allclose(guides.masks, rgb, atol=1e-6)


def test_a_cryptomatte_whose_manifest_loses_an_object_gives_it_an_empty_matte(tmp_path):
    hero, car = disc(12, 8, 6), disc(12, 22, 5)
    for f in range(FRAMES):
        objects = {"hero": hero, "car": car} if f < 2 else {"hero": hero}
        cryptomatte_file(tmp_path / f"crypto.{f:04d}.exr", objects)
    names, found = shot_guides(tmp_path, "crypto.%04d.exr", guide_names="car,hero")
    assert names == ("car", "hero", "rest")
    for f, guides in enumerate(found):
        np.testing.assert_allclose(guides.masks[..., 1], hero, atol=1e-6)
        np.testing.assert_allclose(guides.masks[..., 0], car if f < 2 else 0 * car,
                                   atol=1e-6)
    with pytest.raises(FeatureError, match="no object of 'CryptoObject' matches 'car'"):
        read_guides(tmp_path / "crypto.0003.exr", names="car,hero")


def test_too_many_labels_over_the_shot_are_refused_up_front(tmp_path):
    # Each frame holds 20 labels, within the limit; the shot holds 40.
    for f in range(2):
        ids = np.zeros((H, W), np.uint8)
        for i in range(20):
            ids[i] = 1 + i + 20 * f
        write_png(tmp_path / f"many.{f:04d}.png", ids)
    assert 40 > MAX_OBJECTS
    with pytest.raises(FeatureError, match="40 distinct non-zero values over the shot"):
        prepare_shot(plates()[:2], guides=str(tmp_path / "many.%04d.png"),
                     options=SegmentationOptions())
