"""Every parameter of the method, with the paper's values as defaults."""

import dataclasses
import math
import numbers
from dataclasses import dataclass

from sss_vfx.errors import OptionError

#: Working-resolution cap of the default configuration, in pixels (0 = never
#: downscale, the faithful configuration).
DEFAULT_MAX_PIXELS = 65_536

#: Options for features that are a segmentation network's masks (a few flat classes,
#: blurred at a coarse resolution) rather than the paper's 128-D embeddings: with such
#: features alone k-means finds only the classes, so the spectral embedding joins the
#: initialisation and colour joins the grouping. On the alpha_stills benchmark they take
#: mean SAD from 9.19 (the paper's defaults) to 8.01, below closed-form matting's 8.08.
COARSE_FEATURES = {"embedding_weight": 1.0, "grouping_colour_weight": 1.0}


@dataclass(frozen=True)
class SegmentationOptions:
    """Parameters of Semantic Soft Segmentation (DESIGN section 1).

    Attributes
    ----------
    layers : int
        Final number of layers after grouping (5).
    eigenvectors : int
        Eigenvectors of the Laplacian with smallest-magnitude eigenvalues (100).
    initial_segments : int
        Hard segments from k-means that start the constrained sparsification (40).
    superpixels : int
        Approximate number of SLIC superpixels (2500).
    matting_eps : float
        Regulariser of the matting affinity (1e-7).
    semantic_weight, colour_weight : float
        Weights of the semantic and non-local colour affinities (0.01 each).
    colour_radius : float
        Centroid distance, in image units, within which colour affinities exist (0.2).
    embedding_weight : float
        0 (the paper): with features, the initial segments are k-means on the features
        alone. Above 0, the spectral embedding (eigenvectors 2..21 scaled by
        1/sqrt|lambda|, normalised to the features' variance) is appended with this
        weight, so coarse features with few distinct values (a segmentation network's
        masks) still give as many initial segments as asked. 1.0 lowered the mean MSE
        on the alpha_stills benchmark by 30 %.
    grouping_colour_weight : float
        0 (the paper): with features, segments are grouped by their mean features
        alone. Above 0 their mean colour joins the features, scaled to the features'
        variance times this weight, so that coarse features (one value per class)
        still give five distinct layers instead of splitting a class at random.
    sparsity : float
        Exponent of the constrained sparsification (0.8).
    sparsity_weight : float
        Weight of its sparsity terms (0.3).
    constrained_iterations : int
        IRLS iterations of the constrained sparsification (40).
    constrained_precision : {'float32', 'float64'}
        'float32' (default) clamps the IRLS weights at |alpha| >= 1e-4 and sums in
        float32; 'float64' reproduces the reference code's 1e-10 clamp, about 1.5-2x
        slower (final mattes differ by about 0.001 on average).
    relaxed_rounds : int
        Reweighting rounds of the relaxed sparsification (20).
    cg_steps : int
        Conjugate-gradient steps per relaxed round at most (100).
    max_pixels : int
        The spectral stages run on a copy downscaled to at most this many pixels and
        the layers are upsampled edge-aware; 0 never downscales (faithful).
    refine_band : int
        0 (off): the upsampled layers are final. Above 0, and when the spectral stages
        ran downscaled, the relaxed sparsification is solved again at the plate's
        resolution (matting Laplacian alone) over the pixels where some upsampled layer
        is neither ~0 nor ~1, dilated by this many pixels; the other pixels keep their
        upsampled values (see :func:`~sss_vfx.segments.refine.refine_layers`).
    seed : int
        Seed of every k-means; results are deterministic for a given seed.
    """

    layers: int = 5
    eigenvectors: int = 100
    initial_segments: int = 40
    superpixels: int = 2500
    matting_eps: float = 1e-7
    semantic_weight: float = 0.01
    colour_weight: float = 0.01
    colour_radius: float = 0.2
    embedding_weight: float = 0.0
    grouping_colour_weight: float = 0.0
    sparsity: float = 0.8
    sparsity_weight: float = 0.3
    constrained_iterations: int = 40
    constrained_precision: str = "float32"
    relaxed_rounds: int = 20
    cg_steps: int = 100
    max_pixels: int = DEFAULT_MAX_PIXELS
    refine_band: int = 0
    seed: int = 0

    def __post_init__(self):
        positive_ints = ("layers", "eigenvectors", "initial_segments", "superpixels",
                         "constrained_iterations", "cg_steps")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise OptionError(f"{name} must be a positive integer, got {value!r}")
        for name in ("relaxed_rounds", "max_pixels", "refine_band", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise OptionError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("matting_eps", "semantic_weight", "colour_weight", "colour_radius",
                     "embedding_weight", "grouping_colour_weight", "sparsity",
                     "sparsity_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise OptionError(f"{name} must be a finite number, got {value!r}")
        for name in ("matting_eps", "sparsity_weight", "colour_radius"):
            if not getattr(self, name) > 0:
                raise OptionError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("semantic_weight", "colour_weight", "embedding_weight",
                     "grouping_colour_weight"):
            if not getattr(self, name) >= 0:
                raise OptionError(f"{name} must be zero or positive, got {getattr(self, name)!r}")
        if self.constrained_precision not in ("float32", "float64"):
            raise OptionError("constrained_precision must be 'float32' or 'float64', "
                              f"got {self.constrained_precision!r}")
        if not 0 < self.sparsity < 2:
            raise OptionError(f"sparsity must be in (0, 2), got {self.sparsity!r}")
        if self.layers > self.initial_segments:
            raise OptionError(f"layers ({self.layers}) cannot exceed initial_segments "
                              f"({self.initial_segments})")
        if 0 < self.max_pixels < 1024:
            raise OptionError(f"max_pixels must be 0 (never downscale) or at least 1024, "
                              f"got {self.max_pixels}")

    @classmethod
    def from_kwargs(cls, **kwargs):
        """Build options from keyword arguments, naming any unknown one."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise OptionError(f"unknown option(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**kwargs)

    def as_dict(self):
        """All parameters as a plain dict (for manifests)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TemporalOptions:
    """How a shot's frames are linked in time (DESIGN section 2).

    Attributes
    ----------
    temporal : bool
        False segments every frame on its own (the per-frame baseline); layer identity
        is still carried from frame to frame by overlap.
    window : int
        Consecutive frames whose Laplacians are joined into one graph, >= 2 in
        temporal mode.
    overlap : int
        Frames shared by consecutive windows, 0 <= overlap < window; layer identity
        is matched on them and the layers cross-fade across them.
    temporal_weight : float
        lambda_T, the weight of the temporal affinity, >= 0.
    temporal_sigma : float
        Colour distance scale of the temporal affinity, > 0.
    anchor_weight : float
        How strongly a window's relaxed sparsification keeps, on the frames it shares
        with the previous window, the layers that window gave them (the fidelity
        weight of other pixels is 1), >= 0.
    carry_weight : float
        How strongly a window's later frames are pulled toward the previous window's
        layers carried along the flow from the last shared frame, times the flow's
        confidence (beside the fidelity weight 1 to the window's own grouped layers),
        >= 0; 0 leaves them free. It moves the change between windows away from the
        seam after the shared frames.
    """

    temporal: bool = True
    window: int = 3
    overlap: int = 1
    temporal_weight: float = 1.0
    temporal_sigma: float = 0.1
    anchor_weight: float = 10.0
    carry_weight: float = 0.0

    def __post_init__(self):
        for name in ("window", "overlap"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise OptionError(f"{name} must be a non-negative integer, got {value!r}")
        if self.temporal and self.window < 2:
            raise OptionError(f"window must be at least 2 frames in temporal mode, got "
                              f"{self.window}; use --no-temporal for frame by frame")
        if self.temporal and not self.overlap < self.window:
            raise OptionError(f"overlap ({self.overlap}) must be smaller than window "
                              f"({self.window})")
        for name in ("temporal_weight", "temporal_sigma", "anchor_weight",
                     "carry_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value) or value < 0:
                raise OptionError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.temporal_sigma > 0:
            raise OptionError(f"temporal_sigma must be positive, got {self.temporal_sigma}")

    @property
    def frames_per_window(self):
        """Frames in one window: 1 in per-frame mode."""
        return self.window if self.temporal else 1

    @property
    def shared_frames(self):
        """Frames shared by consecutive windows: 0 in per-frame mode."""
        return self.overlap if self.temporal else 0

    def as_dict(self):
        """All parameters as a plain dict (for manifests)."""
        return dataclasses.asdict(self)
