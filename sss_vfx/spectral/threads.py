"""How the stages use the cores: BLAS on one thread, and independent pieces of work (a
window's frames, a window's layers) side by side on threads.

OpenBLAS splits even a 100x100 solve across all its threads, which then wait on each
other. Where another process holds a core (a farm node, a second job, the compositing
package itself), the wait is a whole time slice per operation: on the 2-core machine
with one other busy process, the constrained sparsification's batch of 39 solves of
100x100 took 1.46 s with two threads and 18 ms with one, and a 300x300 ``eigh`` 54 ms
against 15 ms. And a product's rounding depends on how many threads shared it: a shot
run with one BLAS thread and with two differed by up to 0.55 in a layer by its ninth
frame, so a farm's one-thread workers and an artist's workstation gave different
mattes of the same shot.

So the numpy pipelines run every stage with BLAS on one thread
(:func:`single_blas_thread`, entered by :meth:`~sss_vfx.accel.compute.Compute.pinned`),
and the cores are used by giving threads whole pieces of work that share nothing: the
eigenvectors of a window's new frames, frame by frame, and the constrained step's Gram
corrections, layer by layer. Each piece runs the same operations however many threads
share the pieces, so the layers are the same bits on one core or many. SuperLU and BLAS
release the GIL, so Python threads run them side by side.
"""

import concurrent.futures
import contextlib
import functools
import os
import threading


@functools.lru_cache(maxsize=None)
def _controller():
    # Built at first use, once numpy's and scipy's BLAS libraries are both loaded.
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


_pin = {"depth": 0, "workers": 1, "limiter": None}
_pin_lock = threading.Lock()


@contextlib.contextmanager
def single_blas_thread():
    """Context manager: BLAS and LAPACK calls inside it run on one thread.

    The limit is the process's: contexts entered inside it, or by other threads while
    it holds, share it, and the BLAS thread count comes back when the last of them
    leaves (one thread leaving must not give another's products their threads back
    halfway through).
    """
    with _pin_lock:
        if _pin["depth"] == 0:
            _pin["workers"] = _available()
            _pin["limiter"] = _controller().limit(limits=1, user_api="blas")
        _pin["depth"] += 1
    try:
        yield
    finally:
        with _pin_lock:
            _pin["depth"] -= 1
            if _pin["depth"] == 0:
                _pin["limiter"].restore_original_limits()
                _pin["limiter"] = None


def workers():
    """Threads this process may keep busy: the cores it may run on, and no more than
    its BLAS libraries' thread count (as it was before :func:`single_blas_thread`), so
    a process held to one BLAS thread (``OMP_NUM_THREADS=1``, ``threadpoolctl``) runs
    one."""
    with _pin_lock:
        if _pin["depth"]:
            return _pin["workers"]
    return _available()


def _available():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    blas = [info["num_threads"] for info in _controller().info()
            if info["user_api"] == "blas"]
    return max(1, min([cores, *blas]))


@functools.lru_cache(maxsize=None)
def _pool(count):
    return concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="sss_vfx")


def thread_map(function, items, count):
    """``[function(item) for item in items]``, computed by up to ``count`` threads.

    With more than one thread the whole map runs under :func:`single_blas_thread`, so
    each item runs the same operations as in a loop: the results are the same bits.

    Parameters
    ----------
    function : callable
        Shares nothing between items: each result is its own item's alone. The BLAS
        calls it makes are worth one thread each (a BLAS product that needs all the
        cores belongs outside).
    items : iterable
    count : int, threads; 1 computes the list in this thread, BLAS as it is

    Returns
    -------
    list of the results, in the items' order. The first exception raised is raised
    here, after every item has finished.
    """
    items = list(items)
    if count <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with single_blas_thread():
        futures = [_pool(min(count, len(items))).submit(function, item) for item in items]
        concurrent.futures.wait(futures)
    return [future.result() for future in futures]
