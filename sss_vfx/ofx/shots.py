"""Computing a whole shot for the plugin, exactly as ``sss-vfx video`` computes it."""

import numpy as np

from sss_vfx.io.outputs import render_preview
from sss_vfx.ofx.frames import FrameFile, frame_path
from sss_vfx.pipeline.inputs import prepare_shot
from sss_vfx.pipeline.video import segment_video
from sss_vfx.segments.colours import layer_colours, premultiplied_colours

__all__ = ["compute_shot"]


def compute_shot(request, options, progress=None):
    """Segment every frame of `request`'s clip range, frame files read one at a time.

    Parameters
    ----------
    request : RenderRequest
        Its spool folder holds ``frames/<hash>.f32`` for every frame.
    options : dict
        Further keyword options of :func:`sss_vfx.segment_video` (the server's).
    progress : callable(stage, done, total), optional
        Told as stages start and as frames finish (``done`` of ``total`` frames).

    Yields
    ------
    (int, (H, W, K) float32, (H, W, K, 3) float32, (H, W, 3) uint8)
        Frame number, mattes, premultiplied layer colours and the colour-coded preview.
    """
    frames = [FrameFile(frame_path(request.spool, h), n, request.width, request.height,
                        linear=request.linear, colourspace=request.colourspace)
              for n, h in zip(request.numbers, request.hashes)]
    total = len(frames)
    state = {"done": 0}

    def stage(name, *_):
        if progress is not None:
            progress(name, state["done"], total)

    inputs = prepare_shot(frames, start=request.first, layers=request.layers,
                          max_pixels=request.max_pixels, temporal=request.temporal,
                          **options)
    results = segment_video(inputs, device=request.device, progress=stage)
    for result in results:
        alphas = np.asarray(result.alphas, np.float32)
        colours = getattr(result, "colours", None)
        if colours is None:
            colours = premultiplied_colours(layer_colours(result.plate, alphas), alphas)
        preview = render_preview(result.plate, alphas)[:, request.width:]
        state["done"] += 1
        if progress is not None:
            progress("frames", state["done"], total)
        yield result.number, alphas, np.asarray(colours, np.float32), preview
