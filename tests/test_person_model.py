"""The built-in person model: the bundled file, its runtime, and a real photo."""

import hashlib
import pathlib
import sys

import cv2
import numpy as np
import pytest

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.features import person, tflite
from sss_vfx.features.person import MODEL_SIDE, PERSON_MODEL, person_mask
from sss_vfx.features.pose import Person

DOCIA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "docia.png"
MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"


def test_the_bundled_model_is_mediapipes_file_with_its_licence():
    assert hashlib.sha256(PERSON_MODEL.read_bytes()).hexdigest() == MODEL_SHA256
    licence = (PERSON_MODEL.parent / "LICENSE.selfie_segmentation").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence


def test_missing_runtime_names_the_extra(monkeypatch, tmp_path):
    from sss_vfx.features import model_store
    # No pose model at hand, and no download may start before the extra is checked.
    monkeypatch.setenv("SSS_VFX_MODELS", str(tmp_path))
    monkeypatch.setattr(model_store, "_download", lambda into: pytest.fail("downloaded"))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    tflite.runtime.cache_clear()
    monkeypatch.setattr(tflite, "_LOCAL", type(tflite._LOCAL)())
    try:
        for model in person.MODELS:
            with pytest.raises(FeatureError, match=r"pip install 'sss_vfx\[people\]'"):
                person_mask(np.zeros((32, 32, 3), np.float32), model=model)
    finally:
        tflite.runtime.cache_clear()


def test_bad_image_and_bad_model(tmp_path):
    with pytest.raises(OptionError, match=r"\(H, W, 3\)"):
        person_mask(np.zeros((32, 32), np.float32))
    with pytest.raises(OptionError, match="auto, pose, selfie"):
        person_mask(np.zeros((32, 32, 3), np.float32), model="yolo")
    pytest.importorskip("ai_edge_litert")
    with pytest.raises(FeatureError, match="missing"):
        person_mask(np.zeros((32, 32, 3)), model_path=tmp_path / "none.tflite",
                    model="selfie")
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    with pytest.raises(FeatureError, match="cannot load"):
        person_mask(np.zeros((32, 32, 3)), model_path=tmp_path / "junk.tflite",
                    model="selfie")


def test_mask_equals_a_direct_run_of_the_interpreter():
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    img = np.random.default_rng(0).random((48, 80, 3)).astype(np.float32)
    mask = person_mask(img, model="selfie")
    interp = litert.Interpreter(model_path=str(PERSON_MODEL), num_threads=1)
    interp.allocate_tensors()
    small = cv2.resize(img, (MODEL_SIDE, MODEL_SIDE), interpolation=cv2.INTER_AREA)
    interp.set_tensor(interp.get_input_details()[0]["index"], small[None])
    interp.invoke()
    raw = interp.get_tensor(interp.get_output_details()[0]["index"])[0, :, :, 0]
    expected = np.clip(cv2.resize(raw, (80, 48), interpolation=cv2.INTER_LINEAR), 0, 1)
    assert mask.shape == (48, 80) and mask.dtype == np.float32
    np.testing.assert_allclose(mask, expected, atol=1e-6)
    np.testing.assert_array_equal(person_mask(img, model="selfie"), mask)  # deterministic


def _fake_person(mask):
    return Person(0.9, 0.9, (0.0, 0.0, 1.0, 0.0), np.asarray(mask, np.float32))


def test_auto_is_the_union_of_people_and_the_selfie_model_where_nobody_is_found(
        monkeypatch):
    pytest.importorskip("ai_edge_litert")
    img = np.random.default_rng(3).random((40, 56, 3)).astype(np.float32)
    selfie = person_mask(img, model="selfie")
    monkeypatch.setattr(person, "people", lambda image: [])
    np.testing.assert_array_equal(person_mask(img), selfie)
    np.testing.assert_array_equal(person_mask(img, model="pose"), np.zeros((40, 56)))
    rng = np.random.default_rng(4)
    first, second = rng.random((40, 56)), rng.random((40, 56))
    monkeypatch.setattr(person, "people",
                        lambda image: [_fake_person(first), _fake_person(second)])
    np.testing.assert_allclose(person_mask(img), np.maximum(first, second), atol=1e-7)
    np.testing.assert_array_equal(person_mask(img, model="selfie"), selfie)


@pytest.mark.skipif(not DOCIA.exists(), reason="shared data absent")
def test_the_person_in_the_docia_photo(pose_models):
    plate = cv2.imread(str(DOCIA))[:, :640, ::-1].astype(np.float32) / 255
    mask = person_mask(plate)
    # Face and shirt (centre, bottom centre) are the person; sky and the balloon's
    # left side are not.
    assert mask[300:340, 360:420].mean() > 0.95
    assert mask[600:630, 440:520].mean() > 0.95
    assert mask[20:80, 300:500].mean() < 0.05
    assert 0.25 < (mask > 0.5).mean() < 0.45
