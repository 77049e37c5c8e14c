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
eigenvectors of a window's new frames, frame by frame (and of the frames the video
runner reads ahead), the constrained step's Gram corrections, layer by layer, and fixed
pieces of rows wherever each row is its own (:func:`by_pieces`). Each piece runs the
same operations however many threads share the pieces, so the layers are the same bits
on one core or many. SuperLU, BLAS and numpy's loops release the GIL, so Python threads
run them side by side.
"""

import concurrent.futures
import contextlib
import functools
import os
import threading

import numpy as np


@functools.lru_cache(maxsize=None)
def _controller():
    # Built at first use, once numpy's and scipy's BLAS libraries are both loaded.
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


#: The names of the threads that run pieces of work (:func:`thread_map`, the video
#: runner's read-ahead).
_THREAD_PREFIX = "sss_vfx"

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
            _release_openblas()
            _pin["limiter"] = _controller().limit(limits=1, user_api="blas")
        _pin["depth"] += 1
    try:
        yield
    finally:
        with _pin_lock:
            _pin["depth"] -= 1
            if _pin["depth"] == 0:
                _release_openblas()
                _pin["limiter"].restore_original_limits()
                _release_openblas()
                _pin["limiter"] = None


def _release_openblas():
    """Let this thread set OpenBLAS's thread count, and no thread keep that right.

    threadpoolctl (3.6 on) lets only the first thread that set OpenBLAS's process-wide
    count set it again, until that thread dies, and silently ignores the others. The
    limit is entered and left by whichever threads come first and last (a server's
    request thread, the video runner's), so each change of the count starts by
    clearing the right: a count set by one thread and restored by another would stay
    at one for the rest of the process.
    """
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # threadpoolctl before 3.6 has no such right
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


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


def new_pool(count):
    """A pool of ``count`` threads for pieces of work (the caller shuts it down); work
    on them that cuts itself into pieces (:func:`by_pieces`) runs them in its thread."""
    return concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix=_THREAD_PREFIX)


@functools.lru_cache(maxsize=None)
def _pool(count):
    return new_pool(count)


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


#: Most pieces a sweep over rows (or columns) is cut into by :func:`by_pieces`, and the
#: fewest rows in a piece: the pieces follow the size alone, so each runs the same
#: operations on one core or many.
PIECES = 8
PIECE_ROWS = 4096


def pieces(n, least=PIECE_ROWS):
    """The fixed contiguous pieces :func:`by_pieces` cuts ``range(n)`` into: a list of
    slices, at most :data:`PIECES`, of at least ``least`` each but for a single
    piece."""
    count = int(min(PIECES, max(1, n // least)))
    bounds = np.linspace(0, n, count + 1).astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in zip(bounds, bounds[1:])]


def by_pieces(function, n, like, least=PIECE_ROWS):
    """``function(piece)`` for the fixed pieces of ``range(n)`` (:func:`pieces`), on
    the cores.

    For work whose every row is its own: a product's rows, a sparse product's rows, an
    element-wise sweep. Each piece computes the same values as the whole (OpenBLAS
    computes a product's rows the same way in a piece as in the whole; not always its
    columns, nor a sum over rows), and the pieces are the same whatever the thread
    count, so the result is the same bits on one core or many.

    Parameters
    ----------
    function : callable(slice)
        Writes its piece's results; what it returns is dropped.
    n : int
        Rows to cut.
    like : array or tensor
        On numpy the pieces go to :func:`workers` threads under one BLAS thread; any
        other namespace (torch, whose own threads or device queue run the whole) gets
        one piece, ``slice(0, n)``, in this thread.
    least : int
        The fewest rows in a piece (fewer, larger pieces where each row is little
        work).
    """
    if not isinstance(like, np.ndarray):
        function(slice(0, n))
        return
    # On a thread of the pool already (a frame's eigenvectors beside another's), the
    # pieces run here: the pool's threads must not wait on the pool.
    inside = threading.current_thread().name.startswith(_THREAD_PREFIX)
    with single_blas_thread():
        thread_map(function, pieces(n, least), 1 if inside else workers())


class RowPieces:
    """A scipy.sparse matrix whose products with dense arrays go to the cores by fixed
    pieces of rows (:func:`by_pieces`): each row's sum is its own, so the product is
    the same bits as the whole matrix's.

    Parameters
    ----------
    matrix : (N, N') scipy.sparse matrix
    """

    def __init__(self, matrix):
        matrix = matrix.tocsr()
        self.shape = matrix.shape
        self.dtype = matrix.dtype
        # The rows of each piece by :func:`by_pieces`'s own cut, keyed by where it starts.
        self.blocks = {rows.start: matrix[rows] for rows in pieces(matrix.shape[0])}

    def __matmul__(self, x):
        """``matrix @ x`` for ``x`` (N', ...) numpy: (N, ...) float64."""
        out = np.empty((self.shape[0], *x.shape[1:]), dtype=np.result_type(self.dtype, x))

        def piece(rows):
            out[rows] = self.blocks[rows.start] @ x

        by_pieces(piece, self.shape[0], x)
        return out
