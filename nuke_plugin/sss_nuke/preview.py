"""The ``preview`` output: the layers colour-coded over the plate's luminance, as
Expression-node expressions (the same colours as ``sss-vfx``'s own previews)."""

import colorsys
from typing import List, Tuple

Colour = Tuple[float, float, float]

#: ``sss_vfx.io.outputs.BASE_PALETTE``, kept equal by a test.
BASE_PALETTE: Tuple[Colour, ...] = (
    (0.90, 0.10, 0.10), (0.10, 0.70, 0.20), (0.15, 0.35, 0.95), (1.00, 0.85, 0.05),
    (0.80, 0.15, 0.85), (0.05, 0.85, 0.90), (1.00, 0.50, 0.00), (0.45, 0.20, 0.05),
    (0.55, 1.00, 0.35), (1.00, 0.60, 0.80), (0.35, 0.05, 0.55), (0.00, 0.45, 0.45),
)
GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
OVERLAY_WEIGHT = 0.7
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def layer_palette(k: int) -> List[Colour]:
    """`k` distinct display colours: twelve hand-picked, then golden-ratio hue steps."""
    colours = list(BASE_PALETTE[:k])
    for step in range(k - len(colours)):
        hue = (0.05 + step * GOLDEN_RATIO_CONJUGATE) % 1.0
        saturation = 0.85 if step % 2 == 0 else 0.55
        value = 0.95 if step % 3 != 2 else 0.7
        colours.append(colorsys.hsv_to_rgb(hue, saturation, value))
    return colours


def matte_channel(layer: str) -> str:
    """The Nuke channel of a layer's matte: Nuke reads EXR channel ``A`` as ``alpha``."""
    return layer + ".alpha"


def layer_channels(layer: str) -> List[str]:
    """A layer's channels: its premultiplied colour (EXR ``R``, ``G``, ``B``), then its
    matte. A result written with ``--no-colours`` reads black in the colour channels."""
    return [layer + ".red", layer + ".green", layer + ".blue", matte_channel(layer)]


def preview_expressions(layers: List[str]) -> Tuple[str, str, str]:
    """Expressions for the red, green and blue of the preview.

    Each is ``0.3 * luminance + 0.7 * sum_k alpha_k * colour_k``, with channels
    referenced as ``layer.alpha``.

    Parameters
    ----------
    layers : list of str
        Layer names, ``['sss_layer01', ...]``, in layer order.
    """
    luminance = "+".join("{:g}*{}".format(w, c) for w, c in zip(LUMA_WEIGHTS, "rgb"))
    palette = layer_palette(len(layers))
    expressions = []
    for component in range(3):
        overlay = "+".join("{:.4g}*{}".format(colour[component], matte_channel(layer))
                           for layer, colour in zip(layers, palette)) or "0"
        expressions.append("{:g}*({})+{:g}*({})".format(
            1.0 - OVERLAY_WEIGHT, luminance, OVERLAY_WEIGHT, overlay))
    return expressions[0], expressions[1], expressions[2]
