"""Where each stage of one run computes: the device, resolved once, and its dispatch.

A :class:`Compute` is made once at the boundary (API call, command, server request)
from a device spec (see :mod:`sss_vfx.accel.devices`) and passed through every stage.
:meth:`Compute.run` runs a stage of the registry (:mod:`sss_vfx.accel.stages`) by name:
on ``cuda``, ``cuda:N`` and ``torch:cpu`` the stages with a torch implementation run on
the torch device (inputs moved there once, results back once), the rest on numpy. The
affinities run on ``opencl`` through their own builders (:meth:`Compute.laplacian`,
:meth:`~Compute.matting_laplacian`, :meth:`~Compute.temporal`). Under ``auto`` a device
failure at build time falls back to numpy once, with one warning, and the run remembers
it; :attr:`Compute.ran` records where each stage ran, for the manifest.
"""

import logging
from contextlib import contextmanager, nullcontext

from sss_vfx.accel.devices import NUMPY, Device, auto_affinity_device, resolve_device
from sss_vfx.accel import label_means_cl, laplacian_cl, matting_cl, temporal_cl
from sss_vfx.accel.stages import STAGES
from sss_vfx.arrays.namespace import import_torch
from sss_vfx.arrays.transfer import to_device, to_host
from sss_vfx.errors import DeviceError, DeviceMemoryError
from sss_vfx.graph.laplacian import affinity_to_laplacian
from sss_vfx.graph.matting import check_matting_image, matting_affinity
from sss_vfx.graph.method_laplacian import method_laplacian
from sss_vfx.graph.superpixel_affinity import (colour_affinity, pairs_to_pixel_affinity,
                                               semantic_affinity_values)
from sss_vfx.graph.superpixels import compute_superpixels
from sss_vfx.graph.temporal import temporal_affinity
from sss_vfx.options import AffinityWeights, TemporalOptions
from sss_vfx.segments.colours import premultiplied_colours, unit_range
from sss_vfx.spectral.threads import single_blas_thread, workers

__all__ = ["Compute", "memory_guard", "run_stage"]

log = logging.getLogger("sss_vfx")


