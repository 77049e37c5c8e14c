"""File input and output: still images, feature maps, layer EXRs, mattes, previews.

Every writer is atomic and every user-facing failure raises an
:class:`~sss_vfx.errors.SssError` subclass with a one-line message.
"""

from sss_vfx.io.atomic import atomic_path, atomic_write_text
from sss_vfx.io.exr import (
    LayersEXR,
    check_alphas,
    layer_names,
    read_exr_channels,
    read_layers_exr,
    write_layers_exr,
)
from sss_vfx.io.features import check_features, read_features, resize_features
from sss_vfx.io.images import (
    MIN_SIDE,
    SUPPORTED_EXTENSIONS,
    ImageData,
    as_working_image,
    linear_to_srgb,
    read_image,
)
from sss_vfx.io.outputs import (
    MANIFEST_SCHEMA,
    layer_palette,
    prepare_output_dir,
    read_manifest,
    render_preview,
    write_manifest,
    write_matte_png,
    write_preview_png,
)

__all__ = [
    "MANIFEST_SCHEMA",
    "MIN_SIDE",
    "SUPPORTED_EXTENSIONS",
    "ImageData",
    "LayersEXR",
    "as_working_image",
    "atomic_path",
    "atomic_write_text",
    "check_alphas",
    "check_features",
    "layer_names",
    "layer_palette",
    "linear_to_srgb",
    "prepare_output_dir",
    "read_exr_channels",
    "read_features",
    "read_image",
    "read_layers_exr",
    "read_manifest",
    "render_preview",
    "resize_features",
    "write_layers_exr",
    "write_manifest",
    "write_matte_png",
    "write_preview_png",
]
