"""Features that are a few classes: recognised, turned into class probabilities, and
grouped by class through the still and video pipelines."""

import cv2
import numpy as np
import pytest

from sss_vfx.errors import FeatureError
from sss_vfx.features.classes import class_probabilities, fit_feature_classes
from sss_vfx.features.preprocess import fit_feature_projection
from sss_vfx.pipeline.still import segment_image
from sss_vfx.pipeline.video import segment_video
from sss_vfx.data import coarse_features, coarse_mask, two_region_image

SMALL = dict(eigenvectors=14, initial_segments=8, superpixels=60, constrained_iterations=10,
             relaxed_rounds=3, device="numpy", colours=False)


def labels_3(h=64, w=64):
    labels = np.zeros((h, w), int)
    labels[:, 20:] = 1
    labels[30:, 40:] = 2
    return labels


def softmax_3(sigma=2.0):
    onehot = np.eye(3)[labels_3()].astype(np.float32)
    return cv2.GaussianBlur(onehot, (0, 0), sigma)


def test_a_two_class_mask_gives_back_its_mask():
    _, alpha = two_region_image((64, 80))
    features = coarse_features(alpha, scale=4)
    points = fit_feature_classes(features)
    assert points is not None and points.shape == (2, 3)
    probabilities = class_probabilities(points, features)
    mask = coarse_mask(alpha, scale=4)
    # Largest class first: the background here.
    object_class = int(np.argmax(probabilities[alpha > 0.5].mean(axis=0)))
    # Class points are the mean of their fullest bin: within a few thousandths.
    np.testing.assert_allclose(probabilities[..., object_class], mask, atol=5e-3)
    assert probabilities[..., 0].sum() >= probabilities[..., 1].sum()


def test_softmax_and_painted_classes_are_recognised():
    soft = softmax_3()
    points = fit_feature_classes(soft)
    assert points.shape == (3, 3)
    probabilities = class_probabilities(points, soft)
    # Each class point is a corner: its coordinate is the matching softmax channel.
    channel = np.argmax(points, axis=1)
    np.testing.assert_allclose(probabilities, soft[..., channel], atol=2e-2)
    np.testing.assert_allclose(probabilities.sum(axis=2), 1, atol=1e-6)
    palette = np.array([[0.2, 0.3, 0.9], [0.9, 0.1, 0.1], [0.1, 0.8, 0.2]])
    painted = fit_feature_classes(soft @ palette)
    assert painted is not None and len(painted) == 3


@pytest.mark.parametrize("kind", ["noise", "embedding", "gradient", "five_painted"])
def test_features_that_are_not_a_few_classes_are_left_alone(kind):
    rng = np.random.default_rng(0)
    if kind == "noise":
        features = rng.random((48, 48, 3))
    elif kind == "embedding":
        features = cv2.GaussianBlur(rng.normal(size=(48, 48, 16)).astype(np.float32),
                                    (0, 0), 3)
    elif kind == "gradient":
        features = np.dstack(np.meshgrid(np.linspace(0, 1, 48), np.linspace(0, 1, 48)))
    else:
        # Five classes painted in 3 colours cannot be told apart as blends: refused.
        labels = np.repeat(np.arange(5), 48 * 48 // 5 + 1)[:48 * 48].reshape(48, 48)
        palette = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1.0]])
        features = palette[labels]
    assert fit_feature_classes(features) is None


def test_channel_mismatch_is_refused():
    points = fit_feature_classes(softmax_3())
    with pytest.raises(FeatureError, match="channels"):
        class_probabilities(points, np.zeros((4, 4, 2)))


def test_the_projection_keeps_the_class_points():
    soft = softmax_3()
    projection = fit_feature_projection(soft, np.zeros(soft.shape[:2] + (3,)))
    np.testing.assert_array_equal(projection.class_points, fit_feature_classes(soft))


