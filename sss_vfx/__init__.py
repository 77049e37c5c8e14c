"""sss_vfx: automatic, hair-accurate soft mattes by Semantic Soft Segmentation."""

from sss_vfx.errors import FeatureError, InputError, OptionError, OutputError, SssError
from sss_vfx.graph.method_laplacian import laplacian, matting_laplacian
from sss_vfx.options import SegmentationOptions
from sss_vfx.pipeline.still import Segmentation, segment_image

__version__ = "0.1.0"

__all__ = [
    "FeatureError", "InputError", "OptionError", "OutputError", "Segmentation",
    "SegmentationOptions", "SssError", "__version__", "laplacian", "matting_laplacian",
    "segment_image",
]
