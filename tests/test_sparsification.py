"""k-means, constrained and relaxed sparsification, grouping and upsampling of layers."""

import cv2
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from sss_vfx import laplacian, matting_laplacian
from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.segments.constrained import (
    ConstrainedOptions,
    _solve_coupled,
    constrained_sparsification,
    one_hot_segments,
)
from sss_vfx.segments.grouping import group_segments, grouping_descriptors, segment_descriptors
from sss_vfx.segments.kmeans import join_scaled, kmeans
from sss_vfx.segments.relaxed import (
    RelaxedOptions,
    apply_system,
    initial_layers,
    relaxed_sparsification,
    sparsity_exponent,
)
from sss_vfx.segments.upsample import normalise_layers, upsample_layers
from sss_vfx.spectral import smallest_magnitude_eigs
from sss_vfx.synthetic import coarse_features, two_region_image


# ---- k-means --------------------------------------------------------------------------------

def blobs(seed=0, sizes=(40, 25, 35), spread=0.05):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])
    truth = np.repeat(np.arange(3), sizes)
    order = rng.permutation(len(truth))
    truth = truth[order]
    points = centres[truth] + spread * rng.normal(size=(len(truth), 3))
    return points, truth


def same_partition(a, b):
    """Labelings equal up to renaming."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_kmeans_recovers_separated_blobs(seed):
    points, truth = blobs(seed)
    labels, centres = kmeans(points, 3, seed=seed)
    assert labels.dtype == np.int64 and labels.shape == (len(points),)
    assert same_partition(labels, truth)
    for j in range(3):
        np.testing.assert_allclose(centres[j], points[labels == j].mean(axis=0), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_is_deterministic_for_a_seed(dtype):
    points = np.random.default_rng(3).random((300, 4)).astype(dtype)
    a = kmeans(points, 6, seed=5)
    b = kmeans(points.copy(), 6, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_kmeans_labels_numbered_by_first_appearance():
    points = np.random.default_rng(4).random((200, 2))
    for seed in range(3):
        labels, centres = kmeans(points, 5, seed=seed)
        _, first = np.unique(labels, return_index=True)
        assert np.all(np.diff(first) > 0)
        assert labels[0] == 0
        np.testing.assert_array_equal(np.unique(labels), np.arange(len(centres)))


def test_kmeans_numbering_does_not_depend_on_the_seed():
    points, _ = blobs(2)
    results = [kmeans(points, 3, seed=s)[0] for s in range(4)]
    for labels in results[1:]:
        np.testing.assert_array_equal(labels, results[0])


def test_kmeans_fewer_clusters_than_asked_when_fewer_distinct_points():
    values = np.array([[0.1, 0.2], [0.7, 0.7], [0.1, 0.2], [0.3, 0.9], [0.7, 0.7]])
    points = values[np.random.default_rng(5).integers(0, 5, 60)]
    distinct = np.unique(points, axis=0)
    labels, centres = kmeans(points, 10, seed=0)
    assert len(centres) == len(distinct) == labels.max() + 1
    # Equal points share a label, distinct points do not.
    for p in distinct:
        assert len(set(labels[np.all(points == p, axis=1)].tolist())) == 1
    np.testing.assert_array_equal(np.unique(centres, axis=0), distinct)


def test_kmeans_single_distinct_point():
    labels, centres = kmeans(np.full((10, 3), 0.25), 4)
    np.testing.assert_array_equal(labels, np.zeros(10))
    np.testing.assert_array_equal(centres, [[0.25, 0.25, 0.25]])


# ---- constrained sparsification ------------------------------------------------------------

H, W = 24, 30


def regions_case(extra_label_pixels=0, seed=0, flip=0.15):
    """Eigenvectors spanning the exact indicators of 3 regions plus 5 smooth vectors.

    Returns E (orthonormal), eigenvalues (near zero for the indicator directions),
    the indicators (N, 3) and noisy initial labels.
    """
    ys, xs = np.mgrid[0:H, 0:W]
    regions = np.zeros((H, W), int)
    regions[:, 10:20] = 1
    regions[:, 20:] = 2
    regions[ys + xs > 40] = 2
    indicators = np.stack([(regions == k).ravel() for k in range(3)], axis=1).astype(float)
    smooth = np.stack([(np.cos(np.pi * a * (ys + 0.5) / H) * np.cos(np.pi * b * (xs + 0.5) / W)
                        ).ravel() for a, b in [(1, 0), (0, 1), (1, 1), (2, 0), (0, 2)]], axis=1)
    vectors, _ = np.linalg.qr(np.hstack([indicators, smooth]))
    values = np.concatenate([[0.0, 1e-4, 2e-4], np.linspace(0.05, 0.2, 5)])
    rng = np.random.default_rng(seed)
    labels = regions.ravel().copy()
    flipped = rng.random(labels.size) < flip
    labels[flipped] = rng.integers(0, 3, flipped.sum())
    if extra_label_pixels:
        labels[rng.choice(labels.size, extra_label_pixels, replace=False)] = 3
    return vectors, values, indicators, labels


def test_one_hot_segments():
    labels = np.array([2, 0, 1, 2, 0])
    np.testing.assert_array_equal(one_hot_segments(labels),
                                  np.eye(3)[labels])


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_constrained_recovers_indicators(precision):
    vectors, values, indicators, labels = regions_case()
    alpha = constrained_sparsification(
        vectors, values, labels, options=ConstrainedOptions(iterations=20, precision=precision))
    assert alpha.shape == indicators.shape and alpha.dtype == np.float64
    # Layers come in the order of the initial labels, which follow the regions.
    np.testing.assert_allclose(alpha, indicators, atol=1e-3)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_layers_lie_in_the_span():
    vectors, values, _, labels = regions_case(seed=1)
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=8))
    ones = np.ones(len(alpha))
    # Every layer but the last is E y; the last is 1 - sum; 1 is in the span here too.
    assert np.linalg.norm(vectors @ (vectors.T @ ones) - ones) < 1e-10
    for k in range(alpha.shape[1]):
        np.testing.assert_allclose(vectors @ (vectors.T @ alpha[:, k]), alpha[:, k], atol=1e-9)


@pytest.mark.parametrize("iterations", [3, 10, 12, 20])
def test_constrained_rows_sum_to_one(iterations):
    vectors, values, _, labels = regions_case(extra_label_pixels=4, seed=2)
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=iterations))
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_drops_vanishing_layers():
    # A 4th initial segment of four scattered pixels is not in the span: it fades
    # below 0.1 and is dropped at the first check (after iteration 11).
    vectors, values, indicators, labels = regions_case(extra_label_pixels=4, seed=2)
    assert labels.max() == 3
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=12))
    assert alpha.shape[1] == 3
    assert np.abs(alpha).max(axis=0).min() > 0.1
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_rows_sum_to_one_when_the_last_iteration_drops_a_layer():
    vectors, values, _, labels = regions_case(extra_label_pixels=4, seed=2)
    alpha = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=11))
    assert alpha.shape[1] == 3  # the drop happened
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_progress_and_input_untouched():
    vectors, values, _, labels = regions_case(seed=3)
    before = vectors.copy(), values.copy(), labels.copy()
    calls = []
    constrained_sparsification(vectors, values, labels, options=ConstrainedOptions(iterations=4),
                               progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for a, b in zip(before, (vectors, values, labels)):
        np.testing.assert_array_equal(a, b)


def test_precisions_agree_on_the_indicator_case():
    vectors, values, _, labels = regions_case(seed=4, flip=0.3)
    run = {p: constrained_sparsification(vectors, values, labels,
                                         options=ConstrainedOptions(iterations=15, precision=p))
           for p in ("float32", "float64")}
    assert run["float32"].shape == run["float64"].shape == (H * W, 3)
    assert np.abs(run["float32"] - run["float64"]).max() < 1e-4


def test_precisions_agree_on_a_real_laplacian():
    """Eigenvectors of the method's Laplacian of a 20x24 image, 6 k-means segments.

    Nine iterations, so no layer drop (at 0.1, a threshold that can flip) intervenes.
    Measured: float32 vs float64 with the same clamp, mean |diff| ~ 0.0008; float32
    (clamp 1e-4) vs float64 with the reference 1e-10 clamp, mean ~ 0.0055, max ~ 0.046.
    """
    image, alpha = two_region_image((20, 24), edge_width=4)
    image = image.astype(np.float64)
    features = coarse_features(alpha, scale=4).astype(np.float64)
    lap = laplacian(image, features, superpixels=compute_superpixels(image, n_segments=40))
    values, vectors = smallest_magnitude_eigs(lap, 15, shape=(20, 24))
    labels, _ = kmeans(features.reshape(-1, 3), 6)
    ones = lap @ np.ones(lap.shape[0])

    def run(precision, clamp):
        return constrained_sparsification(
            vectors, values, labels, laplacian_ones=ones,
            options=ConstrainedOptions(iterations=9, precision=precision, clamp=clamp))

    fast, same_clamp, reference = run("float32", 1e-4), run("float64", 1e-4), run("float64", 1e-10)
    assert fast.shape == same_clamp.shape == reference.shape == (480, labels.max() + 1)
    assert np.abs(fast - same_clamp).mean() < 0.003
    assert np.abs(fast - reference).mean() < 0.015
    assert np.abs(fast - reference).max() < 0.15
    for result in (fast, same_clamp, reference):
        np.testing.assert_allclose(result.sum(axis=1), 1.0, atol=1e-9)


def test_gram_chunking_gives_the_same_result():
    vectors, values, _, labels = regions_case(seed=5)
    whole = constrained_sparsification(vectors, values, labels,
                                       options=ConstrainedOptions(iterations=5,
                                                                  precision="float64"))
    chunked = constrained_sparsification(
        vectors, values, labels,
        options=ConstrainedOptions(iterations=5, precision="float64",
                                   product_budget=8 * 36 * 100))  # chunks of 100 pixels
    np.testing.assert_allclose(chunked, whole, atol=1e-10)


@pytest.mark.parametrize("k, m", [(2, 4), (3, 5), (5, 7)])
def test_solve_coupled_equals_dense_solve(k, m):
    rng = np.random.default_rng(k * 10 + m)
    grams = np.empty((k, m, m))
    for i in range(k):
        a = rng.normal(size=(m, m + 3))
        grams[i] = a @ a.T
    lam = rng.random(m) * 0.1
    rhs = rng.normal(size=(m, k - 1))
    last = rng.normal(size=m)
    y = _solve_coupled(grams, lam, rhs, last)
    assert y.shape == (m, k - 1)
    blocks = [grams[i] + np.diag(lam) for i in range(k - 1)]
    b = grams[-1] + np.diag(lam)
    system = scipy.linalg.block_diag(*blocks) + np.kron(np.ones((k - 1, k - 1)), b)
    goal = (rhs + last[:, None]).T.ravel()
    expected = np.linalg.solve(system, goal).reshape(k - 1, m).T
    np.testing.assert_allclose(y, expected, rtol=1e-9, atol=1e-10)


def test_solve_coupled_is_the_minimiser_of_the_energy():
    """The coupled system is the normal equations of the IRLS energy with the last
    layer eliminated: check against a direct least-squares minimisation."""
    rng = np.random.default_rng(0)
    n, m, k = 60, 4, 3
    e, _ = np.linalg.qr(rng.normal(size=(n, m)))
    lam = rng.random(m) * 0.1
    u, v = rng.random((n, k)) + 0.1, rng.random((n, k)) + 0.1  # pull to zero / one

    def energy(flat):
        y = flat.reshape(k - 1, m).T
        alpha = np.column_stack([e @ y, 1 - e @ y.sum(axis=1)])
        smooth = sum(yk @ (lam * yk) for yk in y.T) + y.sum(axis=1) @ (lam * y.sum(axis=1))
        return smooth + np.sum(u * alpha ** 2 + v * (1 - alpha) ** 2)

    grams = np.stack([e.T @ ((u[:, i] + v[:, i])[:, None] * e) for i in range(k)])
    y = _solve_coupled(grams, lam, e.T @ v[:, :-1], e.T @ u[:, -1])
    flat = y.T.ravel()
    base = energy(flat)
    for _ in range(20):
        step = 1e-4 * rng.normal(size=flat.shape)
        assert energy(flat + step) >= base - 1e-12
    # The gradient vanishes (central differences).
    grad = [(energy(flat + h) - energy(flat - h)) / 2e-6 for h in 1e-6 * np.eye(flat.size)]
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


# ---- grouping -------------------------------------------------------------------------------

def grouped_case(seed=0):
    """Six soft segments living in three classes of pixels with constant descriptors."""
    rng = np.random.default_rng(seed)
    n = 300
    classes = rng.integers(0, 3, n)
    descriptors = np.array([[0.1, 0.2, 0.3], [0.9, 0.1, 0.5], [0.4, 0.8, 0.8]])[classes]
    segment_class = np.array([0, 1, 0, 2, 1, 0])
    weights = rng.random((n, 6)) * (segment_class[None, :] == classes[:, None])
    segments = weights / weights.sum(axis=1, keepdims=True)
    return segments, descriptors, segment_class


def test_segment_descriptors_are_alpha_weighted_means():
    segments, descriptors, segment_class = grouped_case()
    means = segment_descriptors(segments, descriptors)
    expected = (segments.T @ descriptors) / segments.sum(axis=0)[:, None]
    np.testing.assert_allclose(means, expected, atol=1e-12)
    np.testing.assert_allclose(means, descriptors[[np.flatnonzero(
        segments[:, k] > 0)[0] for k in range(6)]], atol=1e-12)


def test_group_segments_merges_equal_descriptors():
    segments, descriptors, segment_class = grouped_case()
    layers, assignment = group_segments(segments, descriptors, 3, seed=0)
    assert layers.shape == (300, 3)
    assert same_partition(assignment, segment_class)
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)
    for g in range(3):
        np.testing.assert_allclose(layers[:, g], segments[:, assignment == g].sum(axis=1),
                                   atol=1e-12)


def test_group_segments_more_groups_than_classes_refines_them():
    segments, descriptors, segment_class = grouped_case()
    layers, assignment = group_segments(segments, descriptors, 5, seed=0)
    assert layers.shape[1] == assignment.max() + 1 <= 5
    # Segments of equal descriptors may be split apart (their means differ by round-off
    # only, so k-means sees more distinct points), but different classes never merge.
    for g in range(layers.shape[1]):
        assert len(set(segment_class[assignment == g].tolist())) == 1
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_group_segments_fewer_segments_than_groups():
    segments, descriptors, _ = grouped_case(1)
    two = np.column_stack([segments[:, :3].sum(axis=1), segments[:, 3:].sum(axis=1)])
    layers, assignment = group_segments(two, descriptors, 5)
    assert layers.shape[1] <= 2
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_group_segments_preserves_sums_with_negative_values():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=(200, 7))
    segments = raw - (raw.sum(axis=1, keepdims=True) - 1) / 7  # sums to 1, some < 0
    layers, assignment = group_segments(segments, rng.random((200, 3)), 3)
    assert layers.shape[1] == assignment.max() + 1 <= 3
    np.testing.assert_allclose(layers.sum(axis=1), 1.0, atol=1e-12)


def test_join_scaled_matches_the_variance_ratio():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(500, 3)) * [1.0, 2.0, 0.5]
    extra = 7.0 * rng.normal(size=(500, 4))
    for weight in (0.0, 0.5, 2.0):
        joined = join_scaled(points, extra, weight)
        np.testing.assert_array_equal(joined[:, :3], points)
        ratio = joined[:, 3:].var(axis=0).sum() / points.var(axis=0).sum()
        np.testing.assert_allclose(ratio, weight ** 2, rtol=1e-12, atol=1e-15)
        factor = joined[:, 3:] / extra        # one factor for every column
        np.testing.assert_allclose(factor, factor[0, 0], rtol=1e-12, atol=1e-15)


def test_grouping_descriptors_paper_default_and_colour_join():
    rng = np.random.default_rng(4)
    features, colours = rng.random((50, 3)), rng.random((50, 3))
    np.testing.assert_array_equal(grouping_descriptors(features, colours), features)
    np.testing.assert_array_equal(grouping_descriptors(None, colours, 1.0), colours)
    joined = grouping_descriptors(features, colours, 1.0)
    np.testing.assert_allclose(joined, join_scaled(features, colours, 1.0))


def test_grouping_by_colour_splits_a_feature_class_by_colour():
    """Coarse features: one value for a whole class. Alone they cannot say which of a
    class's segments belong together; with colour joined, equal colours group."""
    n = 400
    rng = np.random.default_rng(5)
    segment = np.arange(n) % 4                       # four hard segments
    features = np.where(segment[:, None] < 2, 0.8, 0.2) * np.ones((n, 3))
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.9, 0.1, 0.1], [0.1, 0.1, 0.9]])
    colours = palette[segment] + 0.01 * rng.normal(size=(n, 3))
    segments = np.eye(4)[segment]
    _, alone = group_segments(segments, grouping_descriptors(features, colours), 2)
    _, joined = group_segments(segments, grouping_descriptors(features, colours, 5.0), 2)
    assert same_partition(alone, np.array([0, 0, 1, 1]))
    assert same_partition(joined, np.array([0, 1, 0, 1]))


