"""The source clip's colour space, as the host names it, and the working image.

OpenFX 1.5 hosts name the colour space of the source clip (``kOfxImageClipPropColourspace``,
names from the standard's ``ofxColourspaceList.h``); the plugin asks for scene-linear
Rec.709 first, then sRGB-encoded (``lin_rec709_srgb``, ``srgb_tx``, then the basic
``ofx_linear`` and ``ofx_sdr``) and passes on what the host chose. Older hosts name
none: the plugin's ``linearInput`` switch decides.

:func:`working_image` is the one place where a frame becomes the display-referred
working image the affinities see. It reads the colour space by its encoding only:
scene-linear spaces are clamped and sRGB-encoded as an EXR plate is, display-referred
SDR spaces are used as they are; primaries are not converted. A colour-managed
conversion (OpenColorIO) belongs here, in place of :func:`frame_is_linear`.
"""

import numpy as np

from sss_vfx.errors import InputError
from sss_vfx.io.images import linear_to_srgb

__all__ = ["DISPLAY_SDR", "SCENE_LINEAR", "frame_is_linear", "working_image"]

#: Scene-linear colour spaces of the standard's list (encoding ``scene-linear``).
SCENE_LINEAR = frozenset({"ofx_linear", "lin_rec709_srgb", "ACEScg", "ACES2065-1",
                          "lin_p3d65", "lin_rec2020", "lin_ciexyzd65", "lin_adobergb",
                          "lin_ap1_scene", "lin_ap0_scene"})
#: Display-referred SDR colour spaces of the standard's list (encoding ``sdr-video``).
DISPLAY_SDR = frozenset({"ofx_sdr", "srgb_tx", "srgb_display", "srgb_encoded_ap1_tx",
                         "g18_rec709_tx", "g22_rec709_tx", "g24_rec709_tx", "g22_ap1_tx",
                         "rec1886_rec709_display", "rec1886_rec2020_display",
                         "displayp3_display"})


def frame_is_linear(colourspace=None, linear=True):
    """Whether frames in `colourspace` are scene-linear.

    Parameters
    ----------
    colourspace : str or None
        The clip's colour space as the host names it; None when it names none.
    linear : bool, optional
        The plugin's ``linearInput`` switch, used when `colourspace` is None.

    Raises
    ------
    InputError
        A colour space that is neither scene-linear nor display-referred SDR (log,
        HDR, raw data) or not in the standard's list.
    """
    if colourspace is None:
        return bool(linear)
    if colourspace in SCENE_LINEAR:
        return True
    if colourspace in DISPLAY_SDR:
        return False
    raise InputError(f"the host gives the source clip in colour space {colourspace!r}, "
                     "which this effect cannot read yet; convert the clip to scene-linear "
                     "(lin_rec709_srgb) or sRGB (srgb_tx) before it")


def working_image(rgb, colourspace=None, linear=True):
    """The display-referred working image of a frame.

    Parameters
    ----------
    rgb : (H, W, 3) float32 ndarray
        The frame as the host gave it.
    colourspace, linear
        See :func:`frame_is_linear`.

    Returns
    -------
    (H, W, 3) float32 ndarray in [0, 1]

    Raises
    ------
    InputError
        See :func:`frame_is_linear`.
    """
    if frame_is_linear(colourspace, linear):
        return linear_to_srgb(rgb)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)
