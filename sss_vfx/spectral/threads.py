"""How the stages use the cores: one BLAS thread for small dense linear algebra, and
independent pieces of work side by side.

OpenBLAS splits even a 100x100 solve across all its threads, which then wait on each
other. Where another process holds a core (a farm node, a second job, the compositing
package itself), the wait is a whole time slice per operation: on the 2-core machine
with one other busy process, the constrained sparsification's batch of 39 solves of
100x100 took 1.46 s with two threads and 18 ms with one, and a 300x300 ``eigh`` 54 ms
against 15 ms. Large products keep every thread.

The cores are used instead by giving threads whole pieces of work that share nothing:
the eigenvectors of a window's new frames, frame by frame, and the constrained step's
Gram corrections, layer by layer. Each piece runs the same operations on one BLAS
thread however many threads share the pieces, so their results are the bits of a loop
over them. (The large products elsewhere keep every BLAS thread, and the BLAS thread
count changes their rounding: a run held to one thread, as farm workers are, can give
slightly different layers.) SuperLU and BLAS release the GIL, so Python threads run
them side by side.
"""

import concurrent.futures
import functools
import os


@functools.lru_cache(maxsize=None)
def _controller():
    # Built at first use, once numpy's and scipy's BLAS libraries are both loaded.
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def single_blas_thread():
    """Context manager: BLAS and LAPACK calls inside it run on one thread."""
    return _controller().limit(limits=1, user_api="blas")


def workers():
    """Threads this process may keep busy: the cores it may run on, and no more than
    its BLAS libraries' thread count, so a process held to one BLAS thread
    (``OMP_NUM_THREADS=1``, ``threadpoolctl``) runs one. Inside
    :func:`single_blas_thread` it is 1: read it before."""
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

    With more than one thread the whole map runs under :func:`single_blas_thread`,
    entered here, once: a BLAS limit entered and left by the threads themselves would
    be lifted by the first to leave while the others still compute. Each item then
    runs the same operations as in a loop, so the results are the same bits.

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