# ---- relaxed sparsification ---------------------------------------------------------------

def test_initial_layers_snapping_rule():
    rng = np.random.default_rng(0)
    layers = rng.random((500, 3))
    layers[:5] = [0.05, 0.05, 0.05]          # every value snaps to zero
    before = layers.copy()
    got = initial_layers(layers)
    np.testing.assert_array_equal(layers, before)
    snapped = np.where(layers < 0.1, 0.0, np.where(layers > 0.9, 1.0, layers))
    total = snapped.sum(axis=1, keepdims=True)
    expected = snapped / np.where(total > 0, total, 1)
    fallback = layers / layers.sum(axis=1, keepdims=True)
    expected[total[:, 0] == 0] = fallback[total[:, 0] == 0]
    np.testing.assert_allclose(got, expected, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(got[:5], 1 / 3)


def test_initial_layers_known_values():
    got = initial_layers([[0.95, 0.05], [0.5, 0.5], [0.6, 0.3], [0.08, -0.2]])
    np.testing.assert_allclose(got[0], [1.0, 0.0])
    np.testing.assert_allclose(got[1], [0.5, 0.5])
    np.testing.assert_allclose(got[2], [2 / 3, 1 / 3])
    np.testing.assert_allclose(got[3], [1.0, 0.0])  # all snapped: clipped proportions


def test_sparsity_exponent():
    np.testing.assert_allclose(sparsity_exponent([0.0, 0.05, 0.1, 3.0]),
                               [0.9, 0.95, 1.0, 1.0])


@pytest.mark.parametrize("k", [2, 4])
def test_apply_system_equals_explicit_matrix(k):
    rng = np.random.default_rng(k)
    image = rng.random((6, 7, 3))
    lap = matting_laplacian(image)
    n = lap.shape[0]
    diag_weights = rng.random((n, k)) + 0.5
    x = rng.normal(size=(n, k))
    got = apply_system(lap, diag_weights, 100.0, x)
    system = (scipy.sparse.kron(scipy.sparse.identity(k), lap)
              + scipy.sparse.diags(diag_weights.T.ravel())
              + 100.0 * scipy.sparse.kron(np.ones((k, k)), scipy.sparse.identity(n)))
    expected = (system @ x.T.ravel()).reshape(k, n).T
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-10)


