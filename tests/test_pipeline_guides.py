"""Guides, the person model and feature networks through segment_image / segment_video."""

import sys

import numpy as np
import pytest

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.io.guides import Guides
from sss_vfx.features.sources import FrameCache
from sss_vfx.pipeline.still import segment_image
from sss_vfx.pipeline.video import segment_video
from test_io_guides import cryptomatte_file, disc, write_png

H, W = 24, 32
SMALL = dict(eigenvectors=14, initial_segments=8, superpixels=60, constrained_iterations=10,
             relaxed_rounds=3, device="numpy")


def scene(shift=0, with_car=True):
    """A red disc (hero) and a green disc (car) on a textured blue floor, and their
    true mattes."""
    rng = np.random.default_rng(3)
    hero, car = disc(12, 8 + shift, 6), disc(12, 23 + shift, 5) * with_car
    floor = np.clip(1 - hero - car, 0, 1)
    img = (hero[..., None] * [0.9, 0.15, 0.1] + car[..., None] * [0.1, 0.8, 0.2]
           + floor[..., None] * [0.2, 0.25, 0.7])
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)
    return img, hero, car


def shifted(mask, dy, dx):
    return np.roll(np.roll(mask, dy, axis=0), dx, axis=1)


def owner(alphas, mask):
    """The layer holding most of a mask's area."""
    return int(np.argmax((alphas * mask[..., None]).sum(axis=(0, 1))))


def test_two_objects_give_three_layers_in_guide_order():
    img, hero, car = scene()
    guides = np.stack([shifted(hero, 1, 2), shifted(car, -1, 1)], axis=-1)
    seg = segment_image(img, guides=guides, **SMALL)
    assert seg.alphas.shape == (H, W, 3)
    assert seg.objects == ("object1", "object2", "rest")
    assert (owner(seg.alphas, hero), owner(seg.alphas, car)) == (0, 1)
    np.testing.assert_allclose(seg.alphas.sum(axis=2), 1.0, atol=1e-4)
    swapped = segment_image(img, guides=guides[..., ::-1], **SMALL)
    assert (owner(swapped.alphas, hero), owner(swapped.alphas, car)) == (1, 0)
    assert any("layers=5 not used" in n for n in seg.notes)


def test_a_coarse_guide_gives_a_better_matte_than_itself():
    img, hero, _ = scene()
    # A hurried roto: 3 px off and a square instead of the disc.
    guide = np.zeros((H, W), np.float32)
    guide[7:18, 4:15] = 1
    seg = segment_image(img, guides=guide, **SMALL)
    sad_layer = np.abs(seg.alphas[..., 0] - hero).sum()
    sad_guide = np.abs(guide - hero).sum()
    assert sad_layer < 0.5 * sad_guide


@pytest.fixture
def files(tmp_path):
    img, hero, car = scene()
    return {"img": img, "hero": hero, "car": car,
            "hero.png": write_png(tmp_path / "hero.png", (hero * 255).astype(np.uint8)),
            "car.png": write_png(tmp_path / "car.png", (car * 255).astype(np.uint8)),
            "labels.png": write_png(tmp_path / "labels.png",
                                    (hero * 1 + car * 2).astype(np.uint8)),
            "crypto.exr": cryptomatte_file(tmp_path / "crypto.exr",
                                           {"hero": hero, "car": car,
                                            "floor": np.clip(1 - hero - car, 0, 1)})}


@pytest.mark.parametrize("form", ["one-path", "paths", "labels", "array", "Guides",
                                  "cryptomatte"])
def test_every_input_form_gives_the_same_objects(files, form):
    img, hero, car = files["img"], files["hero"], files["car"]
    guides, names, expect = {
        "one-path": (files["hero.png"], None, ("hero", "rest")),
        "paths": ([files["hero.png"], files["car.png"]], None, ("hero", "car", "rest")),
        "labels": (files["labels.png"], None, ("1", "2", "rest")),
        "array": (np.stack([hero, car], -1), "hero,car", ("hero", "car", "rest")),
        "Guides": (Guides(np.stack([hero, car], -1), ("h", "c"), "array"), None,
                   ("h", "c", "rest")),
        "cryptomatte": (files["crypto.exr"], "car,her*", ("car", "her*", "rest")),
    }[form]
    seg = segment_image(img, guides=guides, guide_names=names, **SMALL)
    assert seg.objects == expect
    masks = {"hero": hero, "h": hero, "her*": hero, "1": hero,
             "car": car, "c": car, "2": car}
    for index, name in enumerate(expect[:-1]):
        assert owner(seg.alphas, masks[name]) == index
        # The object's layer covers its object, not the floor.
        assert (seg.alphas[..., index] * masks[name]).sum() > 0.8 * masks[name].sum()


