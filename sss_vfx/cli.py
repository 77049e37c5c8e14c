"""The ``sss-vfx`` command.

``main(argv)`` runs named phases (parse, prepare output, segment, write) and turns every
:class:`~sss_vfx.errors.SssError` into one line on standard error and exit status 2; a
traceback appears only with ``--verbose``.
"""

import argparse
import dataclasses
import logging
import os
import platform
import sys
import time

import numpy as np

from sss_vfx.cli_video import add_video_options, run_video
from sss_vfx.errors import OptionError, SssError
from sss_vfx.io.exr import layer_names, write_layers_exr
from sss_vfx.io.outputs import (prepare_output_dir, write_manifest, write_matte_png,
                                write_preview_png)
from sss_vfx.options import COARSE_FEATURES, SegmentationOptions
from sss_vfx.pipeline.stages import peak_rss_bytes
from sss_vfx.progress import ProgressReporter

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

#: Typical share of the run time of each stage, for the progress ETA.
STAGE_SHARES = {"superpixels": 0.01, "affinities": 0.02, "eigenvectors": 0.33,
                "initial_segments": 0.08, "constrained_sparsification": 0.48,
                "grouping": 0.0, "relaxed_sparsification": 0.06, "upsampling": 0.02,
                "refinement": 0.02}


def build_parser():
    """The argument parser of ``sss-vfx`` and its sub-commands."""
    from sss_vfx import __version__

    parser = argparse.ArgumentParser(
        prog="sss-vfx",
        description="Automatic soft mattes by Semantic Soft Segmentation (Aksoy et al. 2018).")
    parser.add_argument("--version", action="version", version=f"sss-vfx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seg = sub.add_parser(
        "segment", help="split one image into soft layers",
        description="Split one image into soft layers whose opacities sum to one. Writes "
                    "layers.exr, one 16-bit PNG matte per layer, preview.png and "
                    "manifest.json into the output directory.")
    seg.add_argument("image", help="PNG, JPEG, TIFF (8/16 bit) or EXR (scene-linear) image")
    seg.add_argument("-o", "--output", required=True, help="output directory (created)")
    seg.add_argument("--features", help="semantic features: image, .npy or .exr, any "
                                        "channel count, same size as the image")
    add_method_options(seg)
    seg.add_argument("--no-pngs", action="store_true", help="skip the per-layer PNG mattes")
    seg.add_argument("--no-colours", action="store_true",
                     help="skip the layer colours: layers.exr holds the mattes (A) only, "
                          "no premultiplied R, G, B")
    add_run_options(seg)
    vid = sub.add_parser(
        "video", help="split every frame of a shot into soft layers, coherent in time",
        description="Split every frame of a video file or image sequence into soft layers "
                    "that keep their identity through the shot. Writes layers.NNNN.exr "
                    "per frame (the input's frame numbers), preview.mp4 and "
                    "manifest.json; rerunning the same command resumes an interrupted "
                    "run.")
    add_video_options(vid)
    add_method_options(vid)
    add_run_options(vid)
    dev = sub.add_parser(
        "devices", help="list the compute devices and the one 'auto' picks",
        description="List the OpenCL platforms and devices found (with their memory) and "
                    "the device that --device auto would use.")
    dev.add_argument("-v", "--verbose", action="store_true",
                     help="show tracebacks and debug messages")
    return parser


def add_run_options(parser):
    """--device, --progress and --verbose."""
    parser.add_argument("--device", default=None,
                        help="where the affinities are built: auto (first OpenCL GPU, then "
                             "any OpenCL device, then numpy), numpy, opencl or "
                             "opencl:<platform>:<device> as `sss-vfx devices` lists them "
                             "(default: $SSS_VFX_DEVICE, else auto)")
    parser.add_argument("--progress", choices=("auto", "bar", "json", "none"),
                        default="auto",
                        help="progress on standard error: a line on a terminal (auto), "
                             "JSON lines for tools, or none")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show tracebacks and debug messages")


#: Each parameter of the method as a flag: (field of SegmentationOptions, help).
METHOD_FLAGS = (
    ("max_pixels", "run the spectral stages on a copy of at most this many pixels and "
                   "upsample the layers edge-aware; 0 = never downscale, the faithful "
                   "configuration"),
    ("layers", "number of layers after grouping"),
    ("eigenvectors", "eigenvectors of the Laplacian"),
    ("initial_segments", "k-means segments that start the sparsification"),
    ("superpixels", "approximate SLIC superpixel count"),
    ("matting_eps", "regulariser of the matting affinity"),
    ("semantic_weight", "weight of the semantic affinity"),
    ("colour_weight", "weight of the non-local colour affinity"),
    ("colour_radius", "centroid distance, in image units, of the non-local colour affinity"),
    ("embedding_weight", "0 = initial segments from the features alone (the paper); "
                         "above 0 the spectral embedding joins them with this weight, "
                         "for coarse features such as a network's masks"),
    ("grouping_colour_weight", "0 = segments grouped by their mean features alone (the "
                               "paper); above 0 their mean colour joins with this weight, "
                               "for coarse features such as a network's masks"),
    ("sparsity", "constrained sparsification exponent"),
    ("sparsity_weight", "weight of the sparsity terms"),
    ("constrained_iterations", "IRLS iterations of the constrained sparsification"),
    ("constrained_precision", "float32 (fast) or float64 (the reference code's weight "
                              "clamp)"),
    ("relaxed_rounds", "relaxed sparsification rounds"),
    ("cg_steps", "conjugate-gradient steps per relaxed round at most"),
    ("refine_band", "after upsampling, solve the relaxed sparsification again at the "
                    "plate's resolution over the layers' soft transitions dilated by "
                    "this many px; 0 = off"),
    ("seed", "k-means seed"),
)


