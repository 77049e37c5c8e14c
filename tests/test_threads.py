"""Threads for independent pieces of work: the results a loop gives, bit for bit, with
BLAS held to one thread while they run and given back after."""

import time

import numpy as np
import pytest
import scipy.sparse
from threadpoolctl import threadpool_info, threadpool_limits

from sss_vfx import segment_video
from sss_vfx.data import moving_shot
from sss_vfx.segments.constrained import _expand
from sss_vfx.segments.gram import ProductGram, SupportGram
from sss_vfx.segments.kmeans import kmeans
from sss_vfx.spectral.threads import (PIECE_ROWS, PIECES, RowPieces, pieces,
                                      single_blas_thread, thread_map, workers)


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


def test_a_limit_left_by_another_thread_gives_blas_its_threads_back():
    import threading
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        if not all(n == 2 for n in before):
            pytest.skip("BLAS cannot run two threads here")
        entered, leave = threading.Event(), threading.Event()
        limit = single_blas_thread()

        def first():          # enters the limit and stays alive past its end
            limit.__enter__()
            entered.set()
            leave.wait()

        thread = threading.Thread(target=first)
        thread.start()
        entered.wait()
        with single_blas_thread():
            pinned = blas_threads()
        limit.__exit__(None, None, None)        # the last to leave: this thread
        after = blas_threads()
        leave.set()
        thread.join()
        # Another thread's limit takes effect now, and is given back in turn.
        seen = []
        thread = threading.Thread(target=lambda: seen.append(
            thread_map(lambda _: blas_threads(), range(2), 2)))
        thread.start()
        thread.join()
        final = blas_threads()
    assert all(n == 1 for n in pinned)
    assert after == before
    assert all(n == 1 for threads in seen[0] for n in threads)
    assert final == before


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


def use_workers(monkeypatch, count):
    """Every module that sends work to the cores sees ``count`` workers."""
    from sss_vfx.accel import compute
    from sss_vfx.segments import gram
    from sss_vfx.spectral import threads
    for module in (threads, gram, compute):
        monkeypatch.setattr(module, "workers", lambda count=count: count)


@pytest.mark.parametrize("solver", ["block", "arpack"])
def test_a_shots_frames_solved_side_by_side_and_ahead_give_the_same_layers(monkeypatch,
                                                                           solver):
    clip = moving_shot(frames=5, shape=(40, 56), seed=3)
    images, features = [s.image for s in clip], [s.features for s in clip]
    options = dict(layers=2, eigenvectors=12, initial_segments=4, superpixels=40,
                   colours=False, eigensolver=solver)
    runs = {}
    before = blas_threads()
    for count in (1, 2):
        # One worker: a window's frames one after another, nothing read ahead; two:
        # the frames side by side, the next windows' solving during this one's.
        use_workers(monkeypatch, count)
        runs[count] = [r.alphas for r in segment_video(images, features, **options)]
    assert len(runs[1]) == 5
    for one, two in zip(runs[1], runs[2]):
        np.testing.assert_array_equal(one, two)
    # The threads that solved ahead did not keep BLAS on one thread after the run.
    assert blas_threads() == before


def test_a_shot_closed_early_gives_the_blas_threads_back(monkeypatch):
    clip = moving_shot(frames=7, shape=(40, 56), seed=1)
    use_workers(monkeypatch, 2)
    before = blas_threads()
    run = segment_video([s.image for s in clip], [s.features for s in clip], layers=2,
                        eigenvectors=12, initial_segments=4, superpixels=40,
                        colours=False)
    first = next(run)
    assert first.index == 0
    run.close()     # the solves of the frames read ahead were under way
    assert blas_threads() == before


@pytest.mark.parametrize("n", [1, 5000, 40_000, 100_003])
def test_pieces_cover_the_rows_once_in_order(n):
    cut = pieces(n)
    assert cut[0].start == 0 and cut[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(cut, cut[1:]))
    assert len(cut) <= PIECES and (len(cut) == 1 or min(s.stop - s.start for s in cut)
                                   >= PIECE_ROWS)


def test_products_in_pieces_are_the_wholes_bits_on_any_thread_count(monkeypatch):
    rng = np.random.default_rng(4)
    basis = rng.standard_normal((50_000, 30))
    coefficients = rng.standard_normal((30, 7))
    rows = np.repeat(np.arange(50_000), 9)
    cols = (rows + rng.integers(-300, 300, rows.size)) % 50_000
    lap = scipy.sparse.csr_matrix((rng.standard_normal(rows.size), (rows, cols)),
                                  shape=(50_000, 50_000))
    x = rng.standard_normal((50_000, 4))
    with single_blas_thread():
        whole, sparse_whole = basis @ coefficients, lap @ x
    for count in (1, 2):
        use_workers(monkeypatch, count)
        out = np.empty((50_000, 8))
        _expand(basis, coefficients, out[:, :-1])
        np.testing.assert_array_equal(out[:, :-1], whole)
        np.testing.assert_array_equal(RowPieces(lap) @ x, sparse_whole)


def test_k_means_labels_do_not_depend_on_the_thread_count(monkeypatch):
    rng = np.random.default_rng(6)
    points = np.concatenate([rng.normal(c, 0.3, (6000, 5)) for c in range(4)])
    runs = []
    for count in (1, 2):
        use_workers(monkeypatch, count)
        runs.append(kmeans(points, 6, seed=2))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


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
