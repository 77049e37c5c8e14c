"""The output folder of a still: ``layers.exr``, one PNG matte per layer, a preview.

The shot counterpart is :class:`~sss_vfx.io.shot_outputs.ShotOutputs`. Every file is
written atomically.
"""

from sss_vfx.io.exr import layer_names, write_layers_exr
from sss_vfx.io.outputs import write_matte_png, write_preview_png

__all__ = ["write_still_outputs"]


def write_still_outputs(directory, segmentation, *, attributes, pngs=True):
    """Write a still's layers and previews into an existing folder.

    Parameters
    ----------
    directory : pathlib.Path
    segmentation : Segmentation
        Its ``alphas`` ``(H, W, K)``, ``colours`` ``(H, W, K, 3)`` or None, and
        ``image``.
    attributes : dict of str to str
        Extra EXR header attributes.
    pngs : bool
        Also write ``sss_layerNN.png``, one 16-bit matte per layer.

    Returns
    -------
    list of str, the files written, relative to the folder

    Raises
    ------
    OutputError
        A file cannot be written.
    """
    alphas = segmentation.alphas
    write_layers_exr(directory / "layers.exr", alphas, colours=segmentation.colours,
                     attributes=attributes)
    written = ["layers.exr"]
    if pngs:
        for k, name in enumerate(layer_names(alphas.shape[2])):
            write_matte_png(directory / f"{name}.png", alphas[:, :, k])
            written.append(f"{name}.png")
    write_preview_png(directory / "preview.png", segmentation.image, alphas)
    return written + ["preview.png"]
