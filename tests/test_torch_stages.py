"""The stage registry: every stage with a torch implementation against numpy on
torch:cpu (looping over the registry), device resolution, memory reporting and the
torch-less path."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse
from _problems import two_region_problem

from sss_vfx.accel.compute import Compute, run_stage
from sss_vfx.accel.devices import find_cuda_devices, resolve_device
from sss_vfx.accel.stages import STAGES, pipeline_stages, torch_stages
from sss_vfx.errors import DeviceError, DeviceMemoryError
from sss_vfx.filters.gradient import gradient_magnitude
from sss_vfx.options import ConstrainedOptions, RelaxedOptions
from sss_vfx.progress import expected_seconds

torch = pytest.importorskip("torch")

SHAPE = (16, 20)


def principal_cosine(a, b):
    """Cosine of the largest principal angle between the column spans of a and b."""
    return np.linalg.svd(np.linalg.qr(a)[0].T @ np.linalg.qr(b)[0], compute_uv=False).min()


def same_pairs(values_atol):
    def check(out, ref):
        np.testing.assert_allclose(out[0], ref[0], rtol=0, atol=values_atol)
        assert principal_cosine(out[1], ref[1]) > 1 - 1e-9
    return check


def close(atol):
    return lambda out, ref: np.testing.assert_allclose(out, ref, atol=atol)


def equal(out, ref):
    assert np.array_equal(out, ref)


@pytest.fixture(scope="module")
def problem():
    image, _, features, lap = two_region_problem(SHAPE)
    values, vectors = run_stage("eigenvectors", lap, 12, shape=SHAPE, device="numpy")
    labels = run_stage("initial_segments", values, vectors, features, 6, device="numpy")
    soft = run_stage("constrained_sparsification", vectors, values, labels, device="numpy")
    grouped, _ = run_stage("grouping", soft, image.reshape(-1, 3), 3, device="numpy")
    return dict(image=image, features=features, lap=lap, values=values, vectors=vectors,
                labels=labels, soft=soft, grouped=grouped)


def window_case(p):
    n = p["lap"].shape[0]
    coupling = scipy.sparse.identity(n) * 1e-3
    window = scipy.sparse.bmat([[p["lap"] + coupling, -coupling],
                                [-coupling, p["lap"] + coupling]])
    return (window, [p["vectors"][:, :8], p["vectors"][:, :6]], 10), {}


def random_layers(shape, k, seed=0):
    a = np.random.default_rng(seed).random(shape + (k,)) ** 4
    return a / a.sum(axis=-1, keepdims=True)


#: Stage -> (arguments from the problem, comparison of torch's result with numpy's); the
#: tolerances are those of the stages' own parity tests (test_torch_*.py).
CASES = {
    "eigenvectors": (lambda p: ((p["lap"], 12), {}), same_pairs(1e-10)),
    "window_eigenvectors": (window_case, same_pairs(1e-12)),
    "kmeans": (lambda p: ((np.round(p["image"].reshape(-1, 3), 2), 4), {"seed": 1}),
               lambda out, ref: (equal(out[0], ref[0]),
                                 np.testing.assert_allclose(out[1], ref[1], atol=1e-12))),
    "initial_segments": (lambda p: ((p["values"], p["vectors"], p["features"], 6), {}),
                         equal),
    "constrained_sparsification": (
        lambda p: ((p["vectors"], p["values"], p["labels"]),
                   {"options": ConstrainedOptions(iterations=1, precision="float64",
                                                  clamp=1e-10)}), close(1e-12)),
    "grouping": (lambda p: ((p["soft"], p["image"].reshape(-1, 3), 3), {}),
                 lambda out, ref: (equal(out[1], ref[1]),
                                   np.testing.assert_allclose(out[0], ref[0], atol=1e-12))),
    "relaxed_sparsification": (
        lambda p: ((p["lap"], p["grouped"], gradient_magnitude(p["image"]).ravel()),
                   {"options": RelaxedOptions(rounds=3, cg_steps=30)}), close(1e-9)),
    "upsampling": (lambda p: ((random_layers(SHAPE, 4), np.random.default_rng(3).random(
        SHAPE + (3,)), np.random.default_rng(4).random((37, 45, 3)).astype(np.float32)), {}),
                   close(3e-7)),
    "colours": (lambda p: ((p["image"].astype(np.float32), random_layers(SHAPE, 3)), {}),
                close(1e-6)),
}


def test_every_torch_stage_has_a_parity_case():
    assert set(CASES) == set(torch_stages())


@pytest.mark.parametrize("name", torch_stages())
def test_torch_cpu_equals_numpy(problem, name):
    arguments, compare = CASES[name]
    args, kwargs = arguments(problem)
    ref = Compute.resolve("numpy").run(name, *args, **kwargs)
    compute = Compute.resolve("torch:cpu")
    out = compute.run(name, *args, **kwargs)
    assert compute.ran == {name: "torch:cpu"}
    compare(out, ref)


def test_pipeline_stages_and_costs_come_from_the_registry():
    assert pipeline_stages()[:3] == ("superpixels", "affinities", "eigenvectors")
    assert "flow" in pipeline_stages(video=True) and "flow" not in pipeline_stages()
    assert all(STAGES[s].part_of is None for s in pipeline_stages(video=True))
    work = {"pixels": 2 * 65536, "eigenvectors": 100, "plate_pixels": 1e6}
    assert expected_seconds("relaxed_sparsification", work) == pytest.approx(
        2 * STAGES["relaxed_sparsification"].reference_s)
    assert expected_seconds("refinement", work) == 0.0
    with pytest.raises(KeyError, match="refinement.*torch"):
        STAGES["refinement"].implementation("torch")


def test_torch_device_is_resolved_once():
    compute = Compute.resolve("torch:cpu")
    assert compute.torch_device == torch.device("cpu")
    assert Compute.resolve("numpy").torch_device is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_says_so():
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert find_cuda_devices() == []


def test_auto_imports_torch_only_where_a_gpu_driver_loads():
    # A fresh process: whether resolving 'auto' imported torch (1-2 s of CPU).
    code = ("import sys; from sss_vfx.accel.devices import resolve_device, "
            "_gpu_driver_present; resolve_device('auto'); "
            "print('torch' in sys.modules, _gpu_driver_present())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == out[1]


def test_no_gpu_driver_means_no_cuda_device(monkeypatch):
    from sss_vfx.accel import devices
    monkeypatch.setattr(devices, "_gpu_driver_present", lambda: False)
    assert find_cuda_devices() == []
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_numpy_stages_run_on_numpy_under_torch():
    compute = Compute.resolve("torch:cpu")
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    labels, _ = compute.run("kmeans", points, 2)
    assert isinstance(labels, np.ndarray)
    assert len(set(labels[:20].tolist())) == 1 and labels[0] != labels[-1]
    assert compute.gpu_peak_bytes == {}  # peaks are recorded on CUDA devices only


def test_out_of_memory_becomes_one_line(monkeypatch):
    def too_big(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")

    monkeypatch.setitem(STAGES, "kmeans", replace(STAGES["kmeans"], function=too_big))
    with pytest.raises(DeviceMemoryError, match="kmeans stage does not fit .*max_pixels"):
        run_stage("kmeans", None, 2, device="torch:cpu", pixels=65536)


def test_missing_torch_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from sss_vfx.accel.compute import run_stage\n"
            "from sss_vfx.errors import DeviceError\n"
            "try:\n    run_stage('kmeans', [[0.0]], 1, device='torch:cpu')\n"
            "except DeviceError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'sss_vfx[gpu]'" in out
