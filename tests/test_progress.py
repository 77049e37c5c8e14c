"""The progress reporter: stage lines from the first stage on, in every mode, a time left
from the stages' expected costs rescaled by measured speed, and a heartbeat in logs."""

import io
import json
import time

import numpy as np
import pytest

import sss_vfx
from sss_vfx.progress import PROGRESS_SCHEMA, Progress, expected_seconds
from sss_vfx.data import two_region_image

TINY = dict(eigenvectors=10, initial_segments=6, superpixels=40, layers=2)


def test_expected_seconds_scale_with_the_work():
    small = {"pixels": 16384, "eigenvectors": 100}
    big = {"pixels": 65536, "eigenvectors": 100}
    assert expected_seconds("constrained_sparsification", big) == pytest.approx(
        4 * expected_seconds("constrained_sparsification", small))
    assert expected_seconds("constrained_sparsification", {"pixels": 65536,
                                                           "eigenvectors": 50}) == \
        pytest.approx(expected_seconds("constrained_sparsification", big) / 4)
    assert expected_seconds("refinement", {"refine": False}) == 0.0


def test_time_left_follows_the_measured_speed():
    """Stages that ran 10x slower than expected make the rest 10x longer too."""
    out = io.StringIO()
    p = Progress("json", out, heartbeat=0)
    p.plan({"pixels": 65536, "eigenvectors": 100}, ["superpixels", "eigenvectors",
                                                    "constrained_sparsification"])
    p("superpixels", 0, 3)
    first = json.loads(out.getvalue().splitlines()[0])
    model = sum(expected_seconds(s, {"pixels": 65536, "eigenvectors": 100})
                for s in ("superpixels", "eigenvectors", "constrained_sparsification"))
    assert first["eta_s"] == pytest.approx(model, rel=0.01)
    # Pretend superpixels took 10x its expected cost.
    p.current = ("superpixels", time.perf_counter() - 10 * p.expected["superpixels"])
    p("eigenvectors", 1, 3)
    second = json.loads(out.getvalue().splitlines()[1])
    rest = p.expected["eigenvectors"] + p.expected["constrained_sparsification"]
    assert second["eta_s"] == pytest.approx(10 * rest, rel=0.02)
    assert first["schema"] == second["schema"] == PROGRESS_SCHEMA


def test_log_mode_writes_a_line_per_stage_and_a_heartbeat():
    out = io.StringIO()
    p = Progress("log", out, heartbeat=0.2)
    p.plan({"pixels": 1024}, ["superpixels"])
    p("superpixels", 0, 1)
    time.sleep(5.6)     # the heartbeat thread wakes at most every 5 s
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/1] superpixels")
    assert any(line.startswith("... still in superpixels") for line in lines[1:])
    assert "\r" not in out.getvalue()


def test_still_pipeline_reports_every_stage_it_runs_in_order():
    out = io.StringIO()
    p = Progress("json", out, heartbeat=0)
    image, _ = two_region_image((32, 32))
    sss_vfx.segment_image(image, progress=p, device="numpy", **TINY)
    p.finish()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    stages = [r["stage"] for r in records]
    assert stages[0] == "superpixels" and stages[-1] == "colours"
    assert all(r["eta_s"] is not None and r["eta_s"] >= 0 for r in records)
    done = [r["done"] for r in records]
    assert done == sorted(done)


def test_video_reports_stages_before_the_first_frame_and_frames_after():
    out = io.StringIO()
    clip = [two_region_image((24, 32), seed=s)[0] for s in range(4)]
    p = Progress("json", out, total_frames=4, heartbeat=0)
    for result in sss_vfx.segment_video(clip, progress=p, device="numpy", **TINY):
        p.frame(result.number, skipped=result.skipped)
    p.finish()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["event"] == "stage"
    frames = [r for r in records if r["event"] == "frame"]
    assert [r["done"] for r in frames] == [1, 2, 3, 4] and frames[-1]["eta_s"] == 0
    assert np.isfinite([r["eta_s"] for r in records if r["eta_s"] is not None]).all()