def test_bad_guides_raise_one_error(files, tmp_path):
    img = files["img"]
    wide = np.zeros((H, 2 * W), np.float32)
    wide[:4, :4] = 1
    many = (np.arange(H * W).reshape(H, W) % 40 + 1).astype(np.uint16)
    cases = [
        (wide, FeatureError, "aspect"),
        (np.zeros((H, W), np.float32), FeatureError, "no object"),
        (write_png(tmp_path / "ids.png", many), FeatureError, "values"),
        (cryptomatte_file(tmp_path / "nomanifest.exr", {"hero": files["hero"]},
                          manifest=False), FeatureError, "manifest"),
        (files["crypto.exr"], FeatureError, "tree"),
    ]
    for guides, error, word in cases:
        names = "tree" if word == "tree" else ("hero" if "manifest" in word else None)
        with pytest.raises(error) as info:
            segment_image(img, guides=guides, guide_names=names, **SMALL)
        message = str(info.value)
        assert "\n" not in message and word in message.lower(), message


def test_guides_and_features_together_are_refused(files):
    with pytest.raises(OptionError, match="not both"):
        segment_image(files["img"], np.zeros((H, W, 3)), guides=files["hero"], **SMALL)


def test_person_model_is_a_guide_named_person(files, monkeypatch):
    import sss_vfx.features.person as person
    img, hero = files["img"], files["hero"]
    calls = []
    monkeypatch.setattr(person, "person_mask", lambda plate: calls.append(1) or hero)
    seg = segment_image(img, "person", **SMALL)
    assert seg.objects == ("person", "rest") and calls == [1]
    assert owner(seg.alphas, hero) == 0
    both = segment_image(img, "person", guides=files["car"], **SMALL)
    assert both.objects == ("object1", "person", "rest")
    assert (owner(both.alphas, files["car"]), owner(both.alphas, hero)) == (0, 1)


def test_person_model_missing_extra_names_it(files, monkeypatch):
    import sss_vfx.features.tflite as tflite
    tflite.runtime.cache_clear()
    tflite._LOCAL.__dict__.clear()
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    try:
        with pytest.raises(FeatureError, match=r"pip install 'sss_vfx\[people\]'"):
            segment_image(files["img"], "person", **SMALL)
    finally:
        tflite.runtime.cache_clear()


torch = pytest.importorskip("torch")


class Pointwise(torch.nn.Module):
    def __init__(self, mode="ok"):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 1)
        self.mode = mode

    def forward(self, x):
        y = self.conv(x)
        if self.mode == "nan":
            return y * float("nan")
        if self.mode == "wide":
            return torch.cat([y, y], dim=3)
        return y


def save(module, path):
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_feature_model_equals_its_features_given_directly(files, tmp_path):
    from sss_vfx.features.network import load_feature_model, network_features
    img = files["img"]
    path = save(Pointwise(), tmp_path / "m.pt")
    by_model = segment_image(img, feature_model=path, layers=3, **SMALL)
    feats = network_features(img, load_feature_model(path, device="cpu"))
    by_array = segment_image(img, feats, layers=3, **SMALL)
    np.testing.assert_allclose(by_model.alphas, by_array.alphas, atol=1e-5)
    assert by_model.features is not None and by_model.objects == ()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode,word", [("nan", "nan"), ("wide", "aspect"),
                                       ("garbage", "cannot load")])
def test_bad_feature_models_raise_one_error(files, tmp_path, mode, word):
    if mode == "garbage":
        path = tmp_path / "m.pt"
        path.write_bytes(b"not a model")
    else:
        path = save(Pointwise(mode), tmp_path / "m.pt")
    with pytest.raises(FeatureError) as info:
        segment_image(files["img"], feature_model=path, **SMALL)
    assert word in str(info.value).lower() and "\n" not in str(info.value)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_video_network_features_are_cached_and_read_back(tmp_path, monkeypatch):
    import sss_vfx.features.network as network
    frames = [scene(shift=s)[0] for s in range(2)]
    path = save(Pointwise(), tmp_path / "m.pt")
    real, calls = network.network_features, []
    monkeypatch.setattr(network, "network_features",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    opts = {k: v for k, v in SMALL.items() if k != "device"}
    first = list(segment_video(frames, feature_model=path, cache=tmp_path / "c",
                               layers=3, device="numpy", **opts))
    cached = sorted((tmp_path / "c").glob("network.*.npy"))
    assert len(calls) == 2 and len(cached) == 2
    assert np.load(cached[0]).shape == (H, W, 6) and np.load(cached[0]).dtype == np.float16
    again = list(segment_video(frames, feature_model=path, cache=tmp_path / "c",
                               layers=3, device="numpy", **opts))
    assert len(calls) == 2
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.alphas, b.alphas)


