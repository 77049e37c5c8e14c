"""What one Compute asks of ``sss-vfx video``: frame range and method parameters."""

import shlex
from typing import Any, Dict, Tuple

from sss_nuke.errors import SettingsError

#: Defaults and limits of the node's knobs: the method's own (``sss_vfx.options``;
#: Nuke's Python cannot import the library, so a test keeps these equal to it).
DEFAULT_LAYERS = 5
DEFAULT_MAX_PIXELS = 65536
MIN_MAX_PIXELS = 1024
DEFAULT_TEMPORAL_WEIGHT = 1.0
DEFAULT_DEVICE = "auto"
DEVICE_CHOICES = "auto, numpy, opencl, opencl:<platform>:<device>, cuda, cuda:<index>"
#: Channels of the guides input rendered for the command (a Roto: alpha; an ID pass: rgb).
GUIDES_CHANNELS = ("alpha", "rgb", "rgba")
DEFAULT_GUIDES_CHANNELS = "alpha"
MODEL_EXTENSIONS = (".pt", ".pth", ".torchscript", ".onnx")


class ComputeSettings:
    """The parameters of one Compute, validated.

    Parameters
    ----------
    first, last : int
        Frame range, both included, in the input's frame numbers (>= 0).
    layers : int
        Number of soft layers (>= 1).
    max_pixels : int
        Working resolution: the spectral stages run on at most this many pixels;
        0 runs them at the plate's resolution.
    temporal : bool
        Link consecutive frames so layers stay coherent in time.
    temporal_weight : float
        Weight of the temporal affinity (> 0), used when `temporal` is on.
    device : str
        One of ``DEVICE_CHOICES`` (``sss-vfx devices`` lists a machine's).
    extra_args : tuple of str
        Further ``sss-vfx video`` flags, e.g. ``('--superpixels', '500')``.
    person : bool
        Run the built-in person model (``--features person``): the person gets a
        layer of their own.
    feature_model : str
        A TorchScript ``.pt`` or ONNX ``.onnx`` network computing the features
        (``--feature-model``); empty: none.
    guides_names : str
        Objects to pick from the guides input, comma-separated patterns
        (``--guides-names``, required for a Cryptomatte).
    guides_channels : str
        Channels of the guides input rendered for the command: ``alpha`` (a Roto),
        ``rgb`` (an ID pass) or ``rgba``.

    Raises
    ------
    SettingsError
        If a value is out of range.
    """

    def __init__(self, first: int, last: int, *, layers: int = DEFAULT_LAYERS,
                 max_pixels: int = DEFAULT_MAX_PIXELS, temporal: bool = True,
                 temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
                 device: str = DEFAULT_DEVICE, extra_args: Tuple[str, ...] = (),
                 person: bool = False, feature_model: str = "", guides_names: str = "",
                 guides_channels: str = DEFAULT_GUIDES_CHANNELS) -> None:
        self.first = int(first)
        self.last = int(last)
        self.layers = int(layers)
        self.max_pixels = int(max_pixels)
        self.temporal = bool(temporal)
        self.temporal_weight = float(temporal_weight)
        self.device = device.strip() or DEFAULT_DEVICE
        self.extra_args = tuple(extra_args)
        self.person = bool(person)
        self.feature_model = feature_model.strip()
        self.guides_names = guides_names.strip()
        self.guides_channels = guides_channels
        self._validate()

    def _validate(self) -> None:
        if self.first < 0 or self.last < self.first:
            raise SettingsError(
                "frame range {}-{} is empty or negative; set first <= last, both >= 0"
                .format(self.first, self.last))
        if self.layers < 1:
            raise SettingsError("layers is {}; set at least 1".format(self.layers))
        if self.max_pixels < 0 or 0 < self.max_pixels < MIN_MAX_PIXELS:
            raise SettingsError("working resolution is {} pixels; set 0 (full resolution) "
                                "or at least {}".format(self.max_pixels, MIN_MAX_PIXELS))
        if self.person and self.feature_model:
            raise SettingsError("the person model and a feature model file are two sources "
                                "of features; turn the person model off or clear the model "
                                "file")
        if self.feature_model and not self.feature_model.lower().endswith(MODEL_EXTENSIONS):
            raise SettingsError("feature model {} is not a TorchScript .pt or ONNX .onnx "
                                "file; pick one".format(self.feature_model))
        if self.guides_channels not in GUIDES_CHANNELS:
            raise SettingsError("guides channels {!r}: pick one of {}".format(
                self.guides_channels, ", ".join(GUIDES_CHANNELS)))
        if self.temporal and not self.temporal_weight > 0:
            raise SettingsError("temporal weight is {}; set a positive weight or turn "
                                "temporal off".format(self.temporal_weight))

    @property
    def frame_count(self) -> int:
        """Number of frames in the range."""
        return self.last - self.first + 1

    def parameters(self) -> Dict[str, Any]:
        """Every value that changes the result, for the cache key."""
        return {"first": self.first, "last": self.last, "layers": self.layers,
                "max_pixels": self.max_pixels, "temporal": self.temporal,
                "temporal_weight": self.temporal_weight if self.temporal else None,
                "device": self.device, "extra_args": list(self.extra_args),
                "person": self.person, "feature_model": self.feature_model,
                "guides_names": self.guides_names, "guides_channels": self.guides_channels}


def split_extra_args(text: str) -> Tuple[str, ...]:
    """Split the advanced ``extra arguments`` knob as a shell would (quotes kept together).

    Raises
    ------
    SettingsError
        If a quote is not closed.
    """
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise SettingsError("extra arguments cannot be split ({}); close the quotes"
                            .format(exc)) from None
