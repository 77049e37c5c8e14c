"""The paper's configuration one option away: ``PAPER``, ``SegmentationOptions.paper``
and ``--paper``."""

import dataclasses
import json

import cv2
import numpy as np
import pytest
from _cli import run_in_process

import sss_vfx
from sss_vfx.cli import build_parser
from sss_vfx.cli.flags import method_options
from sss_vfx.errors import OptionError
from sss_vfx.io import read_layers_exr
from sss_vfx.options import PAPER, SegmentationOptions
from sss_vfx.data import coarse_features, two_region_image

#: The paper's values of the options whose default departs from it, or that an
#: extension of this project could move away from it: written out here, not read from
#: the code under test.
PAPER_VALUES = {"max_pixels": 0, "eigensolver": "arpack", "gram_stride": 1,
                "constrained_precision": "float64", "constrained_clamp": 1e-10, "feature_classes": "off",
                "class_layers": "segments", "embedding_weight": 0.0,
                "grouping_colour_weight": 0.0, "refine_band": 0, "guide_evidence": "off",
                "constrained_frames": "all"}
#: The speed-ups and extensions the default configuration uses.
DEFAULT_DEPARTURES = {"max_pixels": 65536, "eigensolver": "block", "gram_stride": 4,
                      "constrained_precision": "float32", "constrained_clamp": 0.001,
                      "feature_classes": "auto",
                      "guide_evidence": "scaled"}
#: The flags that gave the paper's configuration before ``--paper``.
LONG_LIST = ["--max-pixels", "0", "--gram-stride", "1", "--eigensolver", "arpack",
             "--constrained-precision", "float64", "--constrained-clamp", "1e-10",
             "--feature-classes", "off",
             "--guide-evidence", "off", "--constrained-frames", "all"]
SMALL = ["--eigenvectors", "12", "--initial-segments", "6", "--layers", "2",
         "--constrained-iterations", "10", "--relaxed-rounds", "3", "--superpixels", "40"]


def parse(*argv):
    return method_options(build_parser().parse_args(["segment", "x.png", "-o", "out",
                                                     *argv]))


def test_preset_is_the_documented_paper_values_field_by_field():
    assert PAPER == PAPER_VALUES
    paper = SegmentationOptions.paper()
    for f in dataclasses.fields(SegmentationOptions):
        assert getattr(paper, f.name) == PAPER_VALUES.get(f.name, f.default), f.name
    constrained = paper.constrained()
    assert (constrained.clamp, constrained.precision, constrained.gram_stride) == (
        1e-10, "float64", 1)


def test_departures_name_the_defaults_speed_ups_and_none_of_the_paper():
    assert SegmentationOptions().departures() == DEFAULT_DEPARTURES
    assert SegmentationOptions.paper(layers=3, eigenvectors=50).departures() == {}
    assert SegmentationOptions(gram_stride=2).departures()["gram_stride"] == 2


def test_paper_keeps_other_options_and_refuses_a_conflicting_one():
    opts = SegmentationOptions.paper(layers=3, max_pixels=0)
    assert (opts.layers, opts.max_pixels) == (3, 0)
    with pytest.raises(OptionError, match="max_pixels=0.*max_pixels=65536"):
        SegmentationOptions.paper(max_pixels=65536)
    with pytest.raises(OptionError, match="unknown option"):
        SegmentationOptions.paper(maxpixels=0)


def test_flag_gives_the_options_of_the_long_list():
    assert parse("--paper") == parse(*LONG_LIST) == SegmentationOptions.paper()
    assert parse("--paper", *SMALL) == parse(*LONG_LIST, *SMALL)
    # A flag repeating the paper's value is no conflict.
    assert parse("--paper", "--max-pixels", "0") == parse("--paper")
    assert parse("--paper", "--layers", "3").layers == 3


@pytest.mark.parametrize("flags, named", [
    (["--eigensolver", "block"], "--eigensolver block"),     # the default, given
    (["--max-pixels", "262144"], "--max-pixels 262144"),
    (["--gram-stride", "4", "--refine-band", "8"], "--gram-stride 4, --refine-band 8"),
])
def test_flag_refuses_an_explicit_conflicting_flag(flags, named):
    with pytest.raises(OptionError, match=f"--paper sets .*asks for {named}; drop --paper"):
        parse("--paper", *flags)


def test_flag_refuses_coarse_features():
    with pytest.raises(OptionError, match="--class-layers fit.*from --coarse-features"):
        parse("--paper", "--coarse-features", "--features", "f.npy")


def test_coarse_features_leave_a_flag_given_at_its_default_alone():
    opts = parse("--coarse-features", "--features", "f.npy", "--class-layers", "segments")
    assert (opts.class_layers, opts.embedding_weight) == ("segments", 1.0)


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paper")
    image, alpha = two_region_image((24, 30), edge_width=4)
    path = folder / "plate.png"
    assert cv2.imwrite(str(path), np.round(image[:, :, ::-1] * 255).astype(np.uint8))
    features = folder / "features.npy"
    np.save(features, coarse_features(alpha))
    return path, features


def test_flag_and_long_list_give_bit_identical_layers(plate, tmp_path, capsys):
    path, features = plate
    runs = {}
    for name, flags in (("paper", ["--paper"]), ("long", LONG_LIST)):
        out = tmp_path / name
        status, _, err = run_in_process(["segment", path, "--features", features, "-o",
                                         out, *flags, *SMALL], capsys)
        assert status == 0, err
        runs[name] = (read_layers_exr(out / "layers.exr"),
                      json.loads((out / "manifest.json").read_text()), out)
    (paper, paper_manifest, paper_out), (long, long_manifest, long_out) = \
        runs["paper"], runs["long"]
    assert np.array_equal(paper.alphas, long.alphas)
    assert np.array_equal(paper.colours, long.colours)
    for k in (1, 2):
        png = f"sss_layer{k:02d}.png"
        assert (paper_out / png).read_bytes() == (long_out / png).read_bytes()
    assert paper_manifest["parameters"] == long_manifest["parameters"]
    assert (paper_manifest["paper"], long_manifest["paper"]) == (True, False)
    assert paper_manifest["departures_from_paper"] == {}
    assert long_manifest["departures_from_paper"] == {}


def test_api_preset_and_options_give_bit_identical_layers(plate):
    path, features = plate
    small = dict(eigenvectors=12, initial_segments=6, layers=2, constrained_iterations=10,
                 relaxed_rounds=3, superpixels=40)
    by_preset = sss_vfx.segment_image(path, str(features), **sss_vfx.PAPER, **small)
    by_options = sss_vfx.segment_image(path, str(features),
                                       options=SegmentationOptions.paper(**small))
    assert by_preset.options == by_options.options
    assert by_preset.options.departures() == {}
    assert np.array_equal(by_preset.alphas, by_options.alphas)


def test_conflicting_flag_is_one_line_and_writes_nothing(plate, tmp_path, capsys):
    path, _ = plate
    out = tmp_path / "out"
    status, _, err = run_in_process(["segment", path, "-o", out, "--paper",
                                     "--gram-stride", "2", *SMALL], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "--paper" in err and "--gram-stride 2" in err
    assert not out.exists() or not any(out.iterdir())
