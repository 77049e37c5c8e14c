"""The torch stage registry, device parsing, memory reporting and the torch-less path."""

import subprocess
import sys

import numpy as np
import pytest

from sss_vfx.errors import DeviceError, DeviceMemoryError

torch = pytest.importorskip("torch")
from sss_vfx.accel import torch_common  # noqa: E402
from sss_vfx.accel.torch_stages import (NUMPY_TWINS, TORCH_STAGES, cuda_devices,  # noqa: E402
                                        numpy_twin, run_stage)


def test_every_stage_has_a_numpy_twin():
    assert set(TORCH_STAGES) == set(NUMPY_TWINS)
    for stage in TORCH_STAGES:
        assert callable(numpy_twin(stage))


@pytest.mark.parametrize("spec", ["torch:cpu", "cpu", None])
def test_cpu_specs(spec):
    assert torch_common.torch_device(spec) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["opencl:0:0", "numpy", "mps"])
def test_non_torch_specs_are_refused(spec):
    with pytest.raises(DeviceError, match="torch:cpu"):
        torch_common.torch_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_says_so():
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        torch_common.torch_device("cuda")
    assert cuda_devices() == []


def test_run_stage_runs_the_registered_function():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    memory = {}
    labels, _ = run_stage("kmeans", points, 2, device="torch:cpu", memory=memory)
    assert len(set(labels[:20].tolist())) == 1 and labels[0] != labels[-1]
    assert memory == {}  # peaks are recorded on CUDA devices only


def test_out_of_memory_becomes_one_line(monkeypatch):
    def too_big(*args, device=None, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")

    monkeypatch.setitem(TORCH_STAGES, "kmeans", too_big)
    with pytest.raises(DeviceMemoryError, match="kmeans stage does not fit .*max_pixels"):
        run_stage("kmeans", None, 2, device="torch:cpu", pixels=65536)


def test_missing_torch_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import sss_vfx.accel.torch_stages as s\n"
            "from sss_vfx.errors import DeviceError\n"
            "try:\n    s.run_stage('kmeans', [[0.0]], 1, device='torch:cpu')\n"
            "except DeviceError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'sss_vfx[gpu]'" in out
