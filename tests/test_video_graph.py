"""Optical flow, the window Laplacian, its 3-D ordering, and layer identity."""

import numpy as np
import pytest
import scipy.sparse

from sss_vfx.errors import InputError
from sss_vfx.graph.flow import (carry_forward, consistency, frame_flow, patch_agreement,
                                warp_back)
from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx import laplacian
from sss_vfx.graph.temporal import temporal_affinity
from sss_vfx.graph.window import window_laplacian
from sss_vfx.evaluation import dtssd, warping_error
from sss_vfx.segments.identity import crossfade, layer_overlap, match_layers, pad_layers
from sss_vfx.spectral import (
    grid_dissection_order,
    long_range_pixels,
    smallest_magnitude_eigs,
)


def texture(shape, seed=0):
    """A smooth random colour texture in [0, 1]."""
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.random((shape[0], shape[1], 3)), (2, 2, 0))
    return ((noise - noise.min()) / np.ptp(noise)).astype(np.float32)


def test_flow_recovers_a_translation_and_flags_the_uncovered_border():
    big = texture((60, 80))
    frame, moved = big[10:50, 10:70], big[10:50, 7:67]    # content moves 3 px right
    flow = frame_flow(frame, moved)
    interior = flow.forward[8:-8, 8:-8]
    assert np.abs(interior[..., 0] - 3.0).mean() < 0.25
    assert np.abs(interior[..., 1]).mean() < 0.25
    assert flow.confidence[8:-8, 8:-8].mean() > 0.8
    # Pixels in the rightmost 3 columns leave the frame: no link.
    assert flow.confidence[:, -2:].max() == 0.0
    assert 0.0 <= flow.confidence.min() and flow.confidence.max() <= 1.0


def test_flow_follows_a_small_object_not_its_ground():
    """A head with strands, moving 2 px a frame right over ground panning 1 px left, at
    a working size: the object's pixels move with it. (The DIS preset's own finest
    scale, half the frame, gave them about 0 px: 2.3 px of error.)"""
    from sss_vfx.data import regions_shot

    clip = regions_shot(frames=6, shape=(60, 80), seed=3, speed=2.0)
    errors = []
    for frame, nxt in zip(clip, clip[1:]):
        flow = frame_flow(frame.image, nxt.image)
        errors.append(np.abs(flow.forward[..., 0][frame.alpha > 0.3] - 2.0).mean())
        ground = frame.alpha < 0.01
        assert np.abs(flow.forward[..., 0][ground] + 1.0).mean() < 0.2
    assert np.mean(errors) < 1.0, np.round(errors, 2)


def test_consistency_of_exact_inverse_flows_and_of_a_mismatch():
    h, w = 10, 12
    forward = np.zeros((h, w, 2), np.float32)
    forward[..., 0] = 2.0                                 # everything 2 px right
    backward = -forward
    confidence = consistency(forward, backward)
    np.testing.assert_allclose(confidence[:, :w - 2], 1.0)
    assert confidence[:, w - 2:].max() == 0.0             # leaves the frame
    near = consistency(forward, -0.75 * forward)         # the round trip misses by 0.5 px
    np.testing.assert_allclose(near[:, :w - 2], np.exp(-0.25 / (0.01 * 6.25 + 0.5)),
                               rtol=1e-5)
    assert consistency(forward, np.zeros_like(forward)).max() == 0.0   # misses by 2 px


def test_carry_forward_brings_frame_t_to_frame_t_plus_1():
    big = texture((60, 80))
    frame, moved = big[10:50, 10:70], big[10:50, 7:67]    # content moves 3 px right
    flow = frame_flow(frame, moved)
    carried, confidence = carry_forward(frame, flow)
    inner = (slice(8, -8), slice(8, -8))
    assert confidence[inner].mean() > 0.8
    assert np.abs(carried[inner] - moved[inner]).mean() < 0.02
    # The 3 columns entering on the left were not in frame t.
    assert confidence[:, :2].max() == 0.0


