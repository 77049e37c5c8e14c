"""The ``sss-vfx`` command, in-process and as a real process."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import OpenEXR
import pytest
from _cli import run_in_process

import sss_vfx
from sss_vfx.cli import main
from sss_vfx.io import read_layers_exr
from sss_vfx.io.outputs import MANIFEST_SCHEMA
from sss_vfx.pipeline.still import STAGES
from sss_vfx.data import coarse_features, two_region_image

REPO = pathlib.Path(__file__).resolve().parents[1]
SHAPE = (32, 40)
SMALL = ["--eigenvectors", "20", "--initial-segments", "8", "--layers", "2",
         "--constrained-iterations", "15", "--relaxed-rounds", "4", "--superpixels", "60"]
LAYERS = ["sss_layer01", "sss_layer02"]
HALF_TOL = 1e-3  # half floats hold [0, 1] to 2^-12; sums of two layers to 1e-3


def run_subprocess(args, command=None):
    command = command or [sys.executable, "-m", "sss_vfx.cli"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                          env=env, cwd=str(REPO), timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(params=["in-process", "subprocess"])
def run(request, capsys):
    if request.param == "in-process":
        return lambda args: run_in_process(args, capsys)
    return run_subprocess


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plate")
    image, alpha = two_region_image(SHAPE, edge_width=4)
    path = folder / "plate.png"
    assert cv2.imwrite(str(path), np.round(image[:, :, ::-1] * 255).astype(np.uint8))
    return path, alpha


@pytest.fixture(scope="module")
def rendered(plate, tmp_path_factory):
    """One in-process render and one through a separate Python process."""
    path, _ = plate
    outputs = {}
    root = tmp_path_factory.mktemp("renders")
    for name in ("in-process", "subprocess"):
        out = root / name
        if name == "in-process":
            status = main(["segment", str(path), "-o", str(out), *SMALL])
            stdout = stderr = None
        else:
            status, stdout, stderr = run_subprocess(["segment", path, "-o", out, *SMALL])
        outputs[name] = (status, out, stdout, stderr)
    return outputs


def test_exit_status_and_files(rendered):
    for name, (status, out, stdout, stderr) in rendered.items():
        assert status == 0, (name, stderr)
        assert sorted(p.name for p in out.iterdir()) == sorted(
            ["layers.exr", "manifest.json", "preview.png", *(f"{n}.png" for n in LAYERS)])
    _, _, stdout, stderr = rendered["subprocess"]
    assert stdout.startswith("wrote 2 layers to ")
    assert "Traceback" not in stderr


def test_layers_exr_layout_and_values(rendered, plate):
    _, alpha = plate
    _, out, _, _ = rendered["in-process"]
    layers = read_layers_exr(out / "layers.exr")
    assert layers.layer_names == LAYERS
    assert layers.channel_names == [f"{n}.{c}" for n in LAYERS for c in "ABGR"]
    assert layers.header["sss_layers"] == ",".join(LAYERS)
    assert layers.header["sss_version"] == sss_vfx.__version__
    assert layers.compression == "ZIP"
    assert set(layers.pixel_types.values()) == {"HALF"}
    assert layers.alphas.shape == SHAPE + (2,)
    assert layers.alphas.min() >= 0 and layers.alphas.max() <= 1
    np.testing.assert_allclose(layers.alphas.sum(axis=2), 1.0, atol=HALF_TOL)
    # One layer is the true foreground matte (measured MAE 0.003 at this size).
    errors = [np.abs(layers.alphas[..., k] - alpha).mean() for k in range(2)]
    assert min(errors) < 0.02


def test_layer_colours_are_premultiplied_and_sum_to_the_plate(rendered, plate):
    path, _ = plate
    _, out, _, _ = rendered["in-process"]
    layers = read_layers_exr(out / "layers.exr")
    assert layers.colours.shape == SHAPE + (2, 3)
    # Premultiplied: 0 <= a F <= a.
    assert layers.colours.min() >= 0
    assert np.all(layers.colours <= layers.alphas[..., None] + HALF_TOL)
    image = cv2.imread(str(path))[..., ::-1] / 255.0
    np.testing.assert_allclose(layers.colours.sum(axis=2), image, atol=2 * HALF_TOL)


def test_no_colours_writes_mattes_only(plate, tmp_path, capsys):
    path, _ = plate
    out = tmp_path / "out"
    status, _, err = run_in_process(["segment", path, "-o", out, "--no-colours", *SMALL],
                                    capsys)
    assert status == 0, err
    layers = read_layers_exr(out / "layers.exr")
    assert layers.colours is None
    assert layers.channel_names == [f"{n}.A" for n in LAYERS]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["colours"] is False and "colours" not in manifest["timings_s"]


def test_png_mattes_match_the_exr(rendered):
    _, out, _, _ = rendered["in-process"]
    layers = read_layers_exr(out / "layers.exr")
    for k, name in enumerate(LAYERS):
        png = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and png.shape == SHAPE
        np.testing.assert_allclose(png / 65535.0, layers.alphas[..., k], atol=HALF_TOL)


def test_preview_png(rendered, plate):
    path, _ = plate
    _, out, _, _ = rendered["in-process"]
    preview = cv2.imread(str(out / "preview.png"), cv2.IMREAD_UNCHANGED)
    assert preview.dtype == np.uint8 and preview.shape == (SHAPE[0], 2 * SHAPE[1], 3)
    # The left half is the plate itself.
    np.testing.assert_array_equal(preview[:, :SHAPE[1]], cv2.imread(str(path)))


def test_manifest(rendered, plate):
    path, _ = plate
    _, out, _, _ = rendered["in-process"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == MANIFEST_SCHEMA == "SssManifest.1"
    assert manifest["command"] == "segment" and manifest["version"] == sss_vfx.__version__
    assert manifest["inputs"]["image"] == os.path.abspath(path)
    assert manifest["inputs"]["features"] is None
    assert (manifest["inputs"]["width"], manifest["inputs"]["height"]) == (SHAPE[1], SHAPE[0])
    params = manifest["parameters"]
    assert params == dict(sss_vfx.SegmentationOptions(
        eigenvectors=20, initial_segments=8, layers=2, constrained_iterations=15,
        relaxed_rounds=4, superpixels=60).as_dict())
    ran = set(STAGES) - {"refinement"}      # no band refinement asked for
    assert ran <= set(manifest["timings_s"]) and "refinement" not in manifest["timings_s"]
    assert {"write", "total"} <= set(manifest["timings_s"])
    assert all(t >= 0 for t in manifest["timings_s"].values())
    assert manifest["timings_s"]["total"] >= sum(manifest["timings_s"][s] for s in ran) - 1e-3
    assert ran | {"total"} <= set(manifest["peak_rss_bytes"])
    assert all(isinstance(v, int) and v > 0 for v in manifest["peak_rss_bytes"].values())
    assert manifest["layers"] == LAYERS
    assert manifest["colours"] is True and manifest["timings_s"]["colours"] >= 0
    assert sum(manifest["layer_coverage"]) == pytest.approx(1.0, abs=1e-3)
    assert sorted(manifest["outputs"]) == sorted(p.name for p in out.iterdir())


def test_in_process_and_subprocess_runs_are_byte_identical(rendered):
    a = rendered["in-process"][1]
    b = rendered["subprocess"][1]
    for name in ["layers.exr", "preview.png", *(f"{n}.png" for n in LAYERS)]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_two_runs_are_byte_identical(rendered, plate, tmp_path, capsys):
    path, _ = plate
    status, _, _ = run_in_process(["segment", path, "-o", tmp_path, *SMALL], capsys)
    assert status == 0
    first = rendered["in-process"][1]
    for name in ["layers.exr", "preview.png", *(f"{n}.png" for n in LAYERS)]:
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name


def test_installed_console_script(plate, tmp_path, installed_script):
    script = installed_script
    status, stdout, _ = run_subprocess(["--version"], command=[script])
    assert status == 0 and stdout.strip() == f"sss-vfx {sss_vfx.__version__}"
    path, _ = plate
    status, _, stderr = run_subprocess(["segment", path, "-o", tmp_path, *SMALL],
                                       command=[script])
    assert status == 0, stderr
    np.testing.assert_allclose(read_layers_exr(tmp_path / "layers.exr").alphas.sum(axis=2),
                               1.0, atol=HALF_TOL)


def test_no_pngs_and_json_progress(plate, tmp_path):
    path, _ = plate
    status, _, stderr = run_subprocess(["segment", path, "-o", tmp_path, "--no-pngs",
                                        "--progress", "json", *SMALL])
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers.exr", "manifest.json",
                                                          "preview.png"]
    records = [json.loads(line) for line in stderr.splitlines()]
    ran = [s for s in STAGES if s != "refinement"]     # no band refinement asked for
    assert [r["stage"] for r in records] == ran
    assert [r["done"] for r in records] == [STAGES.index(s) for s in ran]


def test_features_option(plate, tmp_path, capsys):
    path, alpha = plate
    features = tmp_path / "features.npy"
    np.save(features, coarse_features(alpha))
    out = tmp_path / "out"
    status, _, err = run_in_process(["segment", path, "-o", out, "--features", features,
                                     *SMALL], capsys)
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["features"] == os.path.abspath(features)
    layers = read_layers_exr(out / "layers.exr")
    np.testing.assert_allclose(layers.alphas.sum(axis=2), 1.0, atol=HALF_TOL)


@pytest.mark.parametrize("extra, expected", [
    ([], sss_vfx.COARSE_FEATURES),
    (["--embedding-weight", "0.5"], {**sss_vfx.COARSE_FEATURES, "embedding_weight": 0.5}),
])
def test_coarse_features_sets_the_recipe_left_at_default(plate, tmp_path, capsys, extra,
                                                         expected):
    path, alpha = plate
    features = tmp_path / "features.npy"
    np.save(features, coarse_features(alpha))
    out = tmp_path / "out"
    status, _, err = run_in_process(["segment", path, "-o", out, "--features", features,
                                     "--coarse-features", *extra, *SMALL], capsys)
    assert status == 0, err
    options = json.loads((out / "manifest.json").read_text())["parameters"]
    assert {name: options[name] for name in expected} == expected


def test_coarse_features_without_features_is_refused(plate, tmp_path, capsys):
    path, _ = plate
    out = tmp_path / "out"
    status, _, err = run_in_process(["segment", path, "-o", out, "--coarse-features",
                                     *SMALL], capsys)
    assert status == 2
    assert "--coarse-features" in err and "--features" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


# ---- help and version -----------------------------------------------------------------------

SEGMENT_OPTIONS = ["-o", "--output", "--features", "--max-pixels", "--layers",
                   "--eigenvectors", "--initial-segments", "--superpixels",
                   "--semantic-weight", "--colour-weight", "--sparsity",
                   "--constrained-iterations", "--constrained-precision",
                   "--relaxed-rounds", "--seed", "--no-pngs", "--no-colours", "--progress",
                   "--verbose", "-v"]


def test_segment_help_mentions_every_option(run):
    status, out, _ = run(["segment", "--help"])
    assert status == 0
    for option in SEGMENT_OPTIONS:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", out), option
    # ... and every option the parser really has.
    from sss_vfx.cli import build_parser
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for action in subparsers.choices["segment"]._actions:
        for option in action.option_strings:
            assert option in out, option


def test_version(run):
    status, out, _ = run(["--version"])
    assert status == 0
    assert out.strip() == f"sss-vfx {sss_vfx.__version__}"


def test_no_command_prints_help_and_fails(run):
    status, out, err = run([])
    assert status == 2
    assert "segment" in err and out == ""


# ---- bad input --------------------------------------------------------------------------------

def write_exr(path, channels):
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, channels).write(str(path))


def make_bad_case(name, tmp, plate_path):
    """(argv, output folder) of a run that must fail with status 2."""
    out = tmp / "out"
    args = None
    if name == "missing file":
        args = ["segment", tmp / "nope.png", "-o", out]
    elif name == "garbage png":
        (tmp / "garbage.png").write_bytes(b"this is not a PNG at all" * 20)
        args = ["segment", tmp / "garbage.png", "-o", out]
    elif name == "unsupported extension":
        shutil.copy(plate_path, tmp / "plate.gif")
        args = ["segment", tmp / "plate.gif", "-o", out]
    elif name == "tiny image":
        cv2.imwrite(str(tmp / "tiny.png"), np.full((10, 40, 3), 128, np.uint8))
        args = ["segment", tmp / "tiny.png", "-o", out]
    elif name == "features of another aspect ratio":
        np.save(tmp / "square.npy", np.random.default_rng(0).random((32, 32, 3)))
        args = ["segment", plate_path, "-o", out, "--features", tmp / "square.npy"]
    elif name == "features with NaN":
        features = np.random.default_rng(0).random(SHAPE + (3,)).astype(np.float32)
        features[5, 5, 2] = np.nan
        np.save(tmp / "nan.npy", features)
        args = ["segment", plate_path, "-o", out, "--features", tmp / "nan.npy"]
    elif name == "EXR with NaN":
        rgb = np.full(SHAPE, 0.5, np.float32)
        red = rgb.copy()
        red[3, 4] = np.nan
        write_exr(tmp / "nan.exr", {"R": red, "G": rgb, "B": rgb})
        args = ["segment", tmp / "nan.exr", "-o", out]
    elif name == "output under a regular file":
        (tmp / "afile").write_text("x")
        out = tmp / "afile" / "out"
        args = ["segment", plate_path, "-o", out]
    elif name == "output is a regular file":
        out = tmp / "afile"
        out.write_text("x")
        args = ["segment", plate_path, "-o", out]
    elif name == "option out of range":
        args = ["segment", plate_path, "-o", out, "--layers", "0"]
    return [*args, *SMALL] if name != "option out of range" else args, out


BAD_CASES = ["missing file", "garbage png", "unsupported extension", "tiny image",
             "features of another aspect ratio", "features with NaN", "EXR with NaN",
             "output under a regular file", "output is a regular file",
             "option out of range"]
EXPECTED_WORDS = {"missing file": "does not exist", "garbage png": "cannot decode",
                  "unsupported extension": "unsupported", "tiny image": "16 pixels",
                  "features of another aspect ratio": "aspect",
                  "features with NaN": "NaN", "EXR with NaN": "NaN",
                  "output under a regular file": "output directory",
                  "output is a regular file": "not a directory",
                  "option out of range": "layers"}


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_one_line_status_2(run, name, tmp_path, plate):
    plate_path, _ = plate
    args, out = make_bad_case(name, tmp_path, plate_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    status, stdout, stderr = run(args)
    assert status == 2
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sss-vfx: error: ")
    assert EXPECTED_WORDS[name] in lines[0]
    assert "Traceback" not in stderr and stdout == ""
    # Nothing half-written: the output folder, if it was created, is empty (and a
    # regular file given as -o is untouched).
    if out.is_dir():
        assert list(out.iterdir()) == []
    elif out.exists():
        assert out.read_text() == "x"
    # No temporary file anywhere in the working folder either.
    assert not [p for p in tmp_path.rglob("*") if ".sss-" in p.name]
    assert set(before) <= {p.name for p in tmp_path.iterdir()} <= set(before) | {"out"}


def test_verbose_shows_the_traceback(tmp_path):
    status, _, stderr = run_subprocess(["segment", tmp_path / "nope.png", "-o",
                                        tmp_path / "out", "--verbose"])
    assert status != 0
    assert "Traceback" in stderr and "InputError" in stderr


def test_every_method_parameter_has_a_flag():
    """Adding a field to SegmentationOptions without a CLI flag must fail here."""
    import dataclasses

    from sss_vfx.cli import build_parser
    from sss_vfx.options import SegmentationOptions

    fields = {f.name for f in dataclasses.fields(SegmentationOptions)}
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    dests = {a.dest for a in subparsers.choices["segment"]._actions}
    assert fields <= dests
    args = build_parser().parse_args(["segment", "x.png", "-o", "out", "--layers", "3",
                                      "--matting-eps", "1e-6"])
    assert args.layers == 3 and args.matting_eps == 1e-6
