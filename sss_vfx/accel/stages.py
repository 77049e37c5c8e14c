"""The stages of the method, named once: what each runs, where it may run, what it costs.

One :class:`Stage` per step of DESIGN sections 1-2, in pipeline order, in
:data:`STAGES`. The pipelines take their stage lists from it
(:func:`pipeline_stages`), the progress reporter its cost model
(:meth:`Stage.expected_seconds`), :class:`~sss_vfx.accel.compute.Compute` the
implementation for its device, and the parity tests the stages to compare on numpy and
torch. Every stage after the Laplacian is one function written against the array
namespace (numpy, or torch on the CPU or a CUDA GPU); the eigen stage alone has a second
algorithm for torch (:mod:`sss_vfx.spectral`). The affinities run on OpenCL through
their own builders (see :class:`~sss_vfx.accel.compute.Compute`).

A few entries are parts of a stage rather than stages (``part_of``): the window's
eigenpairs (timed as ``eigenvectors``), k-means (inside ``initial_segments`` and
``grouping``), the matting Laplacian alone and the temporal affinity.
"""

from dataclasses import dataclass, field

from sss_vfx.graph.flow import frame_flow
from sss_vfx.graph.method_laplacian import method_laplacian
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.graph.temporal import temporal_affinity
from sss_vfx.segments.colours import layer_colours
from sss_vfx.segments.constrained import constrained_sparsification
from sss_vfx.segments.grouping import group_segments
from sss_vfx.segments.initial import initial_segments
from sss_vfx.segments.kmeans import kmeans
from sss_vfx.segments.refine import refine_with
from sss_vfx.segments.relaxed import relaxed_sparsification
from sss_vfx.segments.upsample import upsample_layers
from sss_vfx.spectral import smallest_magnitude_eigs, subspace_eigs, window_eigs

__all__ = ["STAGES", "Stage", "pipeline_stages", "torch_stages"]


def _pixels(work):
    return work.get("pixels", 65536) / 65536


def _eigenvectors(work):
    return work.get("eigenvectors", 100) / 100


def _plate(work):
    return work.get("plate_pixels", 1e6) / 1e6


@dataclass(frozen=True)
class Stage:
    """One stage of the method.

    Attributes
    ----------
    name : str
        The name users see (progress lines, ``timings_s`` and ``stage_devices`` of the
        manifest, GPU peak memory).
    function : callable
        The implementation; for the stages with ``'torch'`` in ``devices`` it is
        written against the array namespace and runs on numpy arrays or torch tensors.
    devices : tuple of str
        Device kinds it may run on: ``'numpy'``, ``'opencl'``, ``'torch'``.
    reference_s : float
        Seconds of one run on the reference machine (2 cores, numpy, 65,536 working
        pixels, 100 eigenvectors, a 1 MP plate; benchmarks/bench_still.py and
        bench_video.py).
    scale : callable(work) -> float
        How the cost grows with the work sizes (see :meth:`expected_seconds`).
    torch_function : callable, optional
        A different algorithm for torch devices (the eigen stage).
    part_of : str, optional
        The stage this entry is timed under; None for a stage of its own.
    video_only : bool
        Runs in shots only (optical flow).
    """

    name: str
    function: object
    devices: tuple = ("numpy",)
    reference_s: float = 0.0
    scale: object = field(default=_pixels, repr=False)
    torch_function: object = None
    part_of: str = None
    video_only: bool = False

    def implementation(self, kind):
        """The function to run on a device of ``kind`` ('numpy', 'torch', ...).

        Raises
        ------
        KeyError
            The stage does not run on that kind of device.
        """
        if kind not in self.devices:
            raise KeyError(f"stage {self.name!r} does not run on {kind} devices")
        return self.torch_function if kind == "torch" and self.torch_function else \
            self.function

    def expected_seconds(self, work):
        """Expected seconds of one run on the reference machine.

        Parameters
        ----------
        work : dict
            ``pixels`` (working pixels of the stage's stack: a frame, or a window's
            frames together), ``plate_pixels``, ``eigenvectors``, ``iterations`` (of the
            constrained sparsification), ``rounds`` (relaxed), ``refine`` (bool).

        Returns
        -------
        float, >= 0
        """
        return self.reference_s * self.scale(work)


_NUMPY_TORCH = ("numpy", "torch")

#: Every stage, in pipeline order, then the parts of stages.
STAGES = {stage.name: stage for stage in (
    Stage("superpixels", compute_superpixels, reference_s=0.6),
    Stage("affinities", method_laplacian, ("numpy", "opencl"), 0.8),
    Stage("flow", frame_flow, reference_s=0.3, video_only=True),
    Stage("eigenvectors", smallest_magnitude_eigs, _NUMPY_TORCH, 7.5,
          lambda w: _pixels(w) ** 1.2 * _eigenvectors(w), torch_function=subspace_eigs),
    Stage("initial_segments", initial_segments, _NUMPY_TORCH, 1.5),
    Stage("constrained_sparsification", constrained_sparsification, _NUMPY_TORCH, 4.4,
          lambda w: _pixels(w) * _eigenvectors(w) ** 2 * w.get("iterations", 40) / 40),
    Stage("grouping", group_segments, _NUMPY_TORCH, 0.1),
    Stage("relaxed_sparsification", relaxed_sparsification, _NUMPY_TORCH, 1.4,
          lambda w: _pixels(w) * w.get("rounds", 20) / 20),
    Stage("upsampling", upsample_layers, _NUMPY_TORCH, 0.4, _plate),
    Stage("refinement", refine_with, reference_s=3.0,
          scale=lambda w: _plate(w) if w.get("refine") else 0.0),
    Stage("colours", layer_colours, _NUMPY_TORCH, 1.5, _plate),
    Stage("window_eigenvectors", window_eigs, _NUMPY_TORCH, part_of="eigenvectors"),
    Stage("kmeans", kmeans, _NUMPY_TORCH, part_of="initial_segments"),
    Stage("matting_laplacian", None, ("numpy", "opencl"), part_of="affinities"),
    Stage("temporal_affinity", temporal_affinity, ("numpy", "opencl"), part_of="affinities"),
)}


def pipeline_stages(video=False):
    """The names of the stages a still (or, with ``video``, a shot) runs, in order.

    Examples
    --------
    >>> pipeline_stages()[:3]
    ('superpixels', 'affinities', 'eigenvectors')
    """
    return tuple(s.name for s in STAGES.values()
                 if s.part_of is None and (video or not s.video_only))


def torch_stages():
    """The stages (and parts) with a torch implementation: what the parity tests
    compare with numpy."""
    return tuple(s.name for s in STAGES.values() if "torch" in s.devices)
