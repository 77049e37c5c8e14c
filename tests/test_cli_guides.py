"""``--guides``, ``--guides-names``, ``--features person`` and ``--feature-model`` on the
command line: layers per object, the manifest, one-line errors with nothing written."""

import json
import sys

import cv2
import numpy as np
import pytest

from sss_vfx.cli import main
from sss_vfx.io import read_layers_exr
from test_io_guides import cryptomatte_file, disc, write_png
from test_pipeline_guides import H, W, owner, scene

SMALL = ["--eigenvectors", "14", "--initial-segments", "8", "--superpixels", "60",
         "--constrained-iterations", "10", "--relaxed-rounds", "3", "--device", "numpy",
         "--progress", "none"]


def write_plate(path, img):
    assert cv2.imwrite(str(path), (img[..., ::-1] * 255).round().astype(np.uint8))
    return path


def run(args, capsys):
    capsys.readouterr()
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


@pytest.fixture
def still(tmp_path):
    img, hero, car = scene()
    return {"plate": write_plate(tmp_path / "plate.png", img), "hero": hero, "car": car,
            "hero.png": write_png(tmp_path / "hero.png", (hero * 255).astype(np.uint8)),
            "car.png": write_png(tmp_path / "car.png", (car * 255).astype(np.uint8))}


def test_segment_with_two_guide_files(still, tmp_path, capsys):
    out = tmp_path / "out"
    status, err = run(["segment", still["plate"], "-o", out, "--guides", still["car.png"],
                       "--guides", still["hero.png"], *SMALL], capsys)
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["objects"] == ["car", "hero", "rest"]
    assert manifest["inputs"]["guides"] == [str(still["car.png"]), str(still["hero.png"])]
    assert manifest["parameters"]["layers"] == 3
    alphas = read_layers_exr(out / "layers.exr").alphas
    assert alphas.shape[2] == 3
    assert (owner(alphas, still["car"]), owner(alphas, still["hero"])) == (0, 1)
    assert any("layers=5 not used" in note for note in manifest["notes"])


def test_segment_cryptomatte_by_names(tmp_path, capsys):
    img, hero, car = scene()
    plate = write_plate(tmp_path / "plate.png", img)
    crypto = cryptomatte_file(tmp_path / "c.exr", {"hero": hero, "car": car})
    out = tmp_path / "out"
    status, err = run(["segment", plate, "-o", out, "--guides", crypto,
                       "--guides-names", "hero", *SMALL], capsys)
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["objects"] == ["hero", "rest"]
    assert manifest["inputs"]["guides_names"] == "hero"
    assert owner(read_layers_exr(out / "layers.exr").alphas, hero) == 0


def test_segment_person(still, tmp_path, capsys, monkeypatch):
    import sss_vfx.features.person as person
    monkeypatch.setattr(person, "person_mask", lambda plate: still["hero"])
    out = tmp_path / "out"
    status, err = run(["segment", still["plate"], "-o", out, "--features", "person",
                       *SMALL], capsys)
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["features"] == "person"
    assert manifest["inputs"]["objects"] == ["person", "rest"]


def bad_cases(still, tmp_path):
    wide = write_png(tmp_path / "wide.png", np.pad(
        (still["hero"] * 255).astype(np.uint8), ((0, 0), (0, W))))
    empty = write_png(tmp_path / "empty.png", np.zeros((H, W), np.uint8))
    ids = write_png(tmp_path / "ids.png",
                    (np.arange(H * W).reshape(H, W) % 40 + 1).astype(np.uint16))
    nomanifest = cryptomatte_file(tmp_path / "nm.exr", {"hero": disc(12, 8, 6)},
                                  manifest=False)
    crypto = cryptomatte_file(tmp_path / "c.exr", {"hero": disc(12, 8, 6)})
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"not a model")
    return {
        "aspect": (["--guides", wide], "aspect"),
        "empty": (["--guides", empty], "no object"),
        "ids": (["--guides", ids], "values"),
        "no-manifest": (["--guides", nomanifest, "--guides-names", "hero"], "manifest"),
        "unknown-name": (["--guides", crypto, "--guides-names", "tree"], "tree"),
        "both": (["--guides", still["hero.png"], "--features", still["hero.png"]],
                 "not both"),
        "model-garbage": (["--feature-model", garbage], "cannot load"),
        "model-missing": (["--feature-model", tmp_path / "nope.onnx"], "does not exist"),
        "mean-alone": (["--feature-model-mean", "0.5"], "--feature-model"),
        "people-extra": (["--features", "person"], "sss_vfx[people]"),
    }


