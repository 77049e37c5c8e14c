"""Device discovery and choice, fallbacks, the kernel cache, and the CLI's devices."""

import json
import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _opencl import DEVICES, OPENCL

from sss_vfx import DeviceError, KernelBuildError, matting_laplacian
from sss_vfx.accel import NUMPY, Device, devices, list_devices, resolve_device
from sss_vfx.accel.context import get_context
from sss_vfx.cli import main
from sss_vfx.accel.compute import Compute
from sss_vfx.options import AffinityWeights

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_platform(monkeypatch):
    """A machine where the OpenCL platform query fails."""
    def fail():
        raise RuntimeError("clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR")
    monkeypatch.setattr(devices, "_get_platforms", fail)
    monkeypatch.setattr(devices, "_warned", set())


def fake(kind_type, p, d):
    return Device("opencl", p, d, "Fake", f"{kind_type} {p}:{d}", kind_type, 2 ** 30,
                  2 ** 28, True)


@pytest.mark.parametrize("spec", ["numpy", " NumPy ", NUMPY])
def test_numpy_spec(spec):
    assert resolve_device(spec) is NUMPY


@pytest.mark.parametrize("spec", ["cuda:x", "torch", "opencl:x", "opencl:0", "opencl:0:0:0", "", 3])
def test_unknown_specs_name_the_choices(spec):
    with pytest.raises(DeviceError, match="'auto', 'numpy', 'opencl'"):
        resolve_device(spec)


def test_environment_variable_is_the_default(monkeypatch):
    monkeypatch.setenv("SSS_VFX_DEVICE", "numpy")
    assert resolve_device(None) is NUMPY
    monkeypatch.setenv("SSS_VFX_DEVICE", "gpu-please")
    with pytest.raises(DeviceError, match="SSS_VFX_DEVICE"):
        resolve_device(None)
    monkeypatch.delenv("SSS_VFX_DEVICE")
    assert resolve_device(None).kind == ("opencl" if DEVICES else "numpy")


def test_auto_prefers_a_gpu_then_any_device(monkeypatch):
    cpu, gpu = fake("CPU", 0, 0), fake("GPU", 1, 0)
    monkeypatch.setattr(devices, "find_opencl_devices", lambda: [cpu, gpu])
    chosen = resolve_device("auto")
    assert chosen.spec == "opencl:1:0" and chosen.fallback
    assert resolve_device("opencl") == gpu and not resolve_device("opencl").fallback
    assert resolve_device("opencl:0:0") == cpu
    with pytest.raises(DeviceError, match="opencl:0:0, opencl:1:0"):
        resolve_device("opencl:2:0")
    monkeypatch.setattr(devices, "find_opencl_devices", lambda: [cpu])
    assert resolve_device("auto").spec == "opencl:0:0"


def test_without_a_platform_auto_falls_back_with_one_warning(no_platform, caplog):
    with caplog.at_level(logging.WARNING, logger="sss_vfx"):
        assert resolve_device("auto") is NUMPY
        assert resolve_device(None) is NUMPY
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "numpy" in warnings[0].getMessage()
    assert "PLATFORM_NOT_FOUND" in warnings[0].getMessage()
    assert list_devices() == [NUMPY]
    with pytest.raises(DeviceError, match="no OpenCL platform"):
        devices.find_opencl_devices()
    with pytest.raises(DeviceError):
        resolve_device("opencl")


def test_without_a_platform_the_builders_run_on_numpy(no_platform):
    image = np.random.default_rng(0).random((9, 10, 3))
    np.testing.assert_array_equal(matting_laplacian(image, device="auto").toarray(),
                                  matting_laplacian(image, device="numpy").toarray())
    compute = Compute.resolve("auto")
    compute.laplacian(image, weights=AffinityWeights(superpixels=4))
    assert compute.affinity_device is NUMPY and compute.spec == "numpy"


