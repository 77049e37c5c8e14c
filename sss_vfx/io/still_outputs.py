"""The output folder of a still: ``layers.exr``, one PNG matte per layer, a preview.

The shot counterpart is :class:`~sss_vfx.io.shot_outputs.ShotOutputs`; both follow
:func:`~sss_vfx.io.outputs.claim_output_dir`: a folder holding another run's results is
refused unless forced. Every file is written atomically.
"""

from sss_vfx.io.exr import layer_names, write_layers_exr
from sss_vfx.io.outputs import claim_output_dir, write_matte_png, write_preview_png

__all__ = ["STILL_RESULTS", "claim_still_dir", "write_still_outputs"]

#: The files of a still's run, removed before a forced run writes its own.
STILL_RESULTS = ("layers.exr", "sss_layer*.png", "preview.png", "manifest.json")


def claim_still_dir(directory, key, *, force=False, wait=False):
    """Prepare a still's output folder (see :func:`~sss_vfx.io.outputs.claim_output_dir`).

    Parameters
    ----------
    directory : str or os.PathLike
    key : str
        The run key (:func:`~sss_vfx.io.shot_outputs.run_key`) of this run.
    force : bool
        Replace another run's results; all of them are removed first, so no matte of
        a run with more layers is left behind.
    wait : bool
        Wait for another run holding the folder instead of refusing.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        The folder cannot be written, or holds another run's results and ``force``
        is not set.
    """
    return claim_output_dir(directory, key, STILL_RESULTS, force=force, wait=wait)[0]


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
                     attributes=attributes,
                     header=getattr(segmentation, "plate_header", None))
    written = ["layers.exr"]
    if pngs:
        for k, name in enumerate(layer_names(alphas.shape[2])):
            write_matte_png(directory / f"{name}.png", alphas[:, :, k])
            written.append(f"{name}.png")
    write_preview_png(directory / "preview.png", segmentation.image, alphas)
    return written + ["preview.png"]
