"""Every parameter of the method, written once, with the paper's values as defaults.

:class:`SegmentationOptions` (one image or frame) and :class:`TemporalOptions` (how a
shot's frames are linked) carry every parameter from the boundary (Python API, CLI,
Nuke, OpenFX, farm) to the stages. Each field's metadata holds its help text and its
range; the command-line flags are generated from it. The stages take their own small
option objects (:class:`AffinityWeights`, :class:`ConstrainedOptions`,
:class:`RelaxedOptions`, :class:`RefineOptions`), derived by the methods of
:class:`SegmentationOptions`, whose defaults are the fields' defaults.
"""

import dataclasses
import math
import os
import numbers
from dataclasses import dataclass, field

from sss_vfx.errors import OptionError

__all__ = [
    "COARSE_FEATURES", "DEFAULT_MAX_PIXELS", "MIN_MAX_PIXELS", "OPTION_GROUPS", "PAPER",
    "AffinityWeights", "ConstrainedOptions", "PlateOptions", "RefineOptions",
    "RelaxedOptions", "SegmentationOptions", "TemporalOptions", "option_help",
]

#: Working-resolution cap of the default configuration, in pixels (0 = never
#: downscale, as the paper; see :data:`PAPER`).
DEFAULT_MAX_PIXELS = 65_536
#: Smallest non-zero working-resolution cap.
MIN_MAX_PIXELS = 1024

#: Options for features that are a segmentation network's masks (a few flat classes,
#: blurred at a coarse resolution) rather than the paper's 128-D embeddings: with such
#: features alone k-means finds only the classes, so the spectral embedding joins the
#: initialisation and colour joins the grouping, and the class layers are fitted in the
#: eigenvectors' span (``class_layers='fit'``). On the alpha_stills benchmark the fit
#: takes mean SAD / MSE x1000 from 8.16 / 6.77 to 6.07 / 3.73 (closed-form matting:
#: 8.08 / 7.35; five photos). On all eleven photos, with the masks as evidence
#: (:mod:`sss_vfx.segments.class_evidence`, :mod:`sss_vfx.segments.class_confidence`):
#: 6.02 / 3.48 (closed-form: 7.13 / 5.71).
COARSE_FEATURES = {"embedding_weight": 1.0, "grouping_colour_weight": 1.0,
                   "class_layers": "fit"}


#: The headings options are grouped under, in this order (the field metadata's
#: ``group``): what ``--help`` and the documentation's parameter table show.
OPTION_GROUPS = {
    "artist": "common options (the few an artist changes)",
    "features": "semantic features: how they shape the layers",
    "plate": "plate: file part and colour space",
    "method": "advanced: the paper's parameters",
    "speed": "advanced: speed and memory",
    "temporal": "advanced: linking the frames of a shot",
}


_NOT_PAPER = object()


def _option(default, help, *, kind, choices=None, group="method", paper=_NOT_PAPER):
    """A dataclass field with its help text, range check and heading.

    ``kind`` is one of ``'count'`` (integer >= 1), ``'natural'`` (integer >= 0),
    ``'positive'`` (finite number > 0), ``'weight'`` (finite number >= 0), ``'flag'``
    (bool), ``'choice'`` (one of ``choices``) or ``'text'`` (None or a non-empty str);
    ``group`` is a key of :data:`OPTION_GROUPS`. ``paper``, for an option with a value
    other than the paper's (a speed-up or an extension), is the paper's value:
    :data:`PAPER` holds them all.
    """
    if group not in OPTION_GROUPS:
        raise OptionError(f"unknown option group {group!r}; known: "
                          f"{', '.join(OPTION_GROUPS)}")
    metadata = {"help": help, "kind": kind, "choices": choices, "group": group}
    if paper is not _NOT_PAPER:
        metadata["paper"] = paper
    return field(default=default, metadata=metadata)


