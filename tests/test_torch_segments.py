"""k-means, initial segments, grouping, constrained and relaxed sparsification on
torch:cpu against their numpy references."""

import numpy as np
import pytest
from _problems import two_region_problem

from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.segments.constrained import ConstrainedOptions, constrained_sparsification
from sss_vfx.segments.grouping import group_segments
from sss_vfx.segments.initial import initial_segments
from sss_vfx.segments.kmeans import kmeans
from sss_vfx.segments.relaxed import RelaxedOptions, relaxed_sparsification
from sss_vfx.spectral import smallest_magnitude_eigs

torch = pytest.importorskip("torch")
from sss_vfx.accel.compute import run_stage  # noqa: E402

SHAPE = (24, 32)


@pytest.fixture(scope="module")
def problem():
    image, alpha, features, lap = two_region_problem(SHAPE)
    values, vectors = smallest_magnitude_eigs(lap, 30, shape=SHAPE)
    labels = initial_segments(values, vectors, features, 10)
    return image, features, lap, values, vectors, labels


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("k", [3, 8])
def test_kmeans_same_labels(seed, k):
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.normal(c, 0.3, size=(60, 3)) for c in range(5)])
    points = np.round(points, 2)  # repeated points exercise the weighted distinct points
    ref_labels, ref_centres = kmeans(points, k, seed=seed)
    labels, centres = run_stage("kmeans", points, k, seed=seed, device="torch:cpu")
    assert np.array_equal(labels, ref_labels)
    np.testing.assert_allclose(centres, ref_centres, atol=1e-12)


@pytest.mark.parametrize("with_features", [True, False])
def test_initial_segments_same_labels(problem, with_features):
    _, features, _, values, vectors, _ = problem
    feats = features if with_features else None
    ref = initial_segments(values, vectors, feats, 10, seed=1)
    out = run_stage("initial_segments", values, vectors, feats, 10, seed=1,
                    device="torch:cpu")
    assert np.array_equal(out, ref)
    tensor = initial_segments(torch.from_numpy(values), torch.from_numpy(vectors),
                              feats, 10, seed=1)
    assert isinstance(tensor, torch.Tensor) and np.array_equal(tensor.numpy(), ref)


def test_grouping_same_layers(problem):
    image, _, _, values, vectors, labels = problem
    soft = constrained_sparsification(vectors, values, labels)
    ref, ref_assign = group_segments(soft, image.reshape(-1, 3), 3)
    out, assign = run_stage("grouping", soft, image.reshape(-1, 3), 3, device="torch:cpu")
    assert np.array_equal(assign, ref_assign)
    np.testing.assert_allclose(out, ref, atol=1e-12)


@pytest.mark.parametrize("precision,clamp,one_step_tol",
                         [("float32", 1e-4, 1e-5), ("float64", 1e-10, 1e-12),
                          ("float32", 1e-2, 1e-5), ("float64", 1e-2, 1e-12)])
def test_constrained_one_iteration_equal(problem, precision, clamp, one_step_tol):
    _, _, lap, values, vectors, labels = problem
    ones = lap @ np.ones(lap.shape[0])
    options = ConstrainedOptions(iterations=1, precision=precision, clamp=clamp)
    ref = constrained_sparsification(vectors, values, labels, options=options,
                                     laplacian_ones=ones)
    out = run_stage("constrained_sparsification", vectors, values, labels,
                    options=options, laplacian_ones=ones, device="torch:cpu")
    # One IRLS step: float32 Gram sums agree to 1e-5, float64 to round-off.
    np.testing.assert_allclose(out, ref, atol=one_step_tol)