def two_coloured_object():
    """A disc whose top half is red and bottom half yellow, on a blue textured floor;
    features: a coarse two-class mask of the disc."""
    h, w = 40, 48
    yy, xx = np.mgrid[:h, :w]
    disc = (((yy - 20) ** 2 + (xx - 24) ** 2) <= 13 ** 2).astype(np.float64)
    disc = cv2.GaussianBlur(disc, (0, 0), 0.8)
    top = np.where(yy < 20, 1.0, 0.0)
    colour = top[..., None] * [0.9, 0.1, 0.1] + (1 - top[..., None]) * [0.95, 0.9, 0.1]
    rng = np.random.default_rng(1)
    floor = np.array([0.15, 0.25, 0.75]) + rng.normal(0, 0.03, (h, w, 3))
    img = disc[..., None] * colour + (1 - disc[..., None]) * floor
    return np.clip(img, 0, 1).astype(np.float32), disc, top


def test_an_object_of_two_colours_stays_one_layer():
    img, disc, top = two_coloured_object()
    features = coarse_features(disc, scale=4)
    seg = segment_image(img, features, **SMALL)
    assert seg.alphas.shape[2] == 2
    inside = disc > 0.9
    red, yellow = inside & (top > 0), inside & (top == 0)
    owners = [int(np.argmax(seg.alphas[m].sum(axis=0))) for m in (red, yellow, disc < 0.05)]
    assert owners[0] == owners[1] != owners[2]
    assert seg.alphas[inside][:, owners[0]].mean() > 0.9
    assert any("2 classes" in note for note in seg.notes)
    off = segment_image(img, features, feature_classes="off", layers=3, **SMALL)
    assert off.alphas.shape[2] <= 3 and not any("classes" in n for n in off.notes)


@pytest.mark.parametrize("class_layers", ["segments", "fit"])
def test_video_class_layers_keep_their_order(class_layers):
    frames, feats, discs = [], [], []
    for s in range(3):
        img, disc, _ = two_coloured_object()
        img, disc = np.roll(img, s, axis=1), np.roll(disc, s, axis=1)
        frames.append(img), discs.append(disc), feats.append(coarse_features(disc, scale=4))
    opts = {k: v for k, v in SMALL.items() if k not in ("device", "colours")}
    out = list(segment_video(frames, features=feats, device="numpy",
                             class_layers=class_layers, **opts))
    assert [f.alphas.shape[2] for f in out] == [2, 2, 2]
    for f in out:
        np.testing.assert_allclose(f.alphas.sum(axis=2), 1.0, atol=1e-3)
    owners = {int(np.argmax(f.alphas[d > 0.9].sum(axis=0))) for f, d in zip(out, discs)}
    assert len(owners) == 1
    # The object's layer holds the disc, two colours and all, on every frame.
    (owner,) = owners
    for f, d in zip(out, discs):
        assert f.alphas[..., owner][d > 0.9].mean() > 0.9


def test_the_video_command_writes_one_layer_per_class(tmp_path, capsys):
    """The layer count follows the classes from the first EXR on, and the manifest
    names as many layers as the files hold."""
    import json

    from sss_vfx.io.exr import read_layers_exr
    from tests._cli import run_in_process

    for s in range(3):
        img, disc, _ = two_coloured_object()
        cv2.imwrite(str(tmp_path / f"plate.{1001 + s}.png"),
                    np.round(np.roll(img, s, axis=1)[..., ::-1] * 255).astype(np.uint8))
        np.save(tmp_path / f"feats.{1001 + s}.npy",
                coarse_features(np.roll(disc, s, axis=1), scale=4))
    out = tmp_path / "out"
    status, _, err = run_in_process(
        ["video", tmp_path / "plate.%04d.png", "--features", tmp_path / "feats.%04d.npy",
         "-o", out, "--eigenvectors", "10", "--initial-segments", "6", "--superpixels",
         "40", "--progress", "none"], capsys)
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["layers"]) == 2 and manifest["parameters"]["layers"] == 2
    assert read_layers_exr(out / "layers.1003.exr").alphas.shape[2] == 2
