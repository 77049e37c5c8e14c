"""Where each stage of one run computes: the device, resolved once, and its dispatch.

A :class:`Compute` is made once at the boundary (API call, command, server request)
from a device spec (see :mod:`sss_vfx.accel.devices`) and passed through every stage.
Each method runs one stage of the method on that device: the numpy references of
``graph/``, ``segments/`` and ``spectral`` on ``numpy``; the OpenCL kernels for the
affinities on ``opencl``; the torch twins of the stages after the Laplacian on
``cuda`` and ``torch:cpu`` (where a twin exists; the rest stays numpy). Under
``auto`` a device failure at build time falls back to numpy once, with one warning,
and the run remembers it; :attr:`Compute.ran` records where each stage ran, for the
manifest.
"""

import logging

from sss_vfx.accel.devices import NUMPY, Device, auto_affinity_device, resolve_device
from sss_vfx.errors import DeviceError
from sss_vfx.graph.method_laplacian import method_laplacian
from sss_vfx.graph.temporal import temporal_affinity
from sss_vfx.options import AffinityWeights, RefineOptions, TemporalOptions

__all__ = ["Compute"]

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
        if device.kind == "torch":
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

    def _twin(self, stage):
        """Whether a stage has a torch twin to run on this (torch) device."""
        if self.device.kind != "torch":
            return False
        from sss_vfx.accel.torch_stages import TORCH_STAGES
        return stage in TORCH_STAGES

    def _run(self, stage, numpy_function, *args, **kwargs):
        if not self._twin(stage):
            self._note(stage, NUMPY)
            return numpy_function(*args, **kwargs)
        from sss_vfx.accel.torch_stages import run_stage
        self._note(stage, self.device)
        # GPU peak memory per stage is recorded; running out is one DeviceMemoryError.
        return run_stage(stage, *args, device=self.device.torch_device,
                         memory=self.gpu_peak_bytes, **kwargs)

    # --- affinities (DESIGN step 3, section 2) -----------------------------------------

    def laplacian(self, image, features=None, *, weights=AffinityWeights(),
                  superpixels=None):
        """The method's Laplacian; see
        :func:`~sss_vfx.graph.method_laplacian.method_laplacian`."""
        from sss_vfx.graph.matting import check_matting_image
        from sss_vfx.graph.superpixels import compute_superpixels

        image = check_matting_image(image)
        if superpixels is None:
            superpixels = compute_superpixels(image, n_segments=weights.superpixels)

        def opencl_build(device):
            from sss_vfx.accel.laplacian_cl import method_laplacian_cl
            from sss_vfx.accel.label_means_cl import label_means_cl
            from sss_vfx.graph.superpixel_affinity import (colour_affinity,
                                                           pairs_to_pixel_affinity,
                                                           semantic_affinity_values)

            extra = None
            if weights.colour:
                extra = weights.colour * colour_affinity(superpixels,
                                                         weights.colour_radius)
            if features is not None and weights.semantic:
                means = label_means_cl(superpixels.labels, features, superpixels.count,
                                       device=device)
                pairs = superpixels.adjacency
                values = semantic_affinity_values(means[pairs[:, 0]], means[pairs[:, 1]])
                semantic = weights.semantic * pairs_to_pixel_affinity(superpixels, pairs,
                                                                      values)
                extra = semantic if extra is None else extra + semantic
            return method_laplacian_cl(image, extra, eps=weights.matting_eps,
                                       device=device)

        return self._on_affinity_device(
            "affinities", opencl_build,
            lambda: method_laplacian(image, features, weights=weights,
                                     superpixels=superpixels))

    def matting_laplacian(self, image, *, eps=AffinityWeights.matting_eps):
        """The matting Laplacian alone (closed-form matting)."""
        from sss_vfx.graph.laplacian import affinity_to_laplacian
        from sss_vfx.graph.matting import check_matting_image, matting_affinity

        image = check_matting_image(image)

        def opencl_build(device):
            from sss_vfx.accel.matting_cl import matting_laplacian_cl
            return matting_laplacian_cl(image, eps, device=device)

        return self._on_affinity_device(
            "matting_laplacian", opencl_build,
            lambda: affinity_to_laplacian(matting_affinity(image, eps=eps)))

    def temporal(self, frame, next_frame, flow, confidence, *,
                 lambda_t=TemporalOptions.temporal_weight,
                 sigma=TemporalOptions.temporal_sigma):
        """The temporal affinity; see :func:`~sss_vfx.graph.temporal.temporal_affinity`."""
        def opencl_build(device):
            from sss_vfx.accel.temporal_cl import temporal_affinity_cl
            return temporal_affinity_cl(frame, next_frame, flow, confidence,
                                        lambda_t=lambda_t, sigma=sigma, device=device)

        return self._on_affinity_device(
            "temporal_affinity", opencl_build,
            lambda: temporal_affinity(frame, next_frame, flow, confidence,
                                      lambda_t=lambda_t, sigma=sigma))

    # --- the stages after the Laplacian (DESIGN steps 4-8) -----------------------------

    def eigenpairs(self, laplacian, k, *, shape=None, start=None, solver="block"):
        """Eigenpairs nearest zero; see :func:`~sss_vfx.spectral.smallest_magnitude_eigs`.

        ``start`` (N, m) vectors may warm-start an iterative solver (ignored by the
        shift-invert reference); ``solver`` ('block' or 'arpack') is the shift-invert
        reference's."""
        from sss_vfx.spectral import smallest_magnitude_eigs

        if not self._twin("eigenpairs"):
            self._note("eigenvectors", NUMPY)
            return smallest_magnitude_eigs(laplacian, k, shape=shape,
                                           block=solver == "block")
        from sss_vfx.accel.torch_stages import run_stage
        self._note("eigenvectors", self.device)
        return run_stage("eigenpairs", laplacian, k, shape=shape, start=start,
                         device=self.device.torch_device, memory=self.gpu_peak_bytes)

    def window_eigenpairs(self, laplacian, frame_vectors, k):
        """A window's Ritz pairs; see :func:`~sss_vfx.spectral.window_eigs`."""
        from sss_vfx.spectral import window_eigs
        return self._run("window_eigenpairs", window_eigs, laplacian, frame_vectors, k)

    def initial_segments(self, eigenvalues, eigenvectors, features, k, *,
                         embedding_weight, seed):
        """Initial hard segments; see :func:`~sss_vfx.segments.initial.initial_segments`."""
        from sss_vfx.segments.initial import initial_segments
        return self._run("initial_segments", initial_segments, eigenvalues, eigenvectors,
                         features, k, embedding_weight=embedding_weight, seed=seed)

    def constrained(self, eigenvectors, eigenvalues, labels, *, options, laplacian_ones):
        """Constrained sparsification; see
        :func:`~sss_vfx.segments.constrained.constrained_sparsification`."""
        from sss_vfx.segments.constrained import constrained_sparsification
        return self._run("constrained_sparsification", constrained_sparsification,
                         eigenvectors, eigenvalues, labels, options=options,
                         laplacian_ones=laplacian_ones)

    def relaxed(self, laplacian, layers, gradient, *, options, anchor=None, prior=None):
        """Relaxed sparsification; see
        :func:`~sss_vfx.segments.relaxed.relaxed_sparsification`."""
        from sss_vfx.segments.relaxed import relaxed_sparsification
        return self._run("relaxed_sparsification", relaxed_sparsification, laplacian,
                         layers, gradient, options=options, anchor=anchor, prior=prior)

    def upsample(self, layers_small, image_small, plate):
        """Guided upsampling; see :func:`~sss_vfx.segments.upsample.upsample_layers`."""
        from sss_vfx.segments.upsample import upsample_layers
        return self._run("upsampling", upsample_layers, layers_small, image_small, plate)

    def refine(self, plate, alphas, options=RefineOptions()):
        """Full-resolution band refinement; see
        :func:`~sss_vfx.segments.refine.refine_layers`."""
        from sss_vfx.segments.refine import refine_layers
        self._note("refinement", NUMPY)
        return refine_layers(plate, alphas, options.band, tolerance=options.tolerance,
                             rounds=options.rounds, cg_steps=options.cg_steps,
                             eps=options.eps)

    def colours(self, plate, alphas):
        """Premultiplied layer colours ``(H, W, K, 3)`` float32 summing to the plate
        (DESIGN step 8); see :func:`~sss_vfx.segments.colours.layer_colours`. The
        plate may hold any finite values (scene-linear, log): see
        :func:`~sss_vfx.segments.colours.unit_range`."""
        from sss_vfx.segments.colours import layer_colours, premultiplied_colours, unit_range

        unit, low, scale = unit_range(plate)
        colours = self._run("colours", layer_colours, unit, alphas)
        if low is not None:
            colours = colours * scale + low
        return premultiplied_colours(colours, alphas)