def add_method_options(parser):
    """Add one ``--flag`` per field of :class:`SegmentationOptions`, default shown, and
    ``--coarse-features``."""
    defaults = SegmentationOptions()
    for name, text in METHOD_FLAGS:
        default = getattr(defaults, name)
        extra = ({"choices": ("float32", "float64")} if name == "constrained_precision"
                 else {"type": type(default)})
        parser.add_argument("--" + name.replace("_", "-"), default=default,
                            help=f"{text} (default {default})", **extra)
    recipe = " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in COARSE_FEATURES.items())
    parser.add_argument("--coarse-features", action="store_true",
                        help="the features are a segmentation network's masks (a few "
                             f"flat classes): shorthand for {recipe}, for those of "
                             "these options left at their default")


def _options(args):
    """The method's parameters from the parsed arguments (every option of the same name),
    with ``--coarse-features`` applied to the options it names that were left at their
    default."""
    names = [f.name for f in dataclasses.fields(SegmentationOptions)]
    options = {name: getattr(args, name) for name in names}
    if getattr(args, "coarse_features", False):
        if not args.features:
            raise OptionError("--coarse-features describes the features, but none were "
                              "given; add --features PATH or drop --coarse-features")
        defaults = SegmentationOptions()
        for name, value in COARSE_FEATURES.items():
            if options[name] == getattr(defaults, name):
                options[name] = value
    return options


def run_segment(args):
    """The ``segment`` command: phases prepare, segment, write. Returns the manifest."""
    from sss_vfx import __version__
    from sss_vfx.pipeline.still import segment_image
    from sss_vfx.segments.colours import layer_colours, premultiplied_colours

    options = SegmentationOptions.from_kwargs(**_options(args))
    out = prepare_output_dir(args.output)
    started = time.perf_counter()
    progress = ProgressReporter(args.progress, expected=STAGE_SHARES)
    seg = segment_image(args.image, args.features, progress=progress, device=args.device,
                        **options.as_dict())
    progress.finish()
    colours = None
    if not args.no_colours:
        colour_start = time.perf_counter()
        colours = premultiplied_colours(layer_colours(seg.image, seg.alphas), seg.alphas)
        seg.timings["colours"] = round(time.perf_counter() - colour_start, 4)
    write_start = time.perf_counter()
    names = layer_names(seg.alphas.shape[2])
    outputs = ["layers.exr"]
    write_layers_exr(out / "layers.exr", seg.alphas, colours=colours,
                     attributes={"sss_version": __version__, "sss_source": str(args.image)})
    if not args.no_pngs:
        for k, name in enumerate(names):
            write_matte_png(out / f"{name}.png", seg.alphas[:, :, k])
            outputs.append(f"{name}.png")
    write_preview_png(out / "preview.png", seg.image, seg.alphas)
    outputs.append("preview.png")
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
        "layers": names,
        "colours": colours is not None,
        "layer_coverage": [float(c) for c in seg.alphas.mean(axis=(0, 1))],
        "timings_s": timings,
        "peak_rss_bytes": dict(seg.peak_rss, total=peak_rss_bytes()),
        "notes": seg.notes,
        "device": seg.device,
        "outputs": outputs + ["manifest.json"],
        "platform": {"python": platform.python_version(), "numpy": np.__version__,
                     "machine": platform.machine()},
    }
    write_manifest(out / "manifest.json", manifest)
    return manifest


def run_devices(args):
    """The ``devices`` command: print what OpenCL finds and what ``auto`` picks."""
    from sss_vfx.accel import NUMPY, DeviceError, find_opencl_devices, resolve_device

    try:
        found = find_opencl_devices()
    except DeviceError as exc:
        found = []
        print(f"OpenCL: none ({exc})")
    if found:
        print("OpenCL devices:")
    for device in found:
        print(f"  {device.describe()}")
    print(f"  {NUMPY.describe()}")
    print(f"auto: {resolve_device('auto').spec}")


COMMANDS = {"segment": run_segment, "devices": run_devices,
            "video": lambda args: run_video(args, _options(args))}


def main(argv=None):
    """Run ``sss-vfx``; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="sss-vfx: warning: %(message)s", stream=sys.stderr)
    try:
        manifest = COMMANDS[args.command](args)
    except SssError as exc:
        if verbose:
            raise
        print(f"sss-vfx: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("sss-vfx: interrupted; finished files are complete, nothing half-written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        if verbose:
            raise
        print("sss-vfx: error: out of memory; lower --max-pixels", file=sys.stderr)
        return EXIT_BAD_INPUT
    if manifest is not None and args.command == "video":
        print(f"wrote {manifest['frame_count']} frames of {len(manifest['layers'])} layers "
              f"to {args.output} ({manifest['frames_computed']} computed) in "
              f"{manifest['timings_s']['total']:.1f} s")
    elif manifest is not None:
        print(f"wrote {len(manifest['layers'])} layers to {args.output} in "
              f"{manifest['timings_s']['total']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