def relaxed_case():
    image, alpha = two_region_image((16, 20), edge_width=4)
    image = image.astype(np.float64)
    lap = laplacian(image)
    noisy = np.clip(alpha.ravel() + 0.15 * np.random.default_rng(0).normal(size=alpha.size), 0, 1)
    return image, alpha.ravel(), lap, np.column_stack([noisy, 1 - noisy])


def relaxed_energy(lap, layers, anchor, gradient, fidelity=1.0, sum_weight=100.0):
    """The energy of the module docstring, written out."""
    expo = sparsity_exponent(gradient)[:, None]
    smooth = sum(layers[:, k] @ (lap @ layers[:, k]) for k in range(layers.shape[1]))
    sparse = np.sum(np.abs(layers) ** expo + np.abs(1 - layers) ** expo)
    return (smooth + sparse + fidelity * np.sum((layers - anchor) ** 2)
            + sum_weight * np.sum((layers.sum(axis=1) - 1) ** 2))


@pytest.mark.parametrize("rounds", [0, 3])
def test_relaxed_sums_to_one_and_lowers_the_energy(rounds):
    image, alpha, lap, layers = relaxed_case()
    gradient = gradient_magnitude(image).ravel()
    start = initial_layers(layers)
    out = relaxed_sparsification(lap, layers, gradient, options=RelaxedOptions(rounds=rounds))
    assert out.shape == layers.shape
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-3)
    assert relaxed_energy(lap, out, start, gradient) < relaxed_energy(lap, start, start,
                                                                      gradient) - 1.0
    # Smoothing along the image removes much of the added noise.
    assert np.abs(out[:, 0] - alpha).mean() < 0.8 * np.abs(start[:, 0] - alpha).mean()


