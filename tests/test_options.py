"""Every option reaches the stage that uses it, and the option sets check themselves."""

import dataclasses

import numpy as np
import pytest

import sss_vfx
from sss_vfx.accel.compute import Compute
from sss_vfx.accel.devices import NUMPY
from sss_vfx.options import (AffinityWeights, ConstrainedOptions, RefineOptions,
                             RelaxedOptions, SegmentationOptions, TemporalOptions,
                             option_help)
from sss_vfx.data import strands_shot

#: A value other than the default for every field, all cheap to run.
NON_DEFAULT = dict(max_pixels=1200, layers=3, eigenvectors=12, eigensolver="arpack",
                   initial_segments=7,
                   superpixels=50, matting_eps=2e-6, semantic_weight=0.03,
                   colour_weight=0.02, colour_radius=0.3, embedding_weight=0.5,
                   grouping_colour_weight=0.7, feature_classes="off", class_layers="both",
                   sparsity=0.9,
                   sparsity_weight=0.25,
                   constrained_iterations=7, constrained_frames="new",
                   constrained_precision="float64", gram_stride=2,
                   constrained_clamp=1e-10,
                   relaxed_rounds=3, cg_steps=20, refine_band=2, seed=5, max_memory=0.001,
                   guide_evidence="off")


class Spy(Compute):
    """Records the arguments each stage receives."""

    def __init__(self):
        super().__init__(NUMPY)
        self.calls = {}

    def laplacian(self, *args, **kwargs):
        self.calls["laplacian"] = (args, kwargs)
        return super().laplacian(*args, **kwargs)

    def run(self, name, *args, **kwargs):
        self.calls[name] = (args, kwargs)
        return super().run(name, *args, **kwargs)


def test_the_table_covers_every_field():
    assert set(NON_DEFAULT) == {f.name for f in dataclasses.fields(SegmentationOptions)}
    for name, value in NON_DEFAULT.items():
        assert value != getattr(SegmentationOptions, name), name


@pytest.fixture(scope="module")
def spied():
    shot = strands_shot((48, 64), seed=2)
    spy = Spy()
    seg = sss_vfx.segment_image(shot.image, shot.features, device=spy, colours=False,
                                **NON_DEFAULT)
    return seg, spy.calls


def test_every_option_reaches_its_stage(spied):
    seg, calls = spied
    h, w = seg.working_image.shape[:2]
    assert h * w <= NON_DEFAULT["max_pixels"] < 48 * 64
    weights = calls["laplacian"][1]["weights"]
    assert weights == AffinityWeights(matting_eps=2e-6, semantic=0.03, colour=0.02,
                                      colour_radius=0.3, superpixels=50)
    assert calls["laplacian"][1]["superpixels"].count <= 2 * 50
    assert calls["eigenvectors"][0][1] == 12
    assert calls["eigenvectors"][1]["block"] is False      # eigensolver="arpack"
    args, kwargs = calls["initial_segments"]
    assert args[3] == 7 and kwargs == {"embedding_weight": 0.5, "seed": 5}
    options = calls["constrained_sparsification"][1]["options"]
    assert (options.iterations, options.sparsity, options.weight, options.precision,
            options.clamp, options.product_budget, options.gram_stride) == (
        7, 0.9, 0.25, "float64", 1e-10, 1_000_000, 2)
    assert calls["relaxed_sparsification"][1]["options"] == RelaxedOptions(rounds=3,
                                                                         cg_steps=20)
    assert calls["refinement"][0][2] == RefineOptions(band=2, eps=2e-6)
    assert seg.alphas.shape[2] <= 3 and seg.grouped.shape[2] <= 3


def test_grouping_colour_weight_and_seed_change_the_grouping():
    shot = strands_shot((48, 64), seed=2)
    base = dict(NON_DEFAULT, refine_band=0, constrained_precision="float32")
    a = sss_vfx.segment_image(shot.image, shot.features, colours=False, device="numpy",
                              **base)
    b = sss_vfx.segment_image(shot.image, shot.features, colours=False, device="numpy",
                              **dict(base, grouping_colour_weight=0.0))
    assert not np.array_equal(a.grouped, b.grouped)


def test_matting_eps_changes_the_refined_band():
    """matting_eps reaches the full-resolution refinement, not only the affinities."""
    shot = strands_shot((48, 64), seed=2)
    seg = sss_vfx.segment_image(shot.image, shot.features, colours=False, device="numpy",
                                **dict(NON_DEFAULT, matting_eps=1e-7))
    compute = Compute.resolve("numpy")
    tight = compute.run("refinement", shot.image, seg.alphas, RefineOptions(band=2, eps=1e-7))
    loose = compute.run("refinement", shot.image, seg.alphas, RefineOptions(band=2, eps=1e-2))
    assert np.abs(tight - loose).max() > 1e-3
    again = sss_vfx.segment_image(shot.image, shot.features, colours=False,
                                  device="numpy", **dict(NON_DEFAULT, matting_eps=1e-2))
    assert not np.array_equal(seg.alphas, again.alphas)


def test_stage_option_defaults_are_the_fields_defaults():
    opts = SegmentationOptions()
    assert opts.constrained() == ConstrainedOptions()
    assert opts.relaxed() == RelaxedOptions()
    assert opts.refine() == RefineOptions()
    assert opts.affinity_weights() == AffinityWeights()


@pytest.mark.parametrize("cls", [SegmentationOptions, TemporalOptions])
def test_every_field_has_help_and_a_valid_default(cls):
    for name, (default, text, kind, choices) in option_help(cls).items():
        assert len(text) > 10, name
        cls(**{name: default})


@pytest.mark.parametrize("cls, name, bad", [
    (SegmentationOptions, "layers", 0), (SegmentationOptions, "layers", 2.5),
    (SegmentationOptions, "matting_eps", 0.0), (SegmentationOptions, "semantic_weight", -1),
    (SegmentationOptions, "seed", -1), (SegmentationOptions, "constrained_precision", "x"),
    (SegmentationOptions, "max_pixels", 1000), (TemporalOptions, "temporal", 1),
    (TemporalOptions, "temporal_sigma", 0.0), (TemporalOptions, "window", 1)])
def test_bad_values_are_refused_naming_the_field(cls, name, bad):
    with pytest.raises(sss_vfx.OptionError, match=name):
        cls(**{name: bad})