def _check_field(name, value, meta):
    kind = meta["kind"]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_real = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(value)
    if kind == "count" and not (is_int and value >= 1):
        raise OptionError(f"{name} must be a positive integer, got {value!r}")
    if kind == "natural" and not (is_int and value >= 0):
        raise OptionError(f"{name} must be a non-negative integer, got {value!r}")
    if kind == "positive" and not (is_real and value > 0):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    if kind == "weight" and not (is_real and value >= 0):
        raise OptionError(f"{name} must be a finite number >= 0, got {value!r}")
    if kind == "flag" and not isinstance(value, bool):
        raise OptionError(f"{name} must be True or False, got {value!r}")
    if kind == "text" and not (value is None or (isinstance(value, str) and value.strip())):
        raise OptionError(f"{name} must be a non-empty text or None, got {value!r}")
    if kind == "choice" and value not in meta["choices"]:
        raise OptionError(f"{name} must be one of {', '.join(meta['choices'])}, "
                          f"got {value!r}")


class _Options:
    """Validation, construction from keywords and export shared by the option sets."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            _check_field(f.name, getattr(self, f.name), f.metadata)
        self._check()

    def _check(self):
        """Checks that involve several fields."""

    @classmethod
    def from_kwargs(cls, **kwargs):
        """Build options from keyword arguments, naming any unknown one."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise OptionError(f"unknown option(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**kwargs)

    def with_overrides(self, **overrides):
        """A copy with some fields replaced, naming any unknown one."""
        return type(self).from_kwargs(**{**self.as_dict(), **overrides})

    def as_dict(self):
        """All parameters as a plain dict (for manifests)."""
        return dataclasses.asdict(self)


def option_help(options_class):
    """``{field name: (default, help text, kind, choices)}`` of an option class, in
    field order. The command line and the docs' parameter tables read the same field
    metadata, with its ``group`` (a key of :data:`OPTION_GROUPS`)."""
    return {f.name: (f.default, f.metadata["help"], f.metadata["kind"],
                     f.metadata["choices"])
            for f in dataclasses.fields(options_class)}


