"""``sss-vfx segment``: phases prepare, segment, write."""

import os
import platform
import time

import numpy as np

from sss_vfx.cli.flags import add_method_flags, add_run_flags, method_options
from sss_vfx.io.exr import layer_names
from sss_vfx.io.outputs import prepare_output_dir, write_manifest
from sss_vfx.io.still_outputs import write_still_outputs
from sss_vfx.progress import ProgressReporter, peak_rss_bytes

__all__ = ["STAGE_SHARES", "add_parser", "run"]

#: Typical share of the run time of each stage, for the progress ETA.
STAGE_SHARES = {"superpixels": 0.01, "affinities": 0.02, "eigenvectors": 0.33,
                "initial_segments": 0.08, "constrained_sparsification": 0.48,
                "grouping": 0.0, "relaxed_sparsification": 0.06, "upsampling": 0.02,
                "refinement": 0.02}


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "segment", help="split one image into soft layers",
        description="Split one image into soft layers whose opacities sum to one. Writes "
                    "layers.exr, one 16-bit PNG matte per layer, preview.png and "
                    "manifest.json into the output directory.")
    parser.add_argument("image", help="PNG, JPEG, TIFF (8/16 bit) or EXR (scene-linear) "
                                      "image")
    parser.add_argument("-o", "--output", required=True,
                        help="output directory (created)")
    parser.add_argument("--features", help="semantic features: image, .npy or .exr, any "
                                           "channel count, same size as the image")
    add_method_flags(parser)
    parser.add_argument("--no-pngs", action="store_true",
                        help="skip the per-layer PNG mattes")
    parser.add_argument("--no-colours", action="store_true",
                        help="skip the layer colours: layers.exr holds the mattes (A) "
                             "only, no premultiplied R, G, B")
    add_run_flags(parser)
    return parser


def run(args):
    """The ``segment`` command. Returns the manifest."""
    from sss_vfx import __version__
    from sss_vfx.pipeline.still import segment_image

    options = method_options(args)
    out = prepare_output_dir(args.output)
    started = time.perf_counter()
    progress = ProgressReporter(args.progress, expected=STAGE_SHARES)
    seg = segment_image(args.image, args.features, options=options, progress=progress,
                        device=args.device, colours=not args.no_colours)
    progress.finish()
    write_start = time.perf_counter()
    outputs = write_still_outputs(out, seg, pngs=not args.no_pngs, attributes={
        "sss_version": __version__, "sss_source": str(args.image)})
    timings = dict(seg.timings, write=round(time.perf_counter() - write_start, 4),
                   total=round(time.perf_counter() - started, 4))
    manifest = {
        "command": "segment",
        "version": __version__,
        "inputs": {"image": os.path.abspath(args.image),
                   "features": os.path.abspath(args.features) if args.features else None,
                   "width": int(seg.image.shape[1]), "height": int(seg.image.shape[0])},
        "parameters": options.as_dict(),
        "working_size": {"width": int(seg.working_image.shape[1]),
                         "height": int(seg.working_image.shape[0])},
        "layers": layer_names(seg.alphas.shape[2]),
        "colours": seg.colours is not None,
        "layer_coverage": [float(c) for c in seg.alphas.mean(axis=(0, 1))],
        "timings_s": timings,
        "peak_rss_bytes": dict(seg.peak_rss, total=peak_rss_bytes()),
        "notes": seg.notes,
        "device": seg.device,
        "stage_devices": seg.stage_devices,
        "outputs": outputs + ["manifest.json"],
        "platform": {"python": platform.python_version(), "numpy": np.__version__,
                     "machine": platform.machine()},
    }
    write_manifest(out / "manifest.json", manifest)
    print(f"wrote {len(manifest['layers'])} layers to {args.output} in "
          f"{timings['total']:.1f} s")
    return manifest