@pytest.mark.parametrize("case", ["aspect", "empty", "ids", "no-manifest", "unknown-name",
                                  "both", "model-garbage", "model-missing", "mean-alone",
                                  "people-extra"])
def test_bad_semantic_input_exits_2_with_one_line_and_no_output(
        still, tmp_path, capsys, monkeypatch, case):
    import sss_vfx.features.tflite as tflite
    if case == "people-extra":
        tflite.runtime.cache_clear()
        tflite._LOCAL.__dict__.clear()
        monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    flags, word = bad_cases(still, tmp_path)[case]
    out = tmp_path / "out"
    try:
        status, err = run(["segment", still["plate"], "-o", out, *flags, *SMALL], capsys)
    finally:
        tflite.runtime.cache_clear()
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sss-vfx: error:"), err
    assert word in lines[0].lower() or word in lines[0], err
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture
def shot(tmp_path):
    directory = tmp_path / "shot"
    directory.mkdir()
    heroes = []
    for i in range(3):
        img, hero, car = scene(shift=i)
        write_plate(directory / f"plate.{1001 + i:04d}.png", img)
        write_png(directory / f"hero.{1001 + i:04d}.png", (hero * 255).astype(np.uint8))
        write_png(directory / f"car.{1001 + i:04d}.png", (car * 255).astype(np.uint8))
        heroes.append(hero)
    return directory, heroes


def test_video_guides_pattern_and_person_cache_on_resume(shot, tmp_path, capsys,
                                                         monkeypatch):
    directory, heroes = shot
    out = tmp_path / "out"
    status, err = run(["video", directory / "plate.%04d.png", "-o", out,
                       "--guides", directory / "hero.%04d.png",
                       "--guides", directory / "car.%04d.png", *SMALL], capsys)
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["objects"] == ["hero", "car", "rest"]
    assert len(manifest["layers"]) == 3
    for i, hero in enumerate(heroes):
        alphas = read_layers_exr(out / f"layers.{1001 + i:04d}.exr").alphas
        assert owner(alphas, hero) == 0

    from sss_vfx.features.tracking import PersonTracker
    calls = []
    # A shot follows its person from frame to frame (PersonTracker).
    monkeypatch.setattr(PersonTracker, "__call__",
                        lambda self, plate: calls.append(1) or heroes[(len(calls) - 1) % 3])
    people = tmp_path / "people"
    args = ["video", directory / "plate.%04d.png", "-o", people, "--features", "person",
            *SMALL]
    status, err = run(args, capsys)
    assert status == 0, err
    assert len(calls) == 3
    assert sorted(p.name for p in (people / "features").glob("*.npy")) == [
        f"{kind}.{1001 + i:04d}.npy" for kind in ("person", "person_track") for i in range(3)]
    (people / "layers.1003.exr").unlink()     # as if interrupted before the last frame
    status, err = run(args, capsys)
    assert status == 0, err
    assert len(calls) == 3                    # the masks were read back, not recomputed
    assert json.loads((people / "manifest.json").read_text())["frames_computed"] == 1


def test_video_guides_missing_for_a_frame_exit_2_before_output(shot, tmp_path, capsys):
    directory, _ = shot
    (directory / "hero.1002.png").unlink()
    out = tmp_path / "out"
    status, err = run(["video", directory / "plate.%04d.png", "-o", out,
                       "--guides", directory / "hero.%04d.png", *SMALL], capsys)
    assert status == 2 and "frame 1002" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
