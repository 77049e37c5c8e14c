"""Layer identity across the windows of a shot does not hang on the eigenvectors'
basis (DESIGN section 2, issue 22): the same shot run with either eigensolver, or with
every window's eigenvectors rotated at random inside their (near-)eigenspaces, keeps
its object in the same layers in every frame, also when a window's own segmentation
merges the object into the ground it stands on."""

import json

import cv2
import numpy as np
import pytest

import sss_vfx.pipeline.layers as layers_module
from sss_vfx import segment_video
from sss_vfx.accel.compute import Compute
from sss_vfx.cli import main
from sss_vfx.evaluation import IDENTITY_CHANGE, identity_changes, object_mass
from sss_vfx.segments.grouping import group_by_reference, group_segments, \
    split_swallowed_regions
from sss_vfx.segments.identity import uncertain_handovers, window_reference
from sss_vfx.data import REGION_FEATURES, regions_shot

#: Every stage runs, small: 10 frames of 80x60 are windows 0-2, 2-4, 4-6, 6-8, 8-9,
#: so the object (moving 2 px a frame) crosses four window boundaries. Smaller, the
#: object shares the ground's layer from the first frame, and the test would not see
#: it change layers.
OPTIONS = dict(eigenvectors=30, initial_segments=10, superpixels=60,
               constrained_iterations=20, relaxed_rounds=10, colours=False)
FRAMES, SHAPE = 10, (60, 80)

#: Eigenvalues this close (relative) count as one eigenspace for the rotation.
CLUSTER = 0.05


def eigenspace_rotation(values, rng):
    """A random orthogonal matrix mixing only columns of nearly equal eigenvalue, with
    random signs: the same eigen-subspaces, another basis."""
    k = len(values)
    rotation = np.zeros((k, k))
    start = 0
    for i in range(1, k + 1):
        if i == k or abs(values[i] - values[i - 1]) > CLUSTER * max(abs(values[i]),
                                                                    abs(values[i - 1])):
            size = i - start
            q, _ = np.linalg.qr(rng.standard_normal((size, size)))
            rotation[start:i, start:i] = q
            start = i
    return rotation * rng.choice([-1.0, 1.0], size=k)


@pytest.fixture(scope="module")
def shot():
    return regions_shot(frames=FRAMES, shape=SHAPE, seed=5, speed=2.0)


def merge_object_segment(segments, descriptors):
    """The soft segments with the object's one summed into the ground's: what a window's
    constrained sparsification did on a rendered shot (the object faded into the soil
    segment), here forced."""
    def mass_on(region):
        near = np.abs(descriptors - REGION_FEATURES[region]).max(axis=1) < 0.02
        return np.clip(segments[near], 0, None).sum(axis=0)

    obj = int(np.argmax(mass_on(4)))
    ground = mass_on(2) + mass_on(3)
    ground[obj] = -1.0
    into = int(np.argmax(ground))
    merged = np.delete(segments, obj, axis=1)
    merged[:, into - (into > obj)] += segments[:, obj]
    return merged


def run(shot, solver, monkeypatch=None, rotate_seed=None, merge=False):
    if merge:
        group = layers_module.group_by_reference

        def merged(segments, descriptors, *args, **kwargs):
            return group(merge_object_segment(segments, descriptors), descriptors,
                         *args, **kwargs)

        # Only the windows after the first group by the reference.
        monkeypatch.setattr(layers_module, "group_by_reference", merged)
    if rotate_seed is not None:
        rng = np.random.default_rng(rotate_seed)
        real = Compute.run

        def rotated(self, name, *args, **kwargs):
            result = real(self, name, *args, **kwargs)
            if name != "window_eigenvectors":
                return result
            values, vectors = result
            return values, vectors @ eigenspace_rotation(values, rng)

        monkeypatch.setattr(Compute, "run", rotated)
    results = list(segment_video([s.image for s in shot], [s.features for s in shot],
                                 eigensolver=solver, **OPTIONS))
    return [r.alphas for r in results], results[-1].notes


@pytest.mark.slow
@pytest.mark.parametrize("solver, rotate_seed, merge", [
    ("block", None, False), ("arpack", None, False), ("block", 1, True),
    ("arpack", 2, True)])