@dataclass(frozen=True)
class SegmentationOptions(_Options):
    """Parameters of Semantic Soft Segmentation (DESIGN section 1).

    Every field's help text is its documentation (see :func:`option_help`); the
    values are the paper's unless the text says otherwise.

    Examples
    --------
    >>> opts = SegmentationOptions(layers=3)
    >>> opts.constrained().iterations, opts.affinity_weights().semantic
    (40, 0.01)
    """

    max_pixels: int = _option(
        DEFAULT_MAX_PIXELS,
        "run the spectral stages on a copy of at most this many pixels and upsample the "
        f"layers edge-aware; 0 = never downscale, as the paper (--paper for its whole "
        f"configuration); else at least {MIN_MAX_PIXELS}", kind="natural", group="artist",
        paper=0)
    layers: int = _option(5, "number of layers after grouping", kind="count",
                          group="artist")
    eigenvectors: int = _option(100, "eigenvectors of the Laplacian", kind="count")
    eigensolver: str = _option(
        "block", "how the CPU finds the eigenvectors: block = block Lanczos, four "
                 "SuperLU solves at a time (residuals about 1e-11); arpack = ARPACK one "
                 "solve at a time, as MATLAB's eigs in the paper's code (about 1e-13; "
                 "slower, above all on a busy machine)", kind="choice",
        choices=("block", "arpack"), group="speed", paper="arpack")
    initial_segments: int = _option(40, "k-means segments that start the sparsification",
                                    kind="count")
    superpixels: int = _option(2500, "approximate SLIC superpixel count", kind="count")
    matting_eps: float = _option(1e-7, "regulariser of the matting affinity (also of the "
                                       "band refinement's)", kind="positive")
    semantic_weight: float = _option(0.01, "weight of the semantic affinity",
                                     kind="weight")
    colour_weight: float = _option(0.01, "weight of the non-local colour affinity",
                                   kind="weight")
    colour_radius: float = _option(0.2, "centroid distance, in image units, of the "
                                        "non-local colour affinity", kind="positive")
    embedding_weight: float = _option(
        0.0, "0 = initial segments from the features alone (the paper); above 0 the "
             "spectral embedding (eigenvectors 2..21 scaled by 1/sqrt|lambda|) joins them "
             "with this weight, for coarse features such as a network's masks",
        kind="weight", group="features", paper=0.0)
    grouping_colour_weight: float = _option(
        0.0, "0 = segments grouped by their mean features alone (the paper); above 0 "
             "their mean colour joins with this weight, for coarse features such as a "
             "network's masks", kind="weight", group="features", paper=0.0)
    feature_classes: str = _option(
        "auto", "auto = when the features are a few classes (a network's masks or "
                "softmax), one layer per class, each soft segment joining the class its "
                "mass lies in (layers then ignored); off = the paper's grouping by mean "
                "features", kind="choice", choices=("auto", "off"), group="features",
        paper="off")
    class_layers: str = _option(
        "segments", "with classes (feature classes or guides), where the relaxed "
                    "sparsification starts: segments = each soft segment added to the "
                    "class holding most of its mass; fit = the class probabilities fitted "
                    "in the span of the eigenvectors, each pixel weighted by how sure its "
                    "class is (a blended transition weighs nothing), so the image's edges "
                    "decide where a class ends and a soft segment straddling two classes "
                    "is split along them (the initial segments and the constrained "
                    "sparsification, unused then, are skipped); both = the mean of the two",
        kind="choice", choices=("segments", "fit", "both"), group="features",
        paper="segments")
    guide_evidence: str = _option(
        "scaled", "with guides (roto, ID pass, Cryptomatte, person model): scaled = each "
                  "object's layer solved again at the plate's resolution on the matting "
                  "Laplacian, held to its guide in the guide's interior and far outside it, "
                  "free within an error scale of the guide's edge (estimated per object "
                  "from where the layer disagrees with the guide) and where the layer "
                  "reaches beyond it (hair), so a layer is never worse than its guide; off "
                  "= the guide only as features and in the grouping (the paper's use of "
                  "semantics). With feature classes (a network's masks), scaled gives a "
                  "layer back each solid region it drops that the mask is sure of (thin "
                  "parts of the background's colour); off: never",
        kind="choice", choices=("scaled", "off"), group="features", paper="off")
    sparsity: float = _option(0.8, "constrained sparsification exponent, in (0, 2)",
                              kind="positive")
    sparsity_weight: float = _option(0.3, "weight of the sparsity terms", kind="positive")
    constrained_iterations: int = _option(
        40, "IRLS iterations of the constrained sparsification", kind="count")
    constrained_frames: str = _option(
        "all", "video: which frames of a window after the first the constrained "
               "sparsification's sparsity terms sum over: all = every frame, as a still; "
               "new = those no earlier window segmented (the shared frame already has "
               "its layers): the stage's CPU time per window 0.6x, but on car-shadow "
               "(colour) the flow-warping error +33 percent, on rendered shots SAD +1.8 "
               "and dtSSD +2.4 percent on average", kind="choice",
        choices=("new", "all"), group="speed", paper="all")
    gram_stride: int = _option(
        4, "the constrained sparsification's IRLS iterations sum their Gram matrices "
           "over one pixel in this many (a different one each iteration), except the "
           "last two and those the layer-drop test reads, which sum over every pixel; "
           "1 = every pixel at every iteration, the faithful configuration. 4: the "
           "stage about 2.4x faster at 65,536 px (alpha_stills mean SAD +0.8 percent, "
           "MSE +2.3); 8: about 4x, but SAD +4.5 and MSE +10 percent", kind="count",
        group="speed", paper=1)
    constrained_precision: str = _option(
        "float32", "float32 (fast: float32 sums in the Gram matrices) or float64 (the "
                   "reference code's float64 sums, about 1.5-2x slower)",
        kind="choice", choices=("float32", "float64"), group="speed", paper="float64")
    constrained_clamp: float = _option(
        0.001, "smallest |alpha| and |1 - alpha| the constrained sparsification's weights "
               "see: an alpha within it of 0 (or 1) counts as 0 (or 1). At 0.001 and "
               "above the pixels far from a layer, which all share the clamp's weight, "
               "drop out of its Gram matrix (0.001: the stage about 1.6x faster than at "
               "1e-4; 0.01: 2.4x, but alpha_stills guides SAD up 10-90 percent on some "
               "photos); the reference code's 1e-10 keeps every pixel in",
        kind="positive", group="speed", paper=1e-10)
    relaxed_rounds: int = _option(20, "relaxed sparsification rounds", kind="natural")
    cg_steps: int = _option(100, "conjugate-gradient steps per relaxed round at most",
                            kind="count")
    refine_band: int = _option(
        0, "after upsampling, solve the relaxed sparsification again at the plate's "
           "resolution over the layers' soft transitions dilated by this many px; "
           "0 = off", kind="natural", group="artist", paper=0)
    seed: int = _option(0, "k-means seed", kind="natural")
    max_memory: float = _option(
        2.5, "GB the constrained sparsification's pairwise eigenvector products may hold "
             "(with a constrained clamp below 0.001, as --paper; the default holds none); "
             "beyond it they are rebuilt in chunks every iteration (slower, same method). "
             "A video window of 3 frames at 65,536 px needs 4 GB to hold them all",
        kind="positive", group="speed")

    def _check(self):
        if not self.sparsity < 2:
            raise OptionError(f"sparsity must be in (0, 2), got {self.sparsity!r}")
        if not self.constrained_clamp < 0.5:
            raise OptionError(f"constrained_clamp must be in (0, 0.5), got "
                              f"{self.constrained_clamp!r}")
        if self.layers > self.initial_segments:
            raise OptionError(f"layers ({self.layers}) cannot exceed initial_segments "
                              f"({self.initial_segments})")
        if 0 < self.max_pixels < MIN_MAX_PIXELS:
            raise OptionError(f"max_pixels must be 0 (never downscale) or at least "
                              f"{MIN_MAX_PIXELS}, got {self.max_pixels}")

    @classmethod
    def paper(cls, **overrides):
        """The paper's configuration: :data:`PAPER` over the defaults.

        Parameters
        ----------
        **overrides
            Other fields (``layers``, ``eigenvectors``...). A field of :data:`PAPER`
            may be given only with the paper's value.

        Returns
        -------
        SegmentationOptions

        Raises
        ------
        OptionError
            An unknown option, or a field of :data:`PAPER` asked with another value
            (``paper()`` would then not be the paper's configuration).

        Examples
        --------
        >>> opts = SegmentationOptions.paper(layers=3)
        >>> opts.max_pixels, opts.eigensolver, opts.layers, opts.departures()
        (0, 'arpack', 3, {})
        """
        for name, value in overrides.items():
            if name in PAPER and value != PAPER[name]:
                raise OptionError(
                    f"the paper's configuration has {name}={PAPER[name]!r}, but "
                    f"{name}={value!r} was asked; drop it, or build "
                    "SegmentationOptions(...) without paper()")
        return cls.from_kwargs(**{**PAPER, **overrides})

    def departures(self):
        """``{name: value}`` of the fields of :data:`PAPER` not at the paper's value:
        the speed-ups and extensions these options use; empty for the paper's
        configuration."""
        return {name: getattr(self, name) for name, value in PAPER.items()
                if getattr(self, name) != value}

    def affinity_weights(self):
        """The :class:`AffinityWeights` of these options."""
        return AffinityWeights(matting_eps=self.matting_eps, semantic=self.semantic_weight,
                               colour=self.colour_weight, colour_radius=self.colour_radius,
                               superpixels=self.superpixels)

    def constrained(self):
        """The :class:`ConstrainedOptions` of these options."""
        return ConstrainedOptions(iterations=self.constrained_iterations,
                                  sparsity=self.sparsity, weight=self.sparsity_weight,
                                  precision=self.constrained_precision,
                                  clamp=self.constrained_clamp,
                                  gram_stride=self.gram_stride,
                                  product_budget=int(self.max_memory * 1e9))

    def relaxed(self):
        """The :class:`RelaxedOptions` of these options."""
        return RelaxedOptions(rounds=self.relaxed_rounds, cg_steps=self.cg_steps)

    def refine(self):
        """The :class:`RefineOptions` of these options."""
        return RefineOptions(band=self.refine_band, eps=self.matting_eps)