def test_relaxed_progress():
    image, _, lap, layers = relaxed_case()
    calls = []
    relaxed_sparsification(lap, layers, gradient_magnitude(image).ravel(),
                           options=RelaxedOptions(rounds=2),
                           progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_relaxed_prior_with_zero_weight_changes_nothing_and_pulls_as_it_grows():
    image, alpha, lap, layers = relaxed_case()
    gradient = gradient_magnitude(image).ravel()
    opts = RelaxedOptions(rounds=4)
    plain = relaxed_sparsification(lap, layers, gradient, options=opts)
    rows = np.arange(0, layers.shape[0], 2)
    target = np.column_stack([1.0 - alpha, alpha])[rows]      # the layers swapped
    def run(weight):
        return relaxed_sparsification(lap, layers, gradient, options=opts,
                                      prior=(rows, target, np.full(len(rows), weight)))
    np.testing.assert_array_equal(run(0.0), plain)
    gaps = [np.abs(out[rows] - target).mean() for out in (plain, run(1.0), run(10.0))]
    assert gaps[0] > gaps[1] > gaps[2]
    np.testing.assert_allclose(run(10.0).sum(axis=1), 1.0, atol=1e-3)


def test_relaxed_keeps_exact_hard_layers():
    # Layers that are exact indicators of a two-colour image cost nothing in L; the
    # clamped IRLS weights (|a| >= 0.01, exponent ~0.9) balance at a = v / (u + v)
    # ~ 0.01^1.1 ~ 0.006, not exactly 0, so they stay within 0.01 of the indicators.
    image = np.zeros((16, 16, 3))
    image[:, :8] = (0.9, 0.3, 0.1)
    image[:, 8:] = (0.1, 0.4, 0.9)
    lap = matting_laplacian(image)
    left = np.zeros((16, 16))
    left[:, :8] = 1
    layers = np.column_stack([left.ravel(), 1 - left.ravel()])
    out = relaxed_sparsification(lap, layers, gradient_magnitude(image).ravel(),
                                 options=RelaxedOptions(rounds=3))
    np.testing.assert_allclose(out, layers, atol=1e-2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-3)


# ---- normalisation and upsampling ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalise_layers(dtype):
    rng = np.random.default_rng(0)
    raw = (rng.normal(size=(12, 10, 4)) * 0.6 + 0.3).astype(dtype)
    raw[0, 0] = -0.5                      # nothing positive: uniform
    got = normalise_layers(raw)
    assert got.dtype == np.float32 and got.shape == raw.shape
    assert got.min() >= 0 and got.max() <= 1
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got[0, 0], 0.25)
    clipped = np.clip(raw.astype(np.float64), 0, 1)
    total = clipped.sum(axis=-1, keepdims=True)
    ok = total[..., 0] > 1e-8
    np.testing.assert_allclose(got[ok], (clipped / np.where(total > 0, total, 1))[ok],
                               atol=1e-6)


