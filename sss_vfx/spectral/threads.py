"""One BLAS thread for small dense linear algebra.

OpenBLAS splits even a 100x100 solve across all its threads, which then wait on each
other. Where another process holds a core (a farm node, a second job, the compositing
package itself), the wait is a whole time slice per operation: on the 2-core machine
with one other busy process, the constrained sparsification's batch of 39 solves of
100x100 took 1.46 s with two threads and 18 ms with one, and a 300x300 ``eigh`` 54 ms
against 15 ms. Large products keep every thread.
"""

import functools


@functools.lru_cache(maxsize=None)
def _controller():
    # Built at first use, once numpy's and scipy's BLAS libraries are both loaded.
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def single_blas_thread():
    """Context manager: BLAS and LAPACK calls inside it run on one thread."""
    return _controller().limit(limits=1, user_api="blas")