#: The paper's configuration, where the defaults depart from it (each field's
#: ``paper`` metadata): ``segment_image(image, features, **PAPER)``, or
#: :meth:`SegmentationOptions.paper`, or ``sss-vfx segment --paper``. What each
#: changes against the default:
#:
#: * ``max_pixels=0``: the spectral stages at the plate's resolution, no downscale,
#:   no guided upsampling (default: at most 65,536 px, layers upsampled edge-aware);
#: * ``eigensolver='arpack'``: ARPACK shift-invert, one solve at a time, as MATLAB's
#:   ``eigs`` (default: block Lanczos, residuals about 1e-11 instead of 1e-13);
#: * ``gram_stride=1``: every IRLS iteration of the constrained sparsification sums its
#:   Gram matrices over every pixel (default 4: over one pixel in four);
#: * ``constrained_precision='float64'``: float64 sums in the constrained
#:   sparsification's Gram matrices, as the paper's code (default float32);
#: * ``constrained_clamp=1e-10``: its IRLS weights see ``|alpha|`` down to 1e-10, as
#:   the paper's code (default 0.001: the pixels far from a layer share one weight and
#:   drop out of its Gram matrix);
#: * ``feature_classes='off'``: layers grouped by mean features even when the features
#:   are a few classes (default auto: one layer per class then);
#: * ``class_layers='segments'``, ``embedding_weight=0``, ``grouping_colour_weight=0``,
#:   ``refine_band=0``: the defaults already; fixed so that a conflicting request
#:   (``--coarse-features``, a refinement band) is refused rather than mixed in.
PAPER = {f.name: f.metadata["paper"] for f in dataclasses.fields(SegmentationOptions)
         if "paper" in f.metadata}


