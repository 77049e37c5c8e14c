"""Reading a stream ahead: the items in order, the work on each started before the
items ``depth`` before it come out, and a failure raised where its item would be."""

import pytest

from sss_vfx.pipeline.lookahead import read_ahead


@pytest.mark.parametrize("depth", [0, 1, 3, 10])
def test_items_come_out_in_order_each_once_the_next_ones_are_started(depth):
    started = []
    seen = []
    for item in read_ahead(range(6), depth, started.append):
        seen.append(item)
        # Everything up to `depth` items after this one is started, nothing further.
        assert started == list(range(min(item + depth + 1, 6)))
    assert seen == list(range(6))


def broken(after):
    yield from range(after)
    raise ValueError("frame damaged")


@pytest.mark.parametrize("depth", [0, 2, 5])
def test_a_failure_comes_out_where_its_item_would_have(depth):
    seen = []
    with pytest.raises(ValueError, match="damaged"):
        for item in read_ahead(broken(3), depth, lambda item: None):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_a_failure_to_start_an_item_comes_out_at_that_item():
    def start(item):
        if item == 2:
            raise RuntimeError("cannot start 2")

    seen = []
    with pytest.raises(RuntimeError, match="start 2"):
        for item in read_ahead(range(5), 3, start):
            seen.append(item)
    assert seen == [0, 1]
