"""Reading a stream ahead of its consumer, so work on the items to come can start early.

The video runner reads a window's worth of frames before it segments the window before
them, and starts their eigenvectors on other threads meanwhile
(:func:`~sss_vfx.pipeline.window_step.start_eigenpairs`).
"""

from collections import deque

__all__ = ["read_ahead"]


def read_ahead(items, depth, start):
    """Yield ``items`` in order, each once the ``depth`` after it are read.

    Parameters
    ----------
    items : iterable
    depth : int >= 0
        Items read beyond the one yielded; 0 reads one at a time.
    start : callable(item)
        Called on each item as it is read, in order, before any item after it is
        yielded.

    Yields
    ------
    The items. An exception raised while reading (or starting) an item is raised where
    that item would have been yielded: every item before it comes out first, as
    without the read-ahead.
    """
    items = iter(items)
    buffer = deque()
    failure = None
    while True:
        while failure is None and len(buffer) <= depth:
            try:
                item = next(items)
                start(item)
            except StopIteration:
                failure = StopIteration
                break
            except Exception as exc:  # noqa: BLE001 - raised again at its position
                failure = exc
                break
            buffer.append(item)
        if buffer:
            yield buffer.popleft()
        elif failure is StopIteration:
            return
        else:
            raise failure