def test_object_keeps_its_layers_whatever_the_basis(shot, solver, rotate_seed, merge,
                                                    monkeypatch):
    alphas, notes = run(shot, solver, monkeypatch, rotate_seed, merge)
    masks = [s.alpha for s in shot]
    # The object has a layer of its own to lose: most of it, and most of that layer.
    first = object_mass(alphas[0], masks[0])
    top = alphas[0][..., np.argmax(first)]
    assert first.max() > 0.6 and (top * masks[0]).sum() > 0.5 * top.sum(), first
    changes, moved = identity_changes(alphas, masks)
    assert changes == [], (changes, np.round(moved, 2))
    # The layers holding the object in the first frame (more of it than the share whose
    # move is an identity change) hold it in every frame.
    held = [set(np.flatnonzero(object_mass(a, m) > IDENTITY_CHANGE))
            for a, m in zip(alphas, masks)]
    assert all(h == held[0] for h in held), held
    # Nor does a window's partial merge take a notable part of it. Measured (arpack):
    # the object's layer holds 0.82 of it in frame 0 and 0.76-0.81 after; before
    # partial merges were split (PARTIAL_SHARE), 0.61-0.66 in frames 3-4, where a
    # window's segmentation merged 0.4 of the object's layer into the ground's.
    kept = [object_mass(a, m)[np.argmax(first)] for a, m in zip(alphas, masks)]
    assert min(kept) >= first.max() - 0.15, np.round(kept, 2)
    assert not any("uncertain hand-over" in n for n in notes), notes