@dataclass(frozen=True)
class AffinityWeights:
    """Weights of the three affinities and their parameters (DESIGN step 3)."""

    matting_eps: float = SegmentationOptions.matting_eps
    semantic: float = SegmentationOptions.semantic_weight
    colour: float = SegmentationOptions.colour_weight
    colour_radius: float = SegmentationOptions.colour_radius
    superpixels: int = SegmentationOptions.superpixels


@dataclass(frozen=True)
class ConstrainedOptions:
    """Parameters of the constrained sparsification (DESIGN step 5)."""

    iterations: int = SegmentationOptions.constrained_iterations
    sparsity: float = SegmentationOptions.sparsity
    weight: float = SegmentationOptions.sparsity_weight
    drop_every: int = 10
    drop_below: float = 0.1
    #: Smallest ``|alpha|`` and ``|1 - alpha|`` the IRLS weights see. The paper's MATLAB
    #: code uses 1e-10 with float64 sums; from 1e-3 up (``SUPPORT_CLAMP`` of
    #: :mod:`sss_vfx.segments.gram`), each layer's Gram matrix sums over its support.
    clamp: float = SegmentationOptions.constrained_clamp
    precision: str = SegmentationOptions.constrained_precision
    gram_stride: int = SegmentationOptions.gram_stride
    #: Bytes the pairwise eigenvector products may occupy (a still of up to 120k
    #: working pixels holds all of them); products of pixels beyond are rebuilt in
    #: chunks every iteration (slower, bounded memory).
    product_budget: int = int(SegmentationOptions.max_memory * 1e9)


@dataclass(frozen=True)
class RelaxedOptions:
    """Parameters of the relaxed sparsification (DESIGN step 7)."""

    rounds: int = SegmentationOptions.relaxed_rounds
    cg_steps: int = SegmentationOptions.cg_steps
    final_cg_steps: int = 1000
    sum_weight: float = 100.0
    fidelity: float = 1.0
    #: Smallest ``|a|`` and ``|1 - a|`` the IRLS weights see. The reference code's 1e-2
    #: gives each pixel the fixed point a = v / (u + v + 1) ~ 0.006 instead of 0: a 0.6 % veil
    #: over every layer. 1e-4 moves it below half-float resolution of a matte.
    clamp: float = 1e-4
    rtol: float = 1e-6


@dataclass(frozen=True)
class RefineOptions:
    """Parameters of the full-resolution band refinement (after upsampling)."""

    band: int = SegmentationOptions.refine_band
    eps: float = SegmentationOptions.matting_eps
    tolerance: float = 0.02
    rounds: int = 5
    cg_steps: int = 50


