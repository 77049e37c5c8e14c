"""What a working image can give: checked before the work, so that an impossible request
is reported as what it is rather than as the memory error it would end in."""

from sss_vfx.errors import OptionError
from sss_vfx.options import MIN_MAX_PIXELS
from sss_vfx.pipeline.layers import working_size

__all__ = ["check_eigenvectors"]


def check_eigenvectors(opts, shape_hw):
    """Refuse more eigenvectors than the working image of a plate can give.

    A Laplacian of N pixels has N - 2 useful eigenvectors past the constant one; on a
    tiny working image (under ``MIN_MAX_PIXELS`` pixels) the count is lowered to that
    instead (:func:`~sss_vfx.pipeline.layers.eigenvector_count`).

    Parameters
    ----------
    opts : SegmentationOptions
    shape_hw : (int, int)
        The plate's height and width.

    Raises
    ------
    OptionError
        ``opts.eigenvectors`` is more than the working image can give.

    Examples
    --------
    >>> from sss_vfx.options import SegmentationOptions
    >>> check_eigenvectors(SegmentationOptions(eigenvectors=5000), (40, 50))
    Traceback (most recent call last):
    ...
    sss_vfx.errors.OptionError: eigenvectors=5000 is more than the 50x40 working image (2000 pixels) can give: at most 1998; ask for fewer (the default is 100)
    """
    h, w = working_size(shape_hw, opts.max_pixels)
    pixels = h * w
    if pixels >= MIN_MAX_PIXELS and opts.eigenvectors > pixels - 2:
        default = type(opts)().eigenvectors
        raise OptionError(
            f"eigenvectors={opts.eigenvectors} is more than the {w}x{h} working image "
            f"({pixels} pixels) can give: at most {pixels - 2}; ask for fewer (the "
            f"default is {default})")