def test_without_pyopencl_auto_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyopencl", None)
    monkeypatch.setattr(devices, "_warned", set())
    assert resolve_device("auto") is NUMPY
    with pytest.raises(DeviceError, match="pyopencl is not installed"):
        resolve_device("opencl")


def test_importing_the_package_creates_no_opencl_object():
    code = "import sss_vfx, sys; print('pyopencl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


@OPENCL
def test_build_failures_name_the_kernel_and_options(device):
    ctx = get_context(device)
    with pytest.raises(KernelBuildError, match=r"matting\.cl.*-DREAL=no_such_type"):
        ctx.program("matting.cl", ("-DREAL=no_such_type", "-DINDEX_T=int"))


@OPENCL
def test_programs_are_built_once_per_context(device):
    ctx = get_context(device)
    assert get_context(device.spec) is ctx
    options = ctx.build_options(np.float32)
    assert ctx.program("laplacian.cl", options) is ctx.program("laplacian.cl", options)
    assert ctx.kernel("laplacian.cl", "csr_laplacian", options) is \
        ctx.kernel("laplacian.cl", "csr_laplacian", options)


@OPENCL
def test_a_device_failure_falls_back_only_under_auto(device, monkeypatch, caplog):
    from sss_vfx.accel import matting_cl

    def broken(*args, **kwargs):
        raise KernelBuildError("OpenCL kernel matting.cl failed to build (simulated)")
    monkeypatch.setattr(matting_cl, "matting_laplacian_cl", broken)
    image = np.random.default_rng(0).random((6, 7, 3))
    with caplog.at_level(logging.WARNING, logger="sss_vfx"):
        lap = matting_laplacian(image, device=replace(device, fallback=True))
    assert abs(lap - matting_laplacian(image, device="numpy")).max() == 0
    assert "simulated" in caplog.text and "numpy" in caplog.text
    with pytest.raises(KernelBuildError):
        matting_laplacian(image, device=device)


def test_devices_command_lists_devices_and_the_auto_choice(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out
    assert out.strip().splitlines()[-1].startswith("auto: ")
    for device in DEVICES:
        assert device.spec in out and "GiB" in out


def test_devices_command_without_a_platform(no_platform, capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "OpenCL: none" in out and "auto: numpy" in out


def test_devices_command_out_of_process():
    out = subprocess.run([sys.executable, "-m", "sss_vfx.cli", "devices"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    assert "auto: " in out.stdout


def test_segment_rejects_an_unknown_device_in_one_line(tmp_path, capsys):
    import cv2
    image = tmp_path / "plate.png"
    cv2.imwrite(str(image), np.full((20, 24, 3), 128, np.uint8))
    status = main(["segment", str(image), "-o", str(tmp_path / "out"), "--device", "tpu"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "device must be" in err


def test_segment_records_the_device_in_the_manifest(tmp_path):
    import cv2

    from sss_vfx.data import two_region_image
    image = tmp_path / "plate.png"
    pixels, _ = two_region_image((24, 28))
    cv2.imwrite(str(image), (np.asarray(pixels)[..., ::-1] * 255).astype(np.uint8))
    out = tmp_path / "out"
    assert main(["segment", str(image), "-o", str(out), "--device", "numpy", "--no-pngs",
                 "--progress", "none", "--eigenvectors", "12", "--initial-segments", "6",
                 "--layers", "2", "--superpixels", "30", "--relaxed-rounds", "2"]) == 0
    assert json.loads((out / "manifest.json").read_text())["device"] == "numpy"


def test_a_cuda_run_builds_its_affinities_with_opencl_or_numpy():
    from sss_vfx.accel.devices import Device
    gpu = Device("torch", device_index=0, name="a GPU", type="GPU")
    compute = Compute(gpu)
    assert compute.spec == "cuda:0" and compute.device.torch_device == "cuda:0"
    assert compute.affinity_device.kind in ("opencl", "numpy")
    assert Compute(resolve_device("torch:cpu")).affinity_device is NUMPY
