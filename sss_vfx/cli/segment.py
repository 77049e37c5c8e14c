"""``sss-vfx segment``: phases prepare, segment, write."""

import os
import platform
import time

import numpy as np

from sss_vfx.accel.compute import Compute
from sss_vfx.cli.flags import (
    GIVEN,
    add_method_flags,
    add_plate_flags,
    add_run_flags,
    add_wait_flag,
    method_options,
    plate_options,
)
from sss_vfx.cli.semantic import add_semantic_flags, feature_model, semantic_record
from sss_vfx.features.sources import is_person
from sss_vfx.helptext import HelpFormatter, epilog, sections
from sss_vfx.io.exr import layer_names
from sss_vfx.io.images import require_file
from sss_vfx.io.outputs import write_manifest
from sss_vfx.io.shot_outputs import run_key
from sss_vfx.io.still_outputs import claim_still_dir, write_still_outputs
from sss_vfx.pipeline.inputs import prepare_image
from sss_vfx.pipeline.still import segment_image
from sss_vfx.progress import Progress, peak_rss_bytes
from sss_vfx.version import __version__

__all__ = ["add_parser", "run"]

#: Flags that do not change the results: left out of the run key.
RUN_ONLY = ("command", "output", "force", "progress", "verbose", "device", "no_pngs",
            "wait", GIVEN)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "segment", help="split one image into soft layers",
        usage="%(prog)s IMAGE -o OUTPUT [options]",
        description="Split one image into soft layers whose opacities sum to one. Writes "
                    "layers.exr, one 16-bit PNG matte per layer, preview.png and "
                    "manifest.json into the output directory.",
        formatter_class=HelpFormatter, epilog=epilog(
            "sss-vfx segment sample_shots/strands.png "
            "--guides sample_shots/strands_roto.png -o out/strands", "guides/stills"))
    inputs, outputs = sections(parser)["inputs"], sections(parser)["outputs"]
    inputs.add_argument("image", help="EXR (scene-linear by default; --part for a "
                                      "multi-part file), DPX, TIFF, PNG, JPEG or another "
                                      "still format OpenImageIO reads")
    inputs.add_argument("--features", help="semantic features: image, .npy or .exr, any "
                                           "channel count, same size as the image; or "
                                           "'person' for the built-in person model "
                                           "(needs sss_vfx[people])")
    add_semantic_flags(parser)
    outputs.add_argument("-o", "--output", required=True,
                         help="output directory (created); it may hold only the results "
                              "of the same command, else pass --force")
    outputs.add_argument("--force", action="store_true",
                         help="replace the results of another run in the output "
                              "directory (its layer PNGs included)")
    add_wait_flag(parser)
    outputs.add_argument("--no-pngs", action="store_true",
                         help="skip the per-layer PNG mattes")
    outputs.add_argument("--no-colours", action="store_true",
                         help="skip the layer colours: layers.exr holds the mattes (A) "
                              "only, no premultiplied R, G, B")
    add_plate_flags(parser)
    add_method_flags(parser)
    add_run_flags(parser)
    return parser


def run(args):
    """The ``segment`` command. Returns the manifest."""
    options = method_options(args)
    plate = plate_options(args)
    compute = Compute.resolve(args.device)
    model = feature_model(args, compute)     # a model that does not load: before any output
    if args.features and not is_person(args.features):
        require_file(args.features, what="features")
    # An unreadable image, a colour space, config or part that does not exist, more
    # eigenvectors than the image gives, guides or features that do not fit: before
    # any output.
    inputs = prepare_image(args.image, args.features, guides=args.guides,
                           guide_names=args.guides_names, feature_model=model,
                           options=options, compute=compute, plate=plate)
    key = _run_key(args)
    out = claim_still_dir(args.output, key, force=args.force, wait=args.wait)
    started = time.perf_counter()
    progress = Progress(args.progress)
    try:
        seg = segment_image(inputs, progress=progress, device=compute,
                            colours=not args.no_colours)
    finally:
        progress.finish()
    write_start = time.perf_counter()
    attributes = {"sss_version": __version__, "sss_source": str(args.image)}
    if seg.plate_header is not None and seg.plate_header.frame is not None:
        attributes["sss_frame"] = str(seg.plate_header.frame)   # as the file says (DPX)
    outputs = write_still_outputs(out, seg, pngs=not args.no_pngs, attributes=attributes)
    timings = dict(seg.timings, write=round(time.perf_counter() - write_start, 4),
                   total=round(time.perf_counter() - started, 4))
    manifest = {
        "command": "segment",
        "version": __version__,
        "run_key": key,
        "inputs": {"image": os.path.abspath(args.image),
                   "features": ("person" if is_person(args.features) else
                                os.path.abspath(args.features) if args.features else None),
                   **semantic_record(args, model, seg.objects),
                   "width": int(seg.image.shape[1]), "height": int(seg.image.shape[0])},
        "parameters": seg.options.as_dict(),
        "paper": getattr(args, "paper", False),
        "departures_from_paper": seg.options.departures(),
        "working_size": {"width": int(seg.working_image.shape[1]),
                         "height": int(seg.working_image.shape[0])},
        "colour_space": (seg.plate_header.colour_space if seg.plate_header else None),
        "layers": layer_names(seg.alphas.shape[2]),
        "colours": seg.colours is not None,
        "layer_coverage": [float(c) for c in seg.alphas.mean(axis=(0, 1))],
        "timings_s": timings,
        "peak_rss_bytes": dict(seg.peak_rss, total=peak_rss_bytes()),
        "notes": seg.notes,
        "device": seg.device,
        "stage_devices": seg.stage_devices,
        "gpu_peak_bytes": seg.gpu_peak_bytes,
        "outputs": outputs + ["manifest.json"],
        "platform": {"python": platform.python_version(), "numpy": np.__version__,
                     "machine": platform.machine()},
    }
    write_manifest(out / "manifest.json", manifest)
    print(f"wrote {len(manifest['layers'])} layers to {args.output} in "
          f"{timings['total']:.1f} s")
    return manifest


def _run_key(args):
    """What decides the results: the input files and every flag but the run-only ones
    (new flags count by default)."""
    plate = plate_options(args)
    settings = {k: v for k, v in vars(args).items()
                if k not in RUN_ONLY and k not in plate.as_dict()}
    inputs = {name: settings.pop(name) for name in ("image", "features")}
    inputs.update(plate.record())
    return run_key(inputs, settings)
