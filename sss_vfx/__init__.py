"""sss_vfx: automatic, hair-accurate soft mattes by Semantic Soft Segmentation."""

from sss_vfx.accel import (Compute, Device, DeviceError, DeviceMemoryError,
                           KernelBuildError, list_devices, resolve_device)
from sss_vfx.accel.builders import laplacian, matting_laplacian
from sss_vfx.errors import FeatureError, InputError, OptionError, OutputError, SssError
from sss_vfx.farm.batch import batch
from sss_vfx.options import (COARSE_FEATURES, PAPER, AffinityWeights,
                             SegmentationOptions, TemporalOptions)
from sss_vfx.pipeline.still import Segmentation, segment_image
from sss_vfx.pipeline.video import FrameLayers, segment_video
from sss_vfx.segments.colours import layer_colours, premultiplied_colours
from sss_vfx.version import __version__

__all__ = [
    "COARSE_FEATURES", "AffinityWeights", "Compute", "Device", "DeviceError",
    "DeviceMemoryError", "FeatureError", "FrameLayers", "InputError", "KernelBuildError",
    "OptionError", "OutputError", "PAPER", "Segmentation", "SegmentationOptions", "SssError",
    "TemporalOptions", "__version__", "batch", "laplacian", "layer_colours", "list_devices",
    "matting_laplacian", "premultiplied_colours", "resolve_device", "segment_image",
    "segment_video",
]