def test_group_by_reference_follows_the_reference_not_the_segment_order():
    rng = np.random.default_rng(0)
    n = 60
    truth = np.zeros((n, 3))
    truth[np.arange(n), np.arange(n) % 3] = 1.0
    # Six segments, two per reference layer, in a shuffled order.
    parts = np.zeros((n, 6))
    parts[np.arange(n), 2 * (np.arange(n) % 3) + (np.arange(n) // 3) % 2] = 1.0
    order = rng.permutation(6)
    segments = parts[:, order]
    rows = np.flatnonzero(np.arange(n) % 7 != 0)  # the reference misses some pixels
    reference = (rows, truth[rows], np.ones(len(rows)))
    grouped, assignment = group_by_reference(segments, np.zeros((n, 3)), reference, 3)
    np.testing.assert_array_equal(grouped, truth)
    np.testing.assert_array_equal(assignment, order // 2)


def test_group_by_reference_gives_unseen_segments_to_the_nearest_descriptor():
    n = 40
    segments = np.zeros((n, 3))
    segments[:20, 0] = segments[20:30, 1] = segments[30:, 2] = 1.0
    descriptors = np.zeros((n, 3))
    descriptors[20:30] = 1.0
    descriptors[30:] = 0.9
    rows = np.arange(30)                        # segment 2 is not seen
    values = np.zeros((30, 2))
    values[:20, 0] = values[20:, 1] = 1.0
    grouped, assignment = group_by_reference(segments, descriptors,
                                             (rows, values, np.ones(30)), 2)
    assert assignment.tolist() == [0, 1, 1]
    assert grouped[30:, 1].min() == 1.0


def test_window_reference_weights_given_rows_one_and_carried_by_confidence():
    anchor = (np.arange(4), np.eye(4, 2), 10.0)
    carried = (np.arange(4, 6), np.ones((2, 2)) / 2, np.array([0.5, 0.0]))
    rows, values, weights = window_reference(anchor, carried)
    assert rows.tolist() == list(range(6))
    assert weights.tolist() == [1, 1, 1, 1, 0.5, 0.0]
    np.testing.assert_array_equal(values[:4], np.eye(4, 2))


def test_uncertain_handovers_flags_an_exchange_and_not_a_small_spill():
    a = np.zeros((100, 3))
    a[:50, 0] = a[50:90, 1] = a[90:, 2] = 1.0
    swapped = a[:, [1, 0, 2]]
    assert uncertain_handovers(a, swapped) == [(0, 1, 1.0), (1, 0, 1.0)]
    spill = a.copy()
    spill[:20] = [0.0, 1.0, 0.0]               # 40 % of layer 0 moves to layer 1
    assert uncertain_handovers(a, spill) == []


def test_a_swapped_handover_is_noted_for_its_frame_in_the_manifest(monkeypatch,
                                                                   tmp_path):
    """A window whose layers exchange their mass on the shared frame (forced here by
    swapping two of its layers) leaves a note naming that frame, which every later
    frame, and so ``sss-vfx video``'s manifest, carries."""
    from sss_vfx.pipeline.video import _WindowRunner

    segment = _WindowRunner._segment
    seen = []

    def swapped(self, entries):
        layers, anchored = segment(self, entries)
        seen.append(list(self.state.notes))
        if anchored:
            layers = layers[:, :, [1, 0]]
        return layers, anchored

    monkeypatch.setattr(_WindowRunner, "_segment", swapped)
    for i, frame in enumerate(regions_shot(frames=4, shape=(32, 40), seed=0)):
        for name, image in (("plate", frame.image), ("feat", frame.features)):
            pixels = (np.clip(image, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)
            assert cv2.imwrite(str(tmp_path / f"{name}.{10 + i:04d}.png"), pixels)
    out = tmp_path / "out"
    status = main(["video", str(tmp_path / "plate.%04d.png"), "-o", str(out),
                   "--features", str(tmp_path / "feat.%04d.png"), "--no-colours",
                   "--layers", "2", "--eigenvectors", "10", "--initial-segments", "4",
                   "--superpixels", "40"])
    assert status == 0
    assert not any("hand-over" in n for n in seen[1])       # before the second window
    notes = [n for n in json.loads((out / "manifest.json").read_text())["notes"]
             if "hand-over" in n]
    assert notes and all(n.startswith("frame 12: ") for n in notes), notes
    assert "layer 01" in notes[0] and "layer 02" in notes[0]


def test_group_by_reference_lets_the_features_overrule_the_overlap():
    """A segment lying in layer 0 of the reference but with layer 1's features joins
    layer 1 (the features are the evidence); between layers of equal features the
    overlap decides."""
    n = 30
    segments = np.zeros((n, 3))
    segments[:10, 0] = segments[10:20, 1] = segments[20:, 2] = 1.0
    descriptors = np.zeros((n, 3))
    descriptors[10:] = 1.0                       # segments 1 and 2: layer 1's features
    values = np.zeros((n, 3))
    values[:10, 0] = values[10:20, 1] = values[20:, 2] = 1.0
    values[20:25] = [1.0, 0.0, 0.0]              # segment 2 overlaps layer 0 half-way
    values[25:] = [0.0, 0.0, 1.0]
    _, assignment = group_by_reference(segments, descriptors,
                                       (np.arange(n), values, np.ones(n)), 3)
    # Layers 1 and 2 share the features: segment 2 goes by overlap to layer 2, not
    # to layer 0 whose features differ, though it overlaps it as much.
    assert assignment.tolist() == [0, 1, 2]


def sky_ground_object(n):
    """Labels of ``n`` pixels (sky 0, ground 1, the object 2 on its last 15 %) and their
    flat features."""
    truth = np.zeros(n, np.int64)
    truth[int(0.4 * n):], truth[int(0.85 * n):] = 1, 2
    return truth, REGION_FEATURES[[0, 3, 4]][truth].astype(np.float64)


def test_group_by_reference_splits_a_segment_that_merges_two_layers():
    """A window's segment covering the ground and the object standing on it (the object's
    own segment faded away) is split by the features: the object's pixels go to the
    object's layer, the ground's stay with the ground (without ``split``, all of it
    would go to the ground's layer, and the object change layers)."""
    n = 100
    truth, descriptors = sky_ground_object(n)
    segments = np.zeros((n, 2))
    segments[truth == 0, 0] = 1.0
    segments[truth > 0, 1] = 1.0                         # ground and object merged
    reference = (np.arange(n), np.eye(3)[truth], np.ones(n))
    grouped, assignment = group_by_reference(segments, descriptors, reference, 3)
    np.testing.assert_array_equal(grouped, np.eye(3)[truth])
    assert assignment.tolist() == [0, 1]
    whole, _ = group_by_reference(segments, descriptors, reference, 3, split=False)
    assert whole[truth == 2, 2].max() == 0.0


def test_group_by_reference_keeps_a_segment_that_only_spills_over_an_edge():
    """A segment whose soft edge spills over a neighbouring layer (holding under
    :data:`SPLIT_SHARE` of that layer's mass in the reference) is not split, though
    the features there are the neighbour's (coarse features, blind to the edge)."""
    n = 100
    truth = (np.arange(n) >= 50).astype(np.int64)
    descriptors = REGION_FEATURES[[0, 3]][truth].astype(np.float64)
    segments = np.eye(2)[truth]
    segments[50:60] = [0.6, 0.4]                         # 10 of layer 1's 50 pixels
    reference = (np.arange(n), np.eye(2)[truth], np.ones(n))
    grouped, _ = group_by_reference(segments, descriptors, reference, 2)
    np.testing.assert_array_equal(grouped, segments)


def test_split_swallowed_regions_gives_a_faded_object_its_segment_back():
    """A window's segment holding the ground and the object standing on it, while the
    object's own segment faded to a sliver on its border (what the first window of a
    rendered shot did, seed 0): the object's pixels are split off into a new segment,
    which the grouping then gives a layer of its own."""
    n = 100
    truth, descriptors = sky_ground_object(n)
    segments = np.zeros((n, 3))
    segments[truth == 0, 0] = 1.0
    segments[truth > 0, 1] = 1.0
    segments[84:86] = [0.0, 0.5, 0.5]                    # the sliver on the border
    split = split_swallowed_regions(segments, descriptors, 3)
    assert split.shape == (n, 4)
    np.testing.assert_allclose(split.sum(axis=1), 1.0)
    np.testing.assert_array_equal(split[truth == 2, 3][1:], 1.0)
    assert split[truth == 2, 1].max() == 0.0 and split[truth == 1, 3].max() == 0.0
    grouped, _ = group_segments(split, descriptors, 3)
    object_layer = np.argmax(grouped[truth == 2].sum(axis=0))
    assert grouped[truth == 2, object_layer].min() == 1.0
    assert grouped[truth < 2, object_layer].max() <= 0.5


def test_split_swallowed_regions_leaves_segments_that_only_spill_over_an_edge():
    """Segments that each hold their own region and spill their soft edge over a
    neighbour's (under :data:`SPLIT_SHARE` of it) come back unchanged."""
    n = 100
    truth = (np.arange(n) >= 50).astype(np.int64)
    descriptors = REGION_FEATURES[[0, 3]][truth].astype(np.float64)
    segments = np.eye(2)[truth]
    segments[50:60] = [0.6, 0.4]
    np.testing.assert_array_equal(split_swallowed_regions(segments, descriptors, 2),
                                  segments)


def test_group_by_reference_splits_a_partial_merge_where_the_reference_agrees():
    """A segment holding part of the object's layer (between :data:`PARTIAL_SHARE` and
    :data:`SPLIT_SHARE` of its mass: what the arpack run of the identity shot did in
    frames 2-4) gives the object's layer the pixels that both the features and the
    reference give it, and keeps those the reference gives its own layer."""
    n = 100
    truth, descriptors = sky_ground_object(n)
    segments = np.zeros((n, 3))
    segments[truth == 0, 0] = 1.0
    segments[40:92, 1] = 1.0                             # ground and 7 of 15 object px
    segments[92:, 2] = 1.0
    given = truth.copy()
    given[85:88] = 1                                     # the reference: ground there
    reference = (np.arange(n), np.eye(3)[given], np.ones(n))
    grouped, assignment = group_by_reference(segments, descriptors, reference, 3)
    assert assignment.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(grouped, np.eye(3)[given])
    whole, _ = group_by_reference(segments, descriptors, reference, 3, split=False)
    assert whole[85:92, 1].min() == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("speed", [2.0, 4.0])
def test_temporal_mode_keeps_a_moving_objects_soft_edge(speed):
    """A rendered shot (seed 3, default options) where temporal mode lost the object's
    leading edge window after window: its links followed a flow that gave the object
    its ground's motion. The object's layers chosen on the first frame now hold its
    matte nearly as well as per-frame mode's, chosen per frame, and flicker less.
    At 2 px a frame the fine flow mended it (SAD 0.041 against per-frame 0.033, 1.24;
    1.69 before; dtSSD 0.80, 1.02 before). At 4 px a frame DIS still gave the object
    the ground's motion, consistently both ways, and the object left its layers
    altogether (SAD 0.128, 3.4x per-frame's); the links' patch agreement mends it. The
    issue's targets (1.10 and 0.70) are not reached on this seed."""
    from sss_vfx.evaluation import dtssd, foreground_layers, sad

    clip = regions_shot(frames=12, shape=SHAPE, seed=3, speed=speed)
    masks = [s.alpha for s in clip]
    mattes = {}
    for temporal in (True, False):
        alphas = [r.alphas for r in segment_video(
            [s.image for s in clip], [s.features for s in clip], temporal=temporal,
            colours=False)]
        if temporal:
            assert identity_changes(alphas, masks)[0] == []
            first = foreground_layers(alphas[0], masks[0])[0]
            mattes[temporal] = [a[..., first].sum(axis=2) for a in alphas]
        else:
            mattes[temporal] = [a[..., foreground_layers(a, m)[0]].sum(axis=2)
                                for a, m in zip(alphas, masks)]
    errors = {t: np.mean([sad(a, m) for a, m in zip(mattes[t], masks)]) for t in mattes}
    flicker = {t: dtssd(mattes[t], masks) for t in mattes}
    assert errors[True] <= 1.35 * errors[False], errors
    assert flicker[True] <= 0.90 * flicker[False], flicker