class Compute:
    """The device of one run and the stage implementations it selects.

    Parameters
    ----------
    device : Device
        As :func:`~sss_vfx.accel.devices.resolve_device` returns it.

    Attributes
    ----------
    device : Device
        The device asked for (after resolution).
    torch_device : torch.device or None
        The torch device of a torch device (resolved once, here), None otherwise.
    affinity_device : Device
        Where the affinities are built: the device itself when it is OpenCL; for
        torch devices the ``auto`` OpenCL choice; numpy after a fallback.
    ran : dict of str to str
        Stage name -> spec of the device it last ran on.
    gpu_peak_bytes : dict of str to int
        Stage name -> peak bytes allocated on the CUDA device while it ran.
    """

    def __init__(self, device):
        self.device = device
        self.torch_device = None
        if device.kind == "torch":
            torch = import_torch()
            self.torch_device = torch.device("cpu") if device.device_index < 0 else \
                torch.device("cuda", device.device_index)
            # The OpenCL builder is the fastest affinity builder measured; torch has none.
            self.affinity_device = auto_affinity_device() if device.is_gpu else NUMPY
        else:
            self.affinity_device = device
        self.ran = {}
        self.gpu_peak_bytes = {}

    @classmethod
    def resolve(cls, device=None):
        """A Compute for a spec, a :class:`Device` or a Compute (returned as it is).

        Raises
        ------
        DeviceError
            An unknown spec, or a device asked for explicitly that does not exist.

        Examples
        --------
        >>> Compute.resolve("numpy").spec
        'numpy'
        """
        if isinstance(device, Compute):
            return device
        return cls(device if isinstance(device, Device) else resolve_device(device))

    @property
    def spec(self):
        """The spec of the device in use: the one asked for, or ``'numpy'`` once an
        OpenCL device has fallen back."""
        return (self.affinity_device.spec if self.device.kind == "opencl"
                else self.device.spec)

    def pinned(self):
        """Context for a run's stages: on numpy, BLAS on one thread throughout (the
        cores come from threads over independent pieces, :mod:`sss_vfx.spectral.threads`),
        so the layers do not depend on the BLAS thread count; torch devices keep their
        own threads."""
        return single_blas_thread() if self.torch_device is None else nullcontext()

    def workers(self):
        """Threads a run may give independent pieces of work to: the process's
        (:func:`~sss_vfx.spectral.threads.workers`) on numpy; 1 on a torch device, whose
        own threads or queue run its stages."""
        return workers() if self.torch_device is None else 1

    def _note(self, stage, device):
        self.ran[stage] = device.spec

    def _on_affinity_device(self, stage, opencl_build, numpy_build):
        device = self.affinity_device
        if device.kind == "opencl":
            try:
                result = opencl_build(device)
                self._note(stage, device)
                return result
            except DeviceError as exc:
                if not device.fallback:
                    raise
                log.warning("%s on %s failed, building it with numpy from now on: %s",
                            stage, device, exc)
                self.affinity_device = NUMPY
        result = numpy_build()
        self._note(stage, NUMPY)
        return result

    def run(self, name, *args, pixels=None, **kwargs):
        """Run the stage ``name`` of :data:`~sss_vfx.accel.stages.STAGES` here.

        On a torch device a stage with a torch implementation gets its numpy arrays and
        scipy matrices as tensors on the device and returns numpy arrays; its peak GPU
        memory goes to :attr:`gpu_peak_bytes`. Every other stage runs on numpy.

        Parameters
        ----------
        name : str
        *args, **kwargs
            The stage function's own arguments.
        pixels : int, optional
            Working pixels, named in an out-of-memory message.

        Returns
        -------
        What the stage returns.

        Raises
        ------
        DeviceMemoryError
            The stage does not fit the device's memory (one line, naming the stage).
        """
        stage = STAGES[name]
        if self.torch_device is None or "torch" not in stage.devices:
            self._note(name, NUMPY)
            return stage.implementation("numpy")(*args, **kwargs)
        self._note(name, self.device)
        dev = self.torch_device
        with memory_guard(name, dev, self.gpu_peak_bytes, pixels):
            return to_host(stage.implementation("torch")(
                *to_device(args, dev), **{k: to_device(v, dev) for k, v in kwargs.items()}))

    # --- affinities (DESIGN step 3, section 2) -----------------------------------------

    def laplacian(self, image, features=None, *, weights=AffinityWeights(),
                  superpixels=None):
        """The method's Laplacian; see
        :func:`~sss_vfx.graph.method_laplacian.method_laplacian`."""
        image = check_matting_image(image)
        if superpixels is None:
            superpixels = compute_superpixels(image, n_segments=weights.superpixels)

        def opencl_build(device):
            extra = None
            if weights.colour:
                extra = weights.colour * colour_affinity(superpixels,
                                                         weights.colour_radius)
            if features is not None and weights.semantic:
                means = label_means_cl.label_means_cl(superpixels.labels, features,
                                                      superpixels.count, device=device)
                pairs = superpixels.adjacency
                values = semantic_affinity_values(means[pairs[:, 0]], means[pairs[:, 1]])
                semantic = weights.semantic * pairs_to_pixel_affinity(superpixels, pairs,
                                                                      values)
                extra = semantic if extra is None else extra + semantic
            return laplacian_cl.method_laplacian_cl(image, extra, eps=weights.matting_eps,
                                                    device=device)

        return self._on_affinity_device(
            "affinities", opencl_build,
            lambda: method_laplacian(image, features, weights=weights,
                                     superpixels=superpixels))

    def matting_laplacian(self, image, *, eps=AffinityWeights.matting_eps):
        """The matting Laplacian alone (closed-form matting)."""
        image = check_matting_image(image)

        def opencl_build(device):
            return matting_cl.matting_laplacian_cl(image, eps, device=device)

        return self._on_affinity_device(
            "matting_laplacian", opencl_build,
            lambda: affinity_to_laplacian(matting_affinity(image, eps=eps)))

    def temporal(self, frame, next_frame, flow, confidence, *,
                 lambda_t=TemporalOptions.temporal_weight,
                 sigma=TemporalOptions.temporal_sigma):
        """The temporal affinity; see :func:`~sss_vfx.graph.temporal.temporal_affinity`."""
        def opencl_build(device):
            return temporal_cl.temporal_affinity_cl(frame, next_frame, flow, confidence,
                                                    lambda_t=lambda_t, sigma=sigma,
                                                    device=device)

        return self._on_affinity_device(
            "temporal_affinity", opencl_build,
            lambda: temporal_affinity(frame, next_frame, flow, confidence,
                                      lambda_t=lambda_t, sigma=sigma))

    # --- the layer colours of a plate of any range (DESIGN step 8) -------------------

    def colours(self, plate, alphas):
        """Premultiplied layer colours ``(H, W, K, 3)`` float32 summing to the plate
        (DESIGN step 8); see :func:`~sss_vfx.segments.colours.layer_colours`. The
        plate may hold any finite values (scene-linear, log): see
        :func:`~sss_vfx.segments.colours.unit_range`."""
        unit, low, scale = unit_range(plate)
        colours = self.run("colours", unit, alphas)
        if low is not None:
            colours = colours * scale + low
        return premultiplied_colours(colours, alphas)


def run_stage(name, *args, device=None, **kwargs):
    """Run one stage of the registry on a device: ``Compute.resolve(device).run(...)``.

    Parameters
    ----------
    name : str
        A key of :data:`~sss_vfx.accel.stages.STAGES`.
    device : str, Device or Compute, optional
        As :meth:`Compute.resolve` takes it.
    *args, **kwargs
        The stage's own arguments (and ``pixels``, see :meth:`Compute.run`).

    Returns
    -------
    What the stage returns (numpy arrays).
    """
    return Compute.resolve(device).run(name, *args, **kwargs)


@contextmanager
def memory_guard(stage, device, record=None, pixels=None):
    """Run one stage on a torch device: record its GPU peak memory in ``record[stage]``
    (CUDA only), and turn running out of memory into one DeviceMemoryError line."""
    torch = import_torch()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield
    except torch.OutOfMemoryError:
        total = torch.cuda.get_device_properties(device).total_memory if cuda else 0
        size = f" ({pixels} working pixels)" if pixels else ""
        if cuda:
            torch.cuda.empty_cache()
        raise DeviceMemoryError(
            f"the {stage} stage does not fit the memory of {device}{size}"
            + (f", {total / 2**30:.1f} GiB" if total else "")
            + "; lower max_pixels or use device='numpy'") from None
    if cuda and record is not None:
        record[stage] = max(record.get(stage, 0), int(torch.cuda.max_memory_allocated(device)))