@pytest.mark.parametrize("stride", [3, 4])
def test_constrained_sampled_iterations_equal(problem, stride):
    # Iterations 1-3 of 5 sum over one pixel in `stride`, 4-5 over all: the twin
    # samples the same pixels. Five float64 IRLS steps amplify round-off to ~1e-7
    # (as at stride 1); sampling other pixels would move the result by 0.1 or more.
    _, _, lap, values, vectors, labels = problem
    options = ConstrainedOptions(iterations=5, precision="float64", clamp=1e-10,
                                 gram_stride=stride)
    ref = constrained_sparsification(vectors, values, labels, options=options)
    out = run_stage("constrained_sparsification", vectors, values, labels,
                    options=options, device="torch:cpu")
    np.testing.assert_allclose(out, ref, atol=1e-5)
    faithful = constrained_sparsification(vectors, values, labels, options=options,
                                          gram_stride=1)
    assert np.abs(faithful - ref).max() > 0.05  # sampling did change the path
    np.testing.assert_allclose(
        run_stage("constrained_sparsification", vectors, values, labels, options=options,
                  gram_stride=1, device="torch:cpu"), faithful, atol=1e-5)


@pytest.fixture(scope="module")
def larger_problem():
    """48x64 pixels: enough that one pixel in 8 samples the Gram matrices stably."""
    _, _, features, lap = two_region_problem((48, 64))
    values, vectors = smallest_magnitude_eigs(lap, 30, shape=(48, 64))
    return None, features, lap, values, vectors, initial_segments(values, vectors,
                                                                  features, 10)


@pytest.mark.parametrize("stride", [1, 8])
@pytest.mark.parametrize("precision,clamp", [("float32", 1e-4), ("float64", 1e-10),
                                             ("float32", 1e-2)])
def test_constrained_full_run_within_own_sensitivity(larger_problem, precision, clamp,
                                                     stride):
    _, _, lap, values, vectors, labels = larger_problem
    options = ConstrainedOptions(precision=precision, clamp=clamp, gram_stride=stride)
    ref = constrained_sparsification(vectors, values, labels, options=options)
    out = run_stage("constrained_sparsification", vectors, values, labels, options=options,
                    device="torch:cpu")
    # 40 IRLS steps amplify round-off (weights |a|^-1.2): the reference moves as much
    # when its eigenvectors are perturbed by 1e-13. Same segments kept, mean |diff|
    # below 0.01, every row summing to 1.
    rng = np.random.default_rng(1)
    perturbed = constrained_sparsification(
        vectors + 1e-13 * rng.standard_normal(vectors.shape), values, labels,
        options=options)
    assert out.shape == ref.shape == perturbed.shape
    own = np.abs(perturbed - ref).mean()
    assert np.abs(out - ref).mean() < max(0.01, 3 * own)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)


def test_constrained_tensors_stay_tensors(problem):
    _, _, _, values, vectors, labels = problem
    out = constrained_sparsification(torch.from_numpy(vectors), values, labels,
                                     options=ConstrainedOptions(iterations=2))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64


@pytest.mark.parametrize("with_terms", [False, True])
def test_relaxed_equal(problem, with_terms):
    image, _, lap, values, vectors, labels = problem
    soft = constrained_sparsification(vectors, values, labels)
    grouped, _ = group_segments(soft, image.reshape(-1, 3), 3)
    gradient = gradient_magnitude(image).ravel()
    options = RelaxedOptions(rounds=5, cg_steps=50)
    kwargs = {}
    if with_terms:
        rows = np.arange(0, 100)
        values_anchor = np.zeros((100, grouped.shape[1]))
        values_anchor[:, 0] = 1.0
        prior_rows = np.arange(300, 400)
        kwargs = dict(anchor=(rows, values_anchor, 10.0),
                      prior=(prior_rows, grouped[prior_rows][:, ::-1], np.full(100, 0.5)))
    ref = relaxed_sparsification(lap, grouped, gradient, options=options, **kwargs)
    out = run_stage("relaxed_sparsification", lap, grouped, gradient, options=options,
                    device="torch:cpu", **kwargs)
    # Same arithmetic in float64, so round-off only (the CG is not chaotic).
    np.testing.assert_allclose(out, ref, atol=1e-9)
