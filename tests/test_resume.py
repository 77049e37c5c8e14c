"""A resumed shot gives the same bits as an uninterrupted one, wherever it stopped."""

import cv2
import numpy as np
import pytest

from sss_vfx import segment_video
from sss_vfx.cli import main
from sss_vfx.io.exr import read_layers_exr
from sss_vfx.io.shot_outputs import ShotOutputs, WindowStates
from sss_vfx.data import moving_shot

TINY = {"layers": 2, "eigenvectors": 10, "initial_segments": 6, "superpixels": 40}
TINY_FLAGS = ["--layers", "2", "--eigenvectors", "10", "--initial-segments", "6",
              "--superpixels", "40"]


class MemoryStates:
    """A checkpoint in memory, copying like a file would."""

    def __init__(self):
        self.states = {}

    def save(self, number, state):
        self.states[number] = {k: np.array(v, copy=True) for k, v in state.items()}

    def load(self, number):
        state = self.states.get(number)
        return None if state is None else {k: v.copy() for k, v in state.items()}


@pytest.fixture(scope="module")
def clip():
    return [s.image for s in moving_shot(frames=7, shape=(32, 40), n_strands=6, seed=3)]


def interrupted_then_resumed(clip, stop, **options):
    """Run until ``stop`` frames are out, drop the run, resume with what it left."""
    states, done = MemoryStates(), {}
    first = segment_video(clip, start=100, checkpoint=states, **options)
    for result in first:
        done[result.number] = result.alphas
        if len(done) == stop:
            break
    first.close()
    return list(segment_video(clip, start=100, checkpoint=states, finished=done.get,
                              **options)), done


def check_every_stop(clip, stops, **options):
    full = list(segment_video(clip, start=100, checkpoint=MemoryStates(), **options))
    for stop in stops:
        resumed, done = interrupted_then_resumed(clip, stop, **options)
        assert [r.number for r in resumed] == [r.number for r in full]
        assert [r.skipped for r in resumed] == [r.number in done for r in resumed]
        for r, f in zip(resumed, full):
            assert np.array_equal(r.alphas, f.alphas), (stop, r.number)
            if not r.skipped:
                assert np.array_equal(r.colours, f.colours), (stop, r.number)
    return full


def test_resume_equals_an_uninterrupted_run(clip):
    # Windows 0-2, 2-4: stops mid-window (1, 3), at a window's end (2) and near the end.
    full = check_every_stop(clip[:5], [1, 2, 3, 4], **TINY)
    plain = list(segment_video(clip[:5], start=100, **TINY))
    for a, b in zip(full, plain):     # checkpoints change nothing
        assert np.array_equal(a.alphas, b.alphas)


@pytest.mark.slow
@pytest.mark.parametrize("linking", [{"window": 4, "overlap": 2},
                                     {"window": 3, "overlap": 0},
                                     {"window": 3, "overlap": 1, "carry_weight": 1.0},
                                     {"temporal": False}],
                         ids=["4-2", "3-0", "carried", "per-frame"])
def test_resume_equals_an_uninterrupted_run_at_every_stop(clip, linking):
    check_every_stop(clip, range(1, len(clip)), **TINY, **linking)


def test_without_states_finished_frames_anchor_the_layers(clip):
    """A folder from a run without states: not exact, but the layers keep the finished
    frames' identity (here swapped) and every frame comes out once."""
    full = list(segment_video(clip[:5], **TINY))
    done = {r.number: r.alphas[..., ::-1].copy() for r in full[:4]}
    resumed = list(segment_video(clip[:5], finished=done.get, checkpoint=MemoryStates(),
                                 **TINY))
    assert [r.skipped for r in resumed] == [True] * 4 + [False]
    last, truth = resumed[-1].alphas, full[-1].alphas
    assert np.abs(last - truth[..., ::-1]).mean() < np.abs(last - truth).mean()


def test_states_of_another_run_or_unreadable_are_not_loaded(tmp_path):
    states = WindowStates(tmp_path / "state", "key-a", resuming=True)
    given = np.arange(12, dtype=np.float64).reshape(6, 2)
    states.save(7, {"previous": given})
    assert np.array_equal(states.load(7)["previous"], given)
    assert states.load(8) is None
    assert WindowStates(tmp_path / "state", "key-b", resuming=True).load(7) is None
    assert WindowStates(tmp_path / "state", "key-a", resuming=False).load(7) is None
    states.path(7).write_bytes(b"truncated")
    assert states.load(7) is None
    for number in (8, 9, 10):
        states.save(number, {"previous": given})
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        "window.0009.npz", "window.0010.npz"]


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("plates")
    for i, shot in enumerate(moving_shot(frames=5, shape=(32, 40), n_strands=6, seed=3)):
        pixels = (np.clip(shot.image, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)
        assert cv2.imwrite(str(directory / f"plate.{1001 + i:04d}.png"), pixels)
    return directory


def read_all(folder):
    return {p.name: read_layers_exr(p) for p in sorted(folder.glob("layers.*.exr"))}


@pytest.mark.parametrize("stop", [1, pytest.param(2, marks=pytest.mark.slow), 3])
def test_cli_resume_after_an_interruption_writes_the_same_exrs(plates, tmp_path, stop,
                                                               monkeypatch):
    args = [str(plates / "plate.%04d.png"), *TINY_FLAGS]
    assert main(["video", *args, "-o", str(tmp_path / "whole")]) == 0
    write_frame = ShotOutputs.write_frame
    written = []

    def interrupting(self, number, *a, **kw):
        if len(written) == stop:
            raise KeyboardInterrupt
        written.append(number)
        return write_frame(self, number, *a, **kw)

    monkeypatch.setattr(ShotOutputs, "write_frame", interrupting)
    out = tmp_path / "resumed"
    assert main(["video", *args, "-o", str(out)]) == 130
    assert len(list(out.glob("layers.*.exr"))) == stop
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("layers.*.exr")}
    monkeypatch.setattr(ShotOutputs, "write_frame", write_frame)
    assert main(["video", *args, "-o", str(out)]) == 0
    whole, resumed = read_all(tmp_path / "whole"), read_all(out)
    assert list(resumed) == list(whole)
    for name, result in whole.items():
        assert np.array_equal(resumed[name].alphas, result.alphas), name
        assert np.array_equal(resumed[name].colours, result.colours), name
    for name, stamp in stamps.items():    # finished frames are never rewritten
        assert (out / name).stat().st_mtime_ns == stamp
    assert len(list((out / "state").iterdir())) <= 4