def test_patch_agreement_is_the_patch_mean_of_the_warped_difference():
    rng = np.random.default_rng(2)
    frame = rng.random((9, 11, 3)).astype(np.float32)
    nxt = rng.random((9, 11, 3)).astype(np.float32)
    flow = rng.uniform(-1.5, 1.5, (9, 11, 2)).astype(np.float32)
    got = patch_agreement(frame, nxt, flow, radius=1, sigma=0.3)
    warped, _ = warp_back(nxt, flow)
    d = ((frame - warped) ** 2).sum(axis=2)
    padded = np.pad(d, 1, mode="symmetric")       # the patch reflects at the border
    mean = np.mean([padded[1 + dy:10 + dy, 1 + dx:12 + dx]
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    np.testing.assert_allclose(got, np.exp(-mean / 0.09), rtol=1e-4)


def test_patch_agreement_rejects_a_consistent_but_wrong_vector_on_texture():
    """A textured object of its ground's mean colour, moving 4 px: the vector that
    gives it no motion passes the round trip (both ways 0) but not the patch test; a
    flat region cannot tell, and keeps its links."""
    big = texture((40, 60), seed=4)
    frame, moved = big[:, 8:48], big[:, 4:44]            # content moves 4 px right
    still = np.zeros(frame.shape[:2] + (2,), np.float32)
    assert consistency(still, still).min() == 1.0
    inner = (slice(4, -4), slice(4, -8))
    right = still.copy()
    right[..., 0] = 4.0
    assert patch_agreement(frame, moved, right)[inner].min() > 0.99
    assert np.median(patch_agreement(frame, moved, still)[inner]) < 0.5
    flat = np.full_like(frame, 0.4)
    assert patch_agreement(flat, flat, still).min() == 1.0


def test_flow_refuses_frames_of_different_sizes():
    with pytest.raises(InputError, match="different sizes"):
        frame_flow(texture((20, 20)), texture((20, 22)))


def test_warp_back_matches_bilinear_sampling():
    rng = np.random.default_rng(1)
    values = rng.random((12, 14, 6)).astype(np.float32)
    flow = rng.uniform(-2, 2, (12, 14, 2)).astype(np.float32)
    warped, inside = warp_back(values, flow)
    for y, x in [(3, 4), (6, 7), (8, 2)]:
        qx, qy = x + flow[y, x, 0], y + flow[y, x, 1]
        x0, y0 = int(np.floor(qx)), int(np.floor(qy))
        fx, fy = qx - x0, qy - y0
        expect = ((1 - fx) * (1 - fy) * values[y0, x0] + fx * (1 - fy) * values[y0, x0 + 1]
                  + (1 - fx) * fy * values[y0 + 1, x0] + fx * fy * values[y0 + 1, x0 + 1])
        assert inside[y, x]
        np.testing.assert_allclose(warped[y, x], expect, atol=1e-5)


def test_window_laplacian_equals_a_dense_assembly():
    rng = np.random.default_rng(2)
    frames = [rng.random((6, 7, 3)) for _ in range(3)]
    laps = [laplacian(f, device="numpy", weights=_no_superpixel_terms()) for f in frames]
    flows = [rng.uniform(-1, 1, (6, 7, 2)) for _ in range(2)]
    temporals = [temporal_affinity(a, b, fl, np.full((6, 7), 0.7))
                 for a, b, fl in zip(frames, frames[1:], flows)]
    lap = window_laplacian(laps, temporals).toarray()
    n = 42
    affinity = np.zeros((3 * n, 3 * n))
    for t in range(2):
        affinity[t * n:(t + 1) * n, (t + 1) * n:(t + 2) * n] = temporals[t].toarray()
    affinity = affinity + affinity.T
    expect = np.diag(affinity.sum(axis=1)) - affinity
    for t in range(3):
        expect[t * n:(t + 1) * n, t * n:(t + 1) * n] += laps[t].toarray()
    np.testing.assert_allclose(lap, expect, atol=1e-12)
    np.testing.assert_allclose(lap, lap.T, atol=1e-12)
    np.testing.assert_allclose(lap.sum(axis=1), 0.0, atol=1e-9)


def _no_superpixel_terms():
    from sss_vfx.options import AffinityWeights
    return AffinityWeights(colour=0.0, semantic=0.0)


def test_window_laplacian_checks_its_blocks():
    lap = affinity_to_laplacian(scipy.sparse.identity(4))
    with pytest.raises(InputError, match="temporal affinities"):
        window_laplacian([lap, lap], [])


def test_window_order_is_a_permutation_keeping_grid_positions_together():
    order = grid_dissection_order((3, 10, 12), long_range=[5, 200], separator=4)
    assert sorted(order.tolist()) == list(range(360))
    assert order[-2:].tolist() == [5, 200]
    rank = np.empty(360, np.int64)
    rank[order] = np.arange(360)
    # Away from the long-range pixels, the 3 frames of a grid position are consecutive.
    for p in set(range(120)) - {5, 80}:
        assert rank[p + 120] == rank[p] + 1 and rank[p + 240] == rank[p] + 2


def test_long_range_pixels_measures_distance_across_frames():
    n = 64
    rows, cols = [3, 10], [n + 3 + 1, n + 10 + 5]   # 1 px and 5 px apart, frames 0 -> 1
    matrix = scipy.sparse.coo_matrix((np.ones(2), (rows, cols)), shape=(2 * n, 2 * n))
    far = long_range_pixels(matrix, (2, 8, 8), reach=4).tolist()
    assert far == [10, n + 15]


def test_window_eigenpairs_do_not_depend_on_the_ordering():
    rng = np.random.default_rng(3)
    frames = [rng.random((10, 12, 3)) for _ in range(2)]
    laps = [laplacian(f, device="numpy") for f in frames]
    temporal = temporal_affinity(frames[0], frames[1], rng.uniform(-3, 3, (10, 12, 2)),
                                 np.ones((10, 12)))
    lap = window_laplacian(laps, [temporal])
    ordered, vectors = smallest_magnitude_eigs(lap, 8, shape=(2, 10, 12))
    plain, _ = smallest_magnitude_eigs(lap, 8)
    np.testing.assert_allclose(ordered, plain, atol=1e-9)
    residual = lap @ vectors - vectors * ordered
    assert np.abs(residual).max() < 1e-8


def test_match_layers_undoes_a_permutation_of_noisy_layers():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 500)
    layers = np.eye(4)[labels]
    noisy = np.clip(layers + rng.normal(0, 0.1, layers.shape), 0, 1)
    perm = np.array([2, 0, 3, 1])
    found = match_layers(layers, noisy[:, perm])
    np.testing.assert_array_equal(perm[found], np.arange(4))


def test_layer_overlap_is_soft_iou():
    a = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    b = np.array([[0.8, 0.2], [0.0, 1.0], [0.0, 1.0]])
    overlap = layer_overlap(a, b)
    assert overlap[0, 0] == pytest.approx(0.8 / 1.5)
    assert overlap[1, 1] == pytest.approx(1.5 / 2.2)
    assert layer_overlap(np.zeros((3, 1)), np.zeros((3, 1)))[0, 0] == 0.0


def test_crossfade_and_padding_keep_sums():
    rng = np.random.default_rng(5)
    a = rng.dirichlet(np.ones(3), 50)
    b = rng.dirichlet(np.ones(3), 50)
    np.testing.assert_allclose(crossfade(a, b, 0.3).sum(axis=1), 1.0)
    np.testing.assert_allclose(crossfade(a, b, 0.3), 0.7 * a + 0.3 * b)
    padded = pad_layers(a, 5)
    assert padded.shape == (50, 5) and np.all(padded[:, 3:] == 0)


def test_dtssd_is_zero_for_a_steady_error_and_counts_flicker():
    truth = [np.full((4, 4), v) for v in (0.2, 0.4, 0.6)]
    steady = [t + 0.1 for t in truth]
    assert dtssd(steady, truth) == pytest.approx(0.0)
    flicker = [truth[0], truth[1] + 0.1, truth[2]]
    assert dtssd(flicker, truth) == pytest.approx(100 * 0.1)


def test_warping_error_is_zero_for_layers_moving_with_the_flow():
    rng = np.random.default_rng(6)
    layers = rng.random((10, 12, 2))
    moved = np.roll(layers, 2, axis=1)     # content 2 px to the right
    flow = np.zeros((10, 12, 2), np.float32)
    flow[..., 0] = 2.0
    confidence = np.ones((10, 12))
    assert warping_error(layers, moved, flow, confidence) == pytest.approx(0.0, abs=1e-10)
    assert warping_error(layers, layers, flow, confidence) > 0.01


def _small_window(rng, shape=(6, 7)):
    from sss_vfx.options import AffinityWeights
    frames = [rng.random(shape + (3,)) for _ in range(3)]
    laps = [laplacian(f, device="numpy", weights=AffinityWeights(semantic=0.0))
            for f in frames]
    temporals = [temporal_affinity(a, b, rng.uniform(-1, 1, shape + (2,)),
                                   np.full(shape, 0.8)) for a, b in zip(frames, frames[1:])]
    return laps, window_laplacian(laps, temporals)


def test_window_eigs_with_complete_frame_bases_is_exact():
    from sss_vfx.spectral import window_eigs
    laps, lap = _small_window(np.random.default_rng(8))
    bases = [np.linalg.eigh(frame.toarray())[1] for frame in laps]
    values, vectors = window_eigs(lap, bases, 10)
    exact = np.linalg.eigvalsh(lap.toarray())
    np.testing.assert_allclose(values, exact[np.argsort(np.abs(exact))[:10]], atol=1e-10)
    np.testing.assert_allclose(lap @ vectors, vectors * values, atol=1e-9)


def test_window_ritz_values_bound_the_true_eigenvalues_from_above():
    from sss_vfx.spectral import window_eigs
    laps, lap = _small_window(np.random.default_rng(9))
    bases = [np.linalg.eigh(frame.toarray())[1][:, :12] for frame in laps]
    values, vectors = window_eigs(lap, bases, 8)
    exact = np.linalg.eigvalsh(lap.toarray())[:8]       # PSD: smallest = nearest zero
    assert np.all(values >= exact - 1e-10)               # Cauchy interlacing
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(8), atol=1e-10)
    # Each frame's own constant vector is in its basis, so the window's null vector is
    # found exactly.
    assert abs(values[0]) < 1e-10


def test_window_ritz_pairs_are_those_of_the_dense_projection():
    # Truncated bases, and frames 0 and 2 not linked: the window step multiplies only
    # the blocks that the temporal affinity couples, which must not change Q^T L Q.
    from scipy.linalg import block_diag

    from sss_vfx.spectral import window_eigs
    laps, lap = _small_window(np.random.default_rng(10))
    assert lap.tocsr()[:42, 84:].nnz == 0
    bases = [np.linalg.eigh(frame.toarray())[1][:, :9] for frame in laps]
    q = block_diag(*bases)
    dense_values, dense_coefficients = np.linalg.eigh(q.T @ lap.toarray() @ q)
    nearest = np.argsort(np.abs(dense_values), kind="stable")[:7]
    values, vectors = window_eigs(lap, bases, 7)
    np.testing.assert_allclose(values, dense_values[nearest], rtol=0, atol=1e-12)
    dense_vectors = q @ dense_coefficients[:, nearest]
    cosines = np.abs(np.sum(dense_vectors * vectors, axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-9)