def test_person_and_a_feature_model_are_refused_together(files, tmp_path):
    with pytest.raises(OptionError, match="not both"):
        segment_image(files["img"], "person", feature_model=tmp_path / "m.pt", **SMALL)


def test_video_guides_keep_their_order_and_person_masks_are_cached(tmp_path, monkeypatch):
    frames, heroes, cars = [], [], []
    for s in range(3):
        img, hero, car = scene(shift=s)
        frames.append(img), heroes.append(hero), cars.append(car)
    guides = [np.stack([shifted(c, 1, 1), shifted(h, -1, 1)], -1)
              for h, c in zip(heroes, cars)]
    opts = {k: v for k, v in SMALL.items() if k != "device"}
    out = list(segment_video(frames, guides=guides, device="numpy", **opts))
    assert [f.alphas.shape[2] for f in out] == [3, 3, 3]
    for f, h, c in zip(out, heroes, cars):
        assert (owner(f.alphas, c), owner(f.alphas, h)) == (0, 1)
    from sss_vfx.features.tracking import PersonTracker
    calls = []
    # A shot follows its person from frame to frame (PersonTracker).
    monkeypatch.setattr(PersonTracker, "__call__", lambda self, plate: calls.append(1) or
                        heroes[len(calls) - 1])
    first = list(segment_video(frames, "person", cache=tmp_path / "c", device="numpy",
                               **opts))
    assert len(calls) == 3 and len(list((tmp_path / "c").glob("person.*.npy"))) == 3
    again = list(segment_video(frames, "person", cache=tmp_path / "c", device="numpy",
                               **opts))
    assert len(calls) == 3      # read back, not recomputed
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.alphas, b.alphas)
    # Another run key empties the cache.
    FrameCache(tmp_path / "c", "other")
    assert not list((tmp_path / "c").glob("person.*.npy"))


def test_video_guides_must_hold_the_same_objects_every_frame():
    frames = [scene(shift=s)[0] for s in range(2)]
    _, hero, car = scene()
    guides = [np.stack([hero, car], -1), hero]
    opts = {k: v for k, v in SMALL.items() if k != "device"}
    with pytest.raises(FeatureError, match="same objects"):
        list(segment_video(frames, guides=guides, device="numpy", **opts))



def test_rendered_hair_with_a_hurried_roto_beats_the_roto():
    import cv2
    from sss_vfx.data import strands_shot
    shot = strands_shot((48, 64), seed=7, n_strands=30)
    # A hurried roto: the body without the hair (opened), 3 px off to the right.
    body = cv2.morphologyEx((shot.alpha > 0.5).astype(np.uint8), cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    guide = shifted(body.astype(np.float32), 0, 3)
    seg = segment_image(shot.image, guides=guide, **SMALL)
    sad = lambda matte: float(np.abs(matte - shot.alpha).sum())  # noqa: E731
    assert seg.objects == ("object1", "rest")
    assert sad(seg.alphas[..., 0]) < 0.8 * sad(guide)


def test_an_object_leaving_the_shot_keeps_its_layer_empty_there():
    """The car's guide is empty on the last frame (it left): accepted, its layer is 0
    there and it stays the car's layer on the others."""
    frames, guides, cars = [], [], []
    for s in range(3):
        img, hero, car = scene(shift=s, with_car=s < 2)
        frames.append(img), cars.append(car)
        guides.append(np.stack([hero, car], -1))
    opts = {k: v for k, v in SMALL.items() if k != "device"}
    out = list(segment_video(frames, guides=guides, device="numpy", **opts))
    assert [f.alphas.shape[2] for f in out] == [3, 3, 3]
    for f, car in zip(out[:2], cars):
        assert owner(f.alphas, car) == 1
    assert out[2].alphas[..., 1].max() < 0.05


def test_a_still_with_empty_guides_is_refused():
    img, hero, _ = scene()
    with pytest.raises(FeatureError, match="no object anywhere"):
        segment_image(img, guides=np.zeros_like(hero)[..., None], **SMALL)