def affine_layers(image, seed=0):
    """Three layers affine in colour, in [0, 1], summing to one."""
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=0.15, size=(2, 3))
    first = image @ a[0] + 0.3
    second = image @ a[1] + 0.3
    layers = np.stack([first, second, 1 - first - second], axis=-1)
    assert layers.min() > 0 and layers.max() < 1
    return layers


@pytest.mark.parametrize("shape", [(16, 16), (20, 28)])
def test_upsample_same_size_reproduces_affine_layers(shape):
    image = np.random.default_rng(1).random(shape + (3,))
    layers = affine_layers(image)
    got = upsample_layers(layers, image, image, eps=1e-10)
    assert got.dtype == np.float32 and got.shape == layers.shape
    np.testing.assert_allclose(got, layers, atol=2e-6)


def test_upsample_to_full_size_sums_to_one():
    full, _ = two_region_image((40, 56), edge_width=4)
    full = full.astype(np.float64)
    small = cv2.resize(full, (28, 20), interpolation=cv2.INTER_AREA)
    layers = normalise_layers(np.random.default_rng(2).random((20, 28, 3))).astype(np.float64)
    got = upsample_layers(layers, small, full)
    assert got.shape == (40, 56, 3) and got.dtype == np.float32
    assert got.min() >= 0 and got.max() <= 1
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-6)


def test_upsample_affine_layers_to_full_size():
    """Layers affine in colour stay (nearly) affine in the full image's colour."""
    rng = np.random.default_rng(3)
    full = cv2.GaussianBlur(rng.random((48, 64, 3)), (0, 0), 3)
    full = (full - full.min()) / (full.max() - full.min())
    small = cv2.resize(full, (32, 24), interpolation=cv2.INTER_AREA)
    got = upsample_layers(affine_layers(small, seed=4), small, full, eps=1e-10)
    expected = affine_layers(full, seed=4)
    np.testing.assert_allclose(got, expected, atol=1e-5)
