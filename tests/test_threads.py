"""Threads for independent pieces of work: the results a loop gives, bit for bit, with
BLAS held to one thread while they run and given back after."""

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sss_vfx import segment_video
from sss_vfx.data import moving_shot
from sss_vfx.segments.gram import ProductGram, SupportGram
from sss_vfx.spectral.threads import single_blas_thread, thread_map, workers


def blas_threads():
    np.linalg.solve(np.eye(3), np.ones(3))  # make sure numpy's BLAS is loaded
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_thread_map_gives_the_loops_results_in_the_items_order():
    def slow_square(x):
        time.sleep(0.01 * (5 - x))   # the first items finish last
        return x * x

    assert thread_map(slow_square, range(5), 3) == [x * x for x in range(5)]
    assert thread_map(slow_square, [], 3) == []


def test_thread_map_holds_blas_to_one_thread_and_gives_it_back():
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        seen = thread_map(lambda _: blas_threads(), range(4), 2)
        after = blas_threads()
    if not all(n == 2 for n in before):
        pytest.skip("BLAS cannot run two threads here")
    assert all(n == 1 for threads in seen for n in threads)
    assert after == before


def test_thread_map_raises_an_items_error_once_every_item_is_done():
    done = []

    def fail_on_two(x):
        if x == 2:
            raise ValueError("item 2")
        time.sleep(0.05)
        done.append(x)

    with pytest.raises(ValueError, match="item 2"):
        thread_map(fail_on_two, range(4), 2)
    assert sorted(done) == [0, 1, 3]


def test_workers_follow_the_blas_limit():
    with threadpool_limits(1, user_api="blas"):
        assert workers() == 1
    with threadpool_limits(2, user_api="blas"):
        assert 1 <= workers() <= 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_corrections_side_by_side_are_the_loops_bits(dtype):
    rng = np.random.default_rng(0)
    vectors = np.linalg.qr(rng.standard_normal((3000, 20)))[0]
    weights = np.where(rng.random((3000, 7)) < 0.7, 0.5,
                       np.abs(rng.standard_normal((3000, 7))) ** 3)
    gram = SupportGram(vectors, dtype, 1, 0.5)
    gram.threads = 1
    alone = gram(weights)
    gram.threads = 2
    np.testing.assert_array_equal(gram(weights), alone)
    # And the matrices are the weighted Gram matrices (a float64 reference).
    reference = np.einsum("pi,pk,pj->kij", vectors, weights, vectors)
    np.testing.assert_allclose(alone, reference, atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("solver", ["block", "arpack"])
def test_a_windows_frames_solved_side_by_side_give_the_same_layers(monkeypatch, solver):
    from sss_vfx.pipeline import window_step
    clip = moving_shot(frames=5, shape=(40, 56), seed=3)
    images, features = [s.image for s in clip], [s.features for s in clip]
    options = dict(layers=2, eigenvectors=12, initial_segments=4, superpixels=40,
                   colours=False, eigensolver=solver)
    runs = {}
    for count in (1, 2):
        monkeypatch.setattr(window_step, "workers", lambda count=count: count)
        runs[count] = [r.alphas for r in segment_video(images, features, **options)]
    assert len(runs[1]) == 5
    for one, two in zip(runs[1], runs[2]):
        np.testing.assert_array_equal(one, two)


def test_the_layers_do_not_depend_on_the_blas_thread_count():
    from sss_vfx import segment_image
    from sss_vfx.data import two_region_image
    image, _ = two_region_image((192, 192), seed=2)
    options = dict(eigenvectors=40, initial_segments=12, layers=3, superpixels=150,
                   colours=False)
    runs = []
    for threads in (2, 1):
        with threadpool_limits(threads, user_api="blas"):
            if threads == 2 and not all(n == 2 for n in blas_threads()):
                pytest.skip("BLAS cannot run two threads here")
            runs.append(segment_image(image, **options).alphas)
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_products_in_blocks_are_the_same_bits_on_any_thread_count(dtype):
    rng = np.random.default_rng(1)
    vectors = np.linalg.qr(rng.standard_normal((4000, 16)))[0]
    weights = rng.random((4000, 5)) ** 4
    with single_blas_thread():
        # A budget that holds 3,000 pixels' products and rebuilds the rest in chunks.
        gram = ProductGram(vectors, 136 * np.dtype(dtype).itemsize * 3000, dtype)
        runs = {}
        for count in (1, 2):
            gram.threads = count
            runs[count] = gram(weights)
        stored = np.ascontiguousarray(weights[gram.order], dtype=dtype)
        packed = gram.products[:, :gram.held] @ stored[:gram.held]
        for start in range(gram.held, 4000, gram.chunk):
            stop = min(start + gram.chunk, 4000)
            packed += gram._products(start, stop) @ stored[start:stop]
    assert 0 < gram.held < 4000
    np.testing.assert_array_equal(runs[1], runs[2])
    upper = np.triu_indices(16)
    # The blocks' sums are the one product's up to its rounding.
    reference = packed.T.astype(np.float64)
    scale = np.abs(reference).max() * (1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(runs[1][:, upper[0], upper[1]], reference, rtol=0, atol=scale)