@dataclass(frozen=True)
class TemporalOptions(_Options):
    """How a shot's frames are linked in time (DESIGN section 2).

    Examples
    --------
    >>> TemporalOptions(temporal=False).frames_per_window
    1
    """

    temporal: bool = _option(
        True, "False segments every frame on its own (the per-frame baseline); layer "
              "identity is still carried from frame to frame by overlap", kind="flag",
        group="artist")
    window: int = _option(3, "frames joined into one graph (at least 2 in temporal mode)",
                          kind="natural", group="temporal")
    overlap: int = _option(1, "frames shared by consecutive windows, smaller than the "
                              "window", kind="natural", group="temporal")
    temporal_weight: float = _option(1.0, "weight of the temporal affinity (lambda_T)",
                                     kind="weight", group="temporal")
    temporal_sigma: float = _option(0.1, "colour scale of the temporal affinity",
                                    kind="positive", group="temporal")
    anchor_weight: float = _option(
        10.0, "how strongly a window keeps the layers the previous window gave their "
              "shared frames", kind="weight", group="temporal")
    carry_weight: float = _option(
        0.0, "how strongly a window's later frames follow the previous window's layers "
             "carried along the flow (0 = off)", kind="weight", group="artist")

    def _check(self):
        if self.temporal and self.window < 2:
            raise OptionError(f"window must be at least 2 frames in temporal mode, got "
                              f"{self.window}; set temporal=False for frame by frame")
        if self.temporal and not self.overlap < self.window:
            raise OptionError(f"overlap ({self.overlap}) must be smaller than window "
                              f"({self.window})")

    @property
    def frames_per_window(self):
        """Frames in one window: 1 in per-frame mode."""
        return self.window if self.temporal else 1

    @property
    def shared_frames(self):
        """Frames shared by consecutive windows: 0 in per-frame mode."""
        return self.overlap if self.temporal else 0


def _plate_option(help):
    """A :class:`PlateOptions` field: a name, unset (None) by default."""
    return _option(None, help, kind="text", group="plate")


@dataclass(frozen=True)
class PlateOptions(_Options):
    """How a plate is read and colour-managed (not parameters of the method: they say
    what the file's values mean).

    The colour spaces are names (or aliases, or roles) of the OpenColorIO config; see
    :mod:`sss_vfx.colour` for the defaults.

    Examples
    --------
    >>> PlateOptions(colorspace="ACEScg").colorspace
    'ACEScg'
    """

    colorspace: object = _plate_option(
        "colour space of the plate, a name, alias or role of the OCIO config "
        "(default: the file's metadata where it says, else for EXR Linear Rec.709 "
        "with the built-in config or the scene_linear role of a config given, the "
        "compositing_log role for a DPX whose header says logarithmic, sRGB for "
        "other files)")
    ocio: object = _plate_option(
        "OpenColorIO config: a .ocio file or a built-in ocio:// name (default: "
        "$OCIO, else ocio://cg-config-latest, the ACES CG config)")
    working_view: object = _plate_option(
        "make the working copy the affinities see through a display/view transform, "
        "'DISPLAY/VIEW' or 'VIEW' of the config's default display (default: a plain "
        "conversion to the config's sRGB-encoded colour space)")
    part: object = _plate_option(
        "part of a multi-part EXR to read, by name (default: the first part holding "
        "R, G, B)")
    layers_colorspace: object = _plate_option(
        "colour space of the layer colours, e.g. scene_linear so that the layers of "
        "a log scan merge to the plate as a linear comp reads it (default: the "
        "plate's own colour space)")

    def record(self):
        """What decides the results, for a run key and a manifest: ``{'plate': {...}}``
        with the options set, and ``$OCIO`` when no ``ocio`` overrides it; empty when
        all are defaults (so the run keys of runs without them are unchanged)."""
        record = {name: value for name, value in self.as_dict().items()
                  if value is not None}
        if self.ocio is None and os.environ.get("OCIO"):
            record["ocio"] = os.environ["OCIO"]
        return {"plate": record} if record else {}
