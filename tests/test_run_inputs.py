"""A run's inputs are prepared once: the layer-count rule, the shot's feature projection
fitted once, the window state a checkpoint keeps, and a shot's subset of frames."""

import numpy as np
import pytest

import sss_vfx.pipeline.inputs as inputs_module
from sss_vfx.errors import OptionError
from sss_vfx.io.shot import open_shot
from sss_vfx.options import SegmentationOptions
from sss_vfx.pipeline.inputs import prepare_shot, semantic_layers
from sss_vfx.pipeline.video import segment_video
from sss_vfx.pipeline.window_state import WindowState
from sss_vfx.data import coarse_features, two_region_image

SMALL = {"layers": 2, "eigenvectors": 10, "initial_segments": 4, "superpixels": 40}


def clip(frames=3):
    images = [two_region_image((24, 32), seed=s) for s in range(frames)]
    return [img for img, _ in images], [coarse_features(a) for _, a in images]


def test_objects_then_classes_fix_the_layer_count():
    opts = SegmentationOptions(layers=5, initial_segments=5)
    notes = []
    guided = semantic_layers(opts, objects=2, classes=7, notes=notes)
    assert (guided.layers, guided.initial_segments) == (3, 5)
    assert notes == ["2 guided object(s) and the rest give 3 layers; layers=5 not used"]
    classes = semantic_layers(opts, classes=7)
    assert (classes.layers, classes.initial_segments) == (7, 7)
    off = opts.with_overrides(feature_classes="off")
    assert semantic_layers(off, classes=7) is off
    notes = []
    assert semantic_layers(opts, classes=5, notes=notes) is opts and notes == []


def test_a_shot_fits_its_feature_projection_once(monkeypatch):
    fitted = []
    real = inputs_module.fit_feature_projection
    monkeypatch.setattr(inputs_module, "fit_feature_projection",
                        lambda *a, **k: fitted.append(1) or real(*a, **k))
    plates, features = clip()
    prepared = prepare_shot(plates, features, start=10, **SMALL)
    assert len(fitted) == 1 and prepared.projection is not None
    out = list(segment_video(prepared, colours=False))
    assert [f.number for f in out] == [10, 11, 12]
    assert len(fitted) == 1
    # The same bits as the shot prepared inside segment_video.
    again = list(segment_video(plates, features, start=10, colours=False, **SMALL))
    for a, b in zip(out, again):
        np.testing.assert_array_equal(a.alphas, b.alphas)
        assert a.notes == b.notes


def test_a_prepared_shot_refuses_inputs_given_beside_it():
    plates, _ = clip(2)
    prepared = prepare_shot(plates, **SMALL)
    with pytest.raises(OptionError, match="layers, options given with a prepared shot"):
        next(segment_video(prepared, options=SegmentationOptions(), layers=3))


def test_the_window_state_round_trips_through_its_arrays():
    rng = np.random.default_rng(0)
    state = WindowState(previous=rng.random((6, 3)),
                        held=[(7, rng.random((6, 3))), (8, rng.random((6, 3)))],
                        notes=["a note", "another"])
    arrays = state.to_arrays()
    assert arrays["held_numbers"].dtype == np.int64 and arrays["held_given"].shape == (2, 6, 3)
    back = WindowState.from_arrays(arrays)
    for key, value in back.to_arrays().items():
        np.testing.assert_array_equal(value, arrays[key])
    empty = WindowState(previous=np.zeros((6, 3), np.float32)).to_arrays()
    assert empty["held_given"].shape == (0, 6, 3)
    assert empty["held_given"].dtype == np.float32
    assert WindowState.from_arrays(empty).held == []


def test_a_subset_of_a_shot_reads_only_up_to_its_last_frame():
    read = []

    class Frame(np.ndarray):
        """A frame that says when the shot reads it (as the OpenFX server's do)."""

        def plate_values(self):
            read.append(self.number)

    plates, _ = clip(5)
    frames = []
    for i, plate in enumerate(plates):
        frame = plate.view(Frame)
        frame.number = 100 + i
        frames.append(frame)
    part = open_shot(frames, start=100).subset([101, 103])
    assert part.numbers == [101, 103] and part.total == 2
    assert [n for n, _, _ in part.frames()] == [101, 103]
    assert read == [100, 101, 102, 103]
