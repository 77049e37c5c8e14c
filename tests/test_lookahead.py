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


def test_a_shot_starts_the_next_windows_frames_before_it_segments_a_window(monkeypatch):
    from sss_vfx import segment_video
    from sss_vfx.data import moving_shot
    from sss_vfx.pipeline import video, window_step

    events = []
    start, segment = window_step.start_eigenpairs, window_step.segment_window

    def started(entry, *args):
        events.append(("start", entry.index))
        return start(entry, *args)

    def segmented(frames, *args):
        events.append(("segment", tuple(e.index for e in frames)))
        return segment(frames, *args)

    monkeypatch.setattr(video, "start_eigenpairs", started)
    monkeypatch.setattr(video, "segment_window", segmented)
    monkeypatch.setattr("sss_vfx.accel.compute.workers", lambda: 2)
    clip = moving_shot(frames=7, shape=(40, 56), seed=2)
    list(segment_video([s.image for s in clip], [s.features for s in clip], layers=2,
                       eigenvectors=12, initial_segments=4, superpixels=40,
                       colours=False))
    # Windows of 3 sharing 1: (0, 1, 2), (2, 3, 4), (4, 5, 6); each is segmented once
    # the next two windows' new frames are started.
    assert [e for e in events if e[0] == "segment"] == [
        ("segment", (0, 1, 2)), ("segment", (2, 3, 4)), ("segment", (4, 5, 6))]
    first = events.index(("segment", (0, 1, 2)))
    assert {("start", i) for i in range(7)} <= set(events[:first])
    assert sorted(i for kind, i in events if kind == "start") == list(range(7))


def test_the_frames_read_ahead_fit_a_quarter_of_the_free_memory():
    from sss_vfx.pipeline.limits import READ_AHEAD_BYTES_PER_PIXEL, frames_read_ahead
    per_frame = 65_536 * READ_AHEAD_BYTES_PER_PIXEL
    assert frames_read_ahead(65_536, 100, 4, free=100 * per_frame) == 4
    assert frames_read_ahead(65_536, 100, 4, free=4 * per_frame) == 1
    assert frames_read_ahead(65_536, 100, 4, free=3 * per_frame) == 0
    # More eigenvectors hold more memory per frame.
    assert frames_read_ahead(65_536, 400, 4, free=12 * per_frame) < \
        frames_read_ahead(65_536, 100, 4, free=12 * per_frame)
    assert frames_read_ahead(65_536, 100, 4, free=None) in range(5)


def test_a_shot_short_of_memory_reads_nothing_ahead(monkeypatch):
    from sss_vfx import segment_video
    from sss_vfx.data import moving_shot
    from sss_vfx.pipeline import video

    started = []
    monkeypatch.setattr(video, "frames_read_ahead", lambda *args: 0)
    monkeypatch.setattr(video, "start_eigenpairs", lambda entry, *a: started.append(entry))
    monkeypatch.setattr("sss_vfx.accel.compute.workers", lambda: 2)
    clip = moving_shot(frames=4, shape=(40, 56), seed=2)
    out = list(segment_video([s.image for s in clip], [s.features for s in clip],
                             layers=2, eigenvectors=12, initial_segments=4,
                             superpixels=40, colours=False))
    assert len(out) == 4 and started == []


def test_free_memory_keeps_to_a_containers_limit(monkeypatch, tmp_path):
    from sss_vfx.pipeline import limits
    v2 = tmp_path / "cgroup" / "job"
    v2.mkdir(parents=True)
    (v2 / "memory.max").write_text("3000000000\n")
    (v2 / "memory.current").write_text("1000000000\n")
    real_open = open

    def fake_open(path, *args, **kwargs):
        path = str(path)
        if path == "/proc/self/cgroup":
            path = tmp_path / "self_cgroup"
            path.write_text("0::/job\n")
        elif path.startswith("/sys/fs/cgroup"):
            path = str(tmp_path / "cgroup") + path[len("/sys/fs/cgroup"):]
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(limits, "_meminfo_available", lambda: 16 * 10 ** 9)
    assert limits.free_memory() == 2 * 10 ** 9
    (v2 / "memory.max").write_text("max\n")
    assert limits.free_memory() == 16 * 10 ** 9
