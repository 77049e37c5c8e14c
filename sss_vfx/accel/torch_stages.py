"""The torch implementations of the stages after the Laplacian, by stage name.

The pipeline's dispatch looks a stage up here when the device is ``torch:cpu``, ``cuda``
or ``cuda:N`` (``TORCH_STAGES["eigenpairs"](lap, k, device=dev)``), and
:data:`NUMPY_TWINS` names the numpy reference each one must equal; the equivalence
tests and the GPU benchmark loop over both. Every torch stage takes numpy/scipy inputs
or tensors and a ``device=`` keyword, and returns tensors when given tensors, so data
stays on the device from one stage to the next. Nothing here imports torch at import.

:func:`run_stage` runs one stage under :func:`~sss_vfx.accel.torch_common.memory_guard`:
the stage's GPU peak memory goes to a dict, and out-of-memory becomes one
:class:`~sss_vfx.errors.DeviceMemoryError` line.
"""

from sss_vfx.accel.torch_common import cuda_devices, memory_guard, torch_device
from sss_vfx.arrays.transfer import to_device, to_host
from sss_vfx.segments.colours import layer_colours
from sss_vfx.segments.constrained import constrained_sparsification
from sss_vfx.segments.grouping import group_segments
from sss_vfx.segments.initial import initial_segments
from sss_vfx.segments.kmeans import kmeans
from sss_vfx.segments.relaxed import relaxed_sparsification
from sss_vfx.segments.upsample import upsample_layers
from sss_vfx.spectral import subspace_eigs, window_eigs

__all__ = ["NUMPY_TWINS", "TORCH_STAGES", "cuda_devices", "numpy_twin", "run_stage"]

#: Stage name -> torch implementation.
TORCH_STAGES = {
    "eigenpairs": subspace_eigs,
    "window_eigenpairs": window_eigs,
    "kmeans": kmeans,
    "initial_segments": initial_segments,
    "constrained_sparsification": constrained_sparsification,
    "grouping": group_segments,
    "relaxed_sparsification": relaxed_sparsification,
    "upsampling": upsample_layers,
    "colours": layer_colours,
}

#: Stage name -> "module:function" of the numpy reference the torch stage equals.
NUMPY_TWINS = {
    "eigenpairs": "sss_vfx.spectral:smallest_magnitude_eigs",
    "window_eigenpairs": "sss_vfx.spectral:window_eigs",
    "kmeans": "sss_vfx.segments.kmeans:kmeans",
    "initial_segments": "sss_vfx.segments.initial:initial_segments",
    "constrained_sparsification":
        "sss_vfx.segments.constrained:constrained_sparsification",
    "grouping": "sss_vfx.segments.grouping:group_segments",
    "relaxed_sparsification": "sss_vfx.segments.relaxed:relaxed_sparsification",
    "upsampling": "sss_vfx.segments.upsample:upsample_layers",
    "colours": "sss_vfx.segments.colours:layer_colours",
}


def numpy_twin(stage):
    """The numpy reference function of a stage (imported on demand)."""
    import importlib
    module, name = NUMPY_TWINS[stage].split(":")
    return getattr(importlib.import_module(module), name)


def run_stage(stage, *args, device=None, memory=None, pixels=None, **kwargs):
    """Run ``TORCH_STAGES[stage](*args, device=..., **kwargs)`` with memory bookkeeping.

    Parameters
    ----------
    stage : str
        A key of :data:`TORCH_STAGES`.
    *args, **kwargs
        The stage's own arguments.
    device : torch.device or str
    memory : dict, optional
        Receives ``memory[stage]``: peak bytes allocated on the CUDA device during the
        stage (``torch.cuda.max_memory_allocated``); nothing on the CPU.
    pixels : int, optional
        Working pixels, named in an out-of-memory message.

    Returns
    -------
    What the stage returns.

    Raises
    ------
    DeviceMemoryError
        The stage does not fit the device's memory (one line, naming the stage).
    DeviceError
        torch is missing (names ``pip install 'sss_vfx[gpu]'``) or the device is not a
        torch device.
    """
    if stage not in TORCH_STAGES:
        raise KeyError(f"no torch stage {stage!r}; known: {', '.join(TORCH_STAGES)}")
    dev = torch_device(device)
    with memory_guard(stage, dev, memory, pixels):
        return to_host(TORCH_STAGES[stage](*to_device(args, dev),
                                           **{k: to_device(v, dev) for k, v in kwargs.items()}))

