"""Cutting a shot into chunks, and the Open Job Description template."""

import json

import pytest

from sss_vfx.errors import OptionError
from sss_vfx.farm.chunks import chunk_ranges
from tests._farm import FIRST, write_shot


@pytest.mark.parametrize("count,size,handles", [(10, 4, 3), (40, 10, 3), (7, 24, 3),
                                                (25, 5, 1), (12, 3, 2)])
def test_chunks_own_every_frame_once_and_joins_meet_tails(count, size, handles):
    numbers = list(range(FIRST, FIRST + count))
    chunks = chunk_ranges(numbers, size, handles)
    owned = [n for c in chunks for n in range(c.first, c.last + 1)]
    assert owned == numbers
    assert sum(c.frames for c in chunks) == count
    assert chunks[0].key == numbers[0] and chunks[0].joins == ()
    for before, after in zip(chunks, chunks[1:]):
        i = numbers.index(after.first)
        assert after.key == numbers[i - handles]
        assert after.joins == tuple(numbers[i - handles + 1:i]) == before.tail
    assert chunks[-1].tail == ()


def test_chunks_follow_gaps_in_the_numbers():
    numbers = [1, 2, 4, 5, 7, 8, 9, 12]
    chunks = chunk_ranges(numbers, 4, 2)
    assert [(c.first, c.last, c.key, c.joins) for c in chunks] == [
        (1, 5, 1, ()), (7, 12, 4, (5,))]


@pytest.mark.parametrize("size,handles,name", [(0, 3, "chunk_frames"), (4, 0, "handles")])
def test_bad_chunking_names_the_parameter(size, handles, name):
    with pytest.raises(OptionError, match=name):
        chunk_ranges(range(10), size, handles)


def test_openjd_template_validates_and_expands(tmp_path):
    model = pytest.importorskip("openjd.model")
    from sss_vfx.farm.openjd import write_job_template

    plates, features, _ = write_shot(tmp_path / "plates", frames=10)
    out = tmp_path / "out"
    path = write_job_template(plates, out, features=features, chunk_frames=4, handles=3,
                              plan_flags=["--layers", "2"])
    template = model.decode_job_template(template=json.loads(path.read_text()))
    job = model.create_job(job_template=template, job_parameter_values={
        "SssVfx": model.ParameterValue(type=model.ParameterValueType.STRING,
                                       value="sss-vfx")})
    steps = {step.name: step for step in job.steps}
    assert list(steps) == ["Plan", "Chunk", "Finalise"]
    assert [d.dependsOn for d in steps["Chunk"].dependencies] == ["Plan"]
    assert [d.dependsOn for d in steps["Finalise"].dependencies] == ["Chunk"]
    tasks = list(model.StepParameterSpaceIterator(space=steps["Chunk"].parameterSpace))
    assert len(tasks) == len(chunk_ranges(range(10), 4, 3))
    # a PATH default is relative to the template's folder
    assert (path.parent / job.parameters["Output"].value).resolve() == out.resolve()
    plan_args = steps["Plan"].script.actions.onRun.args
    assert plan_args[plan_args.index("--layers") + 1] == "2"
    assert plan_args[plan_args.index("--features") + 1] == features


def test_openjd_command_writes_a_valid_template(tmp_path, capsys):
    pytest.importorskip("openjd.model")
    from openjd.model import decode_job_template

    from sss_vfx.cli import main

    plates, _, _ = write_shot(tmp_path / "plates", frames=6)
    out = tmp_path / "out"
    assert main(["farm", "openjd", plates, "-o", str(out), "--chunk-frames", "3",
                 "--layers", "3", "--no-temporal"]) == 0
    template = json.loads((out / "job.template.json").read_text())
    decode_job_template(template=template)
    args = template["steps"][0]["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--layers") + 1] == "3" and "--no-temporal" in args
    assert template["steps"][1]["parameterSpace"]["taskParameterDefinitions"][0][
        "range"] == "0-1"


def test_chunk_without_a_plan_fails_with_one_line(tmp_path, capsys):
    from sss_vfx.cli import main

    assert main(["farm", "chunk", str(tmp_path), "--chunk", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "plan" in err[0]


def test_openjd_and_batch_are_registered():
    from sss_vfx.cli import COMMANDS, build_parser

    assert {"farm", "batch"} <= set(COMMANDS)
    args = build_parser().parse_args(["batch", "a.%04d.exr", "-o", "out", "--workers", "2"])
    assert args.workers == 2 and args.shots == ["a.%04d.exr"]


@pytest.mark.slow
def test_openjd_cli_runs_the_whole_job_locally(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    openjd = shutil.which("openjd") or str(Path(sys.executable).with_name("openjd"))
    program = Path(sys.executable).with_name("sss-vfx")
    if not Path(openjd).exists() or not program.exists():
        pytest.skip("the OpenJD CLI (pip install openjd-cli) or sss-vfx is not installed")
    from sss_vfx.cli import main
    from sss_vfx.farm.layout import FarmFolder

    plates, features, _ = write_shot(tmp_path / "plates", frames=6)
    out = tmp_path / "out"
    assert main(["farm", "openjd", plates, "-o", str(out), "--features", features,
                 "--chunk-frames", "3", "--handles", "2", "--layers", "2",
                 "--eigenvectors", "10", "--initial-segments", "6",
                 "--superpixels", "40"]) == 0
    done = subprocess.run([openjd, "run", str(out / "job.template.json"), "--step",
                           "Finalise", "--run-dependencies", "-p", f"SssVfx={program}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["frame_count"] == 6 and manifest["status"] == "complete"
    folder = FarmFolder(out)
    assert all(folder.is_done(i) for i in range(2))
    assert sorted(p.name for p in out.glob("layers.*.exr")) == [
        f"layers.{FIRST + i:04d}.exr" for i in range(6)]


@pytest.mark.parametrize("channels", [2, 3, 8])
def test_feature_projection_round_trips_through_the_folder(tmp_path, channels):
    import numpy as np

    from sss_vfx.farm.layout import FarmFolder
    from sss_vfx.features.preprocess import (
        apply_feature_projection,
        fit_feature_projection,
    )

    rng = np.random.default_rng(channels)
    image, features = rng.random((12, 16, 3)), 3 * rng.random((12, 16, channels))
    projection = fit_feature_projection(features, image)
    folder = FarmFolder(tmp_path)
    assert folder.load_projection() is None
    folder.save_projection(projection)
    again = folder.load_projection()
    other = 3 * rng.random((12, 16, channels))
    assert np.array_equal(apply_feature_projection(again, other, image),
                          apply_feature_projection(projection, other, image))


def test_feature_classes_round_trip_through_the_folder(tmp_path):
    import cv2
    import numpy as np

    from sss_vfx.farm.layout import FarmFolder
    from sss_vfx.features.preprocess import fit_feature_projection

    labels = np.zeros((32, 40), int)
    labels[:, 25:] = 1
    features = cv2.GaussianBlur(np.eye(2)[labels].astype(np.float32), (0, 0), 1.5)
    projection = fit_feature_projection(features, np.zeros((32, 40, 3)))
    assert projection.class_points is not None
    folder = FarmFolder(tmp_path)
    folder.save_projection(projection)
    np.testing.assert_array_equal(folder.load_projection().class_points,
                                  projection.class_points)
